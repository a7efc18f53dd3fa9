/**
 * The image update of the CLIPAG recipe, after the graph has given d(loss)/d(image): gradient-norm
 * clipping, AdamW, and the notebook's dynamic thresholding (or a plain clamp). Each reproduces
 * what PyTorch 1.13 computes on the CPU in float32 (the notebook's torch.optim.AdamW,
 * torch.nn.utils.clip_grad_norm_, torch.quantile): every intermediate is rounded to float32 with
 * Math.fround in the order torch evaluates it, because a float32 op computed in float64 and then
 * rounded once is exactly the float32 op. The fixtures in test/fixtures/pag-optim come from torch.
 *
 * These run once a step over the whole canvas (150k values at 224 px, 600k at 448), so the hot
 * paths allocate nothing: state and scratch buffers are made once and reused.
 */

const f32 = Math.fround;

export interface AdamWOptions {
  lr: number;
  /** Decay rates of the first and second moment estimates; torch's default (0.9, 0.999). */
  betas?: [number, number];
  /** Added to the denominator; torch's default 1e-8. */
  eps?: number;
  /** Decoupled weight decay; torch's default 0.01 (the notebook leaves it at that). */
  weightDecay?: number;
}

/**
 * torch.optim.AdamW on one parameter, as its single-tensor implementation (`_single_tensor_adamw`,
 * the default when foreach is not asked for) runs it:
 *   p *= 1 - lr·wd;  m = β1·m + (1-β1)·g;  v = β2·v + (1-β2)·g²;
 *   p += -(lr / (1-β1^t)) · m / (sqrt(v) / sqrt(1-β2^t) + eps)
 */
export class AdamW {
  /** Mutable so a training schedule can change it between steps. */
  lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  private readonly m: Float32Array;
  private readonly v: Float32Array;
  private steps = 0;

  constructor(readonly size: number, o: AdamWOptions) {
    const [beta1, beta2] = o.betas ?? [0.9, 0.999];
    const eps = o.eps ?? 1e-8;
    const weightDecay = o.weightDecay ?? 0.01;
    if (!Number.isInteger(size) || size <= 0) throw new RangeError(`AdamW: size must be a positive integer, got ${size}`);
    if (!(o.lr >= 0) || !Number.isFinite(o.lr)) throw new RangeError(`AdamW: lr must be a finite number ≥ 0, got ${o.lr}`);
    for (const [name, b] of [['beta1', beta1], ['beta2', beta2]] as const) {
      if (!(b >= 0 && b < 1)) throw new RangeError(`AdamW: ${name} must be in [0, 1), got ${b}`);
    }
    if (!(eps >= 0)) throw new RangeError(`AdamW: eps must be ≥ 0, got ${eps}`);
    if (!(weightDecay >= 0)) throw new RangeError(`AdamW: weightDecay must be ≥ 0, got ${weightDecay}`);
    this.lr = o.lr;
    this.beta1 = beta1;
    this.beta2 = beta2;
    this.eps = eps;
    this.weightDecay = weightDecay;
    this.m = new Float32Array(size);
    this.v = new Float32Array(size);
  }

  /** Steps taken so far (torch's state['step']). */
  get t(): number {
    return this.steps;
  }

  /** The moments and step count, for a checkpoint (views of the live buffers). */
  state(): { steps: number; m: Float32Array; v: Float32Array } {
    return { steps: this.steps, m: this.m, v: this.v };
  }

  /** Continues from a checkpoint's state. */
  restore(s: { steps: number; m: Float32Array; v: Float32Array }): void {
    if (s.m.length !== this.size || s.v.length !== this.size || !Number.isInteger(s.steps) || s.steps < 0) {
      throw new RangeError(`AdamW.restore: expected ${this.size} moments and a step count, got ${s.m.length}/${s.v.length} and ${s.steps}`);
    }
    this.m.set(s.m);
    this.v.set(s.v);
    this.steps = s.steps;
  }

  /** One update of `param` in place from `grad` (left unchanged). */
  step(param: Float32Array, grad: Float32Array): void {
    if (param.length !== this.size || grad.length !== this.size) {
      throw new RangeError(`AdamW.step: expected ${this.size} values, got param ${param.length} and grad ${grad.length}`);
    }
    const t = ++this.steps;
    // Python-float scalars: computed in float64 as torch does, then cast to float32 where the
    // tensor op takes them (a CPU float32 kernel casts its scalar operand to float).
    const decay = f32(1 - this.lr * this.weightDecay);
    const b1 = f32(this.beta1);
    const a1 = f32(1 - this.beta1);
    const b2 = f32(this.beta2);
    const a2 = f32(1 - this.beta2);
    const biasCorrection2Sqrt = f32(Math.sqrt(1 - this.beta2 ** t));
    const negStepSize = f32(-(this.lr / (1 - this.beta1 ** t)));
    const eps = f32(this.eps);
    const { m, v } = this;
    for (let i = 0; i < param.length; i++) {
      const g = grad[i]!;
      const p = f32(param[i]! * decay);
      // exp_avg.mul_(β1).add_(g, alpha=1-β1) and exp_avg_sq.mul_(β2).addcmul_(g, g, value=1-β2):
      // torch's AVX2 kernels end both in a fused multiply-add (self + alpha·g, and
      // self + (value·g)·g). The product of two float32s is exact in float64, so rounding the
      // float64 sum to float32 gives the fused result but for rare double-rounding ties (the
      // fixtures match bit for bit).
      const mi = f32(f32(m[i]! * b1) + a1 * g);
      const vi = f32(f32(v[i]! * b2) + f32(a2 * g) * g);
      const denom = f32(f32(f32(Math.sqrt(vi)) / biasCorrection2Sqrt) + eps);
      // param.addcdiv_(m, denom, value=-step_size): self + (value·m)/denom.
      param[i] = f32(p + f32(f32(negStepSize * mi) / denom));
      m[i] = mi;
      v[i] = vi;
    }
  }
}

/** The 2-norm of a gradient, accumulated in float64. */
export function gradNorm(g: Float32Array): number {
  let s = 0;
  for (let i = 0; i < g.length; i++) s += g[i]! * g[i]!;
  return Math.sqrt(s);
}

/**
 * torch.nn.utils.clip_grad_norm_(x, maxNorm) on one gradient, in place: when the norm exceeds
 * maxNorm the gradient is scaled by maxNorm / (norm + 1e-6). Returns the norm before clipping.
 */
export function clipGradNorm(g: Float32Array, maxNorm: number): number {
  if (!(maxNorm > 0)) throw new RangeError(`clipGradNorm: maxNorm must be > 0, got ${maxNorm}`);
  const norm = gradNorm(g);
  // torch: clip_coef = max_norm / (total_norm + 1e-6) on a float32 tensor, where a Python number
  // divided by a tensor is evaluated as tensor.reciprocal() * number.
  const coef = f32(f32(1 / f32(f32(norm) + f32(1e-6))) * f32(maxNorm));
  if (coef < 1) for (let i = 0; i < g.length; i++) g[i] = f32(g[i]! * coef);
  return norm;
}

/** Grown on demand and reused: quantile needs a copy it may reorder. */
let scratch = new Float32Array(0);

function scratchOf(n: number): Float32Array {
  if (scratch.length < n) scratch = new Float32Array(n);
  return scratch;
}

/**
 * torch.quantile(values, p) with its default 'linear' interpolation, to the float32 bit:
 * rank = p·(n-1) in float32, the order statistics either side by selection (no full sort), then
 * torch.lerp between them. NaN anywhere gives NaN, as torch's (non-nan) quantile does.
 * `values` is left untouched.
 */
export function quantile(values: Float32Array, p: number): number {
  const n = values.length;
  const buf = scratchOf(n);
  buf.set(values);
  return quantileInPlace(buf, n, p);
}

/** quantile() of buf[0..n), reordering buf. */
function quantileInPlace(buf: Float32Array, n: number, p: number): number {
  if (n === 0) throw new RangeError('quantile: the input is empty');
  if (!(p >= 0 && p <= 1)) throw new RangeError(`quantile: p must be in [0, 1], got ${p}`);
  for (let i = 0; i < n; i++) if (Number.isNaN(buf[i]!)) return NaN;
  // torch turns the Python float q into a tensor of the input's dtype before ranking.
  const rank = f32(f32(p) * (n - 1));
  const below = Math.floor(rank);
  const weight = f32(rank - below);
  const lo = select(buf, n, below);
  // ceil(rank) is below or below + 1; after selection every value right of `below` is ≥ lo, so
  // the next order statistic is their minimum.
  let hi = lo;
  if (Math.ceil(rank) > below) {
    hi = Infinity;
    for (let i = below + 1; i < n; i++) if (buf[i]! < hi) hi = buf[i]!;
  }
  return lerp(lo, hi, weight);
}

/** torch.lerp's float formula (ATen Lerp.h): the form chosen by |weight| keeps the ends exact. */
function lerp(a: number, b: number, w: number): number {
  const d = f32(b - a);
  return Math.abs(w) < 0.5 ? f32(a + f32(w * d)) : f32(b - f32(d * f32(1 - w)));
}

/**
 * Rearranges buf[0..n) so buf[k] is the k-th smallest, everything left of it ≤ and right of it ≥
 * (quickselect with median-of-three pivots; a pathological input falls back to sorting the
 * remaining range, so the worst case stays O(n log n)).
 */
function select(buf: Float32Array, n: number, k: number): number {
  let left = 0;
  let right = n - 1;
  let budget = 2 * Math.ceil(Math.log2(n + 1)) + 8;
  while (right > left) {
    if (budget-- === 0 || right - left < 16) {
      buf.subarray(left, right + 1).sort();
      return buf[k]!;
    }
    // Median of three to the middle, then Hoare partition around its value.
    const mid = (left + right) >>> 1;
    if (buf[mid]! < buf[left]!) swap(buf, mid, left);
    if (buf[right]! < buf[left]!) swap(buf, right, left);
    if (buf[right]! < buf[mid]!) swap(buf, right, mid);
    const pivot = buf[mid]!;
    let i = left;
    let j = right;
    while (i <= j) {
      while (buf[i]! < pivot) i++;
      while (buf[j]! > pivot) j--;
      if (i <= j) {
        swap(buf, i, j);
        i++;
        j--;
      }
    }
    // Now buf[left..j] ≤ pivot ≤ buf[i..right], and anything strictly between equals the pivot.
    if (k <= j) right = j;
    else if (k >= i) left = i;
    else return buf[k]!;
  }
  return buf[k]!;
}

function swap(a: Float32Array, i: number, j: number): void {
  const t = a[i]!;
  a[i] = a[j]!;
  a[j] = t;
}

/**
 * The notebook's dynamic_thresh, in place on an image in [0, 1] (nominally): o = 2x - 1;
 * s = max(quantile(|o|, p), 1); x = (clamp(o, -s, s) / s + 1) / 2. A few pixels pushed far out
 * of range no longer stretch the whole image; when fewer than 1-p of them leave [0, 1] it is a
 * plain clamp.
 */
export function dynamicThreshold(x: Float32Array, p: number): void {
  const n = x.length;
  const buf = scratchOf(n);
  for (let i = 0; i < n; i++) buf[i] = Math.abs(f32(2 * x[i]! - 1));
  let s = quantileInPlace(buf, n, p);
  if (s < 1) s = 1;
  for (let i = 0; i < n; i++) {
    let o = f32(2 * x[i]! - 1);
    o = o < -s ? -s : o > s ? s : o;
    // (out + 1) / 2: halving a float32 is exact.
    x[i] = f32((s === 1 ? o : f32(o / s)) + 1) / 2;
  }
}

/** The notebook's alternative when thresholding is off: torch.clamp(x, 0, 1) in place (NaN stays NaN). */
export function clampUnit(x: Float32Array): void {
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    if (v < 0) x[i] = 0;
    else if (v > 1) x[i] = 1;
  }
}

/**
 * Stops a run on a NaN or infinite loss or gradient instead of letting it turn the image black:
 * throws naming `what` and the first bad index.
 */
export function assertFinite(g: Float32Array, what: string): void {
  for (let i = 0; i < g.length; i++) {
    const v = g[i]!;
    // v - v is 0 for finite v and NaN for NaN and ±Infinity: one test in the common path.
    if (v - v !== 0) {
      const kind = Number.isNaN(v) ? 'NaN' : v > 0 ? '+Infinity' : '-Infinity';
      const where = g.length === 1 ? '' : ` at index ${i} of ${g.length}`;
      throw new Error(`${what} is ${kind}${where}: the optimisation diverged; try a lower learning rate or another seed`);
    }
  }
}

/**
 * x ← x − lr·g / rms(g): a step along the gradient itself, the same size whatever its scale. For a
 * model trained so that its input gradient points at the picture (gradient alignment), this follows
 * that direction; Adam's per-pixel scaling would turn an early gradient into little more than its
 * signs, as bold in a pixel the gradient barely touches as in one it points at.
 */
export function normalizedStep(x: Float32Array, g: Float32Array, lr: number): void {
  if (x.length !== g.length) throw new RangeError(`normalizedStep: ${x.length} pixels, ${g.length} gradient values`);
  let ss = 0;
  for (let i = 0; i < g.length; i++) ss += g[i]! * g[i]!;
  const rms = Math.sqrt(ss / Math.max(1, g.length));
  if (!(rms > 0)) return;
  const k = lr / rms;
  for (let i = 0; i < x.length; i++) x[i]! -= k * g[i]!;
}

