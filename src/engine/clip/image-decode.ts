/**
 * Decoding image files (through sharp) into rasters, together with the resampling PIL would apply to
 * them, which follows the mode PIL opens the file in (see image.ts for the per-mode rules).
 */
import { readFile } from 'node:fs/promises';
import sharp, { type Metadata } from 'sharp';
import { firstLine, toRgb, type Raster, type Resampling, type RgbImage } from './raster.js';

export interface DecodedImage {
  raster: Raster;
  resampling: Resampling;
}

/** Decodes an image file to RGB, as PIL's Image.open(path).convert('RGB') does (alpha dropped). */
export async function readImage(path: string): Promise<RgbImage> {
  return toRgb((await decodeFile(path)).raster);
}

/** Decodes a file and says how PIL would resize it; alpha is kept only where that resize needs it. */
export async function decodeFile(path: string): Promise<DecodedImage> {
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
