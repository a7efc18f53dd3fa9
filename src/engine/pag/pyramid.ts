/**
 * A multi-scale parameterisation of the canvas (recipe key `pyramidLevels`, our addition; 0, the
 * paper's, optimises the pixels themselves): canvas = Σ_l up_l(c_l), where c_0 is full size and c_l
 * is 2^l times smaller, bilinearly upsampled. The optimiser steps the coefficients, whose gradient
 * is the canvas gradient pulled back through each upsampling (its adjoint).
 *
 * Why: AdamW moves every parameter about lr a step whatever its gradient's size, so where the
 * canvas gradient is small and mixed (inside a shape) plain pixels drift apart into stripes of
 * neighbouring colours. A coarse coefficient sums the gradient over its block, and moves the block
 * as one; the full-size level keeps the edges.
 */

/** One axis of a bilinear upsampling by `factor` (align_corners false, edges clamped): two taps an output. */
interface Axis {
  lo: Int32Array;
  hi: Int32Array;
  wHi: Float32Array;
}

function axis(small: number, factor: number): Axis {
  const n = small * factor;
  const lo = new Int32Array(n);
  const hi = new Int32Array(n);
  const wHi = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const src = Math.min(small - 1, Math.max(0, (i + 0.5) / factor - 0.5));
    lo[i] = Math.floor(src);
    hi[i] = Math.min(small - 1, lo[i]! + 1);
    wHi[i] = src - lo[i]!;
  }
  return { lo, hi, wHi };
}

export class CanvasPyramid {
  /** Side of each level, full size first. */
  readonly sides: number[];
  /** Coefficients per picture (all levels, 3 channels). */
  readonly size: number;
  private readonly axes: Axis[];
  private readonly offsets: number[];

  constructor(readonly side: number, readonly levels: number) {
    if (!Number.isInteger(levels) || levels < 0 || levels > 6) throw new RangeError(`pyramidLevels must be a whole number from 0 to 6, got ${levels}`);
    if (side % 2 ** levels !== 0) throw new RangeError(`pyramidLevels ${levels} needs a canvas side divisible by ${2 ** levels}, got ${side}`);
    this.sides = Array.from({ length: levels + 1 }, (_, l) => side / 2 ** l);
    this.axes = this.sides.map((s, l) => axis(s, 2 ** l));
    this.offsets = [];
    let at = 0;
    for (const s of this.sides) {
      this.offsets.push(at);
      at += 3 * s * s;
    }
    this.size = at;
  }

  /** Coefficients that compose to `canvas`: the canvas in the full-size level, the coarse ones zero. */
  fromCanvas(canvas: Float32Array): Float32Array {
    this.check(canvas, 3 * this.side * this.side, 'canvas');
    const coef = new Float32Array(this.size);
    coef.set(canvas, 0);
    return coef;
  }

  /** canvas = Σ_l up_l(c_l). */
  compose(coef: Float32Array, canvas: Float32Array): void {
    this.check(coef, this.size, 'coefficients');
    this.check(canvas, 3 * this.side * this.side, 'canvas');
    canvas.set(coef.subarray(0, canvas.length));
    const S = this.side;
    for (let l = 1; l <= this.levels; l++) {
      const s = this.sides[l]!;
      const { lo, hi, wHi } = this.axes[l]!;
      const base = this.offsets[l]!;
      for (let c = 0; c < 3; c++) {
        const src = base + c * s * s;
        for (let y = 0; y < S; y++) {
          const r0 = src + lo[y]! * s;
          const r1 = src + hi[y]! * s;
          const wy = wHi[y]!;
          const row = c * S * S + y * S;
          for (let x = 0; x < S; x++) {
            const a = coef[r0 + lo[x]!]! + wHi[x]! * (coef[r0 + hi[x]!]! - coef[r0 + lo[x]!]!);
            const b = coef[r1 + lo[x]!]! + wHi[x]! * (coef[r1 + hi[x]!]! - coef[r1 + lo[x]!]!);
            canvas[row + x]! += a + wy * (b - a);
          }
        }
      }
    }
  }

  /** The coefficients' gradient from the canvas's: each level gets its upsampling's adjoint of `grad`. */
  pullBack(grad: Float32Array, coefGrad: Float32Array): void {
    this.check(grad, 3 * this.side * this.side, 'canvas gradient');
    this.check(coefGrad, this.size, 'coefficient gradient');
    coefGrad.fill(0);
    coefGrad.set(grad, 0);
    const S = this.side;
    for (let l = 1; l <= this.levels; l++) {
      const s = this.sides[l]!;
      const { lo, hi, wHi } = this.axes[l]!;
      const base = this.offsets[l]!;
      for (let c = 0; c < 3; c++) {
        const dst = base + c * s * s;
        for (let y = 0; y < S; y++) {
          const r0 = dst + lo[y]! * s;
          const r1 = dst + hi[y]! * s;
          const wy = wHi[y]!;
          const row = c * S * S + y * S;
          for (let x = 0; x < S; x++) {
            const g = grad[row + x]!;
            const g0 = g * (1 - wy);
            const g1 = g * wy;
            const wx = wHi[x]!;
            coefGrad[r0 + lo[x]!]! += g0 * (1 - wx);
            coefGrad[r0 + hi[x]!]! += g0 * wx;
            coefGrad[r1 + lo[x]!]! += g1 * (1 - wx);
            coefGrad[r1 + hi[x]!]! += g1 * wx;
          }
        }
      }
    }
  }

  /**
   * After the canvas was clamped or thresholded: the difference goes into the full-size level, so the
   * coefficients compose to the canvas kept (without it they would wander outside [0, 1] unseen).
   */
  settle(coef: Float32Array, composed: Float32Array, kept: Float32Array): void {
    for (let i = 0; i < kept.length; i++) coef[i]! += kept[i]! - composed[i]!;
  }

  private check(a: Float32Array, n: number, what: string): void {
    if (a.length !== n) throw new RangeError(`pyramid: the ${what} has ${a.length} values, expected ${n}`);
  }
}
