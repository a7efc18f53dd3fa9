/**
 * Synthesis's views for the chains' gradient: each step sees `views` copies of every picture, each
 * copy shifted by up to ±shift px (edges repeated, one shift per view for the whole batch) with
 * Gaussian pixel noise, and follows the mean of their gradients taken back to the picture's own
 * pixels. This is the probe's synthesis (4 views, ±2 px, noise 0.03), which the chains must follow
 * for the alignment items to sit where synthesis goes.
 */
import { gaussian } from '../random.js';
import type { ChainGradient } from './synthesis-chains.js';

export interface ViewOptions {
  views: number;
  /** Largest shift in px each way. */
  shift: number;
  /** Standard deviation of the pixel noise added to each view. */
  noise: number;
  /** Picture side in px. */
  size: number;
  rand: () => number;
}

/**
 * Calls read(i, j) for each pixel i of a picture [3, S, S] at offset `to` with the pixel j, at offset
 * `from`, that it shows when shifted by (dx, dy) px with edges repeated: i reads j = i + (dx, dy),
 * clamped to the picture.
 */
export function eachShiftedRead(S: number, dx: number, dy: number, from: number, to: number, read: (i: number, j: number) => void): void {
  const plane = S * S;
  const clampPx = (v: number): number => (v < 0 ? 0 : v >= S ? S - 1 : v);
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < S; y++) {
      const row = from + c * plane + clampPx(y + dy) * S;
      const out = to + c * plane + y * S;
      for (let xx = 0; xx < S; xx++) read(out + xx, row + clampPx(xx + dx));
    }
  }
}

/** The ChainGradient of n pictures from one over n·views pictures (views-major: all of view 0, then view 1, …). */
export function withViews(grad: ChainGradient, o: ViewOptions): ChainGradient {
  if (!Number.isInteger(o.views) || o.views < 1 || !Number.isInteger(o.shift) || o.shift < 0 || !(o.noise >= 0)) {
    throw new RangeError(`withViews: views ≥ 1 and shift ≥ 0 whole numbers, noise ≥ 0; got ${o.views}, ${o.shift}, ${o.noise}`);
  }
  const S = o.size;
  const P = 3 * S * S;
  /** Calls read(i, j) for every pixel i of every view with the pixel j of the pictures it reads. */
  const eachRead = (n: number, shifts: readonly (readonly [number, number])[], read: (i: number, j: number) => void): void => {
    shifts.forEach(([dx, dy], v) => {
      for (let p = 0; p < n; p++) eachShiftedRead(S, dx, dy, p * P, (v * n + p) * P, read);
    });
  };
  return async (x, ids) => {
    const n = x.length / P;
    const V = o.views;
    const shifts = Array.from({ length: V }, () => [Math.floor(o.rand() * (2 * o.shift + 1)) - o.shift, Math.floor(o.rand() * (2 * o.shift + 1)) - o.shift] as const);
    const seen = new Float32Array(V * n * P);
    const allIds = new BigInt64Array(V * ids.length);
    for (let v = 0; v < V; v++) allIds.set(ids, v * ids.length);
    eachRead(n, shifts, (i, j) => { seen[i] = x[j]! + o.noise * gaussian(o.rand); });
    const g = await grad(seen, allIds);
    if (g.length !== seen.length) throw new RangeError(`withViews: the gradient has ${g.length} values for ${seen.length} view pixels`);
    // The adjoint of each view: a view pixel's gradient goes back to the pixel it was read from.
    const out = new Float32Array(x.length);
    eachRead(n, shifts, (i, j) => { out[j] = out[j]! + g[i]! / V; });
    return out;
  };
}
