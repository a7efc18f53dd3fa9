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
 */
import { readFile } from 'node:fs/promises';
import sharp, { type Metadata } from 'sharp';
import { writeFileAtomic } from '../atomic-write.js';
import { Tensor } from '../onnx/tensor.js';

export interface RgbImage {
  width: number;
  height: number;
  /** HWC, RGB, 8-bit */
  data: Uint8Array;
}

/** How PIL's Image.resize treats a file's pixels (decided by the mode PIL would open it in). */
type Resampling = 'bicubic' | 'bicubic-premultiplied' | 'nearest';

/** An 8-bit HWC raster with 3 (RGB) or 4 (RGBA) channels, the internal form of a decoded file. */
interface Raster {
  width: number;
  height: number;
  channels: 3 | 4;
  data: Uint8Array;
}

interface DecodedImage {
  raster: Raster;
  resampling: Resampling;
}

// ---------------------------------------------------------------------------------------------
// Decoding

/** Decodes an image file to RGB, as PIL's Image.open(path).convert('RGB') does (alpha dropped). */
export async function readImage(path: string): Promise<RgbImage> {
  return toRgb((await decodeFile(path)).raster);
}

async function decodeFile(path: string): Promise<DecodedImage> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw new Error(`${path}: ${fsReason(e)}`);
  }
  if (bytes.length === 0) throw new Error(`${path}: the file is empty, not an image`);
  try {
    // ignoreIcc: PIL does not colour-manage; failOn 'error': refuse truncated or corrupt data, as PIL
    // does, but accept files with mere warnings (PIL's decoders ignore those too).
    const input = sharp(bytes, { ignoreIcc: true, failOn: 'error', autoOrient: false });
    const meta = await input.metadata();
    if (!READABLE_FORMATS.has(meta.format)) throw new Error(`unsupported image format ${meta.format}`);
    const { data, info } = await input.raw().toBuffer({ resolveWithObject: true });
    // sharp delivers 8-bit samples (16-bit PNGs shifted right by 8, as PIL's ;16B unpackers do).
    if (data.length !== info.width * info.height * info.channels) throw new Error('the decoder did not deliver 8-bit samples');
    const resampling = pngResampling(bytes) ?? otherResampling(meta);
    const raster = fromDecoder(new Uint8Array(data.buffer, data.byteOffset, data.length), info.width, info.height, info.channels);
    return { raster: resampling === 'bicubic-premultiplied' ? raster : dropAlpha(raster), resampling };
  } catch (e) {
    throw new Error(`${path}: ${decodeReason(e)}`);
  }
}

/**
 * Raster formats we accept (sharp names AVIF 'heif'). Others sharp could open, SVG and PDF above
 * all, are refused: PIL would not read them, and rendering documents is not this function's job.
 */
const READABLE_FORMATS: ReadonlySet<string> = new Set(['png', 'jpeg', 'webp', 'gif', 'tiff', 'heif']);

function fsReason(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EISDIR') return 'is a directory, not an image file';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  return `cannot read the file (${firstLine(e)})`;
}

function decodeReason(e: unknown): string {
  const msg = firstLine(e);
  if (/unsupported image format/i.test(msg)) return 'not an image (clipag reads PNG, JPEG, WebP, GIF, TIFF, AVIF)';
  if (/pixel limit/i.test(msg)) return 'the image is too large (over 268 megapixels)';
  return `cannot decode the image, the file is corrupt or truncated (${msg})`;
}

function firstLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.split('\n', 1)[0]!.trim();
}

/**
 * The mode PIL opens a PNG in follows the IHDR colour type alone (a tRNS chunk does not change it,
 * while the decoder reports it as alpha), so read it from the header: signature, then IHDR with
 * width, height, bit depth (byte 24) and colour type (byte 25).
 */
function pngResampling(bytes: Uint8Array): Resampling | undefined {
  const sig = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (bytes.length < 26 || sig.some((b, i) => bytes[i] !== b)) return undefined;
  const depth = bytes[24]!;
  switch (bytes[25]) {
    case 0: return depth === 1 ? 'nearest' : 'bicubic'; // 1-bit grey is PIL mode '1'
    case 3: return 'nearest'; // palette: PIL mode 'P'
    case 4: case 6: return 'bicubic-premultiplied'; // LA, RGBA
    default: return 'bicubic';
  }
}

function otherResampling(meta: Metadata): Resampling {
  if (meta.format === 'gif' || meta.isPalette) return 'nearest';
  return meta.hasAlpha ? 'bicubic-premultiplied' : 'bicubic';
}

/** The decoder's 1-4 interleaved channels (grey, grey+alpha, RGB, RGBA) as RGB or RGBA. */
function fromDecoder(data: Uint8Array, width: number, height: number, channels: number): Raster {
  if (channels === 3 || channels === 4) return { width, height, channels, data };
  if (channels !== 1 && channels !== 2) throw new Error(`unexpected ${channels}-channel pixels from the decoder`);
  const n = width * height;
  const out = channels === 1 ? 3 : 4;
  const rgb = new Uint8Array(n * out);
  for (let i = 0; i < n; i++) {
    const v = data[i * channels]!;
    rgb[i * out] = v;
    rgb[i * out + 1] = v;
    rgb[i * out + 2] = v;
    if (out === 4) rgb[i * out + 3] = data[i * channels + 1]!;
  }
  return { width, height, channels: out, data: rgb };
}

function dropAlpha(r: Raster): Raster {
  if (r.channels === 3) return r;
  return { ...toRgb(r), channels: 3 };
}

/** PIL's convert('RGB'): alpha is discarded, not composited. */
function toRgb(r: Raster): RgbImage {
  if (r.channels === 3) return { width: r.width, height: r.height, data: r.data };
  const n = r.width * r.height;
  const data = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    data[i * 3] = r.data[i * 4]!;
    data[i * 3 + 1] = r.data[i * 4 + 1]!;
    data[i * 3 + 2] = r.data[i * 4 + 2]!;
  }
  return { width: r.width, height: r.height, data };
}

// ---------------------------------------------------------------------------------------------
// Pillow's resamplers (facts from Pillow's src/libImaging/Resample.c and Geometry.c)

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
function resampleBicubic(r: Raster, width: number, height: number): Raster {
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
function resizeAs(r: Raster, resampling: Resampling, width: number, height: number): Raster {
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

function checkSize(what: string, n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`${what} must be a positive integer, got ${n}`);
}

function raster(img: RgbImage): Raster {
  if (img.data.length !== img.width * img.height * 3) {
    throw new RangeError(`RGB image of ${img.width}x${img.height} needs ${img.width * img.height * 3} bytes, has ${img.data.length}`);
  }
  return { width: img.width, height: img.height, channels: 3, data: img.data };
}

const rgb = (r: Raster): RgbImage => ({ width: r.width, height: r.height, data: r.data });

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

// ---------------------------------------------------------------------------------------------
// torchvision's geometry rules (Resize with an int, CenterCrop)

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

// ---------------------------------------------------------------------------------------------
// Tensors

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

/** Writes synthesis pixels as an 8-bit RGB PNG, atomically (no partial file on failure). */
export async function writePng(pixels: Tensor, path: string): Promise<void> {
  let img: RgbImage;
  try {
    img = pixelsToRgb(pixels);
  } catch (e) {
    throw new Error(`${path}: cannot write the image: ${firstLine(e)}`);
  }
  const png = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } }).png().toBuffer();
  try {
    await writeFileAtomic(path, png);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'its directory does not exist'
      : code === 'EACCES' || code === 'EPERM' ? 'permission denied'
      : code === 'EISDIR' ? 'is a directory'
      : firstLine(e);
    throw new Error(`${path}: cannot write the PNG (${why})`);
  }
}
