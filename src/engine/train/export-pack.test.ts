import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { ClipConfig } from '../clip/config.js';
import { TINY_CONFIG, TINY_SIZE } from './testing-config.js';
import { EMBEDDING, IMAGE_INPUT, TEXT_INPUT, textModel, visionModel } from '../clip/graphs.js';
import { expectedTensors } from '../clip/layout.js';
import { openSafetensors } from '../clip/safetensors.js';
import { WordTokenizer, type TokenizerSpec } from '../clip/tokenizer.js';
import type { TensorSource } from '../clip/towers.js';
import { ClipModel } from '../pack/model.js';
import { readManifest } from '../pack/manifest.js';
import { Tensor } from '../onnx/tensor.js';
import { gaussian, rng } from '../random.js';
import { Session } from '../runtime.js';
import { writeTrainedPack } from './export-pack.js';
import { initParams, type Params } from './params.js';

const S = TINY_SIZE;
const CFG: ClipConfig = TINY_CONFIG;
// As SHAPES_TOKENIZER: padding 0, the words, then start and end (the largest id, where the tower pools).
const WORDS = ['<pad>', 'a', 'big', 'blue', 'circle', 'green', 'on', 'red', 'square', 'star', '<start>', '<end>'];
const TOKENIZER: TokenizerSpec = { kind: 'word', words: WORDS, sot: 10, eot: 11, pad: 0, vocabSize: 12 };
const TEXTS = ['a big red circle', 'blue star on green', 'square'];
const RUNTIME = { device: 'cpu' as const, intraOpThreads: 1 };

/** Trained-looking parameters: open_clip's init, spread out so that embeddings differ clearly. */
function trained(seed: number, logitScale: number): Params {
  const p = initParams(CFG, seed);
  const r = rng(seed + 100);
  for (const [name, data] of p) if (name !== 'logit_scale') for (let i = 0; i < data.length; i++) data[i] = data[i]! * 4 + 0.05 * gaussian(r);
  p.set('logit_scale', Float32Array.of(logitScale));
  return p;
}

let root: string;
before(async () => { root = await mkdtemp(join(tmpdir(), 'clipag-export-')); });
after(async () => { await rm(root, { recursive: true, force: true }); });

const sourceOf = (params: Params): TensorSource => (name, shape) => new Tensor('float32', shape, params.get(name)!);

function normalisedPixels(seed: number, n: number): Tensor {
  const r = rng(seed);
  const data = new Float32Array(n * 3 * S * S);
  for (let i = 0; i < data.length; i++) {
    const c = Math.floor(i / (S * S)) % 3;
    data[i] = (r() - CFG.mean[c]!) / CFG.std[c]!;
  }
  return new Tensor('float32', [n, 3, S, S], data);
}

/** The towers run on the parameters directly, as the training graph sees them. */
async function towers(params: Params, pixels: Tensor): Promise<{ img: number[]; txt: number[] }> {
  const tok = new WordTokenizer({ words: WORDS, sot: 10, eot: 11, pad: 0, vocabSize: 12 });
  const ids = Tensor.int64([TEXTS.length, CFG.text.contextLength], TEXTS.flatMap((t) => tok.encode(t, CFG.text.contextLength).ids));
  const vs = await Session.create(visionModel(CFG, sourceOf(params)), RUNTIME);
  const ts = await Session.create(textModel(CFG, sourceOf(params)), RUNTIME);
  try {
    return {
      img: (await vs.run({ [IMAGE_INPUT]: pixels }))[EMBEDDING]!.toNumbers(),
      txt: (await ts.run({ [TEXT_INPUT]: ids }))[EMBEDDING]!.toNumbers(),
    };
  } finally {
    await vs.release();
    await ts.release();
  }
}

async function packEmbeddings(dir: string, pixels: Tensor): Promise<{ img: number[]; txt: number[]; logitScale: number }> {
  const m = await ClipModel.open(dir, RUNTIME);
  try {
    return { img: (await m.embedPixels(pixels)).toNumbers(), txt: (await m.embedTexts(TEXTS)).toNumbers(), logitScale: m.logitScale };
  } finally {
    await m.close();
  }
}

function assertClose(a: number[], e: number[], what: string): void {
  assert.equal(a.length, e.length, `${what}: length`);
  a.forEach((v, i) => assert.ok(Math.abs(v - e[i]!) <= 1e-6 * Math.max(1, Math.abs(e[i]!)), `${what}[${i}]: pack ${v} vs towers ${e[i]}`));
}

const sha256 = async (path: string): Promise<string> => createHash('sha256').update(await readFile(path)).digest('hex');

/** Every name in a folder that is not one of ours, e.g. `.pack.tmp-1234`. */
async function leftovers(parent: string, ours: string[]): Promise<string[]> {
  return (await readdir(parent)).filter((f) => !ours.includes(f));
}

test('the pack opens with ClipModel.open and embeds as the towers do on the same parameters', async () => {
  const dir = join(root, 'pack');
  const params = trained(1, 2.5);
  await writeTrainedPack(dir, CFG, params, { name: 'tiny-shapes', tokenizer: TOKENIZER, recipe: { steps: 12 }, note: 'test run' });
  const pixels = normalisedPixels(3, 2);
  const got = await packEmbeddings(dir, pixels);
  const want = await towers(params, pixels);
  assertClose(got.img, want.img, 'image embeddings');
  assertClose(got.txt, want.txt, 'text embeddings');
  assert.ok(Math.abs(want.txt[0]! - want.txt[8]!) > 1e-3, 'the captions embed differently (not a vacuous comparison)');
  assert.equal(got.logitScale, Math.exp(Math.fround(2.5)));
  assert.deepEqual(await leftovers(root, ['pack']), [], 'no temporary folder beside the pack');
});

test('manifest: name, config, tokenizer, recipe, source note, and the weight file\'s size and hash', async () => {
  const dir = join(root, 'manifest');
  const params = trained(2, 3);
  await writeTrainedPack(dir, CFG, params, { name: 'tiny', tokenizer: TOKENIZER, recipe: { steps: 12, patchViews: 2 }, note: 'seed 2' });
  const m = await readManifest(dir);
  assert.equal(m.name, 'tiny');
  assert.deepEqual(m.config, CFG);
  assert.deepEqual(m.tokenizer, TOKENIZER);
  assert.deepEqual(m.recipe, { steps: 12, patchViews: 2 });
  assert.equal(m.source?.note, 'seed 2');
  assert.equal(m.source?.layout, 'open_clip');
  assert.equal(m.weights.file, 'weights.safetensors');
  assert.equal(m.weights.dtype, 'fp32');
  const weights = join(dir, 'weights.safetensors');
  assert.equal(m.weights.bytes, (await stat(weights)).size);
  assert.equal(m.weights.sha256, await sha256(weights));
  assert.ok(!Number.isNaN(Date.parse(m.created!)), 'a creation time');

  // The weight file holds every tensor of the config under its open_clip name, shaped, bit for bit.
  const f = await openSafetensors(weights);
  assert.deepEqual(f.list().map((t) => t.name).sort(), expectedTensors(CFG).map((t) => t.name).sort());
  for (const t of expectedTensors(CFG)) {
    const read = await f.read(t.name);
    assert.deepEqual(read.dims, t.shape, t.name);
    assert.deepEqual(read.data, params.get(t.name), t.name);
  }
  await f.close();

  const bare = join(root, 'bare');
  await writeTrainedPack(bare, CFG, params, { name: 'bare', tokenizer: TOKENIZER });
  const b = await readManifest(bare);
  assert.equal(b.recipe, undefined);
  assert.equal(b.source, undefined);
});

test('logitScale in the manifest is exp(min(logit_scale, ln 100))', async () => {
  for (const [raw, want] of [[2, Math.exp(Math.fround(2))], [Math.log(1 / 0.07), Math.exp(Math.fround(Math.log(1 / 0.07)))], [5.3, 100], [Math.log(100), 100]] as const) {
    const dir = join(root, `scale-${raw}`);
    await writeTrainedPack(dir, CFG, trained(3, raw), { name: 'scale', tokenizer: TOKENIZER });
    const got = (await readManifest(dir)).logitScale;
    assert.ok(Math.abs(got - want) <= 1e-6 * want, `logit_scale ${raw}: manifest ${got}, expected ${want}`);
  }
});

test('a re-export keeps MODEL_CARD.md, removes compiled graphs of the old weights, and the pack embeds with the new ones', async () => {
  const dir = join(root, 'reexport');
  const pixels = normalisedPixels(4, 2);
  await writeTrainedPack(dir, CFG, trained(4, 2), { name: 'v1', tokenizer: TOKENIZER });
  await packEmbeddings(dir, pixels); // compiles and caches graph-*.onnx in the pack
  const cached = (await readdir(dir)).filter((f) => /^graph-.*\.onnx$/.test(f));
  assert.ok(cached.length >= 2, `the loader cached its graphs (${cached.join(', ')})`);
  const card = '# Tiny model\n\nMeasured figures go here.\n';
  await writeFile(join(dir, 'MODEL_CARD.md'), card);
  await writeFile(join(dir, 'graph-vision-0123456789abcdef.onnx'), 'stale');
  await writeFile(join(dir, 'samples.png'), 'not a graph'); // any other file beside the pack stays too

  const next = trained(5, 2);
  await writeTrainedPack(dir, CFG, next, { name: 'v2', tokenizer: TOKENIZER });
  assert.deepEqual((await readdir(dir)).sort(), ['MODEL_CARD.md', 'clipag.json', 'samples.png', 'weights.safetensors']);
  assert.equal(await readFile(join(dir, 'MODEL_CARD.md'), 'utf8'), card);
  assert.equal((await readManifest(dir)).name, 'v2');
  const got = await packEmbeddings(dir, pixels);
  const want = await towers(next, pixels);
  assertClose(got.img, want.img, 'image embeddings after re-export');
  assertClose(got.txt, want.txt, 'text embeddings after re-export');
  assert.deepEqual((await readdir(root)).filter((f) => f.startsWith('.')), [], 'no temporary folder left beside the packs');
});

test('a missing parameter is an error naming it, and nothing is written', async () => {
  // Into a fresh folder: it is not created.
  const params = trained(6, 2);
  params.delete('visual.proj');
  const fresh = join(root, 'missing-fresh');
  await assert.rejects(writeTrainedPack(fresh, CFG, params, { name: 'x', tokenizer: TOKENIZER }), /no trained value for visual\.proj/);
  await assert.rejects(stat(fresh), { code: 'ENOENT' });

  // Over an existing pack: every file of it is left as it was.
  const dir = join(root, 'missing-existing');
  await writeTrainedPack(dir, CFG, trained(7, 2), { name: 'good', tokenizer: TOKENIZER });
  await writeFile(join(dir, 'MODEL_CARD.md'), 'card');
  await writeFile(join(dir, 'graph-text-0123456789abcdef.onnx'), 'cached');
  const before = new Map(await Promise.all((await readdir(dir)).map(async (f) => [f, await readFile(join(dir, f))] as const)));
  await assert.rejects(writeTrainedPack(dir, CFG, params, { name: 'bad', tokenizer: TOKENIZER }), /no trained value for visual\.proj/);
  // A manifest that fails validation (an empty name) is refused the same way.
  await assert.rejects(writeTrainedPack(dir, CFG, trained(8, 2), { name: '', tokenizer: TOKENIZER }), /name/);
  const afterFiles = await readdir(dir);
  assert.deepEqual(afterFiles.sort(), [...before.keys()].sort());
  for (const f of afterFiles) assert.deepEqual(await readFile(join(dir, f)), before.get(f), `${f} is unchanged`);
  assert.equal((await readManifest(dir)).name, 'good');
  assert.deepEqual((await readdir(root)).filter((f) => f.startsWith('.')), [], 'no temporary folder left beside the packs');
});
