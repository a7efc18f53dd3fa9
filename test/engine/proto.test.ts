import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { A, GraphBuilder, Tensor, decodeModel, encodeModel, loadModelFile } from '../../src/engine/onnx/index.js';
import type { Model } from '../../src/engine/onnx/ir.js';
import { Session } from '../../src/engine/runtime.js';
import { ModelProtoType } from '../../src/engine/onnx/proto.js';
import { randn, rng } from '../../src/engine/onnx/testing/gradcheck.js';

async function outputsOf(model: Model | Uint8Array | string, feeds: Record<string, Tensor>) {
  const s = await Session.create(model, { device: 'cpu', intraOpThreads: 1 });
  const out = await s.run(feeds);
  await s.release();
  return out;
}

test('encode → decode → encode is byte-identical and keeps every attribute kind', () => {
  const b = new GraphBuilder(17);
  const x = b.input('x', 'float32', ['n', 4]);
  const y = b.op1('LeakyRelu', [x], { alpha: A.float(0.25) });
  const t = b.op1('Transpose', [y], { perm: A.ints([1, 0]) });
  b.output(t, 't');
  const m = b.toModel();
  m.graph.nodes.push({
    opType: 'Constant', domain: '', name: 'c', inputs: [], outputs: ['c_out'],
    attrs: new Map([['value', { kind: 'tensor', value: Tensor.int64([2], [3, -1]) }]]),
  });
  m.graph.nodes[0]!.attrs.set('note', { kind: 'string', value: 'ünïcode' });
  m.graph.nodes[0]!.attrs.set('fs', { kind: 'floats', value: [0.5, 1.5] });
  m.graph.nodes[0]!.attrs.set('ss', { kind: 'strings', value: ['a', 'b'] });
  m.metadata.set('k', 'v');
  const bytes = encodeModel(m);
  const back = decodeModel(bytes);
  assert.deepEqual(encodeModel(back), bytes);
  assert.deepEqual(back.graph.inputs[0]!.shape, ['n', 4]);
  assert.deepEqual(back.graph.nodes[0]!.attrs.get('alpha'), { kind: 'float', value: 0.25 });
  assert.deepEqual(back.graph.nodes[0]!.attrs.get('note'), { kind: 'string', value: 'ünïcode' });
  const c = back.graph.nodes.find((n) => n.opType === 'Constant')!.attrs.get('value');
  assert.ok(c?.kind === 'tensor');
  assert.deepEqual(c.value.toNumbers(), [3, -1]);
  assert.equal(back.metadata.get('k'), 'v');
});

test('a decoded model computes exactly what the original does', async () => {
  const b = new GraphBuilder(17);
  const r = rng(3);
  const x = b.input('x', 'float32', [2, 3]);
  const w = b.initializer('w', Tensor.float32([3, 5], randn(r, 15)));
  b.output(x.matmul(w).tanh(), 'y');
  const m = b.toModel();
  const feeds = { x: Tensor.float32([2, 3], randn(r, 6)) };
  const a = await outputsOf(m, feeds);
  const c = await outputsOf(decodeModel(encodeModel(m)), feeds);
  assert.deepEqual(c.y!.toNumbers(), a.y!.toNumbers());
});

test('tensors stored as typed fields (not raw_data) decode too', async () => {
  // float_data / int64_data / double_data are what some exporters write for small constants.
  const msg = {
    irVersion: 8, opsetImport: [{ domain: '', version: 13 }],
    graph: {
      name: 'g',
      node: [{ input: ['x', 'k'], output: ['y'], name: 'add', opType: 'Add' },
        { input: ['y', 's'], output: ['z'], name: 'reshape', opType: 'Reshape' }],
      initializer: [
        { name: 'k', dims: [2], dataType: 1, floatData: [1.5, -2] },
        { name: 's', dims: [2], dataType: 7, int64Data: [1, -1] },
        { name: 'd', dims: [1], dataType: 11, doubleData: [0.25] },
      ],
      input: [{ name: 'x', type: { tensorType: { elemType: 1, shape: { dim: [{ dimValue: 2 }] } } } }],
      output: [{ name: 'z', type: { tensorType: { elemType: 1, shape: { dim: [{ dimValue: 1 }, { dimValue: 2 }] } } } }],
    },
  };
  const m = decodeModel(ModelProtoType.encode(ModelProtoType.fromObject(msg)).finish());
  assert.deepEqual(m.graph.initializers.get('k')!.toNumbers(), [1.5, -2]);
  assert.deepEqual(m.graph.initializers.get('s')!.toNumbers(), [1, -1]);
  assert.deepEqual(m.graph.initializers.get('d')!.toNumbers(), [0.25]);
  const out = await outputsOf(m, { x: Tensor.float32([2], [1, 1]) });
  assert.deepEqual(out.z!.toNumbers(), [2.5, -1]);
  assert.deepEqual([...out.z!.dims], [1, 2]);
});

test('garbage and truncated files give a clear error', () => {
  assert.throws(() => decodeModel(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x0f])), /not an ONNX model/);
  const good = encodeModel(new GraphBuilder(17).toModel());
  assert.throws(() => decodeModel(good.subarray(0, Math.max(1, good.length - 3))), /not an ONNX model/);
  assert.throws(() => loadModelFile('/nonexistent/model.onnx'), /file not found/);
});

const fixtures = fileURLToPath(new URL('../fixtures/torch', import.meta.url));
const torchModels = existsSync(fixtures) ? readdirSync(fixtures).filter((f) => f.endsWith('.onnx')) : [];

test('graphs exported by torch.onnx.export round-trip with identical outputs', { skip: torchModels.length === 0 && 'no fixtures in test/fixtures/torch (made by tools/torch/make_grad_fixtures.py)' }, async () => {
  for (const f of torchModels) {
    const m = loadModelFile(join(fixtures, f));
    const again = decodeModel(encodeModel(m));
    assert.equal(again.graph.nodes.length, m.graph.nodes.length, f);
    const feeds: Record<string, Tensor> = {};
    for (const inp of m.graph.inputs) {
      const dims = inp.shape!.map((d) => (typeof d === 'number' ? d : 2));
      const n = dims.reduce((a, c) => a * c, 1);
      feeds[inp.name] = inp.dtype === 'int64'
        ? Tensor.int64(dims, Array.from({ length: n }, (_, i) => (i * 7) % 5))
        : Tensor.float32(dims, randn(rng(5), n));
    }
    const a = await outputsOf(loadModelFile(join(fixtures, f)), feeds);
    const c = await outputsOf(again, feeds);
    for (const k of Object.keys(a)) assert.deepEqual(c[k]!.toNumbers(), a[k]!.toNumbers(), `${f}: ${k}`);
  }
});

test('initializers written as external-data references load from a file and compute as inline ones', async () => {
  const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const dir = mkdtempSync(join(tmpdir(), 'proto-external-'));
  try {
    const w = Tensor.float32([3, 2], [1, 2, 3, 4, 5, 6]);
    // 5 bytes of padding first: an unaligned offset, as inside a safetensors file.
    writeFileSync(join(dir, 'blob.bin'), Buffer.concat([Buffer.alloc(5, 7), Buffer.from(w.bytes())]));
    const b = new GraphBuilder(17);
    const x = b.input('x', 'float32', [1, 3]);
    b.output(x.matmul(b.initializer('W', w)), 'y');
    const model = b.toModel();
    const bytes = encodeModel(model, { external: (name) => (name === 'W' ? { location: 'blob.bin', offset: 5, length: 24 } : undefined) });
    writeFileSync(join(dir, 'm.onnx'), bytes);
    assert.equal(Buffer.from(bytes).indexOf(Buffer.from(w.bytes())), -1, 'the weights are not inline');
    const feeds = { x: Tensor.float32([1, 3], [1, -1, 2]) };
    const viaFile = await outputsOf(join(dir, 'm.onnx'), feeds);
    assert.deepEqual([...viaFile.y!.data], [8, 10]);
    assert.deepEqual(loadModelFile(join(dir, 'm.onnx')).graph.initializers.get('W')!.data, w.data, 'our decoder resolves it too');
    assert.throws(() => encodeModel(model, { external: () => ({ location: 'blob.bin', offset: 0, length: 4 }) }), /is 4 bytes, the tensor has 24/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
