/**
 * The near-miss contrast in a run: a pack's `contrast` groups and its recipe's weight add one target
 * that pushes as a negative prompt of the near misses' mean direction does.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { writeRandomPack } from '../bench/random-pack.js';
import { MANIFEST_FILE } from '../pack/manifest.js';
import { ClipModel } from '../pack/model.js';
import { imagine, ImagineInputError } from './imagine.js';
import { openTinyModel, TINY_PAG_CONFIG, type TinyModel } from './testing-model.js';

let tiny: TinyModel;
let plain: ClipModel;
let grouped: ClipModel;
before(async () => {
  tiny = await openTinyModel('imagine-contrast-test-');
  plain = tiny.model;
  // The same random weights (random-pack is a pure function of the config), with a contrast group.
  const dir = join(tiny.dir, 'grouped');
  await writeRandomPack(dir, TINY_PAG_CONFIG);
  const m = JSON.parse(readFileSync(join(dir, MANIFEST_FILE), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(dir, MANIFEST_FILE), JSON.stringify({ ...m, contrast: [['circle', 'lighthouse']] }));
  grouped = await ClipModel.open(dir, { device: 'cpu', intraOpThreads: 1 });
});
after(async () => {
  await grouped.close();
  await tiny.close();
});

const req = { prompt: 'a red circle', steps: 5, views: 4, seed: 21 };
const on = { contrastWeight: 0.3 };

test('one near miss: the contrast runs exactly as that near miss given as a negative prompt at the same weight', async () => {
  const contrasted = await imagine(grouped, { ...req, recipe: on });
  const negative = await imagine(plain, { ...req, negative: 'a red lighthouse', recipe: { negativeWeight: 0.3 } });
  const without = await imagine(plain, req);
  const a = contrasted.pixels.data as Float32Array;
  const b = negative.pixels.data as Float32Array;
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  assert.ok(worst < 1e-5, `largest pixel difference ${worst}`);
  assert.notDeepEqual(contrasted.image.data, without.image.data, 'the push changes the picture');
});

test('no contrast without a group word in the prompt, without groups in the pack, or at weight 0', async () => {
  const sky = { ...req, prompt: 'a blue sky' };
  assert.deepEqual((await imagine(grouped, { ...sky, recipe: on })).image.data, (await imagine(plain, sky)).image.data);
  assert.deepEqual((await imagine(plain, { ...req, recipe: on })).image.data, (await imagine(plain, req)).image.data);
  assert.deepEqual((await imagine(grouped, { ...req, recipe: { contrastWeight: 0 } })).image.data, (await imagine(plain, req)).image.data);
});

test('a negative prompt and the contrast together: three targets, each one\'s push in the picture', async () => {
  const both = await imagine(grouped, { ...req, negative: 'blue sky', recipe: on });
  const negOnly = await imagine(plain, { ...req, negative: 'blue sky' });
  const conOnly = await imagine(grouped, { ...req, recipe: on });
  assert.notDeepEqual(both.image.data, negOnly.image.data);
  assert.notDeepEqual(both.image.data, conOnly.image.data);
  assert.ok(both.score >= -1 && both.score <= 1, 'the score is still the prompt\'s cosine');
});

test('a contrast weight outside [0, 1) is refused by name', async () => {
  for (const w of [1, -0.1, 2]) {
    await assert.rejects(imagine(grouped, { ...req, recipe: { contrastWeight: w } }), (e: Error) => e instanceof ImagineInputError && /contrastWeight must be in \[0, 1\), got/.test(e.message));
  }
});
