/** Learning-rate schedules of the trainers. */

/** Linear warm-up then cosine decay to 0, as open_clip's default schedule. */
export function lrAt(peak: number, step: number, total: number, warmup: number): number {
  if (step <= warmup) return (peak * step) / warmup;
  return 0.5 * peak * (1 + Math.cos((Math.PI * (step - warmup)) / Math.max(1, total - warmup)));
}

/**
 * Where step (1-based) of a phase of `total` steps falls when the phase runs as `cycles` equal
 * warm-up-and-cosine cycles (warm restarts, as the issue-17 probe's three cycles): the cycle's
 * 1-based step, its length, and whether this step opens a cycle after the first. Splitting a
 * phase this way is what resuming `--from` each stage's pack did, in one command.
 */
export function cycleOf(step: number, total: number, cycles: number): { step: number; length: number; restart: boolean } {
  if (!Number.isInteger(cycles) || cycles < 1 || total % cycles !== 0) {
    throw new RangeError(`a phase of ${total} steps does not split into ${cycles} equal cycles`);
  }
  const length = total / cycles;
  const within = ((step - 1) % length) + 1;
  return { step: within, length, restart: within === 1 && step > 1 };
}
