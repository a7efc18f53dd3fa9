/** Retrying a Discord request on top of discord.js's own retries (which give up after 3 for 5xx). */
import { DiscordAPIError } from 'discord.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Errors worth another try: anything but a 4xx other than 429 (those will fail the same way again). */
export function isRetryable(e: unknown): boolean {
  if (e instanceof DiscordAPIError) return e.status === 429 || e.status >= 500;
  return true;
}

export async function withRetry<T>(fn: () => Promise<T>, attempts = 4, firstDelayMs = 500): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (e) {
      if (attempt >= attempts || !isRetryable(e)) throw e;
      await sleep(firstDelayMs * 2 ** (attempt - 1));
    }
  }
}
