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

/**
 * Bilinear upsampling of one plane by `factor` (align_corners false, edges clamped, as torch's) as
 * four taps per output pixel: source indices into the small plane and their weights.
 */
interface Taps {
  index: Int32Array;
  weight: Float32Array;
}

function upsampleTaps(small: number, factor: number): Taps {
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
  const index = new Int32Array(4 * n * n);
  const weight = new Float32Array(4 * n * n);
  for (let y = 0; y < n; y++) {
    for (let x = 0; x < n; x++) {
      const k = 4 * (y * n + x);
      const [wy, wx] = [wHi[y]!, wHi[x]!];
      index.set([lo[y]! * small + lo[x]!, lo[y]! * small + hi[x]!, hi[y]! * small + lo[x]!, hi[y]! * small + hi[x]!], k);
      weight.set([(1 - wy) * (1 - wx), (1 - wy) * wx, wy * (1 - wx), wy * wx], k);
    }
  }
  return { index, weight };
}

export class CanvasPyramid {
  /** Side of each level, full size first. */
  readonly sides: number[];
  /** Coefficients per picture (all levels, 3 channels). */
  readonly size: number;
  private readonly taps: Taps[];
  private readonly offsets: number[];

  constructor(readonly side: number, readonly levels: number) {
    if (!Number.isInteger(levels) || levels < 0 || levels > 6) throw new RangeError(`pyramidLevels must be a whole number from 0 to 6, got ${levels}`);
    if (side % 2 ** levels !== 0) throw new RangeError(`pyramidLevels ${levels} needs a canvas side divisible by ${2 ** levels}, got ${side}`);
    this.sides = Array.from({ length: levels + 1 }, (_, l) => side / 2 ** l);
    this.taps = this.sides.map((s, l) => (l === 0 ? { index: new Int32Array(0), weight: new Float32Array(0) } : upsampleTaps(s, 2 ** l)));
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
    this.eachTap((pixel, source, w) => {
      canvas[pixel]! += w * coef[source]!;
    });
  }

  /** The coefficients' gradient from the canvas's: each level gets its upsampling's adjoint of `grad`. */
  pullBack(grad: Float32Array, coefGrad: Float32Array): void {
    this.check(grad, 3 * this.side * this.side, 'canvas gradient');
    this.check(coefGrad, this.size, 'coefficient gradient');
    coefGrad.fill(0);
    coefGrad.set(grad, 0);
    this.eachTap((pixel, source, w) => {
      coefGrad[source]! += w * grad[pixel]!;
    });
  }

  /** Every (canvas pixel, coarse coefficient, weight) of the upsamplings: compose reads along them, pullBack writes back. */
  private eachTap(visit: (pixel: number, source: number, weight: number) => void): void {
    const plane = this.side * this.side;
    for (let l = 1; l <= this.levels; l++) {
      const small = this.sides[l]! ** 2;
      const { index, weight } = this.taps[l]!;
      for (let c = 0; c < 3; c++) {
        const base = this.offsets[l]! + c * small;
        for (let k = 0; k < plane; k++) {
          for (let t = 4 * k; t < 4 * k + 4; t++) visit(c * plane + k, base + index[t]!, weight[t]!);
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
