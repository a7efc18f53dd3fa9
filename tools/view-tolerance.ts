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
import { PAPER_RECIPE } from '../src/engine/pag/recipe.js';
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

const P = PAPER_RECIPE;
/** The paper's views, 8 + 8 of them, at learning rate 0: every step draws fresh views of the unchanged picture. */
const PAPER_VIEWS = {
  lr: 0, globalViews: 8, patchViews: 8, noiseStd: P.noiseStd, patchFraction: P.patchFraction, translateRatio: P.translateRatio,
  cutoutRatio: P.cutoutRatio, zoomMin: P.zoomMin, zoomMax: P.zoomMax, colorAugment: P.colorAugment,
};
/** Every augmentation off: global views of the picture plus the paper's pixel noise. */
const PLAIN = { ...PAPER_VIEWS, patchViews: 0, translateRatio: 0, cutoutRatio: 0, zoomMin: 1, zoomMax: 1, colorAugment: 0 };
const VIEWS: ReadonlyArray<[string, Record<string, number>]> = [
  ['none', PLAIN],
  ['translation ±1/8', { ...PLAIN, translateRatio: P.translateRatio }],
  ['translation ±1/16', { ...PLAIN, translateRatio: P.translateRatio / 2 }],
  ['cutout ½', { ...PLAIN, cutoutRatio: P.cutoutRatio }],
  ['zoom 0.8–1.2', { ...PLAIN, zoomMin: P.zoomMin, zoomMax: P.zoomMax }],
  ['colour jitter', { ...PLAIN, colorAugment: 1 }],
  ['pixel noise σ 0.1', { ...PLAIN, noiseStd: 0.1 }],
  ['patch crops 128/224', { ...PLAIN, globalViews: 0, patchViews: 8 }],
  ['patch crops 0.8', { ...PLAIN, globalViews: 0, patchViews: 8, patchFraction: 0.8 }],
  ['DiffAugment (the paper)', PAPER_VIEWS],
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
