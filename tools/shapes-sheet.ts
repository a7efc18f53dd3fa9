/**
 * A contact sheet of random Shapes-world scenes with one caption each, for eyeballing the world
 * (colours, sizes, anti-aliasing, jitter, phrasings) without training anything.
 *
 *   node --import tsx tools/shapes-sheet.ts OUT.png [--seed N] [--count N] [--size PX] [--zoom K]
 *
 * Each tile is the rendered scene enlarged K× with nearest-neighbour (so anti-aliased edge pixels
 * stay visible) above its caption. Captions need a font that sharp's SVG renderer can find.
 */
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { contactSheet, type Tile } from '../src/engine/contact-sheet.js';
import { rng } from '../src/engine/random.js';
import { captions } from '../src/engine/shapes/captions.js';
import { renderScene } from '../src/engine/shapes/render.js';
import { sampleScene } from '../src/engine/shapes/world.js';

const COLUMNS = 8;

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
  const rows: Tile[][] = [];
  for (let n = 0; n < count; n++) {
    const scene = sampleScene(rand);
    if (n % COLUMNS === 0) rows.push([]);
    rows.at(-1)!.push({ image: renderScene(scene, size), caption: captions(scene, rand) });
  }
  await writeFile(out, await contactSheet(rows, { tile: size * zoom, lines: 5 }));
  process.stderr.write(`${out}: ${count} scenes (seed ${seed}, ${size} px, shown ${zoom}×)\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`shapes-sheet: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
