/**
 * 1-D linear resampling as sparse matrices, exactly as PyTorch's F.interpolate(mode='bilinear',
 * align_corners=False) resamples one axis, with and without its antialias option. A 2-D bilinear
 * resize is separable, so an image resize is R · X · Cᵀ with one of these per axis; PAG synthesis
 * composes them with crops, shifts and pads into the per-view matrices its step graph consumes.
 */

export interface ResampleOptions {
  /**
   * PyTorch's antialias=True (the PIL-style triangle filter widened by the downscale ratio, each
   * row normalised): every input pixel contributes when shrinking, so nothing aliases. Identical
   * to plain bilinear when enlarging.
   */
  antialias?: boolean;
}

/** Sparse rows of a [outSize, inSize] resampling matrix: output i = Σ weight[k]·input[index[k]], k ∈ [start[i], start[i+1]). */
export interface ResampleTaps {
  inSize: number;
  outSize: number;
  start: Int32Array;
  /** Input indices; plain bilinear repeats the last index at the far edge (its two taps coincide). */
  index: Int32Array;
  weight: Float64Array;
}

function checkSizes(inSize: number, outSize: number): void {
  for (const [what, n] of [['input', inSize], ['output', outSize]] as const) {
    if (!Number.isInteger(n) || n < 1) throw new Error(`resample: ${what} size must be a positive integer, got ${n}`);
  }
}

/** The taps of one axis resized from inSize to outSize samples (PyTorch's scale = in/out when only a size is given). */
export function resampleTaps(inSize: number, outSize: number, opts: ResampleOptions = {}): ResampleTaps {
  checkSizes(inSize, outSize);
  return opts.antialias ? antialiasTaps(inSize, outSize) : bilinearTaps(inSize, outSize);
}

// ATen works out resampling weights for float images partly in float32 (the scale in/out, the
// antialiasing filter) and partly in double; rounding where it rounds makes our matrices equal
// torch's to the last bit or two, where exact arithmetic differs by up to ~1e-6 at 224 px.
const f32 = Math.fround;

/**
 * ATen's upsample_bilinear2d (align_corners=False): source = scale·(i + ½) − ½, clamped at 0;
 * weights 1 − λ and λ on the two neighbours, the second one folded onto the first at the far edge.
 */
function bilinearTaps(inSize: number, outSize: number): ResampleTaps {
  const scale = f32(inSize / outSize);
  const start = new Int32Array(outSize + 1);
  const index = new Int32Array(2 * outSize);
  const weight = new Float64Array(2 * outSize);
  for (let i = 0; i < outSize; i++) {
    // The scale is a float32; the source position and λ come out of double arithmetic (then stored as float32).
    const src = Math.max(scale * (i + 0.5) - 0.5, 0);
    const i0 = Math.min(Math.trunc(src), inSize - 1);
    const lambda = Math.min(Math.max(src - i0, 0), 1);
    start[i] = 2 * i;
    index[2 * i] = i0;
    weight[2 * i] = f32(1 - lambda);
    index[2 * i + 1] = i0 < inSize - 1 ? i0 + 1 : i0;
    weight[2 * i + 1] = f32(lambda);
  }
  start[outSize] = 2 * outSize;
  return { inSize, outSize, start, index, weight };
}

/**
 * ATen's _upsample_bilinear2d_aa: a triangle filter of half-width `support` (1, times the ratio
 * when shrinking) centred at scale·(i + ½), sampled at pixel centres inside the image and
 * normalised to sum 1 (which is what keeps the borders unbiased).
 */
function antialiasTaps(inSize: number, outSize: number): ResampleTaps {
  const scale = f32(inSize / outSize);
  const support = scale >= 1 ? scale : 1;
  const invScale = scale >= 1 ? f32(1 / scale) : 1;
  const start = new Int32Array(outSize + 1);
  const idx: number[] = [];
  const wts: number[] = [];
  for (let i = 0; i < outSize; i++) {
    start[i] = idx.length;
    const center = f32(scale * (i + 0.5));
    // Truncation toward zero, then the clamp, as ATen computes the window.
    const lo = Math.max(Math.trunc(f32(center - support) + 0.5), 0);
    const hi = Math.min(Math.trunc(f32(center + support) + 0.5), inSize);
    let total = 0;
    const first = wts.length;
    for (let j = lo; j < hi; j++) {
      const x = Math.abs(f32(f32(j - center) + 0.5) * invScale);
      const w = x < 1 ? f32(1 - f32(x)) : 0;
      idx.push(j);
      wts.push(w);
      total = f32(total + w);
    }
    if (total !== 0) for (let k = first; k < wts.length; k++) wts[k] = f32(wts[k]! / total);
  }
  start[outSize] = idx.length;
  return { inSize, outSize, start, index: Int32Array.from(idx), weight: Float64Array.from(wts) };
}

/** The dense [outSize, inSize] row-major matrix of a resize along one axis. */
export function bilinearMatrix(inSize: number, outSize: number, opts: ResampleOptions = {}): Float32Array {
  return tapsToMatrix(resampleTaps(inSize, outSize, opts));
}

export function tapsToMatrix(t: ResampleTaps): Float32Array {
  const m = new Float32Array(t.outSize * t.inSize);
  for (let i = 0; i < t.outSize; i++) {
    for (let k = t.start[i]!; k < t.start[i + 1]!; k++) m[i * t.inSize + t.index[k]!]! += t.weight[k]!;
  }
  return m;
}
