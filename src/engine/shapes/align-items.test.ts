import assert from 'node:assert/strict';
import { test } from 'node:test';
import { alignItems } from './align-items.js';
import { parsePrompt } from './captions.js';
import { judgeImage } from './judge.js';
import { renderScene, renderSceneFloat } from './render.js';
import { shapesTokenizer } from './batches.js';
import { SHAPES_CONFIG } from './model-config.js';
import { COLOURS } from './world.js';

const S = 32;
const P = 3 * S * S;

test('alignItems: x in [0, 1], direction = render(target) − x, captions describe the targets and are tokenised', () => {
  const items = alignItems(5, 12, { size: S });
  assert.equal(items.pixels.length, 12 * P);
  assert.equal(items.direction.length, 12 * P);
  const ctx = SHAPES_CONFIG.text.contextLength;
  items.targets.forEach((scene, i) => {
    const truth = renderSceneFloat(scene, S);
    for (let k = 0; k < P; k++) {
      const x = items.pixels[i * P + k]!;
      assert.ok(x >= 0 && x <= 1);
      assert.ok(Math.abs(items.direction[i * P + k]! - (truth[k]! - x)) < 1e-6);
    }
    assert.ok(judgeImage(renderScene(scene), parsePrompt(items.captions[i]!)).ok, items.captions[i]);
    const ids = Array.from(items.ids.subarray(i * ctx, (i + 1) * ctx), Number);
    assert.deepEqual(ids, shapesTokenizer().encode(items.captions[i]!, ctx).ids);
  });
});

test('alignItems: a pure function of the seed; another seed gives other items', () => {
  const a = alignItems(9, 4, { size: S });
  assert.deepEqual(alignItems(9, 4, { size: S }), a);
  assert.notDeepEqual(alignItems(10, 4, { size: S }).captions, a.captions);
});

test('alignItems: x lies between its start and the target (α ≤ αmax): with αmax 0 and no noise the direction is target − start', () => {
  const items = alignItems(11, 30, { size: S, alphaMax: 0, sigmaMax: 0 });
  let grey = 0;
  let nearMiss = 0;
  for (let i = 0; i < 30; i++) {
    const x = items.pixels.subarray(i * P, (i + 1) * P);
    if (x.every((v) => v === 0.5)) grey++;
    // A near-miss start is a rendered scene: every pixel of its background is one flat colour, and
    // it differs from the target picture somewhere but not everywhere.
    const truth = renderSceneFloat(items.targets[i]!, S);
    const differs = x.filter((v, k) => Math.abs(v - truth[k]!) > 1e-6).length;
    if (differs > 0 && differs < P / 2 && !x.every((v) => v === 0.5)) nearMiss++;
  }
  assert.ok(grey >= 5 && grey <= 15, `grey starts ${grey} of 30`);
  assert.ok(nearMiss >= 5, `near-miss starts ${nearMiss} of 30`);
});

test('alignItems: excluded scenes are never targets', () => {
  const items = alignItems(13, 40, { size: S, exclude: (s) => s.background === 'red' });
  assert.ok(items.targets.every((s) => s.background !== 'red'));
});

test('alignItems shapeWeight: √λ on every pixel of the target\'s shapes, 1 on its background; the items themselves unchanged', () => {
  const S = 32;
  const P = 3 * S * S;
  const plain = alignItems(9, 12, { size: S, nearMiss: 0 });
  const weighted = alignItems(9, 12, { size: S, nearMiss: 0, shapeWeight: 10 });
  assert.equal(plain.weight, undefined);
  assert.deepEqual(weighted.pixels, plain.pixels);
  assert.deepEqual(weighted.direction, plain.direction);
  for (let i = 0; i < 12; i++) {
    // Independently: a shape pixel is one the picture paints other than in its background colour.
    const img = renderScene(weighted.targets[i]!, S);
    const bg = COLOURS[weighted.targets[i]!.background];
    let shapes = 0;
    for (let p = 0; p < S * S; p++) {
      const isShape = [0, 1, 2].some((c) => img.data[p * 3 + c] !== bg[c]);
      shapes += isShape ? 1 : 0;
      for (let c = 0; c < 3; c++) assert.equal(weighted.weight![i * P + c * S * S + p], Math.fround(isShape ? Math.sqrt(10) : 1), `item ${i} pixel ${p}`);
    }
    assert.ok(shapes > 0 && shapes < S * S / 2, `item ${i}: ${shapes} shape pixels`);
  }
});

test('alignItems bare: the start is the target picture with some of its shapes missing, so the direction is zero on the background and on every shape kept', () => {
  const items = alignItems(17, 24, { size: S, alphaMax: 0, sigmaMax: 0, nearMiss: 0, bare: 1 });
  let partial = 0;
  items.targets.forEach((scene, i) => {
    const x = items.pixels.subarray(i * P, (i + 1) * P);
    const d = items.direction.subarray(i * P, (i + 1) * P);
    const bg = COLOURS[scene.background];
    // The background is done: wherever the target shows its background, x does too.
    const truth = renderSceneFloat(scene, S);
    for (let p = 0; p < S * S; p++) {
      const onBackground = [0, 1, 2].every((c) => Math.abs(truth[c * S * S + p]! - bg[c]! / 255) < 1e-6);
      if (onBackground) for (let c = 0; c < 3; c++) assert.ok(Math.abs(d[c * S * S + p]!) < 1e-6);
    }
    // Some shape is missing, so the direction is not zero.
    assert.ok(d.some((v) => Math.abs(v) > 0.05), `item ${i} has nothing to draw`);
    // A kept shape of a two-shape target: x already differs from the flat background somewhere.
    if (x.some((v, k) => Math.abs(v - bg[Math.floor(k / (S * S))]! / 255) > 1e-3)) partial++;
  });
  assert.ok(partial > 0 && partial < 24, `${partial} of 24 starts keep a shape`);
});

test('alignItems bare 0 draws the same items as before the option existed (the default)', () => {
  assert.deepEqual(alignItems(21, 6, { size: S, bare: 0 }), alignItems(21, 6, { size: S }));
});
