import assert from 'node:assert/strict';
import { test } from 'node:test';
import { makeHardBatch } from '../../src/engine/shapes/batches.js';
import { rng } from '../../src/engine/random.js';
import { chainSource } from '../../tools/train-shapes/chain-items.js';

const S = 16;
const P = 3 * S * S;
const batch = makeHardBatch(5, 32, { size: S });
const ctx = batch.ids.length / 32;

test('chain source: without a share the batch as it is; with one, each caption a two-shape one with that chance, its picture and ids its own', () => {
  const same = chainSource(batch, P, ctx, undefined, undefined);
  assert.equal(same.pixels, batch.pixels);
  assert.deepEqual(same.tags!.map((t) => t.caption), batch.captions);
  for (const [p, lo, hi] of [[1, 32, 32], [0, 0, 0], [0.5, 8, 24]] as const) {
    const got = chainSource(batch, P, ctx, p, rng(9));
    const twos = got.tags!.filter((t) => t.scene.shapes.length === 2).length;
    assert.ok(twos >= lo && twos <= hi, `p ${p}: ${twos} of 32 two-shape captions`);
    got.tags!.forEach((t, i) => {
      const j = batch.captions.indexOf(t.caption);
      assert.ok(j >= 0, 'a caption of the batch');
      assert.deepEqual(got.pixels.subarray(i * P, (i + 1) * P), batch.pixels.subarray(j * P, (j + 1) * P), `item ${i}: its own picture`);
      assert.deepEqual(got.ids.subarray(i * ctx, (i + 1) * ctx), batch.ids.subarray(j * ctx, (j + 1) * ctx), `item ${i}: its own ids`);
    });
  }
});
