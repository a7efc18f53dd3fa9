/**
 * How long a dead shard waits before it is started again. Every start logs in to the gateway
 * (an IDENTIFY), and Discord allows a bot about 1,000 of those a day before it resets the token, so
 * a shard that keeps dying soon after it starts waits twice as long each time, up to a cap; one that
 * stayed up a while before it died is started again almost at once.
 */
export interface RespawnBackoffOptions {
  /** The wait after a first exit (default 1 s). */
  firstMs?: number;
  /** The longest wait (default 5 min: at most ~300 logins a day for a shard that never stays up). */
  maxMs?: number;
  /** A shard up this long before it exits starts again from firstMs (default 5 min). */
  stableMs?: number;
}

export const RESPAWN_DEFAULTS: Required<RespawnBackoffOptions> = { firstMs: 1000, maxMs: 5 * 60_000, stableMs: 5 * 60_000 };

export class RespawnBackoff {
  private readonly o: Required<RespawnBackoffOptions>;
  private exitsInARow = 0;

  constructor(o: RespawnBackoffOptions = {}) {
    const d = RESPAWN_DEFAULTS;
    this.o = { firstMs: o.firstMs ?? d.firstMs, maxMs: o.maxMs ?? d.maxMs, stableMs: o.stableMs ?? d.stableMs };
  }

  /** Counts an exit after `upMs` of running; returns the wait before the next start and how many quick exits came in a row. */
  exited(upMs: number): { delayMs: number; exitsInARow: number } {
    if (upMs >= this.o.stableMs) this.exitsInARow = 0;
    this.exitsInARow++;
    const delayMs = Math.min(this.o.maxMs, this.o.firstMs * 2 ** Math.min(this.exitsInARow - 1, 40));
    return { delayMs, exitsInARow: this.exitsInARow };
  }
}
