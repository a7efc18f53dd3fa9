import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { writeRgbPng, type RgbImage } from '../clip/image.js';
import type { ClipModel } from '../pack/model.js';
import { imagine, ImagineInputError, type ImagineProgress } from './imagine.js';
import { PAPER_RECIPE } from './recipe.js';
import { enlarge, refineRecipe, upscale, upscaledSide } from './upscale.js';
import { openTinyModel, type TinyModel } from './testing-model.js';

let tiny: TinyModel;
let dir: string;
let model: ClipModel;
let picture: RgbImage;
before(async () => {
  tiny = await openTinyModel('upscale-test-');
  ({ model, dir } = tiny);
  picture = (await imagine(model, { prompt: 'a red circle', steps: 4, views: 4, seed: 3 })).image;
});
after(() => tiny.close());

/** Mean absolute difference of two same-size 8-bit images. */
const meanDiff = (a: RgbImage, b: RgbImage): number => a.data.reduce((s, v, i) => s + Math.abs(v - b.data[i]!), 0) / a.data.length;

test('the upscaled side is ×2, within the canvases the model takes', () => {
  assert.equal(upscaledSide(64, 64), 128);
  assert.equal(upscaledSide(112, 224), 224);
  assert.throws(() => upscaledSide(256, 64), (e: Error) => e instanceof ImagineInputError && e.message === "the picture is 256 px: ×2 would be 512 px, more than this model's largest canvas (256 px)");
  assert.throws(() => upscaledSide(32, 224), /×2 would be 64 px, less than this model's input \(224 px\)/);
  assert.throws(() => upscaledSide(0, 64), /whole number of pixels/);
});

test('the refinement recipe: a third of the steps, patches covering the pixels the original patches covered, half the rate', () => {
  assert.deepEqual(refineRecipe({ ...PAPER_RECIPE }), { steps: 33, patchFraction: 64 / 224, lr: 0.00875 });
  assert.equal(refineRecipe({ ...PAPER_RECIPE, steps: 2 }).steps, 1);
});

test('enlarge: the centre square at the asked size, a flat colour staying flat, a checkerboard keeping its contrast', async () => {
  const flat = { width: 6, height: 4, data: new Uint8Array(6 * 4 * 3).fill(77) };
  const big = await enlarge(flat, 8);
  assert.deepEqual([big.width, big.height, big.data.length], [8, 8, 8 * 8 * 3]);
  assert.ok(big.data.every((v) => v === 77));
  // A one-pixel checkerboard enlarged ×2: Lanczos keeps its full contrast in 2×2 blocks.
  const checker = { width: 4, height: 4, data: Uint8Array.from({ length: 48 }, (_, i) => ((Math.floor(i / 3) % 4) + Math.floor(i / 12)) % 2 ? 255 : 0) };
  const e = await enlarge(checker, 8);
  const spread = Math.max(...e.data) - Math.min(...e.data);
  assert.ok(spread > 200, `contrast kept: ${spread}`);
});

test('upscale: ×2, refined from the enlargement (near it, not equal), with its own progress, reproducible', async () => {
  const seen: ImagineProgress[] = [];
  const r = await upscale(model, { prompt: 'a red circle', image: picture, seed: 5, views: 4 }, { progressEvery: 1, onProgress: (p) => void seen.push(p) });
  assert.deepEqual([r.image.width, r.image.height], [32, 32]);
  // The model's recipe is the paper's 100 steps; a refinement runs a third.
  assert.equal(r.steps, 33);
  assert.equal(seen.length, 33);
  assert.ok(seen.every((p) => p.image?.width === 32));
  assert.ok(model.fromCache.has('step-c32-g2-p2-t1'), 'refined at the 32-px canvas');
  const enlarged = await enlarge(picture, 32);
  const d = meanDiff(r.image, enlarged);
  assert.ok(d > 0 && d < 40, `refinement moved the enlargement by ${d} on average`);
  const again = await upscale(model, { prompt: 'a red circle', image: picture, seed: 5, views: 4 });
  assert.deepEqual(again.image, r.image);
});

test("upscale takes a file and the request's steps and recipe keys; a picture too large is refused before anything runs", async () => {
  const file = join(dir, 'picture.png');
  await writeRgbPng(picture, file);
  const r = await upscale(model, { prompt: 'a red circle', image: file, steps: 2, seed: 5, views: 4, recipe: { lr: 0 } });
  assert.equal(r.steps, 2);
  // lr 0: AdamW moves nothing (its weight decay is scaled by lr too), so the result is the enlargement.
  assert.ok(meanDiff(r.image, await enlarge(picture, 32)) < 1, 'no refinement at lr 0');
  const huge = { width: 48, height: 48, data: new Uint8Array(48 * 48 * 3) };
  await assert.rejects(upscale(model, { prompt: 'a red circle', image: huge }), /the picture is 48 px: ×2 would be 96 px, more than this model's largest canvas \(64 px\)/);
  await assert.rejects(upscale(model, { prompt: 'a red circle', image: join(dir, 'missing.png') }), /missing\.png: no such file/);
});
