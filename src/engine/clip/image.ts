/**
 * Images in and out of the engine: decoding files, CLIP preprocessing exactly as open_clip's eval
 * transform does it, and writing synthesis output as PNG.
 *
 * open_clip (resize_mode 'shortest', square image size S) runs, on a PIL image:
 *   torchvision Resize(S, BICUBIC)   short side -> S, long side int(S·long/short), PIL Image.resize
 *   torchvision CenterCrop(S)        top = int(round((h - S) / 2.0)), Python round is half-to-even
 *   convert('RGB'), ToTensor (/255), Normalize(mean, std)      (all float32)
 * Resize and CenterCrop run before convert('RGB'), so PIL resizes in the file's own mode, and that
 * changes the result for some files. What we reproduce, per PIL mode:
 *   RGB, L (grey)        bicubic, bit-exact with Pillow's fixed-point resampler (Resample.c)
 *   RGBA, LA             bicubic on premultiplied alpha (PIL converts to RGBa/La, resizes, converts
 *                        back, then convert('RGB') drops alpha without compositing), bit-exact
 *   P (palette), 1 (1-bit grey)   nearest neighbour: PIL's resize forces NEAREST for these modes
 *   16-bit RGB/RGBA/LA PNG        PIL keeps the high byte of each sample (its ;16B unpackers); so do we
 * Where we differ from PIL, on purpose or because the decoder differs:
 *   16-bit greyscale PNG  PIL opens it as mode I and convert('RGB') saturates every value above 255,
 *                         so open_clip would see an almost white image; we keep the high byte as for
 *                         the other 16-bit PNGs (what the user sees in any viewer).
 *   CMYK JPEG             sharp converts CMYK through a colour profile; PIL uses a naive formula.
 *   GIF                   treated as palette (nearest); PIL opens a GIF whose palette is a grey ramp as
 *                         mode L and would resize it bicubically.
 * Embedded ICC profiles are ignored and EXIF orientation is not applied, as PIL does neither.
 * JPEG decoding through sharp (libjpeg-turbo/mozjpeg, islow IDCT, fancy upsampling) gave the same
 * pixels as PIL's libjpeg-turbo on the fixtures.
 *
 * This module is the public face and runs the pipeline; the steps live in image-decode.ts (files),
 * resample.ts (Pillow's resamplers), image-geometry.ts (torchvision Resize/CenterCrop),
 * image-tensor.ts (tensors) and image-write.ts (PNG output).
 */
import type { Tensor } from '../onnx/tensor.js';
import { decodeFile } from './image-decode.js';
import { centerCrop, shortSideSize } from './image-geometry.js';
import { toPixels } from './image-tensor.js';
import { checkSize, toRgb } from './raster.js';
import { resizeAs } from './resample.js';

export type { RgbImage } from './raster.js';
export { readImage } from './image-decode.js';
export { resizeBicubic, resizeNearest } from './resample.js';
export { centerCrop, cropPlacement, resizeShortSide, shortSideSize } from './image-geometry.js';
export { pixelsToRgb, toPixels } from './image-tensor.js';
export { encodePng, writePng, writeRgbPng } from './image-write.js';

/** open_clip's eval preprocessing of one image file: float32 [1,3,S,S]. */
export async function preprocessImage(
  path: string,
  cfg: { imageSize: number; mean: readonly number[]; std: readonly number[] },
): Promise<Tensor> {
  checkSize('imageSize', cfg.imageSize);
  const { raster: r, resampling } = await decodeFile(path);
  const t = shortSideSize(r.width, r.height, cfg.imageSize);
  const resized = resizeAs(r, resampling, t.width, t.height);
  return toPixels([centerCrop(toRgb(resized), cfg.imageSize)], cfg.mean, cfg.std);
}
