/**
 * Model packs end to end against an independent reference: tiny checkpoints in every layout users
 * bring (made by tools/torch/make_clip_fixtures.py with real torch), imported, loaded, and their
 * embeddings compared with tools/torch/clip_reference.py's float64 results (relative error ≤ 1e-4).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Tensor } from '../../src/engine/onnx/tensor.js';
import { importModel, type ImportOptions } from '../../src/engine/pack/import.js';
import { ClipModel, cosine } from '../../src/engine/pack/model.js';

const FIX = fileURLToPath(new URL('../fixtures/clip/', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'pack-e2e-'));
after(() => rmSync(work, { recursive: true, force: true }));

interface T { dims: number[]; b64: string }
interface Checkpoint {
  path: string; config: string; layout: string; logit_scale: number;
  text_embeddings: number[][]; image_embeddings: number[][]; png_embeddings: number[][];
  similarity: { image: number; text: number; cosine: number; logit: number };
}
interface Expected {
  relative_tolerance: number;
  text: { ids: number[][] };
  pixels: T;
  png: { file: string }[];
  checkpoints: Record<string, Checkpoint>;
}
const expected = JSON.parse(readFileSync(join(FIX, 'expected.json'), 'utf8')) as Expected;
const TOL = expected.relative_tolerance;

function tensorOf(t: T): Tensor {
  const buf = Buffer.from(t.b64, 'base64');
  const data = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
  return new Tensor('float32', t.dims, data);
}

/** max|actual − expected| / max|expected| over a whole matrix, the fixtures' measure. */
function relErr(actual: Tensor, want: number[][]): number {
  const flat = want.flat();
  assert.equal(actual.data.length, flat.length, 'embedding size');
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < flat.length; i++) {
    diff = Math.max(diff, Math.abs(Number(actual.data[i]) - flat[i]!));
    scale = Math.max(scale, Math.abs(flat[i]!));
  }
  return diff / scale;
}

async function importFixture(name: string, opts: ImportOptions = {}): Promise<string> {
  const c = expected.checkpoints[name]!;
  const out = join(work, `${name}-${opts.dtype ?? 'fp32'}`);
  // The HF folders carry their own config.json; open_clip files are given theirs, as users do.
  const configFile = c.layout === 'open_clip' ? join(FIX, c.config) : undefined;
  await importModel(join(FIX, c.path), out, { configFile, ...opts });
  return out;
}

async function checkEmbeddings(name: string, dir: string, tol = TOL): Promise<ClipModel> {
  const c = expected.checkpoints[name]!;
  const model = await ClipModel.open(dir, { device: 'cpu' });
  const ids = Tensor.int64([expected.text.ids.length, 77], expected.text.ids.flat());
  assert.ok(relErr(await model.embedIds(ids), c.text_embeddings) <= tol, `${name}: text embeddings`);
  assert.ok(relErr(await model.embedPixels(tensorOf(expected.pixels)), c.image_embeddings) <= tol, `${name}: image embeddings`);
  for (let i = 0; i < expected.png.length; i++) {
    const e = await model.embedImageFile(join(FIX, expected.png[i]!.file));
    assert.ok(relErr(e, [c.png_embeddings[i]!]) <= tol, `${name}: ${expected.png[i]!.file} through preprocessing`);
  }
  assert.ok(Math.abs(model.logitScale - Math.exp(c.logit_scale)) <= 1e-5 * Math.exp(c.logit_scale), `${name}: logit scale`);
  return model;
}

for (const name of Object.keys(expected.checkpoints)) {
  test(`${name}: imported pack embeds text, pixels and image files as the reference does`, async () => {
    const model = await checkEmbeddings(name, await importFixture(name));
    await model.close();
  });
}

test('a similarity pair: cosine and logit as the reference computes them', async () => {
  const c = expected.checkpoints['hf-gelu']!;
  const model = await ClipModel.open(join(work, 'hf-gelu-fp32'), { device: 'cpu' });
  const ids = Tensor.int64([1, 77], expected.text.ids[c.similarity.text]!);
  const px = tensorOf(expected.pixels);
  const one = px.data.length / px.dims[0]!;
  const img = new Tensor('float32', [1, ...px.dims.slice(1)], (px.data as Float32Array).slice(c.similarity.image * one, (c.similarity.image + 1) * one));
  const cos = cosine((await model.embedPixels(img)).data as Float32Array, (await model.embedIds(ids)).data as Float32Array);
  assert.ok(Math.abs(cos - c.similarity.cosine) < 1e-4);
  assert.ok(Math.abs(model.logitScale * cos - c.similarity.logit) < 1e-3 * Math.abs(c.similarity.logit) + 1e-4);
  await model.close();
});

test('fp16 packs: stored in half, embeddings within half-precision error of the reference', async () => {
  const dir = await importFixture('openclip-gelu', { dtype: 'fp16' });
  const fp32 = statSync(join(work, 'openclip-gelu-fp32', 'weights.safetensors')).size;
  assert.ok(statSync(join(dir, 'weights.safetensors')).size < 0.6 * fp32, 'about half the bytes');
  // Rounding the weights to half moves embeddings by ~1e-3 relative (the fixtures measured 5e-4..1e-3).
  const model = await checkEmbeddings('openclip-gelu', dir, 5e-3);
  await model.close();
});

test('the compiled graph is cached in the pack: second open uses it, computes the same, weights stay external', async () => {
  const dir = join(work, 'openclip-gelu-fp32');
  const ids = Tensor.int64([1, 77], expected.text.ids[1]!);
  const first = await ClipModel.open(dir, { device: 'cpu' });
  const a = await first.embedIds(ids);
  await first.close();
  const graphs = readdirSync(dir).filter((f) => f.startsWith('graph-text-'));
  assert.equal(graphs.length, 1);
  const weights = statSync(join(dir, 'weights.safetensors')).size;
  assert.ok(statSync(join(dir, graphs[0]!)).size < weights / 4, 'the cached graph references the weights instead of copying them');

  const second = await ClipModel.open(dir, { device: 'cpu' });
  const b = await second.embedIds(ids);
  assert.equal(second.fromCache.get('text'), true);
  assert.deepEqual([...b.data], [...a.data]);
  await second.close();
});
