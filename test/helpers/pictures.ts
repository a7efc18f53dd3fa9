/**
 * Upload test files, made at test time: good pictures by sharp, and the bad kinds members send
 * (animated, cut short, not a picture, a decompression bomb).
 */
import { deflateSync, crc32 } from 'node:zlib';
import sharp, { type Color, type Sharp } from 'sharp';

export const solid = (width: number, height: number, background: Color, channels: 3 | 4 = 3): Sharp =>
  sharp({ create: { width, height, channels, background } });

/** Three 20×20 frames as an animated GIF or WebP. */
export async function animated(format: 'gif' | 'webp'): Promise<Buffer> {
  const frames = await Promise.all(['#f00', '#0f0', '#00f'].map((c) => solid(20, 20, c).png().toBuffer()));
  const joined = sharp(frames, { join: { animated: true } });
  return format === 'gif' ? joined.gif({ loop: 0, delay: 100 }).toBuffer() : joined.webp({ loop: 0, delay: 100 }).toBuffer();
}

/** A picture with detail everywhere, so cutting the file short loses real pixel data. */
export function busy(format: 'png' | 'jpeg' | 'webp' | 'gif', side = 200): Promise<Buffer> {
  const raw = Buffer.from(Array.from({ length: side * side * 3 }, (_, i) => (i * 7919) % 251));
  return sharp(raw, { raw: { width: side, height: side, channels: 3 } }).toFormat(format).toBuffer();
}

/**
 * A valid 1-bit greyscale PNG of width × height, all black: 20000×20000 is a few hundred KB on disk
 * and 1.6 GB once decoded as RGBA. Written directly because asking sharp to encode 400 MP takes
 * seconds of CPU for the same bytes.
 */
export function pngBomb(width = 20_000, height = 20_000): Buffer {
  const chunk = (type: string, data: Buffer): Buffer => {
    const head = Buffer.alloc(8);
    head.writeUInt32BE(data.length, 0);
    head.write(type, 4, 'latin1');
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])) >>> 0, 0);
    return Buffer.concat([head, data, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([1, 0, 0, 0, 0], 8); // bit depth 1, greyscale, deflate, no filter, no interlace
  // Each row: filter byte 0, then ceil(width / 8) bytes of zero bits.
  const raw = Buffer.alloc(height * (1 + Math.ceil(width / 8)));
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw, { level: 9 })), chunk('IEND', Buffer.alloc(0)),
  ]);
}
