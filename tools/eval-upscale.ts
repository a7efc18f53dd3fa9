/**
 * How the upscale's refinement changes a picture: for a few prompts, a picture is made, enlarged ×2
 * with Lanczos alone, and upscaled (enlarged and refined) with the shipped refinement recipe and with
 * variants of it. Prints, per variant, the mean over prompts of: the score against the prompt (at the
 * model's input), the roughness at the larger size (mean absolute difference of horizontal
 * neighbours, 8-bit), and the PSNR against the plain enlargement (how far the refinement moved it).
 *
 *   node --import tsx tools/eval-upscale.ts [--model DIR] [--out DIR] [--json]
 *
 * --out writes every picture there (<prompt index>-<variant>.png) to look at.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { toPixels, writeRgbPng, type RgbImage } from '../src/engine/clip/image.js';
import { ClipModel, cosine, normalize } from '../src/engine/pack/model.js';
import { imagine } from '../src/engine/pag/imagine.js';
import { recipeFor } from '../src/engine/pag/recipe.js';
import { modelInput } from '../src/engine/pag/start.js';
import { enlarge, refineRecipe, upscale, upscaledSide } from '../src/engine/pag/upscale.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'models/shapes' },
    out: { type: 'string' },
    json: { type: 'boolean', default: false },
  },
});
const PROMPTS = [
  'a big red circle in the center on a blue background',
  'a small green star at the top left on a white background',
  'a yellow square at the bottom right on a black background',
  'a big purple triangle in the middle on an orange background',
];

const model = await ClipModel.open(values.model!, { device: 'cpu' });
const shipped = refineRecipe(recipeFor(model.manifest));
/** Recipe keys over the shipped refinement's; null: the enlargement alone. */
const VARIANTS: Record<string, Record<string, number> | null> = {
  lanczos: null,
  shipped: {},
  'full lr': { lr: shipped.lr! * 2 },
  'quarter lr': { lr: shipped.lr! / 2 },
  'patches unshrunk': { patchFraction: shipped.patchFraction! * 2 },
};

const roughness = (img: RgbImage): number => {
  let s = 0;
  for (let y = 0; y < img.height; y++) {
    for (let x = 1; x < img.width; x++) for (let c = 0; c < 3; c++) s += Math.abs(img.data[(y * img.width + x) * 3 + c]! - img.data[(y * img.width + x - 1) * 3 + c]!);
  }
  return s / (img.height * (img.width - 1) * 3);
};
const psnr = (a: RgbImage, b: RgbImage): number => {
  let s = 0;
  for (let i = 0; i < a.data.length; i++) s += (a.data[i]! - b.data[i]!) ** 2;
  return s === 0 ? Infinity : 10 * Math.log10(255 ** 2 / (s / a.data.length));
};
async function score(img: RgbImage, prompt: string): Promise<number> {
  const canvas = toPixels([img], [0, 0, 0], [1, 1, 1]).data as Float32Array;
  const e = (await model.embedPixels(modelInput([canvas], img.width, model))).data as Float32Array;
  return cosine(e, normalize((await model.textEmbedding(prompt)).embedding));
}

if (values.out) await mkdir(values.out, { recursive: true });
const rows: Record<string, number[][]> = {};
const originals: number[] = [];
for (const [i, prompt] of PROMPTS.entries()) {
  const picture = (await imagine(model, { prompt, seed: 7 + i })).image;
  originals.push(await score(picture, prompt));
  const big = await enlarge(picture, upscaledSide(picture.width, model.config.vision.imageSize));
  for (const [name, recipe] of Object.entries(VARIANTS)) {
    const img = recipe === null ? big : (await upscale(model, { prompt, image: picture, seed: 1, recipe })).image;
    if (values.out) await writeRgbPng(img, join(values.out, `${i}-${name.replace(/ /g, '-')}.png`));
    (rows[name] ??= []).push([await score(img, prompt), roughness(img), psnr(img, big)]);
  }
}
await model.close();
const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
const table = Object.entries(rows).map(([variant, r]) => ({
  variant, score: mean(r.map((x) => x[0]!)), roughness: mean(r.map((x) => x[1]!)), psnr: mean(r.map((x) => x[2]!)),
}));
if (values.json) {
  process.stdout.write(`${JSON.stringify({ originalScore: mean(originals), variants: table })}\n`);
} else {
  process.stdout.write(`originals: score ${mean(originals).toFixed(4)} (${PROMPTS.length} prompts)\n`);
  for (const t of table) {
    process.stdout.write(`${t.variant.padEnd(17)} score ${t.score.toFixed(4)}  roughness ${t.roughness.toFixed(2)}  PSNR vs Lanczos ${Number.isFinite(t.psnr) ? `${t.psnr.toFixed(1)} dB` : '—'}\n`);
  }
}
