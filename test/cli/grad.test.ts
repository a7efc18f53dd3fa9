import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, writeFileSync, existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { GraphBuilder, Tensor, encodeModel, decodeModel } from '../../src/engine/onnx/index.js';
import type { Model } from '../../src/engine/onnx/ir.js';
import { Session } from '../../src/engine/runtime.js';
import { clipag } from '../helpers/cli.js';
import { TORCH2_DIR, assertClose, decode, loadFixtures2 } from '../helpers/torch2.js';

const dir = mkdtempSync(join(tmpdir(), 'clipag-grad-'));

/** y = sum over axis 1 of (x·w + x·x), with a dynamic batch dim. */
function simpleModel(): Model {
  const b = new GraphBuilder(17);
  const x = b.input('x', 'float32', ['batch', 3]);
  const w = b.initializer('w', Tensor.float32([3], [0.5, -1, 2]));
  b.output(x.mul(w).add(x.mul(x)).sum([1]), 'y');
  return b.toModel();
}

function write(name: string, bytes: Uint8Array): string {
  const p = join(dir, name);
  writeFileSync(p, bytes);
  return p;
}

const onlyFiles = () => readdirSync(dir).sort();

test('clipag grad writes a model whose gradients are right, batch left dynamic', async () => {
  const src = write('simple.onnx', encodeModel(simpleModel()));
  const out = join(dir, 'simple.grad.onnx');
  const r = clipag(['grad', src, '--wrt', 'x,w', '--loss', 'y', '--out', out]);
  assert.equal(r.status, 0, r.stderr);
  const model = decodeModel(readFileSync(out));
  assert.deepEqual(model.graph.outputs.map((o) => o.name), ['y', 'grad_x', 'grad_w']);
  const s = await Session.create(model, { device: 'cpu' });
  const xs = [1, 2, 3, -1, 0.5, 4];
  const res = await s.run({ x: Tensor.float32([2, 3], xs) });
  const w = [0.5, -1, 2];
  // d/dx Σ(x·w + x²) = w + 2x; d/dw = Σ_batch x
  assert.deepEqual(res.grad_x!.toNumbers(), xs.map((v, i) => w[i % 3]! + 2 * v));
  assert.deepEqual(res.grad_w!.toNumbers(), [0, 1, 2].map((k) => xs[k]! + xs[k + 3]!));
  assert.deepEqual([...res.grad_x!.dims], [2, 3]);
  await s.release();
});

function expectFailure(args: string[], pattern: RegExp) {
  const before = onlyFiles();
  const r = clipag(['grad', ...args]);
  assert.equal(r.status, 2, `exit code: ${r.stderr}`);
  assert.match(r.stderr, pattern);
  assert.equal(r.stderr.trim().split('\n').length, 1, `one line expected, got:\n${r.stderr}`);
  assert.deepEqual(onlyFiles(), before, 'no output (or temporary) file may be left behind');
}

test('clipag grad: missing file', () => {
  expectFailure([join(dir, 'nope.onnx'), '--wrt', 'x', '--loss', 'y', '--out', join(dir, 'o1.onnx')], /nope\.onnx: file not found/);
});

test('clipag grad: not an ONNX file', () => {
  const p = write('junk.onnx', new TextEncoder().encode('this is not a protobuf at all \u0000\u0001'));
  expectFailure([p, '--wrt', 'x', '--loss', 'y', '--out', join(dir, 'o2.onnx')], /junk\.onnx: not an ONNX model/);
});

test('clipag grad: loss output not found', () => {
  const p = write('simple2.onnx', encodeModel(simpleModel()));
  expectFailure([p, '--wrt', 'x', '--loss', 'nope', '--out', join(dir, 'o3.onnx')], /loss output nope not found/);
});

test('clipag grad: wrt is not in the model', () => {
  const p = write('simple3.onnx', encodeModel(simpleModel()));
  expectFailure([p, '--wrt', 'zz', '--loss', 'y', '--out', join(dir, 'o4.onnx')], /wrt zz is neither an input nor an initializer/);
});

test('clipag grad: wrt is not a float tensor', () => {
  const b = new GraphBuilder(17);
  const ids = b.input('ids', 'int64', [4]);
  const table = b.initializer('table', Tensor.float32([5, 2], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]));
  b.output(b.op1('Gather', [table, ids]).sum(), 'y');
  const p = write('gather.onnx', encodeModel(b.toModel()));
  expectFailure([p, '--wrt', 'ids', '--loss', 'y', '--out', join(dir, 'o5.onnx')], /ids: it is int64, not a float tensor/);
});

test('clipag grad: op without a gradient rule names the op and the node', () => {
  const m = simpleModel();
  // Put an op we have no rule for on the path from x to y.
  m.graph.nodes.unshift({ opType: 'Hardmax', domain: '', name: 'the_hardmax', inputs: ['x'], outputs: ['hx'], attrs: new Map() });
  const mul = m.graph.nodes.find((n) => n.opType === 'Mul')!;
  mul.inputs[0] = 'hx';
  const p = write('hardmax.onnx', encodeModel(m));
  expectFailure([p, '--wrt', 'x', '--loss', 'y', '--out', join(dir, 'o6.onnx')], /unsupported op Hardmax \(node the_hardmax\)/);
});

test('clipag grad: a graph with a cycle', () => {
  const m = simpleModel();
  const mul = m.graph.nodes.find((n) => n.opType === 'Mul')!;
  const add = m.graph.nodes.find((n) => n.opType === 'Add')!;
  mul.inputs[1] = add.outputs[0]!;
  const p = write('cycle.onnx', encodeModel(m));
  expectFailure([p, '--wrt', 'x', '--loss', 'y', '--out', join(dir, 'o7.onnx')], /graph has a cycle through node/);
});

test('clipag grad: bad --shape and unknown input in --shape', () => {
  const p = write('simple4.onnx', encodeModel(simpleModel()));
  expectFailure([p, '--wrt', 'x', '--loss', 'y', '--out', join(dir, 'o8.onnx'), '--shape', 'x:2x3'], /--shape x:2x3: expected NAME=DIMS/);
  expectFailure([p, '--wrt', 'x', '--loss', 'y', '--out', join(dir, 'o9.onnx'), '--shape', 'q=2x3'], /no input named q/);
});

test('clipag grad --shape fixes the batch', () => {
  const p = write('simple5.onnx', encodeModel(simpleModel()));
  const out = join(dir, 'fixed.onnx');
  const r = clipag(['grad', p, '--wrt', 'x', '--loss', 'y', '--out', out, '--shape', 'x=4x3']);
  assert.equal(r.status, 0, r.stderr);
  assert.ok(existsSync(out));
  const m = decodeModel(readFileSync(out));
  assert.deepEqual(m.graph.inputs[0]!.shape, [4, 3]);
});

test('clipag grad: missing required option is a usage error with exit code 2', () => {
  const r = clipag(['grad', 'x.onnx']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /required option '--wrt/);
});

// Double backprop through the CLI: the second run's loss is the first run's gradient, so
// D = sum(grad_x), torch's reference with v = 1 (test/fixtures/torch2, make_grad2_fixtures.py).
// (tokens and vit_block are left out: there a LayerNorm sees the shift x + c·1 uniformly, so
// sum(grad_x) is constant and every second derivative 0.)
for (const name of ['convnet', 'mlp']) {
  test(`clipag grad of its own output (grad of grad) matches torch double backprop: ${name}`, async () => {
    const fx = loadFixtures2().find((f) => f.name === name)!;
    const once = join(dir, `${name}.grad.onnx`);
    const r1 = clipag(['grad', join(TORCH2_DIR, fx.onnx_file), '--wrt', fx.first, '--loss', fx.output, '--out', once]);
    assert.equal(r1.status, 0, r1.stderr);
    const twice = join(dir, `${name}.grad2.onnx`);
    const r2 = clipag(['grad', once, '--wrt', fx.second.join(','), '--loss', `grad_${fx.first}`, '--out', twice]);
    assert.equal(r2.status, 0, r2.stderr);
    const model = decodeModel(readFileSync(twice));
    // grad_<first> is taken by the first run, so the second run's outputs are grad2_<name>.
    assert.deepEqual(model.graph.outputs.map((o) => o.name), [fx.output, `grad_${fx.first}`, ...fx.second.map((n) => `grad2_${n}`)]);
    const s = await Session.create(model, { device: 'cpu', intraOpThreads: 1 });
    try {
      const res = await s.run({ [fx.input.name]: decode(fx.input.value) });
      assertClose(res[`grad_${fx.first}`], decode(fx.grad), `${name}: grad_${fx.first}`);
      for (const n of fx.second) assertClose(res[`grad2_${n}`], decode(fx.grad2_ones[n]!), `${name}: grad2_${n} (torch ${fx.second_source[n]})`);
    } finally {
      await s.release();
    }
  });
}

test('clipag grad --prefix names the outputs, and refuses a prefix whose names are taken', () => {
  const src = write('prefix.onnx', encodeModel(simpleModel()));
  const out = join(dir, 'prefix.grad.onnx');
  assert.equal(clipag(['grad', src, '--wrt', 'x', '--loss', 'y', '--out', out, '--prefix', 'd_']).status, 0);
  assert.deepEqual(decodeModel(readFileSync(out)).graph.outputs.map((o) => o.name), ['y', 'd_x']);
  expectFailure([out, '--wrt', 'x', '--loss', 'd_x', '--out', join(dir, 'o9.onnx'), '--prefix', 'd_'], /already has a value named d_x: choose another prefix/);
});
