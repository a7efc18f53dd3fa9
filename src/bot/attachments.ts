/**
 * A picture a member uploaded to start from: downloaded and checked before anything is queued, then
 * saved normalised (sRGB PNG, alpha flattened, EXIF orientation applied) as DATA_DIR/uploads/<id>.png.
 * Every refusal is one line saying what is wrong with the file. The type is read from the bytes,
 * never from the name or the declared content type, and only the four formats Discord members
 * actually post ever reach the decoder.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp, { type Metadata } from 'sharp';

/** An attachment as Discord describes it (interaction option of type Attachment). */
export interface UploadRef {
  url: string;
  /** Bytes, as Discord declares them (checked again while the bytes arrive). */
  size: number;
}

export interface UploadLimits {
  /** Discord's own upload limit for members without Nitro. */
  maxBytes: number;
  /**
   * Width × height. 40 MP takes any phone or camera picture that fits in 10 MiB (12–24 MP) and an
   * 8K screen (33 MP), while a decode costs at most ~160 MB for a moment (4 bytes a pixel). A
   * small file that declares a huge canvas (a 20000×20000 PNG is 1.2 MB and 1.6 GB decoded) is
   * refused from its header, and sharp's limitInputPixels enforces the same cap on the decode.
   */
  maxPixels: number;
  /** The whole download, first byte to last. */
  timeoutMs: number;
  /** Longest side kept: canvases are at most 2048 px (max_size), so more is only disk and decode time. */
  maxSide: number;
}

export const UPLOAD_LIMITS: Readonly<UploadLimits> = Object.freeze({
  maxBytes: 10 * 1024 * 1024,
  maxPixels: 40_000_000,
  timeoutMs: 15_000,
  maxSide: 2048,
});

export type UploadProblem = 'size' | 'type' | 'pixels' | 'animated' | 'broken' | 'download';

export type UploadOutcome =
  | { ok: true; path: string; width: number; height: number }
  | { ok: false; problem: UploadProblem; message: string };

const ACCEPTED = 'send a PNG, JPEG, WebP or still GIF';

type Format = 'png' | 'jpeg' | 'webp' | 'gif';

/** Magic numbers: what the bytes say the file is. */
function sniff(b: Buffer): Format | undefined {
  if (b.length >= 8 && b.readUInt32BE(0) === 0x89504e47 && b.readUInt32BE(4) === 0x0d0a1a0a) return 'png';
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg';
  if (b.length >= 12 && b.toString('latin1', 0, 4) === 'RIFF' && b.toString('latin1', 8, 12) === 'WEBP') return 'webp';
  if (b.length >= 6 && /^GIF8[79]a$/.test(b.toString('latin1', 0, 6))) return 'gif';
  return undefined;
}

/** Pictures we do not take, named so the member knows what they sent. */
function otherKind(b: Buffer): string | undefined {
  const head = b.toString('latin1', 0, Math.min(b.length, 256));
  if (head.slice(4, 8) === 'ftyp') return /^....ftyp(avif|avis)/.test(head) ? 'an AVIF picture' : 'a HEIC picture';
  if (head.startsWith('II*\0') || head.startsWith('MM\0*')) return 'a TIFF picture';
  if (head.startsWith('BM')) return 'a BMP picture';
  if (head.startsWith('%PDF')) return 'a PDF';
  if (/<svg[\s>]/i.test(head)) return 'an SVG drawing';
  return undefined;
}

/** Rounded up, so a file just over the limit never reads as equal to it. */
const mib = (bytes: number): string => `${(Math.ceil(bytes / (1024 * 1024) * 10) / 10).toLocaleString('en-US')} MiB`;
const refuse = (problem: UploadProblem, message: string): UploadOutcome => ({ ok: false, problem, message });

/** The bytes, stopping as soon as they pass the cap (a declared size can lie). */
async function download(ref: UploadRef, limits: UploadLimits): Promise<Buffer | UploadOutcome> {
  const tooBig = refuse('size', `The image is over the ${mib(limits.maxBytes)} limit.`);
  let url: URL;
  try {
    url = new URL(ref.url);
  } catch {
    return refuse('download', 'Discord gave no address for the image: try uploading it again.');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return refuse('download', 'Discord gave no address for the image: try uploading it again.');
  const stop = new AbortController();
  const timer = setTimeout(() => stop.abort(), limits.timeoutMs);
  try {
    const res = await fetch(url, { signal: stop.signal });
    if (!res.ok || !res.body) return refuse('download', `Could not download the image from Discord (HTTP ${res.status}): try again.`);
    const declared = Number(res.headers.get('content-length') ?? NaN);
    if (declared > limits.maxBytes) {
      stop.abort();
      return tooBig;
    }
    const chunks: Buffer[] = [];
    let total = 0;
    for await (const chunk of res.body) {
      total += chunk.length;
      if (total > limits.maxBytes) {
        stop.abort();
        return tooBig;
      }
      chunks.push(Buffer.from(chunk));
    }
    return Buffer.concat(chunks, total);
  } catch {
    if (stop.signal.aborted) return refuse('download', `Downloading the image took over ${limits.timeoutMs / 1000} s: try again.`);
    return refuse('download', 'Could not download the image from Discord: try again.');
  } finally {
    clearTimeout(timer);
  }
}

/** What is wrong with these bytes as a starting picture, or the normalised PNG. */
export async function normalisePicture(bytes: Buffer, limits: UploadLimits = UPLOAD_LIMITS): Promise<{ png: Buffer; width: number; height: number } | UploadOutcome> {
  if (bytes.length === 0) return refuse('broken', 'The file is empty.');
  const format = sniff(bytes);
  if (!format) {
    const kind = otherKind(bytes);
    return refuse('type', kind ? `That file is ${kind}; ${ACCEPTED}.` : `That file is not a picture: ${ACCEPTED}.`);
  }
  const broken = refuse('broken', `The ${format.toUpperCase()} file is damaged or cut short: save it again and upload the new copy.`);
  let meta: Metadata;
  try {
    // Header only (no pixels are decoded), so the canvas size can be named before it is refused.
    meta = await sharp(bytes, { limitInputPixels: false, failOn: 'truncated' }).metadata();
  } catch {
    return broken;
  }
  if (meta.format !== format || !meta.width || !meta.height) return broken;
  if ((meta.pages ?? 1) > 1) return refuse('animated', `The image is animated (${meta.pages} frames): ${ACCEPTED}.`);
  if (meta.width * meta.height > limits.maxPixels) {
    const mp = Math.round(limits.maxPixels / 1e6);
    return refuse('pixels', `The image is ${meta.width.toLocaleString('en-US')}×${meta.height.toLocaleString('en-US')} pixels; the limit is ${mp} megapixels.`);
  }
  try {
    const { data, info } = await sharp(bytes, { limitInputPixels: limits.maxPixels, failOn: 'truncated' })
      .autoOrient()
      .resize({ width: limits.maxSide, height: limits.maxSide, fit: 'inside', withoutEnlargement: true })
      // Transparent parts become white, as editors and browsers show them on a light page.
      .flatten({ background: '#ffffff' })
      .toColourspace('srgb')
      .png()
      .toBuffer({ resolveWithObject: true });
    return { png: data, width: info.width, height: info.height };
  } catch {
    return broken;
  }
}

/**
 * Downloads, checks and saves an uploaded picture. The declared size is checked before a byte is
 * fetched; the file appears under `uploadsDir` whole or not at all.
 */
export async function fetchUpload(ref: UploadRef, uploadsDir: string, overrides: Partial<UploadLimits> = {}): Promise<UploadOutcome> {
  const limits = { ...UPLOAD_LIMITS, ...overrides };
  if (ref.size > limits.maxBytes) return refuse('size', `The image is ${mib(ref.size)}; the limit is ${mib(limits.maxBytes)}.`);
  const bytes = await download(ref, limits);
  if (!Buffer.isBuffer(bytes)) return bytes;
  const picture = await normalisePicture(bytes, limits);
  if ('ok' in picture) return picture;
  await mkdir(uploadsDir, { recursive: true });
  const path = join(uploadsDir, `${randomBytes(12).toString('hex')}.png`);
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    await writeFile(tmp, picture.png);
    await rename(tmp, path);
  } catch (e) {
    await unlink(tmp).catch(() => {});
    throw e;
  }
  return { ok: true, path, width: picture.width, height: picture.height };
}
