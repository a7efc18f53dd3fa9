/**
 * How long a model has had no worker: one clock per model, shared by every job waiting for it, so
 * that when no worker comes the waiting jobs fail together once the timeout is up, instead of each
 * one counting its own timeout from when it was handed out (jobs queued behind it would fail one
 * timeout apart), and a worker seen online at any moment restarts the count.
 */
import { WORKER_TTL_S } from './keys.js';

/**
 * Two looks at most this far apart leave no gap a worker could hide in: a worker's announcement
 * lives WORKER_TTL_S after its last heartbeat, so one that was online between them is seen by the
 * second. Looks further apart (nobody was waiting, or Redis was unreachable) start the count again.
 */
export const CONTINUOUS_LOOKS_MS = WORKER_TTL_S * 1000;

export class WorkerWatch {
  private absentSince: number | undefined;
  private lastLook: number | undefined;
  private looking: Promise<number> | undefined;

  /** `serving`: whether a worker serving the model is online now. */
  constructor(private readonly serving: () => Promise<boolean>, private readonly now: () => number = Date.now) {}

  /**
   * Looks at the workers online and returns for how long, in ms, none serving the model has been
   * seen (0 while one is online). Looks asked for while one is under way share its answer.
   */
  absentFor(): Promise<number> {
    this.looking ??= this.look().finally(() => { this.looking = undefined; });
    return this.looking;
  }

  private async look(): Promise<number> {
    const online = await this.serving();
    const t = this.now();
    const continuous = this.lastLook !== undefined && t - this.lastLook <= CONTINUOUS_LOOKS_MS;
    this.lastLook = t;
    if (online) {
      this.absentSince = undefined;
      return 0;
    }
    if (this.absentSince === undefined || !continuous) this.absentSince = t;
    return t - this.absentSince;
  }
}
