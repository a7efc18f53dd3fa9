/**
 * Where synthesis goes: pictures moved k normalised steps down a loss's pixel gradient (the moves
 * `stepRule 1` synthesis makes), each picture on its own. Alignment items taken from there train the
 * input gradient off the straight line from a start to its target, where synthesis actually is.
 */
import { normalizedStep } from '../pag/optim.js';
import type { PixelGradient } from './pgd.js';

export interface DescentOptions {
  steps: number;
  /** Each picture's move per step, in root-mean-square pixel units of [0, 1]. */
  lr: number;
  /** Values per picture. */
  size: number;
  /** Only the first `pictures` pictures move (the rest of a batch only fills the graph's input). */
  pictures: number;
}

export async function descend(start: Float32Array, grad: PixelGradient, o: DescentOptions): Promise<Float32Array> {
  if (!Number.isInteger(o.steps) || o.steps < 0 || !(o.lr >= 0)) throw new RangeError(`descend: steps must be a whole number ≥ 0 and lr ≥ 0, got ${o.steps}, ${o.lr}`);
  if (start.length % o.size !== 0 || o.pictures * o.size > start.length) throw new RangeError(`descend: ${o.pictures} pictures of ${o.size} values do not fit ${start.length}`);
  const x = start.slice();
  for (let k = 0; k < o.steps; k++) {
    const g = await grad(x);
    for (let p = 0; p < o.pictures; p++) {
      const xs = x.subarray(p * o.size, (p + 1) * o.size);
      normalizedStep(xs, g.subarray(p * o.size, (p + 1) * o.size), o.lr);
      for (let i = 0; i < xs.length; i++) xs[i] = xs[i]! < 0 ? 0 : xs[i]! > 1 ? 1 : xs[i]!;
    }
  }
  return x;
}
