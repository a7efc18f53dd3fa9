/**
 * With remote workers the bot hands out as many jobs at once as the workers online have slots, so
 * the fair queue, not BullMQ's first-in-first-out, decides who goes next; at least one, so a job
 * can wait in the shared queue for a worker to come (or fail after remoteEngine's timeout).
 */
import type { Logger } from 'pino';
import type { WorkerAnnouncement } from './registry.js';

export interface CapacityTarget { setConcurrency(n: number): void; readonly concurrency: number }

export const capacityOf = (workers: readonly WorkerAnnouncement[]): number =>
  Math.max(1, workers.reduce((n, w) => n + w.concurrency, 0));

/** Polls the workers and resizes `target`; returns a function that stops polling. */
export function followCapacity(read: () => Promise<WorkerAnnouncement[]>, target: CapacityTarget, o: { intervalMs?: number; logger: Logger }): { stop(): void } {
  const refresh = async (): Promise<void> => {
    try {
      const n = capacityOf(await read());
      if (n !== target.concurrency) {
        o.logger.info({ from: target.concurrency, to: n }, 'worker slots online changed');
        target.setConcurrency(n);
      }
    } catch (e) {
      o.logger.warn({ err: (e as Error).message }, 'could not read the workers online');
    }
  };
  const timer = setInterval(() => void refresh(), o.intervalMs ?? 5000);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
