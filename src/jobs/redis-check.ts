/**
 * The start check for QUEUE_URL: before the bot or a worker relies on Redis, find out whether it is
 * reachable, lets us in, is new enough for BullMQ and will not evict queued jobs. Each problem is one
 * line naming it and its fix. The check runs its steps one command at a time (AUTH, PING, SELECT,
 * INFO) rather than through ioredis' connect handshake, so it knows which step failed.
 */
import { Redis } from 'ioredis';
import type { QueueTarget } from './queue-url.js';
import { redisOptions } from './redis-connection.js';

/** BullMQ needs Redis 6.2 or newer (its scripts use commands and options added in 6.2). */
export const MIN_REDIS_VERSION = '6.2.0';

export type RedisCheck =
  | { ok: true; version: string; /** undefined where the server keeps it from us. */ evictionPolicy: string | undefined }
  | { ok: false; problem: string };

/** Dotted versions compared number by number; a suffix (-rc1) is ignored. */
export function versionAtLeast(version: string, minimum: string): boolean {
  const parts = (v: string) => v.split('.').map((p) => Number.parseInt(p, 10) || 0);
  const a = parts(version);
  const b = parts(minimum);
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d > 0;
  }
  return true;
}

/** One `key:value` line of an INFO reply. */
export function infoField(info: string, key: string): string | undefined {
  return new RegExp(`^${key}:(.*)$`, 'm').exec(info)?.[1]?.trim();
}

/** The line for a Redis too old for BullMQ, or undefined. */
export function versionProblem(where: string, version: string): string | undefined {
  if (versionAtLeast(version, MIN_REDIS_VERSION)) return undefined;
  return `Redis at ${where} is version ${version}; BullMQ needs ${MIN_REDIS_VERSION.replace(/\.0$/, '')} or newer: upgrade Redis (Debian 12's redis-server is 7.0)`;
}

class Refusal extends Error {}

/**
 * Connects once (no reconnect loop) and walks the steps; `timeoutMs` bounds the connect and each
 * command, so a wrong host or a silent port fails the start in seconds rather than hanging it.
 */
export async function checkRedis(target: QueueTarget, { timeoutMs = 3000 } = {}): Promise<RedisCheck> {
  const at = `Redis at ${target.where}`;
  const tlsHint = target.tls ? ' (rediss:// expects TLS on that port; plain Redis needs redis://)' : '';
  // Servers never echo a password, but the check's own messages are scrubbed all the same.
  const scrub = (text: string) => (target.password ? text.split(target.password).join('***') : text);
  const client = new Redis({
    ...redisOptions(target),
    username: undefined, password: undefined, db: 0, // sent below, one step at a time
    // Nothing sent before our own steps: no HELLO, ready-check INFO or CLIENT SETINFO.
    lazyConnect: true, enableReadyCheck: false, protocol: 2, disableClientInfo: true,
    connectTimeout: timeoutMs, commandTimeout: timeoutMs,
    retryStrategy: () => null, // one attempt: a start check must not loop on reconnects
  });
  let socketError: Error | undefined;
  client.on('error', (e: Error) => { socketError ??= e; });
  const step = async <T>(run: () => Promise<T>, explain: (message: string) => string | undefined): Promise<T> => {
    try {
      return await run();
    } catch (e) {
      const message = scrub(e instanceof Error ? e.message : String(e));
      if (/timed out/i.test(message)) {
        throw new Refusal(`${at} accepted the connection but did not answer within ${timeoutMs / 1000} s: check that QUEUE_URL names a Redis server${tlsHint}`);
      }
      if (/Connection is closed/i.test(message)) {
        // The socket's own error says why (a reset, or something other than Redis answering).
        const why = scrub(socketError?.message ?? 'no reason given');
        throw new Refusal(explain(why) ?? `${at} closed the connection during the start check (${why}): check that QUEUE_URL names a Redis server${tlsHint}`);
      }
      if (/Unknown RESP type|Protocol error/i.test(message)) {
        throw new Refusal(`${at} answered, but not as Redis does (${message}): check that QUEUE_URL names a Redis server's port${tlsHint}`);
      }
      throw new Refusal(explain(message) ?? `${at} refused the start check (${message}): check QUEUE_URL and the server's settings`);
    }
  };

  try {
    await step(() => client.connect(), () => {
      const why = scrub(socketError?.message ?? 'no answer');
      return `${at} is unreachable (${why}): start Redis there, or fix the host and port in QUEUE_URL${tlsHint}`;
    });
    if (target.password !== undefined) {
      const auth = target.username === undefined ? [target.password] : [target.username, target.password];
      await step(async () => {
        try {
          await client.call('AUTH', ...auth);
        } catch (e) {
          // ioredis itself carries on when the server has no password set, so the check does too.
          if (!/without any password configured|no password is set/i.test(e instanceof Error ? e.message : '')) throw e;
        }
      }, (m) => (/WRONGPASS|invalid password|invalid username-password/i.test(m)
        ? `${at} rejected the password in QUEUE_URL (WRONGPASS): put the right one in QUEUE_URL as redis://:PASSWORD@${target.where}`
        : undefined));
    }
    await step(() => client.ping(), (m) => (/NOAUTH/.test(m)
      ? `${at} needs a password (NOAUTH): add it to QUEUE_URL as redis://:PASSWORD@${target.where}`
      : undefined));
    await step(() => client.select(target.db), (m) => (/out of range/i.test(m)
      ? `${at} has no database ${target.db} (DB index is out of range): use a lower number after the port in QUEUE_URL (0 to 15 unless redis.conf's "databases" says more)`
      : undefined));
    const version = infoField(await step(() => client.info('server'), () => undefined), 'redis_version') ?? 'unknown';
    const tooOld = versionProblem(target.where, version);
    if (tooOld) return { ok: false, problem: tooOld };
    const evictionPolicy = await readEvictionPolicy(client);
    if (evictionPolicy !== undefined && evictionPolicy !== 'noeviction') {
      return { ok: false, problem: `${at} evicts keys when its memory is full (maxmemory-policy ${evictionPolicy}), which would silently lose queued jobs: set maxmemory-policy noeviction in redis.conf (or CONFIG SET maxmemory-policy noeviction)` };
    }
    return { ok: true, version, evictionPolicy };
  } catch (e) {
    if (e instanceof Refusal) return { ok: false, problem: e.message };
    throw e;
  } finally {
    client.disconnect();
  }
}

/** CONFIG GET is what Redis documents; managed services often disable CONFIG, and INFO memory has it too. */
async function readEvictionPolicy(client: Redis): Promise<string | undefined> {
  try {
    const reply = await client.config('GET', 'maxmemory-policy');
    if (Array.isArray(reply) && typeof reply[1] === 'string') return reply[1];
  } catch {
    // CONFIG disabled or renamed: fall through to INFO.
  }
  try {
    return infoField(await client.info('memory'), 'maxmemory_policy');
  } catch {
    return undefined;
  }
}
