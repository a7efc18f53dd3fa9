/**
 * Binary values in Redis with a lifetime: progress frames, results and starting pictures. They stay
 * out of BullMQ's payloads, which Redis copies into its event stream (and which would carry a
 * Buffer as JSON, about five times its size).
 */
import type { Redis } from 'ioredis';

export class Blobs {
  constructor(private readonly redis: Redis) {}

  async put(key: string, bytes: Buffer, ttlS: number): Promise<void> {
    await this.redis.set(key, bytes, 'EX', ttlS);
  }

  /** undefined once it expired or was deleted. */
  async get(key: string): Promise<Buffer | undefined> {
    return (await this.redis.getBuffer(key)) ?? undefined;
  }

  async delete(...keys: string[]): Promise<void> {
    if (keys.length) await this.redis.del(...keys);
  }
}
