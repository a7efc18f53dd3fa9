/**
 * Workers announce themselves in Redis (name, device, models, capacity, pace) with a short lifetime
 * renewed by a heartbeat, so a worker that died simply drops out. The bot reads the announcements
 * for /info and to size how many jobs it hands out at once.
 */
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { WORKER_PATTERN, WORKER_TTL_S, workerKey } from './keys.js';

const announcement = z.object({
  name: z.string().min(1).max(200),
  device: z.string().max(100),
  models: z.array(z.string().max(200)).max(100),
  concurrency: z.number().int().min(1).max(64),
  running: z.number().int().min(0),
  stepsPerSecond: z.number().nonnegative().optional(),
  since: z.number(),
});
export type WorkerAnnouncement = z.infer<typeof announcement>;

export async function announce(redis: Redis, a: WorkerAnnouncement): Promise<void> {
  await redis.set(workerKey(a.name), JSON.stringify(a), 'EX', WORKER_TTL_S);
}

export async function withdraw(redis: Redis, name: string): Promise<void> {
  await redis.del(workerKey(name));
}

/** The workers online now, by name; an unreadable announcement is skipped (another version, say). */
export async function workersOnline(redis: Redis): Promise<WorkerAnnouncement[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', WORKER_PATTERN, 'COUNT', 200);
    cursor = next;
    keys.push(...found);
  } while (cursor !== '0');
  if (!keys.length) return [];
  const values = await redis.mget(...keys);
  const out: WorkerAnnouncement[] = [];
  for (const v of values) {
    if (v === null) continue;
    try {
      const parsed = announcement.safeParse(JSON.parse(v));
      if (parsed.success) out.push(parsed.data);
    } catch {
      // not JSON: not one of ours
    }
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}
