/**
 * The paper's central claim on the bundled models, as far as the demo model shows it today:
 * pixels optimised against the adversarially finetuned CLIP come out with the scene's background
 * and the named colours, while the same recipe and seeds against its vanilla twin give pictures
 * the vanilla CLIP scores just as highly (clean cosine ≈ 0.9 for both) whose colours are wrong:
 * adversarial examples, not the scene. Neither model yet draws the named *shape* reliably (see
 * models/shapes/MODEL_CARD.md); `npm run eval` measures all of it on more prompts.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { readManifest } from '../../src/engine/pack/manifest.js';
import { ClipModel } from '../../src/engine/pack/model.js';
import { SHAPES_RECIPE } from '../../src/engine/shapes/model-config.js';
import { heldOutPrompts, judgeSyntheses, partRates, retrievalAccuracy } from '../../src/engine/shapes/evaluate.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PROMPTS = 8;
let robust: ClipModel;
let vanilla: ClipModel;

before(async () => {
  robust = await ClipModel.open(join(ROOT, 'models/shapes'), { device: 'cpu' });
  vanilla = await ClipModel.open(join(ROOT, 'models/shapes-vanilla'), { device: 'cpu' });
});
after(async () => {
  await robust.close();
  await vanilla.close();
});

test('both models retrieve the captions of held-out pictures', async () => {
  const r = await retrievalAccuracy(robust, 200);
  const v = await retrievalAccuracy(vanilla, 200);
  assert.ok(r >= 0.9, `robust retrieval ${r}`);
  assert.ok(v >= 0.9, `vanilla retrieval ${v}`);
});

test('both shipped packs carry the recipe train-shapes writes (the comparison runs one recipe)', async () => {
  for (const pack of ['models/shapes', 'models/shapes-vanilla']) {
    assert.deepEqual((await readManifest(join(ROOT, pack))).recipe, SHAPES_RECIPE, pack);
  }
});

test('robust gradients paint the prompt\'s background; vanilla gradients fool the model with the wrong one', async () => {
  const prompts = heldOutPrompts(PROMPTS, { count: 1 }, 'ci-prompts');
  const r = partRates(await judgeSyntheses(robust, prompts));
  const v = partRates(await judgeSyntheses(vanilla, prompts));
  // Measured: robust 1.0, vanilla 0.25 on these 8 prompts (93 % against 33 % on npm run eval's 30).
  const said = `background right: robust ${r.background}, vanilla ${v.background}`;
  assert.ok(r.background >= 0.75, said);
  assert.ok(r.background >= v.background + 0.3, said);
});
