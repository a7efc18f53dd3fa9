import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ClipModel } from '../../src/engine/pack/model.js';
import { parsePrompt } from '../../src/engine/shapes/captions.js';
import { heldOutPrompts, heldOutScenes, judgeSyntheses, retrievalAccuracy, successRate, writeTruePictures } from '../../src/engine/shapes/evaluate.js';
import { judgeImage } from '../../src/engine/shapes/judge.js';
import { renderScene } from '../../src/engine/shapes/render.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'clipag-evaluate-'));
let model: ClipModel;
before(async () => { model = await ClipModel.open(join(ROOT, 'models/shapes'), { device: 'cpu' }); });
after(async () => {
  await model.close();
  rmSync(dir, { recursive: true, force: true });
});

test('heldOutScenes: the prompts heldOutPrompts gives, each describing its scene', () => {
  const { scenes, prompts } = heldOutScenes(6, { count: 1 }, 'evaluate-test');
  assert.deepEqual(prompts, heldOutPrompts(6, { count: 1 }, 'evaluate-test'));
  assert.equal(scenes.length, 6);
  scenes.forEach((s, i) => assert.ok(judgeImage(renderScene(s), parsePrompt(prompts[i]!)).ok, `scene ${i} is what "${prompts[i]}" says`));
});

test('retrievalAccuracy: fewer than 2 pictures is refused by name', async () => {
  for (const n of [0, 1, 2.5]) await assert.rejects(retrievalAccuracy(model, n), new RegExp(`caption retrieval needs at least 2 pictures, got ${n}`));
});

test('judgeSyntheses: a start image per prompt replaces the random start', async () => {
  const { scenes, prompts } = heldOutScenes(4, { count: 1 }, 'evaluate-test');
  const inits = await writeTruePictures(scenes, dir);
  // One step moves each pixel by at most the learning rate: the true pictures stay judged correct, noise does not become one.
  const fromTruth = await judgeSyntheses(model, prompts, { steps: 1, inits });
  const fromNoise = await judgeSyntheses(model, prompts, { steps: 1 });
  assert.equal(successRate(fromTruth), 1);
  assert.equal(successRate(fromNoise), 0);
  await assert.rejects(judgeSyntheses(model, prompts, { steps: 1, inits: inits.slice(1) }), /3 start images for 4 prompts/);
});
