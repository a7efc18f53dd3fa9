import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { RgbImage } from '../clip/image.js';
import type { ClipModel } from '../pack/model.js';
import { gridCell } from './grid.js';
import { imagine, ImagineInputError, type ImagineProgress } from './imagine.js';
import { openTinyModel, type TinyModel } from './testing-model.js';

let tiny: TinyModel;
let model: ClipModel;
before(async () => {
  tiny = await openTinyModel('imagine-grid-test-');
  ({ model } = tiny);
});
after(() => tiny.close());

const req = { prompt: 'a red circle', steps: 6, views: 4, seed: 11 };

/** Largest difference of two 8-bit images, byte by byte. */
const maxDiff = (a: RgbImage, b: RgbImage): number => a.data.reduce((m, v, i) => Math.max(m, Math.abs(v - b.data[i]!)), 0);

test('a grid of 3: one batched step graph, each picture the one a lone run of seed + i makes, shown as one grid image', async () => {
  const grid = await imagine(model, { ...req, negative: 'blue sky', count: 3 });
  assert.ok(model.fromCache.has('step-c16-g2-p2-t2-n3'), `ran the 3-picture graph: ${[...model.fromCache.keys()].join(', ')}`);
  assert.equal(grid.pictures.length, 3);
  assert.deepEqual(grid.pixels.dims, [3, 3, 16, 16]);
  assert.deepEqual(grid.pictures.map((p) => p.seed), [11, 12, 13]);
  for (const [i, p] of grid.pictures.entries()) {
    const alone = await imagine(model, { ...req, negative: 'blue sky', seed: 11 + i });
    // The batched graph sums in another order than the lone one: a last-bit difference may round one 8-bit level apart.
    assert.ok(maxDiff(p.image, alone.image) <= 1, `picture ${i + 1} differs from its lone run by ${maxDiff(p.image, alone.image)}`);
    assert.ok(Math.abs(p.score - alone.score) < 1e-3, `picture ${i + 1} score ${p.score} vs ${alone.score}`);
    assert.deepEqual(gridCell(grid.image, 3, i + 1), p.image, `grid cell ${i + 1} is picture ${i + 1}`);
    assert.deepEqual([...p.pixels.data], [...grid.pixels.data.subarray(i * 3 * 256, (i + 1) * 3 * 256)]);
  }
  assert.notDeepEqual(grid.pictures[0]!.image.data, grid.pictures[1]!.image.data, 'different seeds, different pictures');
  assert.ok(Math.abs(grid.score - grid.pictures.reduce((a, p) => a + p.score, 0) / 3) < 1e-9, 'score: the mean');
  assert.equal(grid.bestStep, Math.max(...grid.pictures.map((p) => p.bestStep)));
});

test('a count of 1 is a lone picture; a grid is reproducible from its seed', async () => {
  const one = await imagine(model, { ...req, count: 1 });
  const plain = await imagine(model, req);
  assert.deepEqual(one.image, plain.image);
  assert.equal(one.pictures.length, 1);
  assert.deepEqual(one.pictures[0]!.image, one.image);
  const a = await imagine(model, { ...req, count: 2 });
  const b = await imagine(model, { ...req, count: 2 });
  assert.deepEqual(a.image, b.image);
  assert.equal(a.image.width, 16 * 2 + 4);
});

test('grid progress: one grid image with each picture beside it, on progress steps only', async () => {
  const seen: ImagineProgress[] = [];
  const r = await imagine(model, { ...req, steps: 4, count: 4 }, { progressEvery: 2, onProgress: (p) => void seen.push(p) });
  assert.deepEqual(seen.map((p) => p.step), [1, 2, 3, 4]);
  const shown = seen.filter((p) => p.image);
  assert.deepEqual(shown.map((p) => p.step), [2, 4]);
  for (const p of shown) {
    assert.deepEqual([p.image!.width, p.image!.height], [36, 36]);
    assert.equal(p.pictures!.length, 4);
    p.pictures!.forEach((q, i) => assert.deepEqual(gridCell(p.image!, 4, i + 1), q));
  }
  assert.ok(seen.every((p) => p.pictures === undefined || p.image !== undefined));
  assert.ok(seen.every((p) => Number.isFinite(p.loss) && Number.isFinite(p.globalLoss)));
  assert.equal(r.pictures.length, 4);
});

test('a grid from an init image: every picture starts from it and moves its own way; a larger canvas and view groups work too', async () => {
  const data = new Uint8Array(16 * 16 * 3);
  for (let i = 0; i < 16 * 16; i++) data.set([200, 30, 30], i * 3);
  const init = { width: 16, height: 16, data };
  const r = await imagine(model, { ...req, steps: 2, count: 2, init });
  for (const p of r.pictures) assert.ok(maxDiff(p.image, init) < 60, 'still near the init image');
  assert.notDeepEqual(r.pictures[0]!.image.data, r.pictures[1]!.image.data);
  const big = await imagine(model, { ...req, steps: 2, count: 2, size: 24, views: 8, recipe: { maxViewsPerRun: 2 } });
  assert.ok(model.fromCache.has('step-c24-g1-p1-t1-n2'), 'each group runs both pictures');
  assert.deepEqual(big.pixels.dims, [2, 3, 24, 24]);
});

test('a count outside 1–4 is refused, naming it', async () => {
  for (const count of [0, 5, 1.5]) {
    await assert.rejects(imagine(model, { ...req, count }), (e: Error) => e instanceof ImagineInputError && /count must be a whole number from 1 to 4, got/.test(e.message));
  }
});
