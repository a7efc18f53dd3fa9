/**
 * Contact sheets: rows of images, each enlarged with nearest-neighbour (so single pixels stay
 * visible) above an optional caption, as one PNG. The demo's progress strips, the evaluation's
 * robust-vs-vanilla grid and the world's sample sheet all use it. Captions are SVG text, which
 * sharp renders with whatever font fontconfig finds; without one the pictures still come out.
 */
import sharp, { type OverlayOptions } from 'sharp';
import { encodePng, resizeNearest, type RgbImage } from './clip/image.js';

export interface Tile {
  image: RgbImage;
  caption?: string;
}

export interface SheetOptions {
  /** Side of every tile in pixels (default: the largest image's width × 3). */
  tile?: number;
  /** Caption lines kept under a tile (default 3; 0 for none). */
  lines?: number;
}

const FONT_PX = 11;
// DejaVu Sans at 11 px averages about 6 px per character: enough for a rough wrap.
const CHAR_PX = 6;
const PAD = 6;

export function wrapText(text: string, width: number, maxLines: number): string[] {
  const max = Math.max(8, Math.floor(width / CHAR_PX));
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && line.length + 1 + word.length > max) {
      lines.push(line);
      line = word;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  if (line) lines.push(line);
  return lines.slice(0, maxLines);
}

const escapeXml = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** The sheet as PNG bytes. Rows may differ in length; the sheet is as wide as the longest. */
export async function contactSheet(rows: readonly (readonly Tile[])[], o: SheetOptions = {}): Promise<Buffer> {
  const all = rows.flat();
  if (all.length === 0) throw new Error('a contact sheet needs at least one image');
  const tile = o.tile ?? Math.max(...all.map((t) => t.image.width)) * 3;
  const lines = all.some((t) => t.caption) ? (o.lines ?? 3) : 0;
  const cellW = tile + 2 * PAD;
  const cellH = tile + PAD + lines * (FONT_PX + 2) + PAD;
  const width = Math.max(...rows.map((r) => r.length)) * cellW;
  const height = rows.length * cellH;
  const layers: OverlayOptions[] = [];
  const text: string[] = [];
  for (const [r, row] of rows.entries()) {
    for (const [c, t] of row.entries()) {
      const left = c * cellW + PAD;
      const top = r * cellH + PAD;
      layers.push({ input: await encodePng(resizeNearest(t.image, tile, tile)), left, top });
      if (t.caption && lines > 0) {
        wrapText(t.caption, tile, lines).forEach((line, k) => {
          text.push(`<text x="${left}" y="${top + tile + (k + 1) * (FONT_PX + 2)}">${escapeXml(line)}</text>`);
        });
      }
    }
  }
  if (text.length > 0) {
    const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">`
      + `<g font-family="DejaVu Sans, sans-serif" font-size="${FONT_PX}" fill="#222">${text.join('')}</g></svg>`;
    layers.push({ input: Buffer.from(svg), left: 0, top: 0 });
  }
  return sharp({ create: { width, height, channels: 3, background: { r: 250, g: 250, b: 250 } } })
    .composite(layers)
    .png()
    .toBuffer();
}
