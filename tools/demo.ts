/**
 * `npm run demo`: a few prompts through the bundled Shapes-world model, offline. Writes each
 * result and a contact sheet of progress frames (one row per prompt, left to right as the picture
 * forms) to ./out, and prints the paths and how long the first frame took.
 *
 *   npm run demo -- [--model DIR] [--out DIR] [--steps N] ["prompt" ...]
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Command } from 'commander';
import { writeRgbPng, type RgbImage } from '../src/engine/clip/image.js';
import { contactSheet, type Tile } from '../src/engine/contact-sheet.js';
import { ClipModel } from '../src/engine/pack/model.js';
import { imagine } from '../src/engine/pag/imagine.js';
import { defaultOutName } from '../src/cli/imagine.js';
import { resolveModelDir } from '../src/cli/model-dir.js';
import { log } from '../src/log.js';

// As the CLI: a cuda→cpu fallback is not news on a laptop; LOG_LEVEL=info shows it.
if (!process.env.LOG_LEVEL) log.level = 'warn';

/** One-shape prompts in the kinds the model draws best, and a two-shape one (the model card has the rates). */
export const DEMO_PROMPTS = [
  'a big red circle in the center on a blue background',
  'a big yellow triangle in the top left on a black background',
  'a big white cross at the bottom right on a green background',
  'a big orange triangle at the left and a big green circle at the right on a purple background',
];
/** Frames kept per prompt for the sheet (the last is the result). */
const FRAMES = 6;

const program = new Command('demo')
  .argument('[prompts...]', 'prompts in the demo model\'s words (default: four examples)')
  .option('--model <dir>', 'model pack (default: the bundled models/shapes)')
  .option('--out <dir>', 'where the pictures go', 'out')
  .option('--steps <n>', 'steps per picture (default: the pack\'s recipe)')
  .option('--seed <n>', 'seed of the first picture (the next ones count up)', '1')
  .parse();
const o = program.opts<{ model?: string; out: string; steps?: string; seed: string }>();

async function main(): Promise<void> {
  const started = Date.now();
  const prompts = program.args.length ? program.args : DEMO_PROMPTS;
  const steps = o.steps === undefined ? undefined : Number(o.steps);
  if (steps !== undefined && !(Number.isInteger(steps) && steps > 0)) throw new Error(`--steps must be a whole number ≥ 1, got "${o.steps}"`);
  const seed = Number(o.seed);
  await mkdir(o.out, { recursive: true });
  const model = await ClipModel.open(resolveModelDir(o.model));
  const rows: Tile[][] = [];
  let firstFrame: number | undefined;
  try {
    for (const [i, prompt] of prompts.entries()) {
      const frames: Array<{ step: number; image: RgbImage }> = [];
      const result = await imagine(model, { prompt, seed: seed + i, ...(steps ? { steps } : {}) }, {
        progressEvery: 1,
        onNote: (m) => process.stderr.write(`note: ${m}\n`),
        onProgress: (p) => {
          if (!p.image) return;
          firstFrame ??= Date.now() - started;
          frames.push({ step: p.step, image: p.image });
          if (process.stderr.isTTY) process.stderr.write(`\r${prompt}: step ${p.step}/${p.steps}`);
        },
      });
      if (process.stderr.isTTY) process.stderr.write('\n');
      // Evenly spaced frames: step 1, …, the last step; then the best iterate, which is the result.
      const pick = Array.from({ length: FRAMES - 1 }, (_, k) => frames[Math.round((k * (frames.length - 1)) / (FRAMES - 2))]!);
      rows.push([
        ...pick.map((f) => ({ image: f.image, caption: `step ${f.step}` })),
        { image: result.image, caption: `result (step ${result.bestStep}), score ${result.score.toFixed(3)}` },
      ]);
      const file = join(o.out, defaultOutName(prompt, result.seed));
      await writeRgbPng(result.image, file);
      process.stdout.write(`${file}  "${prompt}"  score ${result.score.toFixed(3)}, ${(result.ms / 1000).toFixed(1)} s\n`);
    }
  } finally {
    await model.close();
  }
  const sheet = join(o.out, 'demo-sheet.png');
  await writeFile(sheet, await contactSheet(rows, { lines: 2 }));
  process.stdout.write(`${sheet}  progress frames, one row per prompt\n`);
  process.stderr.write(`first frame after ${((firstFrame ?? 0) / 1000).toFixed(1)} s, all done in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`demo: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
