/**
 * The pixel forms the image modules share: RgbImage, what callers hand in and get back, and Raster,
 * a decoded file that may still carry alpha; with the checks every entry point makes on them.
 */

export interface RgbImage {
  width: number;
  height: number;
  /** HWC, RGB, 8-bit */
  data: Uint8Array;
}

/** How PIL's Image.resize treats a file's pixels (decided by the mode PIL would open it in). */
export type Resampling = 'bicubic' | 'bicubic-premultiplied' | 'nearest';

/** An 8-bit HWC raster with 3 (RGB) or 4 (RGBA) channels, the internal form of a decoded file. */
export interface Raster {
  width: number;
  height: number;
  channels: 3 | 4;
  data: Uint8Array;
}

/** Sizes are checked at every entry point so that a bad one fails with its name, not deep in a loop. */
export function checkSize(what: string, n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`${what} must be a positive integer, got ${n}`);
}

/** An RgbImage as a 3-channel raster, after checking its buffer matches its size (no copy). */
export function raster(img: RgbImage): Raster {
  if (img.data.length !== img.width * img.height * 3) {
    throw new RangeError(`RGB image of ${img.width}x${img.height} needs ${img.width * img.height * 3} bytes, has ${img.data.length}`);
  }
  return { width: img.width, height: img.height, channels: 3, data: img.data };
}

/** A 3-channel raster as an RgbImage (no copy). */
export const rgb = (r: Raster): RgbImage => ({ width: r.width, height: r.height, data: r.data });

/** PIL's convert('RGB'): alpha is discarded, not composited. */
export function toRgb(r: Raster): RgbImage {
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

/** An error's first line, for the one-line messages the image modules throw. */
export function firstLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.split('\n', 1)[0]!.trim();
}
