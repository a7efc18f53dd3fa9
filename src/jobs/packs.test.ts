import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { writeRandomPack } from '../engine/bench/random-pack.js';
import { readManifest, writeManifest } from '../engine/pack/manifest.js';
import { TINY_CONFIG } from '../engine/train/testing-config.js';
import { discoverPacks, packKey } from './packs.js';

let root: string;

/** A tiny random pack named `name`, with the manifest changed by `edit`. */
async function pack(dir: string, name: string, edit: (m: Record<string, unknown>) => void = () => {}): Promise<string> {
  await writeRandomPack(dir, TINY_CONFIG);
  const m = await readManifest(dir);
  const next = { ...m, name } as Record<string, unknown>;
  edit(next);
  await writeManifest(dir, next as typeof m);
  return dir;
}

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'clipag-packs-'));
});
after(() => rm(root, { recursive: true, force: true }));

test('the default pack comes first, then MODELS_DIR packs in folder order; non-packs are skipped quietly', async () => {
  const def = await pack(join(root, 'a', 'default'), 'demo', (m) => { m.description = 'The demo'; });
  const models = join(root, 'a', 'models');
  await pack(join(models, 'zeta'), 'Zeta');
  await pack(join(models, 'alpha'), 'alpha-model');
  await mkdir(join(models, 'notes'));
  await writeFile(join(models, 'README.txt'), 'not a pack');
  const { packs, problems } = await discoverPacks(def, models);
  assert.deepEqual(packs.map((p) => p.name), ['demo', 'alpha-model', 'Zeta']);
  assert.deepEqual(problems, []);
  assert.equal(packs[0]!.description, 'The demo');
  assert.match(packs[1]!.description, /ViT, 16 px/, 'a pack without a description gets one from its config');
  // The random pack's word tokenizer: its words are the vocabulary, the special ids are not.
  assert.ok(packs[0]!.vocabulary && packs[0]!.vocabulary.length > 3);
  assert.ok(!packs[0]!.vocabulary.some((w) => w.startsWith('<')));
  const weights = (await readManifest(def)).weights.bytes;
  assert.equal(packs[0]!.memoryMb, Math.ceil((3 * weights) / 2 ** 20));
});

test('a broken manifest and a second pack of the same name are left out with a line each; the default itself in MODELS_DIR is not listed twice', async () => {
  const models = join(root, 'b', 'models');
  const def = await pack(join(models, 'a-default'), 'demo');
  await pack(join(models, 'b-copy'), 'DEMO');
  await pack(join(models, 'c-broken'), 'broken');
  await writeFile(join(models, 'c-broken', 'clipag.json'), '{ "format": "clipag-model-pack", ');
  await symlink(join(models, 'a-default'), join(models, 'd-link'));
  const { packs, problems } = await discoverPacks(def, models);
  assert.deepEqual(packs.map((p) => p.name), ['demo']);
  assert.equal(problems.length, 2, problems.join('\n'));
  assert.match(problems[0]!, /b-copy: left out: its name "DEMO" is already .*a-default's/);
  assert.match(problems[1]!, /c-broken: left out: .*not valid JSON/);
});

test('a MODELS_DIR that cannot be read stops the start with its path; a missing default pack says how to make one', async () => {
  const def = await pack(join(root, 'c', 'default'), 'demo');
  await assert.rejects(discoverPacks(def, join(root, 'c', 'nowhere')), /MODELS_DIR .*nowhere cannot be read: ENOENT/);
  await assert.rejects(discoverPacks(join(root, 'c', 'none')), /is not a model pack \(no clipag.json\)/);
});

test('model names compare without case or surrounding spaces', () => {
  assert.equal(packKey('  Shapes '), packKey('shapes'));
  assert.notEqual(packKey('shapes'), packKey('shapes-vanilla'));
});
