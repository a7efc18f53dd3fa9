import assert from 'node:assert/strict';
import { test } from 'node:test';
import { rng } from '../random.js';
import { gridViewTensors, normalNoise, sampleStepViews, stepViewTensors, type ViewOptions } from './views.js';

const plans: ViewOptions[] = [
  { canvas: 40, modelSize: 24, counts: { global: 3, patch: 2 }, cutoutRatio: 0.3 },
  { canvas: 24, modelSize: 24, counts: { global: 0, patch: 2 } },
  { canvas: 24, modelSize: 24, counts: { global: 2, patch: 0 } },
];

for (const opts of plans) {
  test(`a grid's view tensors are each picture's own stacked, each picture drawing from its own stream (canvas ${opts.canvas}, ${opts.counts.global}+${opts.counts.patch})`, () => {
    const seeds = [5, 6, 7];
    // The grid: every picture draws its views, then the grid lays out all of them.
    const streams = seeds.map((s) => rng(s));
    const grid = gridViewTensors(streams.map((rand) => ({ views: sampleStepViews(rand, opts), noise: normalNoise(rand) })), opts);
    // Alone: the same seeds, one picture at a time.
    const alone = seeds.map((s) => {
      const rand = rng(s);
      return stepViewTensors(sampleStepViews(rand, opts), opts, normalNoise(rand));
    });
    assert.deepEqual(Object.keys(grid).sort(), Object.keys(alone[0]!).sort());
    for (const name of Object.keys(grid)) {
      const one = alone[0]![name]!;
      assert.deepEqual(grid[name]!.dims, [3 * one.dims[0]!, ...one.dims.slice(1)], name);
      const each = one.data.length;
      alone.forEach((t, n) => assert.deepEqual(grid[name]!.data.subarray(n * each, (n + 1) * each), t[name]!.data, `${name} of picture ${n}`));
    }
  });
}

test("a grid step reuses the last step's buffers", () => {
  const opts = plans[0]!;
  const draw = (seed: number) => [seed, seed + 1].map((s) => {
    const rand = rng(s);
    return { views: sampleStepViews(rand, opts), noise: normalNoise(rand) };
  });
  const first = gridViewTensors(draw(1), opts);
  const fresh = gridViewTensors(draw(2), opts);
  const reused = gridViewTensors(draw(2), opts, first);
  for (const k of Object.keys(fresh)) {
    assert.deepEqual(reused[k]!.data, fresh[k]!.data, k);
    assert.equal(reused[k]!.data, first[k]!.data, `${k} was not reused`);
  }
});

test('a grid of pictures whose draws do not fit the options is refused', () => {
  const opts = plans[0]!;
  const ok = { views: sampleStepViews(rng(1), opts), noise: () => 0 };
  const other = { views: sampleStepViews(rng(1), { ...opts, counts: { global: 1, patch: 2 } }), noise: () => 0 };
  assert.throws(() => gridViewTensors([ok, other], opts), /3 augmentations and 2 crops do not match 3 global \+ 2 patch/);
  assert.throws(() => gridViewTensors([], opts), /no pictures/);
});
