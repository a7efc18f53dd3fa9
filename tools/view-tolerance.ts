/**
 * Which of synthesis's random views a Shapes model still reads correctly: the loss synthesis judges
 * its iterates by (mean 1 − cos over the global views, the patch views where there are none, against
 * the true caption) measured at the *true* pictures of
 * held-out scenes, with no augmentation, with each of DiffAugment's augmentations alone, and with
 * the pack's own recipe. A view that makes the true picture score badly pulls synthesis away from
 * it: the demo model was trained on exact renders, so a shift, a cutout or a colour jitter changes
 * what its captions mean. models/shapes/MODEL_CARD.md quotes this table.
 *
 *   node --import tsx tools/view-tolerance.ts [--pack models/shapes] [--pictures 12] [--steps 4] [--json]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { writeRgbPng } from '../src/engine/clip/image.js';
import { ClipModel } from '../src/engine/pack/model.js';
import { imagine } from '../src/engine/pag/imagine.js';
import { hashName } from '../src/engine/random.js';
import { batchOf, distinctScenes } from '../src/engine/shapes/batches.js';
import { renderScene } from '../src/engine/shapes/render.js';

const o = new Command('view-tolerance')
  .option('--pack <dir>', 'a Shapes-world pack', 'models/shapes')
  .option('--pictures <n>', 'held-out pictures', '12')
  .option('--steps <n>', 'steps of fresh random views per picture', '4')
  .option('--json', 'one JSON object on stdout')
  .parse()
  .opts<{ pack: string; pictures: string; steps: string; json?: boolean }>();

const whole = (name: string, v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a whole number ≥ 1, got "${v}"`);
  return n;
};

/** Every augmentation off: the views are the picture plus the recipe's pixel noise. */
const PLAIN = { lr: 0, noiseStd: 0.01, translateRatio: 0, cutoutRatio: 0, zoomMin: 1, zoomMax: 1, colorAugment: 0, patchViews: 0, globalViews: 8 };
const VIEWS: ReadonlyArray<[string, Record<string, number>]> = [
  ['none', PLAIN],
  ['translation ±1/8', { ...PLAIN, translateRatio: 0.125 }],
  ['translation ±1/16', { ...PLAIN, translateRatio: 0.0625 }],
  ['cutout ½', { ...PLAIN, cutoutRatio: 0.5 }],
  ['zoom 0.8–1.2', { ...PLAIN, zoomMin: 0.8, zoomMax: 1.2 }],
  ['colour jitter', { ...PLAIN, colorAugment: 1 }],
  ['pixel noise σ 0.1', { ...PLAIN, noiseStd: 0.1 }],
  ['patch crops 128/224', { ...PLAIN, globalViews: 0, patchViews: 8, patchFraction: 128 / 224 }],
  ['patch crops 0.8', { ...PLAIN, globalViews: 0, patchViews: 8, patchFraction: 0.8 }],
  ['DiffAugment (the paper)', { lr: 0, translateRatio: 0.125, cutoutRatio: 0.5, zoomMin: 0.8, zoomMax: 1.2, colorAugment: 1, noiseStd: 0.01, patchFraction: 128 / 224, globalViews: 8, patchViews: 8 }],
  ["the pack's recipe", { lr: 0 }],
];

async function main(): Promise<void> {
  const n = whole('pictures', o.pictures);
  const steps = whole('steps', o.steps);
  const model = await ClipModel.open(o.pack, { device: 'cpu' });
  const dir = await mkdtemp(join(tmpdir(), 'clipag-views-'));
  try {
    const seed = hashName('view-tolerance');
    const scenes = distinctScenes(seed, n);
    const captions = batchOf(scenes, seed).captions;
    const files = await Promise.all(scenes.map(async (s, i) => {
      const f = join(dir, `${i}.png`);
      await writeRgbPng(renderScene(s, model.config.vision.imageSize), f);
      return f;
    }));
    const rows: Record<string, number> = {};
    for (const [name, recipe] of VIEWS) {
      let sum = 0;
      let count = 0;
      for (const [i, init] of files.entries()) {
        // lr 0: every step draws fresh views of the unchanged true picture.
        await imagine(model, { prompt: captions[i]!, init, steps, seed: 7 + i, recipe }, {
          onProgress: (p) => { sum += p.globalLoss; count++; },
        });
      }
      rows[name] = sum / count;
      if (!o.json) process.stderr.write(`${name.padEnd(26)} 1 − cos = ${rows[name]!.toFixed(3)}\n`);
    }
    if (o.json) process.stdout.write(`${JSON.stringify({ pack: o.pack, pictures: n, steps, loss: rows })}\n`);
  } finally {
    await model.close();
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`view-tolerance: ${(e as Error).message}\n`);
  process.exit(1);
});
