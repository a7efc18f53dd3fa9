// Tests of the Shape family (shape.ts): Shape, Size, Constant, ConstantOfShape and Range, and the
// torch-style shape plumbing through them. Reshape, Transpose, Flatten, Squeeze, Unsqueeze and
// Expand are tested in reshape.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { A, GraphBuilder, type Value } from '../builder.js';
import { Tensor } from '../tensor.js';
import { Session } from '../../runtime.js';
import { foldMatchesRuntime as foldCheck } from '../testing/foldcheck.js';
import { gradCheck } from '../testing/gradcheck.js';

const foldMatchesRuntime = (build: (b: GraphBuilder) => Value[], opset = 17) => foldCheck(new GraphBuilder(opset), build);
const INT64_MAX = 9223372036854775807n;
const ints = (b: GraphBuilder, vals: (number | bigint)[]): Value => b.constant(Tensor.int64([vals.length], vals));
const scalarInt = (b: GraphBuilder, v: number): Value => b.constant(Tensor.int64([], [v]));
const values = (t: Tensor): (number | bigint)[] => Array.from(t.data as ArrayLike<number | bigint>);


// ---------------------------------------------------------------------------------------------
// Shape / Size / Constant / ConstantOfShape / Range

test('Shape: start and end (opset 15) on static and symbolic inputs', async () => {
  const b = new GraphBuilder(15);
  const x = b.input('x', 'float32', ['batch', 3, 4]);
  const tail = b.op1('Shape', [x], { start: A.int(-2) });
  assert.deepEqual(values(tail.known!), [3n, 4n]);
  const head = b.op1('Shape', [x], { end: A.int(1) });
  assert.deepEqual([head.shape, head.known], [[1], undefined]);
  assert.deepEqual(b.op1('Shape', [x], { start: A.int(2), end: A.int(1) }).shape, [0]);
  const [mid] = await foldMatchesRuntime((g) => [g.op1('Shape', [g.constant(Tensor.float32([2, 5, 1], new Array<number>(10).fill(0)))], { start: A.int(1), end: A.int(-1) })], 15);
  assert.deepEqual(values(mid!), [5n]);
});

test('Size: known for static shapes, folded', async () => {
  const b = new GraphBuilder(17);
  assert.equal(b.op1('Size', [b.input('x', 'float32', ['n', 3])]).known, undefined);
  const [n] = await foldMatchesRuntime((g) => [g.op1('Size', [g.constant(Tensor.float32([2, 3], [1, 2, 3, 4, 5, 6]))])]);
  assert.deepEqual([n!.dims, values(n!)], [[], [6n]]);
});

test('Constant: every supported value attribute is known and matches the runtime', async () => {
  const [t, f, fs, i, is] = await foldMatchesRuntime((g) => [
    g.op1('Constant', [], { value: { kind: 'tensor', value: Tensor.int64([2], [3, INT64_MAX]) } }),
    g.op1('Constant', [], { value_float: A.float(1.5) }),
    g.op1('Constant', [], { value_floats: A.floats([1, 2.5]) }),
    g.op1('Constant', [], { value_int: A.int(-4) }),
    g.op1('Constant', [], { value_ints: A.ints([1, -1]) }),
  ]);
  assert.deepEqual(values(t!), [3n, INT64_MAX]);
  assert.deepEqual([f!.dtype, f!.dims, values(f!)], ['float32', [], [1.5]]);
  assert.deepEqual([fs!.dims, values(fs!)], [[2], [1, 2.5]]);
  assert.deepEqual([i!.dtype, values(i!)], ['int64', [-4n]]);
  assert.deepEqual(values(is!), [1n, -1n]);
  assert.throws(() => new GraphBuilder(17).op1('Constant', [], { value_string: A.string('x') }), /only value, value_float/);
});

test('ConstantOfShape: default float32 zeros, a typed value, partly known shapes keep their dims', async () => {
  const [z, o] = await foldMatchesRuntime((g) => [
    g.op1('ConstantOfShape', [ints(g, [2, 3])]),
    g.op1('ConstantOfShape', [ints(g, [2])], { value: { kind: 'tensor', value: Tensor.int64([1], [7]) } }),
  ]);
  assert.deepEqual([z!.dtype, z!.dims, z!.toNumbers()], ['float32', [2, 3], [0, 0, 0, 0, 0, 0]]);
  assert.deepEqual([o!.dtype, values(o!)], ['int64', [7n, 7n]]);
  const b = new GraphBuilder(17);
  const x = b.input('x', 'float32', ['n', 4]);
  assert.deepEqual(b.op1('ConstantOfShape', [b.op1('Shape', [x])]).shape, ['n', 4]);
  const big = b.op1('ConstantOfShape', [ints(b, [100, 100])]);
  assert.deepEqual([big.shape, big.known], [[100, 100], undefined]);
});

test('Range: folds integer and float ranges, including empty and descending ones', async () => {
  const rng = (g: GraphBuilder, s: number, l: number, d: number, dtype: 'int64' | 'float32') =>
    g.op1('Range', [s, l, d].map((v) => g.constant(Tensor.floats(dtype, [], [v]))));
  const [up, down, empty, fl] = await foldMatchesRuntime((g) => [rng(g, 0, 5, 2, 'int64'), rng(g, 5, -1, -2, 'int64'), rng(g, 3, 1, 1, 'int64'), rng(g, 0.5, 2, 0.5, 'float32')]);
  assert.deepEqual([values(up!), values(down!), empty!.dims, fl!.toNumbers()], [[0n, 2n, 4n], [5n, 3n, 1n], [0], [0.5, 1, 1.5]]);
  const b = new GraphBuilder(17);
  const n = b.op1('Size', [b.input('x', 'float32', ['n'])]);
  assert.deepEqual(b.op1('Range', [scalarInt(b, 0), n, scalarInt(b, 1)]).shape, [null]);
});

// ---------------------------------------------------------------------------------------------
// The shape plumbing torch.onnx.export writes: Shape → Gather → Unsqueeze → Concat → Reshape

function plumbing(b: GraphBuilder, x: Value): Value {
  const batch = b.op1('Gather', [b.op1('Shape', [x]), scalarInt(b, 0)], { axis: A.int(0) });
  const width = b.op1('Gather', [b.op1('Shape', [x]), scalarInt(b, -1)], { axis: A.int(0) });
  const target = b.op1('Concat', [b.unsqueeze(batch, [0]), ints(b, [-1]), b.unsqueeze(width, [0])], { axis: A.int(0) });
  return b.op1('Reshape', [x, target]);
}

for (const opset of [12, 13]) {
  test(`shape plumbing on a static input folds to a fully known Reshape (opset ${opset})`, () => {
    const b = new GraphBuilder(opset);
    const y = plumbing(b, b.input('x', 'float32', [2, 3, 4, 5]));
    assert.deepEqual(y.shape, [2, 12, 5]);
    const target = b.value(b.producers.get(y.name)!.inputs[1]!);
    assert.deepEqual(values(target.known!), [2n, -1n, 5n]);
  });
}

test('shape plumbing with a symbolic batch keeps the dim name, runs, and differentiates', async () => {
  const b = new GraphBuilder(17);
  const x = b.input('x', 'float32', ['batch', 3, 4, 5]);
  const y = plumbing(b, x);
  assert.deepEqual(y.shape, ['batch', 12, 5]);
  b.output(y, 'y');
  const s = await Session.create(b.toModel(), { device: 'cpu', intraOpThreads: 1 });
  const out = (await s.run({ x: Tensor.float32([2, 3, 4, 5], new Array<number>(120).fill(1)) })).y!;
  await s.release();
  assert.deepEqual([...out.dims], [2, 12, 5]);
});

test('shape plumbing gradient with a static input', () =>
  gradCheck({ inputs: [{ name: 'x', dims: [2, 3, 2] }], build: (b, v) => plumbing(b, v.x!) }));
