/**
 * Synthesis recipes: the CLIPAG paper's (from the authors' notebook) for CLIPAG-style ViT-B/32 packs,
 * a lighter one for small models, and the checks that turn a user's request into settings the engine
 * can run, with a message naming the option when it cannot.
 */
import type { RgbImage } from '../clip/image.js';
import type { Manifest } from '../pack/manifest.js';
import { MAX_GRID } from './grid.js';

export interface Recipe {
  steps: number;
  globalViews: number;
  patchViews: number;
  /** AdamW learning rate and decoupled weight decay (torch's default 0.01 in the notebook). */
  lr: number;
  weightDecay: number;
  /** Max 2-norm of the canvas gradient. */
  clipGradNorm: number;
  /**
   * Standard deviation (canvas px) of a Gaussian low-pass of the canvas gradient before the
   * optimiser step (blur.ts); 0, the paper's, leaves it as it is. Our addition.
   */
  gradBlur: number;
  /**
   * Coarse levels of a multi-scale canvas (pyramid.ts, our addition): the optimiser steps the canvas
   * at full size plus this many halvings, upsampled and summed; 0, the paper's, steps the pixels.
   */
  pyramidLevels: number;
  /** The pixel update: 0 AdamW (the paper's), 1 a normalised gradient step (optim.ts normalizedStep). */
  stepRule: number;
  /** Dynamic-thresholding percentile after each step; 0 clamps to [0, 1] instead. */
  threshold: number;
  /** Loss weights of the global and patch terms (1 and 5 in the paper). */
  globalWeight: number;
  patchWeight: number;
  /** Weight of a negative prompt's terms relative to the positive ones (our addition). */
  negativeWeight: number;
  /**
   * Weight of the near-miss contrast (contrast.ts, our addition): the cosine with the mean direction
   * of the prompts one word of the pack's `contrast` groups away, pushed down as a negative prompt's
   * is; 0 (the paper's) turns it off.
   */
  contrastWeight: number;
  /** Std of the per-step pixel noise. */
  noiseStd: number;
  /** Side of the random patch crops as a fraction of the canvas (128/224). */
  patchFraction: number;
  /** DiffAugment's translation range as a fraction of the model's input side (1/8). */
  translateRatio: number;
  /** DiffAugment's cutout side as a fraction of the model's input side (½); 0 turns it off. */
  cutoutRatio: number;
  /** DiffAugment's zoom ratio range, one draw per batch ([0.8, 1.2)). */
  zoomMin: number;
  zoomMax: number;
  /** DiffAugment's brightness/saturation/contrast jitter: 1 on, 0 off. */
  colorAugment: number;
  /** Data-free initial images scored against the prompt; the best one starts the run. */
  initCandidates: number;
  /**
   * Most views per graph run: a step with more runs them in equal groups and sums the gradients,
   * which bounds memory (64 views at once hold ~6.7 GB of activations on CPU; 16 about 3 GB) at
   * no measured cost in speed. Each group draws its own resize ratio and patch noise, where the
   * notebook draws one per 32 views. Counted per picture: a grid runs each group of all its
   * pictures together, holding `count` times the activations.
   */
  maxViewsPerRun: number;
}

/** The notebook's settings (CLIPAG_T2I.ipynb): 32 + 32 views, 100 steps, AdamW 0.0175, clip 0.001, p = 0.95. */
export const PAPER_RECIPE: Readonly<Recipe> = Object.freeze({
  steps: 100,
  globalViews: 32,
  patchViews: 32,
  lr: 0.0175,
  weightDecay: 0.01,
  clipGradNorm: 0.001,
  gradBlur: 0,
  pyramidLevels: 0,
  stepRule: 0,
  threshold: 0.95,
  globalWeight: 1,
  patchWeight: 5,
  negativeWeight: 0.5,
  contrastWeight: 0,
  noiseStd: 0.01,
  patchFraction: 128 / 224,
  translateRatio: 0.125,
  cutoutRatio: 0.5,
  zoomMin: 0.8,
  zoomMax: 1.2,
  colorAugment: 1,
  initCandidates: 16,
  maxViewsPerRun: 16,
});

/**
 * The recipe a pack runs with unless the request overrides it: a pack may carry its own (the demo
 * model ships one tuned to it); otherwise the paper's for 224-px models, and fewer views for small ones.
 */
export function recipeFor(manifest: Manifest, overrides?: Readonly<Record<string, number>>): Recipe {
  const own = pickRecipe(manifest.recipe ?? {});
  const base: Recipe = manifest.config.vision.imageSize >= 224
    ? { ...PAPER_RECIPE }
    : { ...PAPER_RECIPE, globalViews: 8, patchViews: 8 };
  const packs = checkAugment({ ...base, ...own }, "the pack's recipe", Error);
  if (!overrides) return packs;
  // A pack may carry keys of later versions; a request's unknown key is a typo that would silently do nothing.
  const unknown = Object.keys(overrides).filter((k) => !(k in PAPER_RECIPE) || typeof overrides[k] !== 'number');
  if (unknown.length) throw new ImagineInputError(`the recipe asked for: unknown or non-numeric ${unknown.join(', ')}; the keys are ${Object.keys(PAPER_RECIPE).join(', ')}`);
  return checkAugment({ ...packs, ...pickRecipe(overrides) }, 'the recipe asked for', ImagineInputError);
}

/** Augmentation settings must make sense before any view is drawn: the message names the key and where it came from. */
function checkAugment(r: Recipe, source: string, Fail: new (msg: string) => Error): Recipe {
  const bad = (key: keyof Recipe, want: string): never => {
    throw new Fail(`${source}: ${key} must be ${want}, got ${r[key]}`);
  };
  if (!(r.translateRatio >= 0 && r.translateRatio < 1)) bad('translateRatio', 'in [0, 1)');
  if (!(r.cutoutRatio >= 0 && r.cutoutRatio <= 1)) bad('cutoutRatio', 'in [0, 1]');
  if (!(r.zoomMin > 0 && r.zoomMin <= 4)) bad('zoomMin', 'in (0, 4]');
  if (!(r.zoomMax >= r.zoomMin && r.zoomMax <= 4)) bad('zoomMax', 'from zoomMin to 4');
  if (r.colorAugment !== 0 && r.colorAugment !== 1) bad('colorAugment', '0 or 1');
  if (!(r.gradBlur >= 0 && r.gradBlur <= 8)) bad('gradBlur', 'in [0, 8] px');
  if (!(Number.isInteger(r.pyramidLevels) && r.pyramidLevels >= 0 && r.pyramidLevels <= 6)) bad('pyramidLevels', 'a whole number from 0 to 6');
  if (r.stepRule !== 0 && r.stepRule !== 1) bad('stepRule', '0 (AdamW) or 1 (normalised gradient step)');
  // At a weight near 1 the push cancels the pull on everything the near misses share with the prompt.
  if (!(r.contrastWeight >= 0 && r.contrastWeight < 1)) bad('contrastWeight', 'in [0, 1)');
  return r;
}

/** The known recipe keys of a pack's `recipe` (unknown ones are ignored, not trusted). */
function pickRecipe(o: Record<string, number>): Partial<Recipe> {
  const out: Partial<Recipe> = {};
  for (const k of Object.keys(PAPER_RECIPE) as (keyof Recipe)[]) if (typeof o[k] === 'number') out[k] = o[k];
  return out;
}

export const LIMITS = {
  steps: [1, 1000],
  views: [1, 128],
  /** Canvas side as a multiple of the model's input size. */
  canvasFactor: [1, 4],
  /** Pictures optimised together as a grid. */
  count: [1, MAX_GRID],
} as const;

export interface ImagineRequest {
  prompt: string;
  negative?: string;
  steps?: number;
  /** Canvas side in pixels (default: the model's input size). */
  size?: number;
  seed?: number;
  /** Total views per step, split evenly between global and patch views. */
  views?: number;
  /** An image (or image file) to start from instead of noise (variations); every picture of a grid starts from it. */
  init?: string | RgbImage;
  /** Pictures optimised together in one batch, posted as a grid (1 when left out); picture i has seed + i − 1. */
  count?: number;
  /** Recipe keys that replace the pack's for this run (tools and evaluations), checked as a pack's are. */
  recipe?: Readonly<Record<string, number>>;
}

/** A request the engine cannot run as given: the message names the option. */
export class ImagineInputError extends Error {}

export interface Settings {
  recipe: Recipe;
  steps: number;
  canvas: number;
  global: number;
  patch: number;
  seed: number;
  count: number;
}

function intIn(name: string, v: number, lo: number, hi: number): number {
  if (!Number.isInteger(v) || v < lo || v > hi) throw new ImagineInputError(`${name} must be a whole number from ${lo} to ${hi}, got ${v}`);
  return v;
}

export function resolveSettings(req: ImagineRequest, recipe: Recipe, modelSize: number): Settings {
  if (typeof req.prompt !== 'string' || req.prompt.trim() === '') {
    throw new ImagineInputError('the prompt is empty: describe the picture in a few words');
  }
  const steps = intIn('steps', req.steps ?? recipe.steps, LIMITS.steps[0], LIMITS.steps[1]);
  const canvas = intIn('size', req.size ?? modelSize, modelSize * LIMITS.canvasFactor[0], modelSize * LIMITS.canvasFactor[1]);
  let global = recipe.globalViews;
  let patch = recipe.patchViews;
  if (req.views !== undefined) {
    const v = intIn('views', req.views, LIMITS.views[0], LIMITS.views[1]);
    // The paper's balance: as many global views as patch views (a single view is global).
    global = Math.ceil(v / 2);
    patch = v - global;
  }
  const seed = req.seed ?? Math.floor(Math.random() * 2 ** 31);
  intIn('seed', seed, 0, 2 ** 31 - 1);
  const count = intIn('count', req.count ?? 1, LIMITS.count[0], LIMITS.count[1]);
  return { recipe, steps, canvas, global, patch, seed, count };
}
