/**
 * Projected gradient ascent on pixels inside an L∞ ball (Madry et al.), the attack CLIPAG-style
 * adversarial finetuning trains against: random start in the ball, signed-gradient steps, each
 * projected back onto the ball and onto valid pixels [0, 1].
 */
import { assertFinite } from '../pag/optim.js';

export interface PgdOptions {
  /** Radius of the L∞ ball, in pixel units of [0, 1]. */
  eps: number;
  /** Step size per iteration. */
  alpha: number;
  steps: number;
  /** Uniform source for the random start. */
  rand: () => number;
}

/** d(loss)/d(pixels) at the given pixels. */
export type PixelGradient = (pixels: Float32Array) => Promise<Float32Array>;

export async function pgdAttack(clean: Float32Array, grad: PixelGradient, o: PgdOptions): Promise<Float32Array> {
  if (!(o.eps >= 0) || !(o.alpha >= 0) || !Number.isInteger(o.steps) || o.steps < 0) {
    throw new RangeError(`PGD: eps and alpha must be ≥ 0 and steps a whole number, got ${o.eps}, ${o.alpha}, ${o.steps}`);
  }
  const adv = new Float32Array(clean.length);
  const project = (i: number, v: number): number => {
    const lo = Math.max(0, clean[i]! - o.eps);
    const hi = Math.min(1, clean[i]! + o.eps);
    return v < lo ? lo : v > hi ? hi : v;
  };
  for (let i = 0; i < adv.length; i++) adv[i] = project(i, clean[i]! + o.eps * (2 * o.rand() - 1));
  for (let k = 0; k < o.steps; k++) {
    const g = await grad(adv);
    if (g.length !== adv.length) throw new RangeError(`PGD: the gradient has ${g.length} values for ${adv.length} pixels`);
    assertFinite(g, `PGD step ${k + 1}: the pixel gradient`);
    for (let i = 0; i < adv.length; i++) adv[i] = project(i, adv[i]! + o.alpha * Math.sign(g[i]!));
  }
  return adv;
}
