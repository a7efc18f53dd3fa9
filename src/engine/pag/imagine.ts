/**
 * Text → image by gradient descent of the pixels on a robust CLIP (the CLIPAG recipe): each step
 * samples random views in TypeScript, runs one compiled ONNX graph (views → CLIP → cosine losses →
 * d(loss)/d(canvas)), then clips the gradient, takes an AdamW step and thresholds, keeping the
 * iterate with the lowest global loss. This is the API the CLI and the bot call.
 */
import type { RgbImage } from '../clip/image.js';
import { centerCrop, pixelsToRgb, readImage, resizeShortSide, toPixels } from '../clip/image.js';
import { Tensor } from '../onnx/tensor.js';
import type { ClipModel } from '../pack/model.js';
import { cosine, normalize } from '../pack/model.js';
import { rng } from '../random.js';
import { initCandidates } from './init.js';
import { gaussianBlur } from './blur.js';
import { AdamW, assertFinite, clampUnit, clipGradNorm, dynamicThreshold } from './optim.js';
import { ImagineInputError, recipeFor, resolveSettings, type ImagineRequest, type Settings } from './recipe.js';
import { buildStepModel, STEP_OUTPUTS, stepGraphKind, type StepShape } from './step-graph.js';
import { normalNoise, sampleStepViews, stepViewTensors, type ViewOptions } from './views.js';

export { ImagineInputError, type ImagineRequest } from './recipe.js';

export interface StepTimings {
  /** Sampling the views and building their tensors. */
  views: number;
  /** The ONNX Runtime session run (forward and backward of every view). */
  run: number;
  /** Gradient clip, AdamW, thresholding, best-iterate bookkeeping. */
  optimizer: number;
  /** Turning the canvas into an RGB image for progress. */
  encode: number;
}

export interface ImagineProgress {
  step: number;
  steps: number;
  loss: number;
  /** Mean (1 − cos) over the global views against the prompt: what "best" is judged by. */
  globalLoss: number;
  /** The current canvas, on progress steps (every `progressEvery` steps and the last). */
  image?: RgbImage;
  elapsedMs: number;
}

export interface ImagineOptions {
  signal?: AbortSignal;
  onProgress?: (p: ImagineProgress) => void | Promise<void>;
  /** Progress with an image every k steps (default 10). */
  progressEvery?: number;
  /** Notes for the user (prompt truncated…). */
  onNote?: (msg: string) => void;
  /** Each step's timings as it finishes (benchmarks). */
  onStepTimings?: (t: StepTimings) => void;
}

export interface ImagineResult {
  image: RgbImage;
  /** The best canvas as float pixels [1, 3, H, W] in [0, 1]. */
  pixels: Tensor;
  /** Cosine similarity of the result (resized to the model's input, no augmentation) and the prompt. */
  score: number;
  seed: number;
  steps: number;
  bestStep: number;
  ms: number;
  msPerStep: number;
  /** Median of each part of a step, in ms. */
  timings: StepTimings;
  truncated: boolean;
}

/** Thrown when a run is cancelled through its AbortSignal. */
export class ImagineAborted extends Error {
  constructor() {
    super('cancelled');
    this.name = 'AbortError';
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)]! : 0;
};

/** A canvas [3,H,W] resized to the model's input as a normalised pixel tensor [1,3,S,S]. */
function modelInput(canvas: Float32Array, side: number, model: ClipModel): Tensor {
  const S = model.config.vision.imageSize;
  let img = pixelsToRgb(new Tensor('float32', [1, 3, side, side], canvas));
  if (side !== S) img = centerCrop(resizeShortSide(img, S), S);
  return toPixels([img], model.config.mean, model.config.std);
}

/** The starting canvas: the user's image (variations), or the best-matching of a few smooth noise images. */
async function initialCanvas(model: ClipModel, s: Settings, prompt: Float32Array, init?: string): Promise<Float32Array> {
  const H = s.canvas;
  if (init) {
    const img = centerCrop(resizeShortSide(await readImage(init), H), H);
    return toPixels([img], [0, 0, 0], [1, 1, 1]).data as Float32Array;
  }
  // The paper picks, among Tiny-ImageNet class samples, the one CLIP finds closest to the prompt;
  // data-free, we pick among low-frequency noise images the same way.
  const candidates = initCandidates(s.recipe.initCandidates, H, s.seed);
  if (candidates.length === 1) return candidates[0]!;
  const batch = new Tensor('float32', [candidates.length, 3, model.config.vision.imageSize, model.config.vision.imageSize],
    concat(candidates.map((c) => modelInput(c, H, model).data as Float32Array)));
  const emb = await model.embedPixels(batch);
  const E = model.config.embedDim;
  let best = 0;
  let bestCos = -Infinity;
  for (let i = 0; i < candidates.length; i++) {
    const c = cosine((emb.data as Float32Array).subarray(i * E, (i + 1) * E), prompt);
    if (c > bestCos) {
      bestCos = c;
      best = i;
    }
  }
  return candidates[best]!;
}

function concat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/**
 * Loss weights [g + p, T] for one group of views: each view's share of the mean over all G global
 * and all P patch views, a negative prompt pushing away.
 */
function lossWeights(s: Settings, g: number, p: number, targets: number): Float32Array {
  const { recipe: r, global: G, patch: P } = s;
  const w = new Float32Array((g + p) * targets);
  for (let v = 0; v < g + p; v++) {
    const base = v < g ? r.globalWeight / G : r.patchWeight / P;
    w[v * targets] = base;
    if (targets > 1) w[v * targets + 1] = -r.negativeWeight * base;
  }
  return w;
}

/** The views one group of a step draws, with the recipe's augmentation settings. */
export function viewOptions(s: Settings, modelSize: number, counts: ViewOptions['counts']): ViewOptions {
  const r = s.recipe;
  return {
    canvas: s.canvas, modelSize, counts,
    patchFraction: r.patchFraction, noiseStd: r.noiseStd,
    translateRatio: r.translateRatio, cutoutRatio: r.cutoutRatio, resizeRange: [r.zoomMin, r.zoomMax], color: r.colorAugment !== 0,
  };
}

/** How many equal groups a step's views run in: the fewest that fit maxViewsPerRun and divide both counts. */
export function viewGroups(global: number, patch: number, maxPerRun: number): number {
  const total = global + patch;
  for (let k = Math.max(1, Math.ceil(total / maxPerRun)); k <= total; k++) {
    if (global % k === 0 && patch % k === 0) return k;
  }
  return 1;
}

export async function imagine(model: ClipModel, req: ImagineRequest, opts: ImagineOptions = {}): Promise<ImagineResult> {
  const started = performance.now();
  const cfg = model.config;
  const S = cfg.vision.imageSize;
  const s = resolveSettings(req, recipeFor(model.manifest, req.recipe), S);
  const abortCheck = (): void => {
    if (opts.signal?.aborted) throw new ImagineAborted();
  };
  abortCheck();

  const pos = await model.textEmbedding(req.prompt);
  if (pos.truncated) opts.onNote?.(`the prompt is longer than the model reads (${cfg.text.contextLength} tokens): its end was cut`);
  const targetRows = [normalize(pos.embedding)];
  if (req.negative !== undefined) {
    if (req.negative.trim() === '') throw new ImagineInputError('the negative prompt is empty: leave it out or describe what to avoid');
    targetRows.push(normalize((await model.textEmbedding(req.negative)).embedding));
  }
  const T = targetRows.length;
  const target = Tensor.float32([T, cfg.embedDim], targetRows.flat());
  const groups = viewGroups(s.global, s.patch, s.recipe.maxViewsPerRun);
  const g = s.global / groups;
  const p = s.patch / groups;
  const weights = new Tensor('float32', [g + p, T], lossWeights(s, g, p, T));

  const shape: StepShape = { canvas: s.canvas, global: g, patch: p, targets: T };
  const session = await model.graphSession(stepGraphKind(shape), ['vision'], (src) => buildStepModel(cfg, shape, src));
  abortCheck();

  const x = await initialCanvas(model, s, Float32Array.from(targetRows[0]!), req.init);
  const dims = [1, 3, s.canvas, s.canvas];
  const rand = rng(s.seed);
  const noise = normalNoise(rand);
  // Last step's view tensors, refilled in place: safe because each run is awaited before the next fill.
  let reuse: Record<string, Tensor> | undefined;
  const viewOpts = viewOptions(s, S, { global: g, patch: p });
  const adam = new AdamW(x.length, { lr: s.recipe.lr, weightDecay: s.recipe.weightDecay });
  let best = x.slice();
  let bestLoss = Infinity;
  let bestStep = 0;
  const timings: Record<keyof StepTimings, number[]> = { views: [], run: [], optimizer: [], encode: [] };
  const every = Math.max(1, opts.progressEvery ?? 10);

  for (let step = 0; step < s.steps; step++) {
    abortCheck();
    let t: number;
    let viewMs = 0;
    let runMs = 0;
    let loss = 0;
    let globalLoss = 0;
    const grad = new Float32Array(x.length);
    const canvas = new Tensor('float32', dims, x);
    for (let k = 0; k < groups; k++) {
      t = performance.now();
      const views = (reuse = stepViewTensors(sampleStepViews(rand, viewOpts), viewOpts, noise, reuse));
      viewMs += performance.now() - t;
      t = performance.now();
      const out = await session.run({ ...views, image: canvas, target, weights });
      runMs += performance.now() - t;
      abortCheck();
      loss += Number(out[STEP_OUTPUTS.loss]!.data[0]);
      const part = out[STEP_OUTPUTS.grad]!.data as Float32Array;
      for (let i = 0; i < grad.length; i++) grad[i]! += part[i]!;
      const cos = out[STEP_OUTPUTS.cos]!.data as Float32Array;
      // Judged on the global views (the notebook's clip_loss); a patch-only run falls back to patches.
      const judged = g > 0 ? g : p;
      for (let v = 0; v < judged; v++) globalLoss += 1 - cos[v * T]!;
    }
    globalLoss /= groups * (g > 0 ? g : p);
    timings.views.push(viewMs);
    timings.run.push(runMs);

    t = performance.now();
    assertFinite(Float32Array.of(loss), `the loss at step ${step + 1}`);
    assertFinite(grad, `the image gradient at step ${step + 1}`);

    if (s.recipe.gradBlur > 0) gaussianBlur(grad, 3, s.canvas, s.canvas, s.recipe.gradBlur);
    clipGradNorm(grad, s.recipe.clipGradNorm);
    adam.step(x, grad);
    if (s.recipe.threshold > 0) dynamicThreshold(x, s.recipe.threshold);
    else clampUnit(x);
    // As the notebook: the loss was measured before this update, the image kept is the updated one.
    if (globalLoss < bestLoss) {
      bestLoss = globalLoss;
      best = x.slice();
      bestStep = step + 1;
    }
    timings.optimizer.push(performance.now() - t);

    let image: RgbImage | undefined;
    if (opts.onProgress) {
      const last = step === s.steps - 1;
      if (last || (step + 1) % every === 0) {
        t = performance.now();
        image = pixelsToRgb(new Tensor('float32', dims, x));
        timings.encode.push(performance.now() - t);
      }
      await opts.onProgress({ step: step + 1, steps: s.steps, loss, globalLoss, image, elapsedMs: performance.now() - started });
    }
    opts.onStepTimings?.({
      views: timings.views.at(-1)!, run: timings.run.at(-1)!, optimizer: timings.optimizer.at(-1)!,
      encode: image === undefined ? 0 : timings.encode.at(-1)!,
    });
  }

  const pixels = new Tensor('float32', dims, best);
  const finalEmb = await model.embedPixels(modelInput(best, s.canvas, model));
  const score = cosine(finalEmb.data as Float32Array, targetRows[0]!);
  const ms = performance.now() - started;
  return {
    image: pixelsToRgb(pixels),
    pixels,
    score,
    seed: s.seed,
    steps: s.steps,
    bestStep,
    ms,
    msPerStep: median(timings.run.map((r, i) => r + timings.views[i]! + timings.optimizer[i]!)),
    timings: { views: median(timings.views), run: median(timings.run), optimizer: median(timings.optimizer), encode: median(timings.encode) },
    truncated: pos.truncated,
  };
}
