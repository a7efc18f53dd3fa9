import assert from 'node:assert/strict';
import { test } from 'node:test';
import { alignPairs } from './align-pairs.js';
import { renderSceneFloat } from './render.js';
import { sceneKey } from './batches.js';

test('paired items: two captions one change apart share a picture, each with its own direction; a pure function of the seed', () => {
  const S = 32;
  const P = 3 * S * S;
  const A = 8;
  const a = alignPairs(3, A, { size: S, shapeWeight: 4 });
  for (let m = 0; m < A / 2; m++) {
    const [i, j] = [2 * m, 2 * m + 1];
    assert.deepEqual(a.pixels.subarray(i * P, j * P), a.pixels.subarray(j * P, (j + 1) * P), `pair ${m} shares x`);
    assert.notEqual(sceneKey(a.targets[i]!), sceneKey(a.targets[j]!), `pair ${m}: two different scenes`);
    for (const k of [i, j]) {
      const truth = renderSceneFloat(a.targets[k]!, S);
      for (let q = 0; q < P; q += 97) assert.ok(Math.abs(a.direction[k * P + q]! - (truth[q]! - a.pixels[k * P + q]!)) < 1e-6);
    }
    const w = a.weight!.subarray(i * P, (j + 1) * P);
    assert.ok(w.some((v) => v === 2) && w.some((v) => v === 1), 'shape pixels weighted √4, the rest 1');
  }
  assert.deepEqual(alignPairs(3, A, { size: S }).pixels, alignPairs(3, A, { size: S }).pixels);
  assert.throws(() => alignPairs(3, 3, { size: S }), /even number/);
});
