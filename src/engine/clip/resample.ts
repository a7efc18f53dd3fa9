/**
 * Pillow's resamplers, bit-exact (facts from Pillow's src/libImaging/Resample.c and Geometry.c):
 * fixed-point bicubic with antialiasing, NEAREST as an affine scale, and bicubic on premultiplied
 * alpha as PIL does for RGBA and LA images.
 */
import { checkSize, raster, rgb, type Raster, type Resampling, type RgbImage } from './raster.js';

/** Pillow keeps 8 bits for the result and 2 for overshoot of a 32-bit int: 22 fractional bits. */
const PRECISION_BITS = 22;
const ONE = 1 << PRECISION_BITS;
const HALF = 1 << (PRECISION_BITS - 1);
const BICUBIC_SUPPORT = 2;

/** Keys' cubic convolution kernel with a = -0.5, written as Pillow evaluates it (same rounding). */
function bicubic(x: number): number {
  const a = -0.5;
  if (x < 0) x = -x;
  if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
  return 0;
}

/** For each output index: the first source index, the tap count, and `stride` fixed-point weights. */
interface Taps {
  stride: number;
  first: Int32Array;
  count: Int32Array;
  weights: Int32Array;
}

/**
 * Pillow's precompute_coeffs + normalize_coeffs_8bpc for the whole source range: a bicubic kernel
 * widened by the downscale factor (antialiasing), weights normalised to sum 1 in double, then
 * rounded half away from zero to 22-bit fixed point.
 */
function bicubicTaps(inSize: number, outSize: number): Taps {
  const scale = inSize / outSize;
  const filterScale = scale < 1 ? 1 : scale;
  const support = BICUBIC_SUPPORT * filterScale;
  const stride = Math.ceil(support) * 2 + 1;
  const ss = 1 / filterScale;
  const first = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Int32Array(outSize * stride);
  const w = new Float64Array(stride);
  for (let o = 0; o < outSize; o++) {
    const center = (o + 0.5) * scale;
    const lo = Math.max(0, Math.trunc(center - support + 0.5));
    const n = Math.min(inSize, Math.trunc(center + support + 0.5)) - lo;
    let sum = 0;
    for (let i = 0; i < n; i++) {
      w[i] = bicubic((i + lo - center + 0.5) * ss);
      sum += w[i]!;
    }
    for (let i = 0; i < n; i++) {
      const v = sum !== 0 ? w[i]! / sum : w[i]!;
      weights[o * stride + i] = v < 0 ? Math.trunc(-0.5 + v * ONE) : Math.trunc(0.5 + v * ONE);
    }
    first[o] = lo;
    count[o] = n;
  }
  return { stride, first, count, weights };
}

/** Pillow's clip8: drop the fraction (arithmetic shift, i.e. floor) and clamp to a byte. */
function clip8(acc: number): number {
  const v = acc >> PRECISION_BITS;
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/**
 * Pillow's two-pass bicubic resize on interleaved 8-bit channels: the horizontal pass (only over
 * the source rows the vertical pass will read), then the vertical pass; a pass whose size does not
 * change is skipped, as Pillow skips it. Sums are exact (integers far below 2^53).
 */
export function resampleBicubic(r: Raster, width: number, height: number): Raster {
  const ch = r.channels;
  const vert = bicubicTaps(r.height, height);
  if (width === r.width) return { width, height, channels: ch, data: verticalPass(r.data, width * ch, 0, vert, height) };
  const start = vert.first[0]!;
  const rows = vert.first[height - 1]! + vert.count[height - 1]! - start;
  const tmp = horizontalPass(r, start, rows, bicubicTaps(r.width, width), width);
  if (height === r.height) return { width, height, channels: ch, data: tmp };
  return { width, height, channels: ch, data: verticalPass(tmp, width * ch, start, vert, height) };
}

/** Resamples rows [start, start + rows) of `r` to `width` columns. */
function horizontalPass(r: Raster, start: number, rows: number, taps: Taps, width: number): Uint8Array {
  const { first, count, weights, stride } = taps;
  const ch = r.channels;
  const src = r.data;
  const out = new Uint8Array(width * rows * ch);
  let q = 0;
  for (let y = 0; y < rows; y++) {
    const inRow = (start + y) * r.width * ch;
    for (let o = 0; o < width; o++) {
      const n = count[o]!;
      const k = o * stride;
      let p = inRow + first[o]! * ch;
      let a0 = HALF;
      let a1 = HALF;
      let a2 = HALF;
      let a3 = HALF;
      // Two loops rather than a channel loop: this pass dominates the cost on large photos.
      if (ch === 3) {
        for (let i = 0; i < n; i++, p += 3) {
          const w = weights[k + i]!;
          a0 += src[p]! * w;
          a1 += src[p + 1]! * w;
          a2 += src[p + 2]! * w;
        }
      } else {
        for (let i = 0; i < n; i++, p += 4) {
          const w = weights[k + i]!;
          a0 += src[p]! * w;
          a1 += src[p + 1]! * w;
          a2 += src[p + 2]! * w;
          a3 += src[p + 3]! * w;
        }
      }
      out[q++] = clip8(a0);
      out[q++] = clip8(a1);
      out[q++] = clip8(a2);
      if (ch === 4) out[q++] = clip8(a3);
    }
  }
  return out;
}

/** Resamples `height` output rows from `src` (rows of rowLen bytes, the first being source row `rowOffset`). */
function verticalPass(src: Uint8Array, rowLen: number, rowOffset: number, taps: Taps, height: number): Uint8Array {
  const { first, count, weights, stride } = taps;
  const out = new Uint8Array(rowLen * height);
  const acc = new Float64Array(rowLen);
  for (let o = 0; o < height; o++) {
    const lo = first[o]! - rowOffset;
    const n = count[o]!;
    acc.fill(HALF);
    for (let i = 0; i < n; i++) {
      const w = weights[o * stride + i]!;
      const row = (lo + i) * rowLen;
      for (let x = 0; x < rowLen; x++) acc[x]! += src[row + x]! * w;
    }
    const outRow = o * rowLen;
    for (let x = 0; x < rowLen; x++) out[outRow + x] = clip8(acc[x]!);
  }
  return out;
}

/**
 * Pillow's NEAREST resize (an affine scale, ImagingScaleAffine): the source position starts at half
 * a step and is advanced by repeated addition, so its rounding drift is reproduced too; positions
 * outside the source stay 0.
 */
function nearestIndices(inSize: number, outSize: number): Int32Array {
  const step = inSize / outSize;
  const idx = new Int32Array(outSize);
  let pos = step * 0.5;
  for (let o = 0; o < outSize; o++) {
    const i = pos < 0 ? -1 : Math.trunc(pos);
    idx[o] = i < inSize ? i : -1;
    pos += step;
  }
  return idx;
}

function resampleNearest(r: Raster, width: number, height: number): Raster {
  const ch = r.channels;
  const xs = nearestIndices(r.width, width);
  const ys = nearestIndices(r.height, height);
  const out = new Uint8Array(width * height * ch);
  for (let y = 0; y < height; y++) {
    const sy = ys[y]!;
    if (sy < 0) continue;
    for (let x = 0; x < width; x++) {
      const sx = xs[x]!;
      if (sx < 0) continue;
      const p = (sy * r.width + sx) * ch;
      const q = (y * width + x) * ch;
      for (let c = 0; c < ch; c++) out[q + c] = r.data[p + c]!;
    }
  }
  return { width, height, channels: ch, data: out };
}

/** Pillow's MULDIV255: a·b/255 rounded, in integers. */
function mulDiv255(a: number, b: number): number {
  const t = a * b + 128;
  return ((t >> 8) + t) >> 8;
}

/** RGBA -> RGBa (Pillow's rgbA2rgba). */
function premultiply(r: Raster): Raster {
  const d = r.data.slice();
  for (let p = 0; p < d.length; p += 4) {
    const a = d[p + 3]!;
    d[p] = mulDiv255(d[p]!, a);
    d[p + 1] = mulDiv255(d[p + 1]!, a);
    d[p + 2] = mulDiv255(d[p + 2]!, a);
  }
  return { ...r, data: d };
}

/** RGBa -> RGBA (Pillow's rgba2rgbA): truncating division, clamped; alpha 0 and 255 pass through. */
function unpremultiply(r: Raster): Raster {
  const d = r.data;
  for (let p = 0; p < d.length; p += 4) {
    const a = d[p + 3]!;
    if (a === 0 || a === 255) continue;
    for (let c = 0; c < 3; c++) d[p + c] = Math.min(255, Math.trunc((255 * d[p + c]!) / a));
  }
  return r;
}

/** PIL's Image.resize(size) with the resampling its mode gets; `r` itself when the size is unchanged. */
export function resizeAs(r: Raster, resampling: Resampling, width: number, height: number): Raster {
  if (width === r.width && height === r.height) return r;
  switch (resampling) {
    case 'nearest': return resampleNearest(r, width, height);
    case 'bicubic': return resampleBicubic(r, width, height);
    case 'bicubic-premultiplied':
      return r.channels === 4
        ? unpremultiply(resampleBicubic(premultiply(r), width, height))
        : resampleBicubic(r, width, height);
  }
}

/**
 * PIL's Image.resize((width, height), BICUBIC) on an RGB image, bit-exact. Returns a copy when the
 * size is unchanged (PIL copies too).
 */
export function resizeBicubic(img: RgbImage, width: number, height: number): RgbImage {
  checkSize('width', width);
  checkSize('height', height);
  const r = raster(img);
  if (width === img.width && height === img.height) return { width, height, data: img.data.slice() };
  return rgb(resampleBicubic(r, width, height));
}

/** PIL's Image.resize((width, height), NEAREST), which PIL uses for palette and 1-bit images. */
export function resizeNearest(img: RgbImage, width: number, height: number): RgbImage {
  checkSize('width', width);
  checkSize('height', height);
  const r = raster(img);
  if (width === img.width && height === img.height) return { width, height, data: img.data.slice() };
  return rgb(resampleNearest(r, width, height));
}
