/**
 * A queue that is fair between members: each time a slot frees, the member whose last start is the
 * longest ago (never beats any time) goes next, taking their oldest waiting item. So one member with
 * 50 jobs waiting gets one slot in turn with everyone else, never all of them. p-queue bounds how
 * many run at once; which item a slot runs is decided only when the slot starts, so order follows
 * the members waiting at that moment.
 */
import PQueue from 'p-queue';

export interface FairItem {
  id: string;
  userId: string;
}

export interface FairQueueOptions<T extends FairItem> {
  concurrency: number;
  /** Runs one item; `signal` fires when it is cancelled or the queue shuts down (see abortRunning). */
  run: (item: T, signal: AbortSignal) => Promise<void>;
  /** `run` should handle its own errors; anything it throws anyway lands here. */
  onError?: (item: T, error: unknown) => void;
}

/** Where an item is: running, or waiting with its 1-based place in line. */
export type QueuePlace = { state: 'running' } | { state: 'waiting'; position: number };

interface Waiting<T> {
  item: T;
  /** Arrival order, so members who never ran are served in the order they came. */
  seq: number;
}

export class FairQueue<T extends FairItem> {
  private readonly pq: PQueue;
  private readonly lanes = new Map<string, Waiting<T>[]>();
  private readonly waitingIds = new Set<string>();
  private readonly running = new Map<string, { item: T; controller: AbortController }>();
  /** Start number of each member's latest start; dropped once they have nothing waiting or running. */
  private readonly lastStart = new Map<string, number>();
  private arrivals = 0;
  private starts = 0;
  private orderCache?: { items: T[]; index: Map<string, number> };
  private readonly runningDone = new Set<() => void>();

  constructor(private readonly opts: FairQueueOptions<T>) {
    if (!Number.isInteger(opts.concurrency) || opts.concurrency < 1) throw new RangeError(`concurrency must be a whole number ≥ 1, got ${opts.concurrency}`);
    this.pq = new PQueue({ concurrency: opts.concurrency });
  }

  get concurrency(): number { return this.pq.concurrency; }

  /** Changes how many run at once (workers came or went); running items are never stopped for it. */
  setConcurrency(n: number): void {
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`concurrency must be a whole number ≥ 1, got ${n}`);
    this.pq.concurrency = n;
  }

  /** Queues an item and returns its place (it may already be running when a slot was free). */
  add(item: T): QueuePlace {
    if (this.has(item.id)) throw new Error(`job ${item.id} is already queued`);
    const lane = this.lanes.get(item.userId) ?? [];
    lane.push({ item, seq: this.arrivals++ });
    this.waitingIds.add(item.id);
    this.lanes.set(item.userId, lane);
    this.orderCache = undefined;
    // One slot task per item; a slot whose item was cancelled meanwhile finds nothing (or a later item) to run.
    void this.pq.add(() => this.runNext());
    return this.place(item.id)!;
  }

  has(id: string): boolean {
    return this.running.has(id) || this.waitingIds.has(id);
  }

  /** An item's place, or undefined when the queue does not hold it (finished, cancelled, unknown). */
  place(id: string): QueuePlace | undefined {
    if (this.running.has(id)) return { state: 'running' };
    if (!this.waitingIds.has(id)) return undefined;
    const i = this.order().index.get(id);
    return i === undefined ? undefined : { state: 'waiting', position: i + 1 };
  }

  private order(): { items: T[]; index: Map<string, number> } {
    if (!this.orderCache) {
      const items = this.simulateOrder();
      this.orderCache = { items, index: new Map(items.map((it, i) => [it.id, i])) };
    }
    return this.orderCache;
  }

  /** Items running now, in the order they started. */
  runningItems(): T[] {
    return [...this.running.values()].map((r) => r.item);
  }

  /** Waiting items in the order they will start if nothing else arrives. */
  waiting(): T[] {
    return [...this.order().items];
  }

  /** Items waiting (not running). */
  get size(): number {
    return this.waitingIds.size;
  }

  /**
   * Cancels an item: a waiting one is removed, a running one has its signal fired (with `reason`)
   * and finishes when its run notices. Returns where it was, or undefined when not held.
   */
  cancel(id: string, reason: unknown = 'cancelled'): 'waiting' | 'running' | undefined {
    const r = this.running.get(id);
    if (r) {
      r.controller.abort(reason);
      return 'running';
    }
    for (const [user, lane] of this.lanes) {
      const i = lane.findIndex((w) => w.item.id === id);
      if (i < 0) continue;
      lane.splice(i, 1);
      this.waitingIds.delete(id);
      if (lane.length === 0) this.dropLane(user);
      this.orderCache = undefined;
      return 'waiting';
    }
    return undefined;
  }

  /** Stops starting items; those waiting stay (for a later start() or to be persisted). */
  pause(): void { this.pq.pause(); }

  start(): void { this.pq.start(); }

  /** Removes every waiting item and returns them in order. */
  clearWaiting(): T[] {
    const out = this.waiting();
    this.lanes.clear();
    this.waitingIds.clear();
    for (const user of [...this.lastStart.keys()]) this.forgetIfIdle(user);
    this.orderCache = undefined;
    return out;
  }

  /** Fires the signal of every running item. */
  abortRunning(reason: unknown): void {
    for (const r of this.running.values()) r.controller.abort(reason);
  }

  /** Resolves when nothing is running (waiting items may remain, e.g. while paused). */
  async whenRunningDone(): Promise<void> {
    if (this.running.size === 0) return;
    await new Promise<void>((resolve) => this.runningDone.add(resolve));
  }

  private async runNext(): Promise<void> {
    const next = this.takeNext();
    if (!next) return;
    const controller = new AbortController();
    this.running.set(next.id, { item: next, controller });
    try {
      await this.opts.run(next, controller.signal);
    } catch (e) {
      this.opts.onError?.(next, e);
    } finally {
      this.running.delete(next.id);
      this.forgetIfIdle(next.userId);
      if (this.running.size === 0) {
        for (const resolve of this.runningDone) resolve();
        this.runningDone.clear();
      }
    }
  }

  /** Removes and returns the item that goes next, marking its member as just served. */
  private takeNext(): T | undefined {
    const user = this.nextUser();
    if (user === undefined) return undefined;
    const lane = this.lanes.get(user)!;
    const w = lane.shift()!;
    this.waitingIds.delete(w.item.id);
    if (lane.length === 0) this.lanes.delete(user);
    this.lastStart.set(user, this.starts++);
    this.orderCache = undefined;
    return w.item;
  }

  /** The member served longest ago (never served first), ties by the arrival of their oldest item. */
  private nextUser(): string | undefined {
    let best: string | undefined;
    let bestKey: readonly [number, number] = [Infinity, Infinity];
    for (const [user, lane] of this.lanes) {
      const key = [this.lastStart.get(user) ?? -1, lane[0]!.seq] as const;
      if (key[0] < bestKey[0] || (key[0] === bestKey[0] && key[1] < bestKey[1])) {
        best = user;
        bestKey = key;
      }
    }
    return best;
  }

  /**
   * The start order of the waiting items, as takeNext would produce it: members sorted by the same
   * key takeNext uses, then one item from each in turn, since each pick makes its member the most
   * recently served and so sends them to the back of that order.
   */
  private simulateOrder(): T[] {
    const users = [...this.lanes.entries()]
      .map(([user, lane]) => ({ lane, key: [this.lastStart.get(user) ?? -1, lane[0]!.seq] as const }))
      .sort((a, b) => a.key[0] - b.key[0] || a.key[1] - b.key[1]);
    const out: T[] = [];
    for (let round = 0, more = true; more; round++) {
      more = false;
      for (const u of users) {
        const w = u.lane[round];
        if (w === undefined) continue;
        out.push(w.item);
        more = true;
      }
    }
    return out;
  }

  private dropLane(user: string): void {
    this.lanes.delete(user);
    this.forgetIfIdle(user);
  }

  /**
   * A member with nothing waiting or running is forgotten, so when they come back they count as
   * never served: light users go ahead of anyone with a backlog.
   */
  private forgetIfIdle(user: string): void {
    if (this.lanes.has(user)) return;
    for (const r of this.running.values()) if (r.item.userId === user) return;
    this.lastStart.delete(user);
  }
}
