/**
 * Where a synthesis run starts and how its canvases meet the model: the starting canvas of each
 * picture (the user's image, or the best-matching of a few smooth noise images), and canvases
 * resized to the model's input for scoring.
 */
import type { RgbImage } from '../clip/image.js';
import { centerCrop, pixelsToRgb, readImage, resizeShortSide, toPixels } from '../clip/image.js';
import { Tensor } from '../onnx/tensor.js';
import type { ClipModel } from '../pack/model.js';
import { cosine } from '../pack/model.js';
import { initCandidates } from './init.js';

/** Canvases [3,H,H] (side `side`) resized to the model's input as a normalised pixel batch [N,3,S,S]. */
export function modelInput(canvases: readonly Float32Array[], side: number, model: ClipModel): Tensor {
  const S = model.config.vision.imageSize;
  const images = canvases.map((c) => {
    const img = pixelsToRgb(new Tensor('float32', [1, 3, side, side], c));
    return side === S ? img : centerCrop(resizeShortSide(img, S), S);
  });
  return toPixels(images, model.config.mean, model.config.std);
}

/** An image (or image file) as the starting canvas [3,H,H]: its short side resized to the canvas, centre-cropped. */
export async function canvasFrom(init: string | RgbImage, side: number): Promise<Float32Array> {
  const img = typeof init === 'string' ? await readImage(init) : init;
  return toPixels([centerCrop(resizeShortSide(img, side), side)], [0, 0, 0], [1, 1, 1]).data as Float32Array;
}

/**
 * The starting canvas for a picture of this seed: of `candidates` smooth noise images drawn from
 * the seed, the one the model finds closest to the prompt. The paper picks among Tiny-ImageNet
 * class samples the same way; data-free, we pick among low-frequency noise images.
 */
export async function bestNoiseCanvas(
  model: ClipModel, side: number, candidates: number, seed: number, prompt: Float32Array,
): Promise<Float32Array> {
  const drawn = initCandidates(candidates, side, seed);
  if (drawn.length === 1) return drawn[0]!;
  const emb = (await model.embedPixels(modelInput(drawn, side, model))).data as Float32Array;
  const E = model.config.embedDim;
  let best = 0;
  let bestCos = -Infinity;
  for (let i = 0; i < drawn.length; i++) {
    const c = cosine(emb.subarray(i * E, (i + 1) * E), prompt);
    if (c > bestCos) {
      bestCos = c;
      best = i;
    }
  }
  return drawn[best]!;
}
