/**
 * Text → image by gradient descent of the pixels on a robust CLIP (the CLIPAG recipe): each step
 * samples random views in TypeScript, runs one compiled ONNX graph (views → CLIP → cosine losses →
 * d(loss)/d(canvas)), then clips the gradient, takes an AdamW step and thresholds, keeping the
 * iterate with the lowest global loss. This is the API the CLI and the bot call.
 *
 * A grid (count > 1) optimises its pictures together: each step runs every picture's views through
 * one graph run, and each picture keeps its own random stream (seed + i), gradient clip, Adam moments,
 * threshold and best iterate, so picture i is the picture a lone run with seed + i makes.
 */
import type { RgbImage } from '../clip/image.js';
import { pixelsToRgb } from '../clip/image.js';
import { Tensor } from '../onnx/tensor.js';
import type { ClipModel } from '../pack/model.js';
import { cosine, normalize } from '../pack/model.js';
import { rng } from '../random.js';
import { gaussianBlur } from './blur.js';
import { contrastGroupsOf, contrastTarget } from './contrast.js';
import { gridImage } from './grid.js';
import { AdamW, assertFinite, clampUnit, clipGradNorm, dynamicThreshold, normalizedStep } from './optim.js';
import { CanvasPyramid } from './pyramid.js';
import { ImagineInputError, recipeFor, resolveSettings, type ImagineRequest, type Settings } from './recipe.js';
import { bestNoiseCanvas, canvasFrom, modelInput } from './start.js';
import { buildStepModel, STEP_OUTPUTS, stepGraphKind, type StepShape } from './step-graph.js';
import { gridViewTensors, normalNoise, sampleStepViews, type PictureViews, type ViewOptions } from './views.js';

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
  /** The step's loss (a grid: summed over its pictures). */
  loss: number;
  /** Mean (1 − cos) over the global views against the prompt: what "best" is judged by (a grid: the pictures' mean). */
  globalLoss: number;
  /** The current canvas, on progress steps (every `progressEvery` steps and the last); a grid's pictures in one image (grid.ts). */
  image?: RgbImage;
  /** With `image`: each picture's current canvas. */
  pictures?: RgbImage[];
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

/** One picture of a run: its best iterate. */
export interface ImaginePicture {
  image: RgbImage;
  /** Float pixels [1, 3, H, W] in [0, 1]. */
  pixels: Tensor;
  /** Cosine similarity of the picture (resized to the model's input, no augmentation) and the prompt. */
  score: number;
  /** The seed a lone run makes this picture with. */
  seed: number;
  bestStep: number;
}

export interface ImagineResult {
  /** The picture; a grid's pictures in one image (grid.ts). */
  image: RgbImage;
  /** The best canvases as float pixels [count, 3, H, W] in [0, 1]. */
  pixels: Tensor;
  /** Each picture (one unless the request asked for a grid), in grid order. */
  pictures: ImaginePicture[];
  /** The picture's score; a grid's: its pictures' mean. */
  score: number;
  /** The request's seed: picture i's is seed + i − 1. */
  seed: number;
  steps: number;
  /** Step of the best iterate; a grid's: the latest of its pictures'. */
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

/**
 * Loss weights [g + p, T] for one group of views: each view's share of the mean over all G global
 * and all P patch views, times each target's weight (1 for the prompt; negative for what pushes away).
 */
function lossWeights(s: Settings, g: number, p: number, targetWeights: readonly number[]): Float32Array {
  const { recipe: r, global: G, patch: P } = s;
  const T = targetWeights.length;
  const w = new Float32Array((g + p) * T);
  for (let v = 0; v < g + p; v++) {
    const base = v < g ? r.globalWeight / G : r.patchWeight / P;
    for (let k = 0; k < T; k++) w[v * T + k] = targetWeights[k]! * base;
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

/**
 * The step graph a run of these settings compiles, with `targets` text targets (a prompt, then a
 * negative prompt and the near-miss contrast where asked), and how many runs of it a step takes.
 */
export function stepPlan(s: Settings, targets: number): { shape: StepShape; groups: number } {
  const groups = viewGroups(s.global, s.patch, s.recipe.maxViewsPerRun);
  return { shape: { canvas: s.canvas, global: s.global / groups, patch: s.patch / groups, targets, pictures: s.count }, groups };
}

/** Picture i's seed in a grid of this seed (a lone run's seed for i = 0). */
export const pictureSeed = (seed: number, i: number): number => (seed + i) % 2 ** 31;

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
  const targetWeights = [1];
  if (req.negative !== undefined) {
    if (req.negative.trim() === '') throw new ImagineInputError('the negative prompt is empty: leave it out or describe what to avoid');
    targetRows.push(normalize((await model.textEmbedding(req.negative)).embedding));
    targetWeights.push(-s.recipe.negativeWeight);
  }
  const contrastGroups = contrastGroupsOf(model.manifest, s.recipe);
  if (contrastGroups.length > 0) {
    const c = await contrastTarget(async (text) => (await model.textEmbedding(text)).embedding, req.prompt, contrastGroups);
    if (c) {
      targetRows.push(c.row);
      targetWeights.push(-s.recipe.contrastWeight);
    }
  }
  const T = targetRows.length;
  const target = Tensor.float32([T, cfg.embedDim], targetRows.flat());
  const { shape, groups } = stepPlan(s, T);
  const { global: g, patch: p } = shape;
  const N = s.count;
  const V = g + p;
  const weights = new Tensor('float32', [N * V, T], tile(lossWeights(s, g, p, targetWeights), N));
  const session = await model.graphSession(stepGraphKind(shape), ['vision'], (src) => buildStepModel(cfg, shape, src));
  abortCheck();

  const seeds = Array.from({ length: N }, (_, i) => pictureSeed(s.seed, i));
  const prompt = Float32Array.from(targetRows[0]!);
  const shared = req.init === undefined ? undefined : await canvasFrom(req.init, s.canvas);
  const starts: Float32Array[] = [];
  for (const seed of seeds) starts.push(shared ?? await bestNoiseCanvas(model, s.canvas, s.recipe.initCandidates, seed, prompt));
  abortCheck();
  const plane = 3 * s.canvas * s.canvas;
  const x = concat(starts);
  /** Picture i's part of a buffer laid out like the canvases [N, 3, H, H]. */
  const part = (buf: Float32Array, i: number): Float32Array => buf.subarray(i * plane, (i + 1) * plane);
  const dims = [N, 3, s.canvas, s.canvas];
  const streams = seeds.map((seed) => {
    const rand = rng(seed);
    return { rand, noise: normalNoise(rand) };
  });
  // Last step's view tensors, refilled in place: safe because each run is awaited before the next fill.
  let reuse: Record<string, Tensor> | undefined;
  const viewOpts = viewOptions(s, S, { global: g, patch: p });
  const levels = s.recipe.pyramidLevels;
  if (s.canvas % 2 ** levels !== 0) throw new ImagineInputError(`pyramidLevels ${levels} needs a canvas side divisible by ${2 ** levels}; ${s.canvas} px is not`);
  // With a pyramid the optimiser steps its coefficients (pyramid.ts), otherwise the pixels.
  const pyramid = levels > 0 ? new CanvasPyramid(s.canvas, levels) : undefined;
  const P = pyramid?.size ?? plane;
  const coef = pyramid ? concat(starts.map((c) => pyramid.fromCanvas(c))) : x;
  const coefGrad = pyramid ? new Float32Array(coef.length) : undefined;
  // Adam is elementwise: one over all canvases is each picture's own.
  const adam = new AdamW(coef.length, { lr: s.recipe.lr, weightDecay: s.recipe.weightDecay });
  const best = starts.map((c) => ({ canvas: c.slice(), loss: Infinity, step: 0 }));
  const timings: Record<keyof StepTimings, number[]> = { views: [], run: [], optimizer: [], encode: [] };
  const every = Math.max(1, opts.progressEvery ?? 10);
  // Judged on the global views (the notebook's clip_loss); a patch-only run falls back to patches.
  const judged = g > 0 ? g : p;

  for (let step = 0; step < s.steps; step++) {
    abortCheck();
    let t: number;
    let viewMs = 0;
    let runMs = 0;
    const loss = new Float64Array(N);
    const globalLoss = new Float64Array(N);
    const grad = new Float32Array(x.length);
    const canvas = new Tensor('float32', dims, x);
    for (let k = 0; k < groups; k++) {
      t = performance.now();
      const draws: PictureViews[] = streams.map(({ rand, noise }) => ({ views: sampleStepViews(rand, viewOpts), noise }));
      const views = (reuse = gridViewTensors(draws, viewOpts, reuse));
      viewMs += performance.now() - t;
      t = performance.now();
      const out = await session.run({ ...views, image: canvas, target, weights });
      runMs += performance.now() - t;
      abortCheck();
      const losses = out[STEP_OUTPUTS.loss]!.data as Float32Array;
      const partGrad = out[STEP_OUTPUTS.grad]!.data as Float32Array;
      for (let i = 0; i < grad.length; i++) grad[i]! += partGrad[i]!;
      const cos = out[STEP_OUTPUTS.cos]!.data as Float32Array;
      for (let n = 0; n < N; n++) {
        loss[n]! += losses[n]!;
        for (let v = 0; v < judged; v++) globalLoss[n]! += 1 - cos[(n * V + v) * T]!;
      }
    }
    timings.views.push(viewMs);
    timings.run.push(runMs);

    t = performance.now();
    assertFinite(Float32Array.from(loss), `the loss at step ${step + 1}`);
    assertFinite(grad, `the image gradient at step ${step + 1}`);
    for (let n = 0; n < N; n++) {
      const gn = part(grad, n);
      if (s.recipe.gradBlur > 0) gaussianBlur(gn, 3, s.canvas, s.canvas, s.recipe.gradBlur);
      clipGradNorm(gn, s.recipe.clipGradNorm);
    }
    const stepGrad = coefGrad ?? grad;
    if (pyramid) for (let n = 0; n < N; n++) pyramid.pullBack(part(grad, n), stepGrad.subarray(n * P, (n + 1) * P));
    if (s.recipe.stepRule === 1) for (let n = 0; n < N; n++) normalizedStep(coef.subarray(n * P, (n + 1) * P), stepGrad.subarray(n * P, (n + 1) * P), s.recipe.lr);
    else adam.step(coef, stepGrad);
    for (let n = 0; n < N; n++) {
      const xn = part(x, n);
      const cn = coef.subarray(n * P, (n + 1) * P);
      if (pyramid) pyramid.compose(cn, xn);
      const composed = pyramid ? xn.slice() : undefined;
      if (s.recipe.threshold > 0) dynamicThreshold(xn, s.recipe.threshold);
      else clampUnit(xn);
      if (pyramid) pyramid.settle(cn, composed!, xn);
      // As the notebook: the loss was measured before this update, the image kept is the updated one.
      const judgedLoss = globalLoss[n]! / (groups * judged);
      if (judgedLoss < best[n]!.loss) best[n] = { canvas: xn.slice(), loss: judgedLoss, step: step + 1 };
    }
    timings.optimizer.push(performance.now() - t);

    let image: RgbImage | undefined;
    let shown: RgbImage[] | undefined;
    if (opts.onProgress) {
      const last = step === s.steps - 1;
      if (last || (step + 1) % every === 0) {
        t = performance.now();
        shown = Array.from({ length: N }, (_, n) => pixelsToRgb(new Tensor('float32', [1, 3, s.canvas, s.canvas], part(x, n))));
        image = gridImage(shown);
        timings.encode.push(performance.now() - t);
      }
      const sumLoss = loss.reduce((a, b) => a + b, 0);
      const meanGlobal = globalLoss.reduce((a, b) => a + b, 0) / (N * groups * judged);
      await opts.onProgress({ step: step + 1, steps: s.steps, loss: sumLoss, globalLoss: meanGlobal, image, pictures: shown, elapsedMs: performance.now() - started });
    }
    opts.onStepTimings?.({
      views: timings.views.at(-1)!, run: timings.run.at(-1)!, optimizer: timings.optimizer.at(-1)!,
      encode: image === undefined ? 0 : timings.encode.at(-1)!,
    });
  }

  const finalEmb = (await model.embedPixels(modelInput(best.map((b) => b.canvas), s.canvas, model))).data as Float32Array;
  const E = cfg.embedDim;
  const pictures: ImaginePicture[] = best.map((b, n) => {
    const pixels = new Tensor('float32', [1, 3, s.canvas, s.canvas], b.canvas);
    const score = cosine(finalEmb.subarray(n * E, (n + 1) * E), targetRows[0]!);
    return { image: pixelsToRgb(pixels), pixels, score, seed: seeds[n]!, bestStep: b.step };
  });
  const ms = performance.now() - started;
  return {
    image: gridImage(pictures.map((q) => q.image)),
    pixels: new Tensor('float32', dims, concat(best.map((b) => b.canvas))),
    pictures,
    score: pictures.reduce((a, q) => a + q.score, 0) / N,
    seed: s.seed,
    steps: s.steps,
    bestStep: Math.max(...pictures.map((q) => q.bestStep)),
    ms,
    msPerStep: median(timings.run.map((r, i) => r + timings.views[i]! + timings.optimizer[i]!)),
    timings: { views: median(timings.views), run: median(timings.run), optimizer: median(timings.optimizer), encode: median(timings.encode) },
    truncated: pos.truncated,
  };
}

function concat(parts: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, q) => n + q.length, 0));
  let o = 0;
  for (const q of parts) {
    out.set(q, o);
    o += q.length;
  }
  return out;
}

/** `times` copies of `a` one after another. */
const tile = (a: Float32Array, times: number): Float32Array => concat(Array.from({ length: times }, () => a));
