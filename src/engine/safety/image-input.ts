/** Pictures as a model's input: short side resized to its input size, centre crop, its mean/std (as open_clip's eval transform). */
import { centerCrop, resizeShortSide, toPixels, type RgbImage } from '../clip/image.js';
import type { Tensor } from '../onnx/tensor.js';
import type { ClipModel } from '../pack/model.js';

export function imageInput(model: ClipModel, images: readonly RgbImage[]): Tensor {
  const S = model.config.vision.imageSize;
  const sized = images.map((img) => (img.width === S && img.height === S ? img : centerCrop(resizeShortSide(img, S), S)));
  return toPixels(sized, model.config.mean, model.config.std);
}
