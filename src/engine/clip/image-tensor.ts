/** Images to and from float tensors: ToTensor + Normalize on the way in, 8-bit rounding on the way out. */
import { Tensor } from '../onnx/tensor.js';
import { raster, type RgbImage } from './raster.js';

function checkStats(name: string, v: readonly number[]): void {
  if (v.length !== 3 || v.some((x) => !Number.isFinite(x))) throw new RangeError(`${name} must be 3 finite numbers, got [${v.join(', ')}]`);
}

/**
 * ToTensor + Normalize for a batch of equally sized RGB images: float32 [N,3,H,W] with
 * ((v/255) - mean) / std, each step rounded to float32 as torch computes it in float32.
 */
export function toPixels(imgs: RgbImage[], mean: readonly number[], std: readonly number[]): Tensor {
  checkStats('mean', mean);
  checkStats('std', std);
  if (std.some((s) => s === 0)) throw new RangeError('std must not contain 0');
  const first = imgs[0];
  if (!first) throw new RangeError('toPixels needs at least one image');
  const { width, height } = first;
  const plane = width * height;
  // One lookup table per channel: 256 possible inputs.
  const lut = [0, 1, 2].map((c) => {
    const m = Math.fround(mean[c]!);
    const s = Math.fround(std[c]!);
    return Float32Array.from({ length: 256 }, (_, v) => Math.fround(Math.fround(v / 255) - m) / s);
  });
  const out = new Float32Array(imgs.length * 3 * plane);
  imgs.forEach((img, n) => {
    if (img.width !== width || img.height !== height) {
      throw new RangeError(`toPixels: image ${n} is ${img.width}x${img.height}, image 0 is ${width}x${height}`);
    }
    raster(img);
    for (let c = 0; c < 3; c++) {
      const t = lut[c]!;
      const base = (n * 3 + c) * plane;
      for (let i = 0; i < plane; i++) out[base + i] = t[img.data[i * 3 + c]!]!;
    }
  });
  return new Tensor('float32', [imgs.length, 3, height, width], out);
}

/**
 * Synthesis pixels ([3,H,W] or [1,3,H,W], float, nominally in [0,1]) to 8-bit RGB: clamped to
 * [0,1], then round half up as torchvision.utils.save_image does (x·255 + 0.5, truncated, in float32).
 * Rounding rather than ToPILImage's truncation (mul(255).byte()) keeps every value within half a
 * step, and makes writePng -> readImage return round(x·255) exactly. NaN is refused, not hidden.
 */
export function pixelsToRgb(pixels: Tensor): RgbImage {
  const d = pixels.dims;
  const ok = (d.length === 3 && d[0] === 3) || (d.length === 4 && d[0] === 1 && d[1] === 3);
  if (!ok) throw new RangeError(`pixels must have shape [3,H,W] or [1,3,H,W], got [${d.join(',')}]`);
  if (pixels.dtype !== 'float32' && pixels.dtype !== 'float64') throw new RangeError(`pixels must be float32 or float64, got ${pixels.dtype}`);
  const height = d[d.length - 2]!;
  const width = d[d.length - 1]!;
  const plane = width * height;
  const src = pixels.data as Float32Array | Float64Array;
  const data = new Uint8Array(plane * 3);
  let nans = 0;
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < plane; i++) {
      const x = src[c * plane + i]!;
      if (Number.isNaN(x)) { nans++; continue; }
      const v = x <= 0 ? 0 : x >= 1 ? 1 : Math.fround(x);
      data[i * 3 + c] = Math.floor(Math.fround(Math.fround(v * 255) + 0.5));
    }
  }
  if (nans > 0) throw new RangeError(`pixels contain ${nans} NaN value(s) of ${plane * 3}`);
  return { width, height, data };
}
