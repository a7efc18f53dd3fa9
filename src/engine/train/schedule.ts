/** Learning-rate schedules of the trainers. */

/** Linear warm-up then cosine decay to 0, as open_clip's default schedule. */
export function lrAt(peak: number, step: number, total: number, warmup: number): number {
  if (step <= warmup) return (peak * step) / warmup;
  return 0.5 * peak * (1 + Math.cos((Math.PI * (step - warmup)) / Math.max(1, total - warmup)));
}
