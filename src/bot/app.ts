/**
 * The bot: store, engine, job manager and the discord.js client wired together. startBot resolves
 * once the client is logged in and jobs left by an earlier process are queued again; stop() stops
 * accepting work, stops running jobs (they resume at the next start), and closes everything.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Client, Events, GatewayIntentBits, Partials } from 'discord.js';
import type { Logger } from 'pino';
import { COMMANDS } from '../commands/index.js';
import type { Engine } from '../jobs/engine.js';
import type { EnginePool } from '../jobs/engine-pool.js';
import { openEnginePool } from '../jobs/open-pool.js';
import { JobManager } from '../jobs/manager.js';
import { checkRedis } from '../jobs/redis-check.js';
import { capacityOf, followCapacity } from '../jobs/remote/capacity.js';
import { openRemotePool } from '../jobs/remote/open-remote.js';
import type { RemoteQueue } from '../jobs/remote/remote-queue.js';
import { log as defaultLog } from '../log.js';
import { openStore, type Store } from '../store/store.js';
import type { BotConfig } from './config.js';
import type { BotContext } from './context.js';
import { Imaginer } from './imaginer.js';
import { handleInteraction } from './interactions.js';
import { JobThreads } from './job-threads.js';
import { QueuePositions } from './queue-positions.js';
import { handleReaction } from './reactions.js';
import { NO_PINGS } from './sanitize.js';
import { ownedJobs } from './shards.js';

export interface StartOptions {
  logger?: Logger;
  /** Least time between two progress edits of one job (default 2 s). */
  progressIntervalMs?: number;
  /** An engine already open (tests share one between bot restarts); stop() leaves it open. */
  engine?: Engine;
  /** Views per step when the bot opens the engine itself (default: the pack's recipe). */
  views?: number;
  /** How long stop() waits for the last Discord messages (default 5 s). */
  stopTimeoutMs?: number;
  /** With QUEUE_URL: how long a job waits for a worker serving its model (remote-engine.ts). */
  noWorkerTimeoutMs?: number;
  /** With QUEUE_URL: how often the workers online are read (default 5 s). */
  workerPollMs?: number;
  /**
   * Gateway shards this process runs (tests: two bots in one process). Under SHARDS, discord.js reads
   * them from the environment the ShardingManager gives each shard instead.
   */
  shards?: { ids: number[]; count: number };
}

export interface Bot {
  client: Client;
  context: BotContext;
  stop(): Promise<void>;
}

export async function startBot(config: BotConfig, opts: StartOptions = {}): Promise<Bot> {
  const logger = opts.logger ?? defaultLog;
  await mkdir(config.dataDir, { recursive: true });
  const store: Store = openStore(join(config.dataDir, 'clipag.db'));
  let engines: EnginePool | undefined;
  let remote: RemoteQueue | undefined;
  let capacity: ReturnType<typeof followCapacity> | undefined;
  let client: Client | undefined;
  try {
    let concurrency = config.concurrency;
    if (config.queue) {
      const checked = await checkRedis(config.queue);
      if (!checked.ok) throw new Error(checked.problem);
      ({ engines, remote } = await openRemotePool({
        defaultDir: config.modelDir, modelsDir: config.modelsDir, target: config.queue, logger,
        noWorkerTimeoutMs: opts.noWorkerTimeoutMs, pollMs: opts.workerPollMs,
      }));
      concurrency = capacityOf(await remote.workers());
    } else {
      engines = await openEnginePool({
        defaultDir: config.modelDir, modelsDir: config.modelsDir, memoryMb: config.modelMemoryMb, device: config.device,
        views: opts.views, logger, preloaded: opts.engine,
      });
    }
    const manager = new JobManager({ store, engines, concurrency, imagesDir: join(config.dataDir, 'images'), logger });
    const r = remote;
    if (r) capacity = followCapacity(() => r.workers(), manager, { intervalMs: opts.workerPollMs, logger });
    client = new Client({
      intents: [GatewayIntentBits.Guilds, GatewayIntentBits.GuildMessageReactions],
      // Reactions on messages sent before this process started arrive for uncached messages.
      partials: [Partials.Message, Partials.Channel, Partials.Reaction, Partials.User],
      allowedMentions: NO_PINGS,
      ...(opts.shards ? { shards: opts.shards.ids, shardCount: opts.shards.count } : {}),
      ...(config.apiUrl ? { rest: { api: config.apiUrl } } : {}),
    });
    let accepting = true;
    const jobs = new JobThreads({ client, store, manager, logger, progressIntervalMs: opts.progressIntervalMs });
    new QueuePositions({ client, manager, logger, intervalMs: opts.progressIntervalMs });
    const context: BotContext = {
      client, store, engines, manager, jobs, logger,
      imaginer: new Imaginer(store, engines, manager, logger, join(config.dataDir, 'uploads')),
      concurrency: () => manager.concurrency,
      ...(r ? { cluster: { workers: () => r.workers(), depth: () => r.depth(engines!.list().map((p) => p.name)) } } : {}),
      accepting: () => accepting,
    };
    const c = client;
    c.on(Events.InteractionCreate, (i) => void handleInteraction(context, COMMANDS, i));
    c.on(Events.MessageReactionAdd, (r, u) => void handleReaction(context, r, u).catch((e: unknown) => logger.warn({ err: e }, 'reaction failed')));
    c.on(Events.Error, (e) => logger.error({ err: e }, 'discord client error'));
    c.on(Events.ShardDisconnect, (_e, shard) => logger.warn({ shard }, 'gateway disconnected; reconnecting'));
    const ready = new Promise<void>((resolve) => c.once(Events.ClientReady, () => resolve()));
    await c.login(config.token);
    await ready;
    // With shards, each resumes the jobs of its own servers (the store is shared).
    const resumed = manager.resume(ownedJobs(c));
    logger.info({ user: c.user?.tag, guilds: c.guilds.cache.size, resumed: resumed.length, ...engines.info(engines.defaultModel) }, 'bot ready');

    let stopping: Promise<void> | undefined;
    const stop = (): Promise<void> => (stopping ??= (async () => {
      accepting = false;
      logger.info('stopping: running jobs will resume at the next start');
      capacity?.stop();
      await manager.close({ finishRunning: false });
      await jobs.close(opts.stopTimeoutMs);
      await c.destroy();
      await engines!.close();
      await r?.close();
      store.close();
      logger.info('stopped');
    })());
    return { client: c, context, stop };
  } catch (e) {
    capacity?.stop();
    await client?.destroy();
    await engines?.close().catch(() => {});
    await remote?.close().catch(() => {});
    store.close();
    throw e;
  }
}
