/**
 * A contact sheet of random Shapes-world scenes with one caption each, for eyeballing the world
 * (colours, sizes, anti-aliasing, jitter, phrasings) without training anything.
 *
 *   node --import tsx tools/shapes-sheet.ts OUT.png [--seed N] [--count N] [--size PX] [--zoom K]
 *
 * Each tile is the rendered scene enlarged K× with nearest-neighbour (so anti-aliased edge pixels
 * stay visible) above its caption. Captions need a font that sharp's SVG renderer can find.
 */
import { parseArgs } from 'node:util';
import sharp, { type OverlayOptions } from 'sharp';
import { encodePng, resizeNearest, writeRgbPng } from '../src/engine/clip/image.js';
import { rng } from '../src/engine/random.js';
import { captions } from '../src/engine/shapes/captions.js';
import { renderScene } from '../src/engine/shapes/render.js';
import { sampleScene } from '../src/engine/shapes/world.js';

const COLUMNS = 8;
const FONT_PX = 11;
// DejaVu Sans at 11 px averages about 6 px per character: enough for a rough wrap.
const CHAR_PX = 6;
const LINES = 5;
const PAD = 6;

function wrap(text: string, width: number): string[] {
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
  return lines.slice(0, LINES);
}

const escapeXml = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function positiveInt(name: string, v: string | undefined, fallback: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer, got "${v}"`);
  return n;
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { seed: { type: 'string' }, count: { type: 'string' }, size: { type: 'string' }, zoom: { type: 'string' } },
  });
  const out = positionals[0];
  if (!out || positionals.length > 1) throw new Error('usage: tools/shapes-sheet.ts OUT.png [--seed N] [--count N] [--size PX] [--zoom K]');
  const seed = positiveInt('seed', values.seed, 1);
  const count = positiveInt('count', values.count, 48);
  const size = positiveInt('size', values.size, 64);
  const zoom = positiveInt('zoom', values.zoom, 3);

  const rand = rng(seed);
  const tile = size * zoom;
  const cellW = tile + 2 * PAD;
  const cellH = tile + PAD + LINES * (FONT_PX + 2) + PAD;
  const cols = Math.min(COLUMNS, count);
  const rows = Math.ceil(count / cols);
  const width = cols * cellW;
  const height = rows * cellH;

  const layers: OverlayOptions[] = [];
  const text: string[] = [];
  for (let n = 0; n < count; n++) {
    const scene = sampleScene(rand);
    const caption = captions(scene, rand);
    const left = (n % cols) * cellW + PAD;
    const top = Math.floor(n / cols) * cellH + PAD;
    const img = resizeNearest(renderScene(scene, size), tile, tile);
    layers.push({ input: await encodePng(img), left, top });
    wrap(caption, tile).forEach((line, k) => {
      const y = top + tile + (k + 1) * (FONT_PX + 2);
      text.push(`<text x="${left}" y="${y}">${escapeXml(line)}</text>`);
    });
  }
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">`
    + `<g font-family="DejaVu Sans, sans-serif" font-size="${FONT_PX}" fill="#222">${text.join('')}</g></svg>`;
  layers.push({ input: Buffer.from(svg), left: 0, top: 0 });

  const { data, info } = await sharp({ create: { width, height, channels: 3, background: { r: 250, g: 250, b: 250 } } })
    .composite(layers)
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  await writeRgbPng({ width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.length) }, out);
  process.stderr.write(`${out}: ${count} scenes (seed ${seed}, ${size} px, shown ${zoom}×)\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`shapes-sheet: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
