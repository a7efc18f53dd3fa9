/**
 * A worker's own concurrency across its model queues: BullMQ bounds each queue's Worker, not the
 * process, so a worker serving two models would otherwise run two jobs on a one-job GPU.
 */
export class Semaphore {
  private used = 0;
  private readonly waiting: { resolve: () => void; reject: (e: unknown) => void }[] = [];

  constructor(private readonly size: number) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`a semaphore needs a whole number ≥ 1 of slots, got ${size}`);
  }

  get inUse(): number { return this.used; }

  /** Resolves once a slot is free; rejects if `signal` fires first (the slot is then not taken). */
  acquire(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.used < this.size) {
      this.used++;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const entry = {
        resolve: () => { signal?.removeEventListener('abort', onAbort); resolve(); },
        reject,
      };
      const onAbort = (): void => {
        const i = this.waiting.indexOf(entry);
        if (i >= 0) this.waiting.splice(i, 1);
        reject(signal!.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(entry);
    });
  }

  /** Hands the slot to the longest waiter, or frees it. */
  release(): void {
    const next = this.waiting.shift();
    if (next) next.resolve();
    else this.used = Math.max(0, this.used - 1);
  }
}
