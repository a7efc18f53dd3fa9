/**
 * The random views of one PAG synthesis step (the CLIPAG notebook's augmentations), first drawn as
 * plain numbers (sampleStepViews) and then laid out as the tensors the step graph consumes
 * (stepViewTensors). Every geometric part is linear in the image, so each view's crop, resize,
 * translation, zoom and pad becomes a pair of per-view matrices applied as R · X · C; colour
 * factors and the cutout mask are per-view numbers and a mask. See step-graph.ts for the order.
 *
 * Sampling rules (DiffAugment as the notebook calls it, policy 'color,translation,resize,cutout'):
 *   brightness b ~ U[−½, ½); saturation ×U[0, 2); contrast ×U[½, 3/2), one each per view;
 *   translation: integer row/column shifts uniform in [−s, s], s = int(S·ratio + ½), out[i] = x[i + shift];
 *   resize: ONE zoom r ~ U[0.8, 1.2) per batch (globals and patches each draw theirs), n = int(r·S),
 *     bilinear (no antialias) to n, then zero-pad (n < S) or crop (n > S), both centred with int((S−n)/2);
 *   cutout: side c = int(S·ratio + ½), per view offsets uniform in [0, S + 1 − c mod 2), zeroing rows
 *     and columns offset − ⌊c/2⌋ … offset − ⌊c/2⌋ + c − 1 clamped to the image (i.e. the part inside).
 * Patch views take one square crop of side int(H·fraction + ½) per view, top/left uniform in
 * [0, H − crop], resized to S (antialiased when the crop is larger than S: our larger canvases).
 * Global views of a canvas larger than S see the whole canvas resized to S, antialiased.
 */
import { Tensor } from '../onnx/tensor.js';
import { resampleTaps, type ResampleTaps } from './interp.js';
import type { NoiseSource } from './noise.js';

export { normalNoise, type NoiseSource } from './noise.js';

export interface ViewCounts {
  global: number;
  patch: number;
}

export interface ViewOptions {
  /** Canvas side H = W in pixels (≥ modelSize). */
  canvas: number;
  /** The model's input side S. */
  modelSize: number;
  counts: ViewCounts;
  /** Patch crop side as a fraction of the canvas (128/224). */
  patchFraction?: number;
  /** Std of the pixel noise added before the views (0.01). */
  noiseStd?: number;
  /** Translation range as a fraction of S (0.125 → ±28 px at 224). */
  translateRatio?: number;
  /** Range of DiffAugment's zoom ratio ([0.8, 1.2)). */
  resizeRange?: readonly [number, number];
  /** Cutout side as a fraction of S (0.5); 0 turns cutout off. */
  cutoutRatio?: number;
  /** DiffAugment's brightness/saturation/contrast (on by default); off leaves the colours alone. */
  color?: boolean;
}

/** The options with their defaults and the integer sizes derived from them. */
export interface ResolvedViewOptions {
  canvas: number;
  modelSize: number;
  counts: ViewCounts;
  patchFraction: number;
  noiseStd: number;
  translateRatio: number;
  resizeRange: readonly [number, number];
  cutoutRatio: number;
  color: boolean;
  /** Side of a patch crop on the canvas. */
  cropSize: number;
  /** Largest translation in pixels. */
  maxShift: number;
  /** Side of the cutout square (0: none). */
  cutoutSize: number;
}

/** One view's DiffAugment draw (in model-input pixels). */
export interface ViewAugment {
  /** Added to every pixel. */
  brightness: number;
  /** Scales each pixel's distance from its channel mean. */
  saturation: number;
  /** Scales each pixel's distance from the view's mean. */
  contrast: number;
  /** Translation: output row i reads input row i + shiftRows (zero when outside); likewise columns. */
  shiftRows: number;
  shiftCols: number;
  /** Cutout offsets in [0, S]: rows cutoutRow − ⌊c/2⌋ … + c − 1 (the part inside the image) are zeroed. */
  cutoutRow: number;
  cutoutCol: number;
}

export interface PatchCrop {
  top: number;
  left: number;
}

/** Everything random about one step except the pixel noise, as plain numbers. */
export interface StepViews {
  /** Per view, the global views first, then the patch views. */
  augment: ViewAugment[];
  /** Per patch view, its square crop of the canvas (side ResolvedViewOptions.cropSize). */
  crops: PatchCrop[];
  /** DiffAugment's zoom ratio, one per batch; null for a batch without views. */
  zoom: { global: number | null; patch: number | null };
}

const DEFAULTS = {
  patchFraction: 128 / 224,
  noiseStd: 0.01,
  translateRatio: 0.125,
  resizeRange: [0.8, 1.2] as const,
  cutoutRatio: 0.5,
  color: true,
};

// DiffAugment's rounding of a fractional size: int(x + 0.5) on a non-negative x.
const roundHalfUp = (x: number): number => Math.floor(x + 0.5);

export function resolveViewOptions(opts: ViewOptions): ResolvedViewOptions {
  const bad = (what: string): never => {
    throw new Error(`view options: ${what}`);
  };
  const { canvas: H, modelSize: S, counts } = opts;
  if (!Number.isInteger(S) || S < 1) bad(`model size must be a positive integer, got ${S}`);
  if (!Number.isInteger(H) || H < S) bad(`canvas must be an integer of at least the model size ${S}, got ${H}`);
  for (const k of ['global', 'patch'] as const) {
    if (!Number.isInteger(counts[k]) || counts[k] < 0) bad(`${k} view count must be a non-negative integer, got ${counts[k]}`);
  }
  if (counts.global + counts.patch < 1) bad('at least one view is needed');
  const patchFraction = opts.patchFraction ?? DEFAULTS.patchFraction;
  if (!(patchFraction > 0 && patchFraction <= 1)) bad(`patch fraction must be in (0, 1], got ${patchFraction}`);
  const noiseStd = opts.noiseStd ?? DEFAULTS.noiseStd;
  if (!(noiseStd >= 0 && Number.isFinite(noiseStd))) bad(`noise std must be a finite number ≥ 0, got ${noiseStd}`);
  const translateRatio = opts.translateRatio ?? DEFAULTS.translateRatio;
  if (!(translateRatio >= 0 && translateRatio < 1)) bad(`translate ratio must be in [0, 1), got ${translateRatio}`);
  const resizeRange = opts.resizeRange ?? DEFAULTS.resizeRange;
  if (!(resizeRange[0] > 0 && resizeRange[1] >= resizeRange[0] && Number.isFinite(resizeRange[1]))) {
    bad(`resize range must be 0 < low ≤ high, got [${resizeRange.join(', ')}]`);
  }
  if (Math.floor(resizeRange[0] * S) < 1) bad(`resize range low ${resizeRange[0]} shrinks a ${S}-px view to nothing`);
  const cutoutRatio = opts.cutoutRatio ?? DEFAULTS.cutoutRatio;
  if (!(cutoutRatio >= 0 && cutoutRatio <= 1)) bad(`cutout ratio must be in [0, 1], got ${cutoutRatio}`);
  return {
    canvas: H, modelSize: S, counts: { ...counts }, patchFraction, noiseStd, translateRatio, resizeRange, cutoutRatio,
    color: opts.color ?? DEFAULTS.color,
    cropSize: Math.max(1, Math.min(H, roundHalfUp(H * patchFraction))),
    maxShift: roundHalfUp(S * translateRatio),
    cutoutSize: roundHalfUp(S * cutoutRatio),
  };
}

/** The side a view is zoomed to before the pad/crop back to S: int(r·S). */
export const zoomedSize = (ratio: number, modelSize: number): number => Math.floor(ratio * modelSize);

/** A uniform integer in [lo, hi], inclusive. */
const uniformInt = (rand: () => number, lo: number, hi: number): number => lo + Math.floor(rand() * (hi - lo + 1));

/**
 * Draws one batch's DiffAugment parameters in DiffAugment's order (each kind for the whole batch,
 * then the next), so a batch's draws stay together.
 */
function sampleAugment(rand: () => number, n: number, o: ResolvedViewOptions): { augment: ViewAugment[]; zoom: number } {
  const S = o.modelSize;
  const draw = (f: () => number): number[] => Array.from({ length: n }, f);
  const brightness = o.color ? draw(() => rand() - 0.5) : draw(() => 0);
  const saturation = o.color ? draw(() => rand() * 2) : draw(() => 1);
  const contrast = o.color ? draw(() => rand() + 0.5) : draw(() => 1);
  const shiftRows = draw(() => uniformInt(rand, -o.maxShift, o.maxShift));
  const shiftCols = draw(() => uniformInt(rand, -o.maxShift, o.maxShift));
  const [lo, hi] = o.resizeRange;
  const zoom = lo + (hi - lo) * rand();
  // Offsets 0 … S − 1 + (1 − c mod 2), as DiffAugment's randint(0, S + (1 − c % 2)).
  const lastOffset = S - 1 + (1 - (o.cutoutSize % 2));
  const cutoutRow = draw(() => uniformInt(rand, 0, lastOffset));
  const cutoutCol = draw(() => uniformInt(rand, 0, lastOffset));
  const augment = brightness.map((b, v) => ({
    brightness: b, saturation: saturation[v]!, contrast: contrast[v]!,
    shiftRows: shiftRows[v]!, shiftCols: shiftCols[v]!, cutoutRow: cutoutRow[v]!, cutoutCol: cutoutCol[v]!,
  }));
  return { augment, zoom };
}

/** Draws the step's views: the global batch's augmentations, then the patch crops and the patch batch's. */
export function sampleStepViews(rand: () => number, opts: ViewOptions): StepViews {
  const o = resolveViewOptions(opts);
  const { global: G, patch: P } = o.counts;
  const global = G > 0 ? sampleAugment(rand, G, o) : null;
  const span = o.canvas - o.cropSize;
  const crops = Array.from({ length: P }, () => ({ top: uniformInt(rand, 0, span), left: uniformInt(rand, 0, span) }));
  const patch = P > 0 ? sampleAugment(rand, P, o) : null;
  return {
    augment: [...(global?.augment ?? []), ...(patch?.augment ?? [])],
    crops,
    zoom: { global: global?.zoom ?? null, patch: patch?.zoom ?? null },
  };
}

/**
 * Writes one view's translation ∘ zoom ∘ pad/crop into its row matrix R [S,S] (R·X) and column
 * matrix C [S,S] (X·C): output i reads zoomed index k (shifted by the centred pad or crop), whose
 * bilinear taps read the translated image, whose index j reads the input at j + shift (zero outside).
 */
function writeAugmentGeometry(
  rows: Float32Array, cols: Float32Array, at: number, S: number, zoom: ResampleTaps, a: ViewAugment,
): void {
  const n = zoom.outSize;
  // Zoomed index of output index i: i − pad when padding up to S, i + start when cropping down to it.
  const offset = n < S ? -Math.floor((S - n) / 2) : Math.floor((n - S) / 2);
  for (let i = 0; i < S; i++) {
    const k = i + offset;
    if (k < 0 || k >= n) continue;
    for (let t = zoom.start[k]!; t < zoom.start[k + 1]!; t++) {
      const w = zoom.weight[t]!;
      const r = zoom.index[t]! + a.shiftRows;
      if (r >= 0 && r < S) rows[at + i * S + r]! += w;
      const c = zoom.index[t]! + a.shiftCols;
      if (c >= 0 && c < S) cols[at + c * S + i]! += w;
    }
  }
}

/** keep = 1 except the cutout square (its part inside the image). */
function writeKeep(keep: Float32Array, at: number, S: number, c: number, a: ViewAugment): void {
  keep.fill(1, at, at + S * S);
  if (c === 0) return;
  const r0 = Math.max(a.cutoutRow - (c >> 1), 0);
  const r1 = Math.min(a.cutoutRow - (c >> 1) + c, S);
  const c0 = Math.max(a.cutoutCol - (c >> 1), 0);
  const c1 = Math.min(a.cutoutCol - (c >> 1) + c, S);
  for (let r = r0; r < r1; r++) keep.fill(0, at + r * S + c0, at + r * S + Math.max(c0, c1));
}

/** A crop-and-resize of a canvas axis: output i reads the canvas at offset + (crop taps). */
function writeCrop(rows: Float32Array, cols: Float32Array, at: number, S: number, H: number, taps: ResampleTaps, crop: PatchCrop): void {
  for (let i = 0; i < S; i++) {
    for (let t = taps.start[i]!; t < taps.start[i + 1]!; t++) {
      const w = taps.weight[t]!;
      rows[at + i * H + crop.top + taps.index[t]!]! += w;
      cols[at + (crop.left + taps.index[t]!) * S + i]! += w;
    }
  }
}

/**
 * Float32 buffers for the step's tensors: fresh ones, or the previous step's when they fit, since
 * allocating ~60 MB of new pages every step (64 views at 224 px) costs more than writing them.
 */
function bufferPool(reuse: Record<string, Tensor> | undefined): (name: string, dims: number[], clear: boolean) => Float32Array {
  return (name: string, dims: number[], clear: boolean): Float32Array => {
    const old = reuse?.[name];
    if (old && old.data instanceof Float32Array && old.dims.length === dims.length && old.dims.every((d, k) => d === dims[k])) {
      if (clear) old.data.fill(0);
      return old.data;
    }
    return new Float32Array(dims.reduce((x, y) => x * y, 1));
  };
}

function fillNoise(out: Float32Array, std: number, noise: NoiseSource | (() => number)): Float32Array {
  if (std === 0) out.fill(0);
  else if (typeof noise === 'function') for (let i = 0; i < out.length; i++) out[i] = noise() * std;
  else noise.fill(out, std);
  return out;
}

/**
 * The step graph's view inputs for these draws (names and shapes in step-graph.ts): pixel noise
 * (globals' first, then the patches' shared image) from `noise`, either a NoiseSource such as
 * normalNoise(rand) (fast) or one standard-normal sample per call (e.g. random.ts's gaussian), crop and
 * resize matrices, colour factors, augmentation matrices and cutout masks. Only the inputs the
 * graph has for these counts are returned (no global_* without global views, none of global_rows/
 * global_cols when the canvas is the model size, no patch_* without patch views).
 *
 * `reuse`: the previous step's result, whose buffers are overwritten where the shapes match; pass
 * it only once nothing reads those tensors any more (after the session run that consumed them).
 */
export function stepViewTensors(
  views: StepViews, opts: ViewOptions, noise: NoiseSource | (() => number), reuse?: Record<string, Tensor>,
): Record<string, Tensor> {
  return gridViewTensors([{ views, noise }], opts, reuse);
}

/** One picture's draws for a step of a grid, and where its pixel noise comes from. */
export interface PictureViews {
  views: StepViews;
  noise: NoiseSource | (() => number);
}

/**
 * The step graph's view inputs for several pictures optimised together: every tensor is the
 * pictures' own stepViewTensors stacked along the first axis, picture 0 first, each picture's
 * noise drawn from its own source in the order a lone picture draws it.
 */
export function gridViewTensors(pictures: readonly PictureViews[], opts: ViewOptions, reuse?: Record<string, Tensor>): Record<string, Tensor> {
  const o = resolveViewOptions(opts);
  const { canvas: H, modelSize: S } = o;
  const { global: G, patch: P } = o.counts;
  const V = G + P;
  const N = pictures.length;
  if (N < 1) throw new Error('step views: no pictures');
  for (const { views } of pictures) {
    if (views.augment.length !== V || views.crops.length !== P) {
      throw new Error(`step views: ${views.augment.length} augmentations and ${views.crops.length} crops do not match ${G} global + ${P} patch views`);
    }
  }
  const buffer = bufferPool(reuse);
  const out: Record<string, Tensor> = {};
  const put = (name: string, dims: number[], data: Float32Array): void => { out[name] = new Tensor('float32', dims, data); };
  /** Each picture's slice of a buffer holding `each` values per picture. */
  const slices = (data: Float32Array, each: number): Float32Array[] => pictures.map((_, n) => data.subarray(n * each, (n + 1) * each));

  if (G > 0) {
    const noiseGlobal = buffer('noise_global', [N * G, 3, H, H], false);
    slices(noiseGlobal, G * 3 * H * H).forEach((part, n) => fillNoise(part, o.noiseStd, pictures[n]!.noise));
    put('noise_global', [N * G, 3, H, H], noiseGlobal);
    if (H !== S) {
      // The same whole-canvas reduction for every global view, antialiased so fine detail averages instead of aliasing.
      const one = new Float32Array(S * H);
      const oneT = new Float32Array(H * S);
      writeCrop(one, oneT, 0, S, H, resampleTaps(H, S, { antialias: true }), { top: 0, left: 0 });
      const rows = buffer('global_rows', [N * G, S, H], false);
      const cols = buffer('global_cols', [N * G, H, S], false);
      for (let v = 0; v < N * G; v++) {
        rows.set(one, v * S * H);
        cols.set(oneT, v * H * S);
      }
      put('global_rows', [N * G, S, H], rows);
      put('global_cols', [N * G, H, S], cols);
    }
  }
  if (P > 0) {
    const noisePatch = buffer('noise_patch', [N, 3, H, H], false);
    slices(noisePatch, 3 * H * H).forEach((part, n) => fillNoise(part, o.noiseStd, pictures[n]!.noise));
    put('noise_patch', [N, 3, H, H], noisePatch);
    const taps = resampleTaps(o.cropSize, S, { antialias: o.cropSize > S });
    const rows = buffer('patch_rows', [N * P, S, H], true);
    const cols = buffer('patch_cols', [N * P, H, S], true);
    pictures.forEach(({ views }, n) => {
      for (let p = 0; p < P; p++) {
        const c = views.crops[p]!;
        if (c.top < 0 || c.left < 0 || c.top + o.cropSize > H || c.left + o.cropSize > H) {
          throw new Error(`step views: patch crop ${p} at (${c.top}, ${c.left}) of side ${o.cropSize} leaves the ${H}-px canvas`);
        }
        writeCrop(rows, cols, (n * P + p) * S * H, S, H, taps, c);
      }
    });
    put('patch_rows', [N * P, S, H], rows);
    put('patch_cols', [N * P, H, S], cols);
  }

  const perView = (name: string, pick: (a: ViewAugment) => number): void => {
    const data = buffer(name, [N * V, 1, 1, 1], false);
    pictures.forEach(({ views }, n) => views.augment.forEach((a, v) => { data[n * V + v] = pick(a); }));
    put(name, [N * V, 1, 1, 1], data);
  };
  perView('brightness', (a) => a.brightness);
  perView('saturation', (a) => a.saturation);
  perView('contrast', (a) => a.contrast);

  const augRows = buffer('aug_rows', [N * V, S, S], true);
  const augCols = buffer('aug_cols', [N * V, S, S], true);
  const keep = buffer('keep', [N * V, 1, S, S], false);
  const zoomTaps = (ratio: number | null, batch: string): ResampleTaps => {
    if (ratio === null) throw new Error(`step views: the ${batch} batch has views but no zoom ratio`);
    return resampleTaps(S, zoomedSize(ratio, S));
  };
  pictures.forEach(({ views }, n) => {
    const globalZoom = G > 0 ? zoomTaps(views.zoom.global, 'global') : null;
    const patchZoom = P > 0 ? zoomTaps(views.zoom.patch, 'patch') : null;
    for (let v = 0; v < V; v++) {
      const a = views.augment[v]!;
      const at = (n * V + v) * S * S;
      writeAugmentGeometry(augRows, augCols, at, S, (v < G ? globalZoom : patchZoom)!, a);
      writeKeep(keep, at, S, o.cutoutSize, a);
    }
  });
  put('aug_rows', [N * V, S, S], augRows);
  put('aug_cols', [N * V, S, S], augCols);
  put('keep', [N * V, 1, S, S], keep);
  return out;
}
