/**
 * Projected gradient ascent on pixels (Madry et al.), the attack CLIPAG-style adversarial
 * finetuning trains against: a random start in the ball, steepest-ascent steps for the ball's norm,
 * each projected back onto the ball and onto valid pixels [0, 1].
 *   L∞: signed-gradient steps, clip each pixel to [clean − ε, clean + ε].
 *   L2: each picture's gradient scaled to length alpha, its whole perturbation shrunk to length ≤ ε
 *       (per picture, `size` values each): the threat model of Santurkar et al. (2019), whose robust
 *       classifier synthesised images; here it kept retrieval where L∞ did not (MODEL_CARD.md).
 */
import { assertFinite } from '../pag/optim.js';
import { gaussian } from '../random.js';

export interface PgdOptions {
  /** Radius of the ball, in pixel units of [0, 1]. */
  eps: number;
  /** Step size per iteration (per pixel for L∞, per picture's length for L2). */
  alpha: number;
  steps: number;
  /** Uniform source for the random start. */
  rand: () => number;
  /** The ball's norm (default 'linf'). */
  norm?: 'linf' | 'l2';
  /** Values per picture: the L2 ball is one per picture (default: the whole array is one picture). */
  size?: number;
}

/** d(loss)/d(pixels) at the given pixels. */
export type PixelGradient = (pixels: Float32Array) => Promise<Float32Array>;

export async function pgdAttack(clean: Float32Array, grad: PixelGradient, o: PgdOptions): Promise<Float32Array> {
  if (!(o.eps >= 0) || !(o.alpha >= 0) || !Number.isInteger(o.steps) || o.steps < 0) {
    throw new RangeError(`PGD: eps and alpha must be ≥ 0 and steps a whole number, got ${o.eps}, ${o.alpha}, ${o.steps}`);
  }
  const size = o.size ?? clean.length;
  if (!Number.isInteger(size) || size < 1 || clean.length % size !== 0) {
    throw new RangeError(`PGD: size must divide the ${clean.length} pixel values into whole pictures, got ${size}`);
  }
  const ball = o.norm === 'l2' ? l2Ball(clean, o.eps, size) : linfBall(clean, o.eps);
  const adv = ball.start(o.rand);
  for (let k = 0; k < o.steps; k++) {
    const g = await grad(adv);
    if (g.length !== adv.length) throw new RangeError(`PGD: the gradient has ${g.length} values for ${adv.length} pixels`);
    assertFinite(g, `PGD step ${k + 1}: the pixel gradient`);
    ball.ascend(adv, g, o.alpha);
  }
  return adv;
}

interface Ball {
  start(rand: () => number): Float32Array;
  /** One steepest-ascent step of length alpha, projected back, in place. */
  ascend(adv: Float32Array, g: Float32Array, alpha: number): void;
}

function linfBall(clean: Float32Array, eps: number): Ball {
  const project = (i: number, v: number): number => {
    const lo = Math.max(0, clean[i]! - eps);
    const hi = Math.min(1, clean[i]! + eps);
    return v < lo ? lo : v > hi ? hi : v;
  };
  return {
    start: (rand) => Float32Array.from(clean, (c, i) => project(i, c + eps * (2 * rand() - 1))),
    ascend: (adv, g, alpha) => {
      for (let i = 0; i < adv.length; i++) adv[i] = project(i, adv[i]! + alpha * Math.sign(g[i]!));
    },
  };
}

function l2Ball(clean: Float32Array, eps: number, size: number): Ball {
  const clamp = (v: number): number => (v < 0 ? 0 : v > 1 ? 1 : v);
  // Shrinks picture p's perturbation onto the ball, then clips to [0, 1] (which only shortens it).
  const project = (adv: Float32Array | Float64Array, out: Float32Array, p: number): void => {
    let sq = 0;
    for (let i = p * size; i < (p + 1) * size; i++) sq += (adv[i]! - clean[i]!) ** 2;
    const f = sq > eps * eps ? eps / Math.sqrt(sq) : 1;
    for (let i = p * size; i < (p + 1) * size; i++) out[i] = clamp(clean[i]! + f * (adv[i]! - clean[i]!));
  };
  const pictures = clean.length / size;
  return {
    // A uniformly random direction at a uniformly random radius in [0, ε].
    start: (rand) => {
      const out = new Float32Array(clean.length);
      const raw = new Float64Array(clean.length);
      for (let p = 0; p < pictures; p++) {
        let sq = 0;
        const dir = new Float64Array(size);
        for (let i = 0; i < size; i++) sq += (dir[i] = gaussian(rand)) ** 2;
        const r = (eps * rand()) / Math.sqrt(sq || 1);
        for (let i = 0; i < size; i++) raw[p * size + i] = clean[p * size + i]! + r * dir[i]!;
        project(raw, out, p);
      }
      return out;
    },
    ascend: (adv, g, alpha) => {
      const moved = new Float64Array(adv.length);
      for (let p = 0; p < pictures; p++) {
        let sq = 0;
        for (let i = p * size; i < (p + 1) * size; i++) sq += g[i]! ** 2;
        const f = sq > 0 ? alpha / Math.sqrt(sq) : 0;
        for (let i = p * size; i < (p + 1) * size; i++) moved[i] = adv[i]! + f * g[i]!;
        project(moved, adv, p);
      }
    },
  };
}

/**
 * The same search the other way: the loss *minimised* inside the ball, i.e. pictures the model
 * likes better than the start for their captions (what synthesis looks for). Adversarial
 * finetuning with --over-eps ranks what it finds below the captions' own pictures.
 */
export async function pgdDescent(start: Float32Array, grad: PixelGradient, o: PgdOptions): Promise<Float32Array> {
  return pgdAttack(start, async (px) => (await grad(px)).map((g) => -g), o);
}
