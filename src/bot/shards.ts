/**
 * SHARDS: the parent process that runs the bot as gateway shards, one `clipag bot --shard-child`
 * process per shard under discord.js' ShardingManager. Every shard is a whole bot on the shared
 * queue (QUEUE_URL) and the shared DATA_DIR; Discord sends each server's events to one shard only,
 * so a job is submitted, followed and answered by the shard owning its server.
 */
import type { ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { ShardClientUtil, ShardingManager, type Client, type Shard } from 'discord.js';
import type { Logger } from 'pino';
import type { BotConfig } from './config.js';
import { RespawnBackoff, type RespawnBackoffOptions } from './respawn-backoff.js';

/** Discord lets a bot IDENTIFY once per 5 s per concurrency bucket; discord.js' own spacing is 5.5 s. */
const WAVE_DELAY_MS = 5500;
const DISCORD_API = 'https://discord.com/api';

export interface ShardsOptions {
  /** The script each shard runs (bin/clipag.js). */
  entry: string;
  /** Its arguments: `bot --shard-child --env <file>`. */
  shardArgs: string[];
  logger: Logger;
  /** How long a shard may take to log in before the next wave starts anyway (default 2 min). */
  readyTimeoutMs?: number;
  /** How long stop() waits for a shard to finish before killing it (default 60 s). */
  stopTimeoutMs?: number;
  /** The waits before a dead shard is started again (respawn-backoff.ts). */
  respawn?: RespawnBackoffOptions;
}

export interface RunningShards {
  count: number;
  /** Asks every shard to stop (no respawn) and resolves once all have exited. A second call kills them. */
  stop(): Promise<void>;
  /** Rejects when a shard died before it ever became ready (settings, Redis): the others are stopped first. */
  failed: Promise<never>;
}

export interface GatewayBot { shards: number; maxConcurrency: number; remaining: number }

/** How a parent asks a shard to stop: not a signal, so a signal that reaches both still counts once. */
export const STOP_MESSAGE = { clipag: 'stop' } as const;
export const isStopMessage = (m: unknown): boolean => typeof m === 'object' && m !== null && (m as { clipag?: unknown }).clipag === 'stop';

/**
 * Discord's advice for this bot: how many shards, and how many may log in at once. Asked through
 * DISCORD_API_URL, which discord.js' own fetchRecommendedShardCount would ignore.
 */
export async function fetchGatewayBot(config: Pick<BotConfig, 'token' | 'apiUrl'>): Promise<GatewayBot> {
  const base = config.apiUrl ?? DISCORD_API;
  const res = await fetch(`${base}/v10/gateway/bot`, { headers: { authorization: `Bot ${config.token}` } }).catch((e: unknown) => {
    const cause = (e as { cause?: { message?: string } }).cause?.message ?? String(e);
    throw new Error(`could not reach Discord at ${base} to ask how many shards to run: ${cause}`);
  });
  if (res.status === 401) throw new Error('Discord refused DISCORD_TOKEN (401): reset the token in the Developer Portal and update .env');
  if (!res.ok) throw new Error(`Discord answered ${res.status} when asked how many shards to run; try again shortly`);
  const body = await res.json() as { shards?: number; session_start_limit?: { max_concurrency?: number; remaining?: number } };
  return {
    shards: Math.max(1, body.shards ?? 1),
    maxConcurrency: Math.max(1, body.session_start_limit?.max_concurrency ?? 1),
    remaining: body.session_start_limit?.remaining ?? Infinity,
  };
}

/**
 * Starts the shards in waves of Discord's max_concurrency, each wave once the previous one is
 * logged in. A shard that dies after its first login is started again, after a wait that grows
 * while it keeps dying soon after it starts (respawn-backoff.ts); one that dies before its first
 * login means its settings or services are wrong, and every shard is stopped.
 */
export async function startShards(config: BotConfig, o: ShardsOptions): Promise<RunningShards> {
  const log = o.logger;
  const gateway = await fetchGatewayBot(config);
  const count = config.shards === 'auto' || config.shards === undefined ? gateway.shards : config.shards;
  if (gateway.remaining < count) log.warn({ shards: count, remaining: gateway.remaining }, 'Discord allows fewer logins today than there are shards; some will wait');
  const manager = new ShardingManager(o.entry, {
    // respawn false: discord.js would start a dead shard again at once, in a tight loop if it dies at start.
    token: config.token, totalShards: count, shardArgs: o.shardArgs, respawn: false, mode: 'process',
    // Node's own flags (memory limits) reach the shards too; discord.js would pass none.
    execArgv: process.execArgv,
  });
  let stopping: Promise<void> | undefined;
  const stopped = new AbortController();
  let fail: (e: Error) => void = () => {};
  const failed = new Promise<never>((_, reject) => { fail = reject; });
  failed.catch(() => {}); // the caller may be stopping for another reason and never look

  const everReady = new Set<number>();
  const respawn = (shard: Shard, delayMs: number): void => {
    void sleep(delayMs, undefined, { signal: stopped.signal }).then(async () => {
      // -1: do not wait for its login here; 'ready' and 'death' say how it went.
      if (!stopping) await shard.spawn(-1);
    }, () => {}).catch((e: unknown) => log.error({ shard: shard.id, err: e }, 'could not start the shard again'));
  };
  const watch = (shard: Shard): void => {
    const backoff = new RespawnBackoff(o.respawn);
    let spawnedAt = Date.now();
    // mode 'process': each shard is a ChildProcess, never a Worker.
    shard.on('spawn', (p) => {
      spawnedAt = Date.now();
      log.info({ shard: shard.id, childPid: (p as ChildProcess).pid }, 'shard started');
    });
    shard.on('ready', () => { everReady.add(shard.id); log.info({ shard: shard.id }, 'shard logged in'); });
    shard.on('death', (p) => {
      const child = p as ChildProcess;
      const how = { shard: shard.id, childPid: child.pid, code: child.exitCode, signal: child.signalCode };
      if (stopping) { log.info(how, 'shard stopped'); return; }
      if (!everReady.has(shard.id)) {
        log.error(how, 'shard exited before it logged in; stopping the others');
        void stop().then(() => fail(new Error(`shard ${shard.id} exited (code ${child.exitCode ?? child.signalCode}) before it logged in; its log above says why`)));
        return;
      }
      const upMs = Date.now() - spawnedAt;
      const { delayMs, exitsInARow } = backoff.exited(upMs);
      const why = { ...how, upMs, exitsInARow, restartInMs: delayMs };
      if (exitsInARow === 1) log.warn(why, 'shard exited; starting it again');
      else log.warn(why, 'shard keeps exiting soon after it starts; waiting longer before starting it again');
      respawn(shard, delayMs);
    });
    // discord.js emits 'error' only from its own respawn (off here); without a listener EventEmitter would throw one.
    shard.on('error', (e: Error) => { if (!stopping) log.error({ shard: shard.id, err: e }, 'shard error'); });
  };

  const stop = (): Promise<void> => {
    if (stopping) {
      // A second request means now (a second Ctrl+C); their jobs resume at the next start.
      for (const s of manager.shards.values()) s.process?.kill('SIGKILL');
      return stopping;
    }
    stopped.abort();
    stopping = Promise.all([...manager.shards.values()].map((s) => stopShard(s, o.stopTimeoutMs ?? 60_000, log))).then(() => {});
    return stopping;
  };

  const launch = async (): Promise<void> => {
    for (let first = 0; first < count && !stopping; first += gateway.maxConcurrency) {
      if (first > 0) await sleep(WAVE_DELAY_MS, undefined, { signal: stopped.signal }).catch(() => {});
      if (stopping) return;
      const wave = Array.from({ length: Math.min(gateway.maxConcurrency, count - first) }, (_, i) => first + i);
      await Promise.all(wave.map(async (id) => {
        const shard = manager.createShard(id);
        watch(shard);
        // Rejects when it dies first (handled by 'death') or is slow: then the next wave goes ahead.
        await shard.spawn(o.readyTimeoutMs ?? 120_000).catch((e: unknown) => {
          if ((e as { code?: unknown }).code === 'ShardingReadyTimeout') log.warn({ shard: id }, 'shard not logged in yet; starting the next ones');
        });
      }));
    }
  };
  log.info({ shards: count, maxConcurrency: gateway.maxConcurrency }, 'starting shards');
  void launch();
  return { count, stop, failed };
}

/**
 * Which unfinished jobs a logged-in shard takes up again: those of the servers Discord routes to
 * it (their clicks and reactions reach it alone), by Discord's rule rather than the guild cache, so a
 * server the bot has left still has exactly one owner. Undefined without sharding: all of them.
 */
export function ownedJobs(client: Client): ((job: { guildId: string }) => boolean) | undefined {
  const { shards, shardCount } = client.options;
  if (!Array.isArray(shards) || !shardCount || shardCount <= 1) return undefined;
  return (job) => shards.includes(ShardClientUtil.shardIdForGuildId(job.guildId, shardCount));
}

/** Asks one shard to stop and waits for its exit, killing it after timeoutMs. */
async function stopShard(shard: Shard, timeoutMs: number, log: Logger): Promise<void> {
  const child = shard.process;
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // A shard still starting may not listen for messages yet; its SIGTERM handler comes first.
  if (shard.ready && child.connected) child.send(STOP_MESSAGE); else child.kill('SIGTERM');
  const timer = setTimeout(() => {
    log.warn({ shard: shard.id, childPid: child.pid }, 'shard did not stop in time; killing it');
    child.kill('SIGKILL');
  }, timeoutMs);
  await exited;
  clearTimeout(timer);
}
