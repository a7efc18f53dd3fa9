/** Writing 8-bit images and synthesis pixels as PNG. */
import sharp from 'sharp';
import { writeFileAtomic } from '../atomic-write.js';
import type { Tensor } from '../onnx/tensor.js';
import { pixelsToRgb } from './image-tensor.js';
import { firstLine, type RgbImage } from './raster.js';

/** Writes synthesis pixels as an 8-bit RGB PNG, atomically (no partial file on failure). */
export async function writePng(pixels: Tensor, path: string): Promise<void> {
  let img: RgbImage;
  try {
    img = pixelsToRgb(pixels);
  } catch (e) {
    throw new Error(`${path}: cannot write the image: ${firstLine(e)}`);
  }
  await writeRgbPng(img, path);
}

/** An 8-bit image as PNG bytes (progress frames, Discord attachments). */
export function encodePng(img: RgbImage): Promise<Buffer> {
  return sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } }).png().toBuffer();
}

/** An 8-bit image to a PNG file, written atomically. */
export async function writeRgbPng(img: RgbImage, path: string): Promise<void> {
  const png = await encodePng(img);
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
