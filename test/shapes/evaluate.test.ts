import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ClipModel } from '../../src/engine/pack/model.js';
import { parsePrompt } from '../../src/engine/shapes/captions.js';
import { heldOutPrompts, heldOutScenes, judgeSyntheses, kindBreakdown, retrievalAccuracy, retrievalScenes, successRate, writeTruePictures } from '../../src/engine/shapes/evaluate.js';
import { HELD_OUT_PROMPTS, isHeldOut } from '../../src/engine/shapes/held-out.js';
import { robustAccuracy } from '../../src/engine/shapes/robust-accuracy.js';
import { alignItems } from '../../src/engine/shapes/align-items.js';
import { makeHardBatch, sceneKey } from '../../src/engine/shapes/batches.js';
import { sampleScene, type Scene } from '../../src/engine/shapes/world.js';
import { readManifest } from '../../src/engine/pack/manifest.js';
import { hashName, rng } from '../../src/engine/random.js';
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

test('kindBreakdown: per named kind, how many were right and what the judge read the rest as', () => {
  const judged = (prompt: string, drawn: Scene) => {
    const image = renderScene(drawn);
    return { prompt, image, score: 0, verdict: judgeImage(image, parsePrompt(prompt)) };
  };
  const square = (kind: 'square' | 'circle'): Scene => ({ background: 'blue', shapes: [{ kind, colour: 'red', size: 'big', position: 'center' }] });
  const got = kindBreakdown([
    judged('a big red square in the center on a blue background', square('square')),
    judged('a big red square in the center on a blue background', square('circle')),
    judged('a big red square in the center on a blue background', { background: 'blue', shapes: [{ kind: 'square', colour: 'red', size: 'big', position: 'top left' }] }),
    judged('a big red circle in the center on a blue background', square('circle')),
  ]);
  assert.deepEqual(got, {
    square: { named: 3, right: 1, readAs: { circle: 1, 'no blob': 1 } },
    circle: { named: 1, right: 1, readAs: {} },
  });
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

test('robustAccuracy: no radius leaves the clean accuracy; a large one takes captions away; bad sizes are refused', async () => {
  const dirOf = join(ROOT, 'models/shapes-vanilla');
  const config = (await readManifest(dirOf)).config;
  const none = await robustAccuracy(dirOf, config, { pictures: 24, eps: 0, steps: 2 });
  assert.equal(none.attacked, none.clean);
  assert.ok(none.clean >= 0.8, `clean ${none.clean}`);
  const big = await robustAccuracy(dirOf, config, { pictures: 24, eps: 6, steps: 5 });
  assert.equal(big.clean, none.clean);
  assert.ok(big.attacked < big.clean - 0.2, `attacked ${big.attacked} of ${big.clean}`);
  await assert.rejects(robustAccuracy(dirOf, config, { pictures: 1 }), /at least 2 pictures, got 1/);
  await assert.rejects(robustAccuracy(dirOf, config, { eps: -1 }), /radius must be ≥ 0, got -1/);
});

test('held-out scenes: eval\'s prompts and retrieval pictures are all in the set training leaves out', () => {
  for (const s of [...heldOutScenes(HELD_OUT_PROMPTS, { count: 1 }).scenes, ...heldOutScenes(30, { count: 2 }).scenes, ...retrievalScenes(500)]) {
    assert.ok(isHeldOut(s), sceneKey(s));
  }
  // And training batches and alignment targets never draw one.
  const batch = makeHardBatch(hashName('contrastive:1:1'), 128, { exclude: isHeldOut });
  assert.ok(batch.scenes.every((s) => !isHeldOut(s)));
  assert.ok(alignItems(7, 64, { size: 32, exclude: isHeldOut }).targets.every((s) => !isHeldOut(s)));
  // The filter is not vacuous: unfiltered draws of one-shape scenes do hit held-out ones.
  const r = rng(3);
  const hits = Array.from({ length: 3000 }, () => sampleScene(r, { count: 1 })).filter(isHeldOut).length;
  assert.ok(hits > 0, 'some random one-shape scenes are held out');
});
