import assert from 'node:assert/strict';
import { test } from 'node:test';
import { modelPatch } from '../commands/limits-models.js';
import { EnginePool } from '../jobs/engine-pool.js';
import { DEFAULT_LIMITS, type GuildLimits } from '../store/limits.js';
import { allowedModels, chooseModel, describePack, modelChoices, serverDefault } from './models.js';

const engines = new EnginePool({
  memoryMb: 100,
  packs: [
    { name: 'shapes', description: 'Demo shapes', vocabulary: ['red', 'circle'] },
    { name: 'ViT-B-32-CLIPAG', description: 'Robust CLIP ViT-B/32', vocabulary: null },
    { name: 'shapes-vanilla', description: 'Demo before finetuning', vocabulary: ['red', 'circle'] },
  ].map((p) => ({
    pack: { ...p, dir: '', memoryMb: 1 },
    checker: { info: () => ({ model: p.name, imageSize: 64, defaultSteps: 10, upscaleSteps: 3 }), check: async () => {}, close: async () => {} },
    open: () => Promise.reject(new Error('not opened in this test')),
  })),
});
const limits = (l: Partial<GuildLimits> = {}): GuildLimits => ({ ...DEFAULT_LIMITS, ...l });

test('a request without a model gets the server default, else the bot default, else the first allowed', () => {
  assert.deepEqual(chooseModel(engines, limits(), undefined), { ok: true, model: 'shapes' });
  assert.deepEqual(chooseModel(engines, limits({ defaultModel: 'vit-b-32-clipag' }), '  '), { ok: true, model: 'ViT-B-32-CLIPAG' });
  // A default whose pack was removed from the bot falls back instead of failing every request.
  assert.equal(serverDefault(engines, limits({ defaultModel: 'gone' })), 'shapes');
  assert.equal(serverDefault(engines, limits({ allowedModels: ['shapes-vanilla'] })), 'shapes-vanilla');
  const none = chooseModel(engines, limits({ allowedModels: ['gone'] }), undefined);
  assert.equal(none.ok, false);
});

test('a named model must exist and be allowed; the refusal lists what is', () => {
  assert.deepEqual(chooseModel(engines, limits(), 'SHAPES-vanilla'), { ok: true, model: 'shapes-vanilla' });
  const unknown = chooseModel(engines, limits({ allowedModels: ['shapes', 'shapes-vanilla'] }), 'dall-e');
  assert.deepEqual(unknown, { ok: false, message: 'There is no model called "dall-e". Models here: `shapes`, `shapes-vanilla`.' });
  const disallowed = chooseModel(engines, limits({ allowedModels: ['shapes'] }), 'ViT-B-32-CLIPAG');
  assert.deepEqual(disallowed, { ok: false, message: 'This server does not allow `ViT-B-32-CLIPAG`. Allowed: `shapes`.' });
  assert.deepEqual(allowedModels(engines, limits({ allowedModels: ['SHAPES'] })).map((p) => p.name), ['shapes']);
});

test('autocomplete: allowed models only, names starting with the text first, each line at most 100 characters', () => {
  assert.deepEqual(modelChoices(engines, limits(), '').map((c) => c.value), ['shapes', 'ViT-B-32-CLIPAG', 'shapes-vanilla']);
  assert.deepEqual(modelChoices(engines, limits(), 'sha').map((c) => c.value), ['shapes', 'shapes-vanilla']);
  assert.deepEqual(modelChoices(engines, limits(), 'robust').map((c) => c.value), ['ViT-B-32-CLIPAG'], 'descriptions match too');
  assert.deepEqual(modelChoices(engines, limits({ allowedModels: ['shapes'] }), '').map((c) => c.value), ['shapes']);
  assert.equal(modelChoices(engines, limits(), 'shapes')[0]!.name, 'shapes — Demo shapes · knows: red circle');
  const long = describePack({ name: 'x', dir: '', description: 'd'.repeat(300), vocabulary: null, memoryMb: 1 });
  assert.equal(long.length, 100);
  assert.ok(long.endsWith('…'));
});

test('/limits default_model and allowed_models: checked against the bot\'s models, stored as packs spell them', () => {
  const cur = limits();
  assert.deepEqual(modelPatch(engines, 'vit-b-32-clipag', null, cur), { defaultModel: 'ViT-B-32-CLIPAG' });
  assert.deepEqual(modelPatch(engines, 'bot', null, cur), { defaultModel: '' });
  assert.deepEqual(modelPatch(engines, null, 'shapes, SHAPES, shapes-vanilla', cur), { allowedModels: ['shapes', 'shapes-vanilla'] });
  assert.deepEqual(modelPatch(engines, null, 'all', cur), { allowedModels: [] });
  assert.deepEqual(modelPatch(engines, null, null, cur), {});
  assert.match(String(modelPatch(engines, 'dall-e', null, cur)), /^default_model: there is no model called "dall-e"; models on this bot: `shapes`, `ViT-B-32-CLIPAG`, `shapes-vanilla`\.$/);
  assert.match(String(modelPatch(engines, null, 'shapes, nope', cur)), /^allowed_models: there is no model called "nope"/);
  assert.match(String(modelPatch(engines, null, ', ,', cur)), /name models separated by commas/);
  assert.match(String(modelPatch(engines, 'shapes', 'shapes-vanilla', cur)), /default_model `shapes` is not among allowed_models/);
  assert.match(String(modelPatch(engines, null, 'shapes-vanilla', limits({ defaultModel: 'shapes' }))), /not among allowed_models/, 'against the current default too');
});
