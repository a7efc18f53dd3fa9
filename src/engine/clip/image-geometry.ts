/** torchvision's geometry rules: Resize with an int (short side), CenterCrop with zero padding. */
import { checkSize, raster, rgb, type RgbImage } from './raster.js';
import { resampleBicubic } from './resample.js';

/** torchvision Resize(size): the short side becomes `size`, the long side int(size·long/short). */
export function shortSideSize(width: number, height: number, size: number): { width: number; height: number } {
  const [short, long] = width <= height ? [width, height] : [height, width];
  const newLong = Math.trunc((size * long) / short); // Python's int() of a float division
  return width <= height ? { width: size, height: newLong } : { width: newLong, height: size };
}

/** torchvision Resize(size) with bicubic on an RGB image; `img` itself when it already has that size. */
export function resizeShortSide(img: RgbImage, size: number): RgbImage {
  checkSize('size', size);
  const t = shortSideSize(img.width, img.height, size);
  if (t.width === img.width && t.height === img.height) return img;
  return rgb(resampleBicubic(raster(img), t.width, t.height));
}

/** Python 3's round(): half to even. */
function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d < 0.5) return f;
  if (d > 0.5) return f + 1;
  return f % 2 === 0 ? f : f + 1;
}

/** Where torchvision's CenterCrop puts a w×h image: zero padding first (when the crop is larger), then the crop. */
export function cropPlacement(width: number, height: number, size: number):
  { padLeft: number; padTop: number; padRight: number; padBottom: number; top: number; left: number } {
  const padLeft = size > width ? Math.floor((size - width) / 2) : 0;
  const padTop = size > height ? Math.floor((size - height) / 2) : 0;
  const padRight = size > width ? Math.floor((size - width + 1) / 2) : 0;
  const padBottom = size > height ? Math.floor((size - height + 1) / 2) : 0;
  const w = width + padLeft + padRight;
  const h = height + padTop + padBottom;
  const top = roundHalfEven((h - size) / 2);
  const left = roundHalfEven((w - size) / 2);
  return { padLeft, padTop, padRight, padBottom, top, left };
}

/**
 * torchvision CenterCrop(size): pads with black when the image is smaller than the crop, then cuts
 * size×size at the rounded centre offset. `img` itself when it is already size×size.
 */
export function centerCrop(img: RgbImage, size: number): RgbImage {
  checkSize('size', size);
  raster(img);
  if (img.width === size && img.height === size) return img;
  const p = cropPlacement(img.width, img.height, size);
  // Output pixel (x, y) comes from source (x + left - padLeft, y + top - padTop), or is 0 outside.
  const dx = p.left - p.padLeft;
  const dy = p.top - p.padTop;
  const out = new Uint8Array(size * size * 3);
  for (let y = 0; y < size; y++) {
    const sy = y + dy;
    if (sy < 0 || sy >= img.height) continue;
    const x0 = Math.max(0, -dx);
    const x1 = Math.min(size, img.width - dx);
    if (x1 > x0) out.set(img.data.subarray((sy * img.width + x0 + dx) * 3, (sy * img.width + x1 + dx) * 3), (y * size + x0) * 3);
  }
  return { width: size, height: size, data: out };
}
