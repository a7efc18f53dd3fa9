/**
 * Upscale: a picture enlarged ×2 with a sharp Lanczos filter, then refined by a short PAG run at the
 * larger canvas (the engine takes canvases larger than the model's input: global views see the
 * whole canvas shrunk to the model's input and keep the composition; patch views see parts of it at
 * the pixel scale the original run's patches saw, so they add detail at the new size).
 */
import sharp from 'sharp';
import type { RgbImage } from '../clip/image.js';
import { centerCrop, readImage } from '../clip/image.js';
import type { ClipModel } from '../pack/model.js';
import { imagine, type ImagineOptions, type ImagineResult } from './imagine.js';
import { ImagineInputError, LIMITS, recipeFor, type Recipe } from './recipe.js';

export const UPSCALE_FACTOR = 2;

export interface UpscaleRequest {
  /** The prompt the picture was made from (what the refinement keeps it faithful to). */
  prompt: string;
  negative?: string;
  /** The picture: an image or image file; one that is not square is centre-cropped to its short side. */
  image: string | RgbImage;
  /** Refinement steps (default: a third of the recipe's, at least 1). */
  steps?: number;
  seed?: number;
  views?: number;
  /** Recipe keys for this run, over the refinement's own (refineRecipe). */
  recipe?: Readonly<Record<string, number>>;
}

/**
 * The side an upscale of a picture of side `side` has, for a model whose input is `modelSize` px;
 * refused (ImagineInputError, one line) where the model cannot take that canvas.
 */
export function upscaledSide(side: number, modelSize: number): number {
  const out = side * UPSCALE_FACTOR;
  const max = modelSize * LIMITS.canvasFactor[1];
  if (!Number.isInteger(side) || side < 1) throw new ImagineInputError(`the picture's size must be a whole number of pixels, got ${side}`);
  if (out > max) throw new ImagineInputError(`the picture is ${side} px: ×${UPSCALE_FACTOR} would be ${out} px, more than this model's largest canvas (${max} px)`);
  if (out < modelSize) throw new ImagineInputError(`the picture is ${side} px: ×${UPSCALE_FACTOR} would be ${out} px, less than this model's input (${modelSize} px)`);
  return out;
}

/**
 * The refinement's recipe keys at a canvas of side `canvas`: patches shrunk by the factor, so each
 * covers the canvas pixels a patch of the original run covered; a third of the steps; half the
 * learning rate, so the run sharpens the picture rather than repaints it.
 */
export function refineRecipe(recipe: Recipe): Record<string, number> {
  return {
    steps: Math.max(1, Math.round(recipe.steps / 3)),
    patchFraction: recipe.patchFraction / UPSCALE_FACTOR,
    lr: recipe.lr / 2,
  };
}

/** `img`'s centre square enlarged to `side` × `side` with Lanczos-3 (sharp). */
export async function enlarge(img: RgbImage, side: number): Promise<RgbImage> {
  const square = centerCrop(img, Math.min(img.width, img.height));
  const { data, info } = await sharp(square.data, { raw: { width: square.width, height: square.height, channels: 3 } })
    .resize(side, side, { kernel: 'lanczos3', fit: 'fill' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== 3 || info.width !== side || info.height !== side) throw new Error(`enlarge: sharp returned ${info.width}×${info.height}×${info.channels}`);
  return { width: side, height: side, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
}

/** The picture ×2, refined; progress and cancellation as imagine()'s, at the larger canvas. */
export async function upscale(model: ClipModel, req: UpscaleRequest, opts: ImagineOptions = {}): Promise<ImagineResult> {
  const img = typeof req.image === 'string' ? await readImage(req.image) : req.image;
  const side = upscaledSide(Math.min(img.width, img.height), model.config.vision.imageSize);
  const own = refineRecipe(recipeFor(model.manifest));
  const { steps: refineSteps, ...keys } = { ...own, ...req.recipe };
  return imagine(model, {
    prompt: req.prompt,
    negative: req.negative,
    steps: req.steps ?? refineSteps,
    seed: req.seed,
    views: req.views,
    size: side,
    init: await enlarge(img, side),
    recipe: keys,
  }, opts);
}
