// Tests of the Reshape family (reshape.ts): Transpose, Flatten, Reshape, Expand, Squeeze and
// Unsqueeze — gradients, shape inference and folds, then second order. The torch-style shape
// plumbing (Shape → Gather → Unsqueeze → Concat → Reshape) is tested in shape.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { A, GraphBuilder, type Value } from '../builder.js';
import { Tensor } from '../tensor.js';
import { foldMatchesRuntime as foldCheck } from '../testing/foldcheck.js';
import { gradCheck } from '../testing/gradcheck.js';
import { hvpCheck } from '../testing/hvpcheck.js';

const foldMatchesRuntime = (build: (b: GraphBuilder) => Value[], opset = 17) => foldCheck(new GraphBuilder(opset), build);
const INT64_MAX = 9223372036854775807n;
const ints = (b: GraphBuilder, vals: (number | bigint)[]): Value => b.constant(Tensor.int64([vals.length], vals));
const scalarInt = (b: GraphBuilder, v: number): Value => b.constant(Tensor.int64([], [v]));
const values = (t: Tensor): (number | bigint)[] => Array.from(t.data as ArrayLike<number | bigint>);

// ---------------------------------------------------------------------------------------------
// Transpose / Flatten

test('Transpose: default perm reverses the axes', () =>
  gradCheck({ inputs: [{ name: 'x', dims: [2, 3, 4] }], build: (b, v) => b.op1('Transpose', [v.x!]) }));

test('Transpose: explicit perm', () =>
  gradCheck({ inputs: [{ name: 'x', dims: [2, 3, 4] }], build: (_b, v) => v.x!.transpose([1, 2, 0]) }));

test('Transpose: infer and fold', async () => {
  const b = new GraphBuilder(17);
  assert.deepEqual(b.input('x', 'float32', ['n', 3, 5]).transpose([2, 0, 1]).shape, [5, 'n', 3]);
  assert.throws(() => b.input('y', 'float32', [2, 3]).transpose([0, 0]), /not a permutation/);
  const [t] = await foldMatchesRuntime((g) => [g.constant(Tensor.int64([2, 3], [1, 2, 3, 4, 5, INT64_MAX])).transpose()]);
  assert.deepEqual(values(t!), [1n, 4n, 2n, 5n, 3n, INT64_MAX]);
});

for (const axis of [0, 2, -1, 3]) {
  test(`Flatten: axis ${axis}`, () =>
    gradCheck({ inputs: [{ name: 'x', dims: [2, 3, 2] }], build: (b, v) => b.op1('Flatten', [v.x!], { axis: A.int(axis) }) }));
}

test('Flatten: infer with symbolic dims, and fold', async () => {
  const b = new GraphBuilder(17);
  const flat = (shape: (number | string)[], axis: number) => b.op1('Flatten', [b.input(b.fresh('x'), 'float32', shape)], { axis: A.int(axis) }).shape;
  assert.deepEqual(flat(['batch', 3, 4], 1), ['batch', 12]);
  assert.deepEqual(flat(['batch', 1, 1], -2), ['batch', 1]);
  assert.deepEqual(flat(['batch', 3, 4], 2), [null, 4]);
  assert.deepEqual(flat([2, 3, 4], 0), [1, 24]);
  assert.throws(() => flat([2, 3], 3), /out of range/);
  await foldMatchesRuntime((g) => [g.op1('Flatten', [g.constant(Tensor.int64([2, 1, 2], [1, 2, 3, 4]))], { axis: A.int(-1) })]);
});

// ---------------------------------------------------------------------------------------------
// Reshape / Expand / Squeeze / Unsqueeze

test('Reshape: 0 copies a dim, -1 takes the rest', () =>
  gradCheck({ inputs: [{ name: 'x', dims: [2, 3, 4] }], build: (_b, v) => v.x!.reshape([0, -1, 2]) }));

test('Reshape: infer resolves 0, -1 and allowzero, cancelling symbolic dims', () => {
  const b = new GraphBuilder(17);
  const x = b.input('x', 'float32', ['batch', 3, 4]);
  assert.deepEqual(x.reshape([0, -1]).shape, ['batch', 12]);
  assert.deepEqual(x.reshape([0, 2, -1, 2]).shape, ['batch', 2, 3, 2]);
  assert.deepEqual(x.reshape([-1, 4]).shape, [null, 4]);
  const flat = b.input('f', 'float32', ['batch', 12]);
  assert.deepEqual(flat.reshape([0, -1, 4]).shape, ['batch', 3, 4]);
  const z = b.input('z', 'float32', [0, 3]);
  assert.deepEqual(b.op1('Reshape', [z, ints(b, [0, 3])], { allowzero: A.int(1) }).shape, [0, 3]);
  assert.deepEqual(b.op1('Reshape', [b.input('w', 'float32', [2, 3]), ints(b, [0, 3])]).shape, [2, 3]);
  assert.throws(() => b.input('u', 'float32', [2, 3]).reshape([-1, -1]), /more than one -1/);
  assert.throws(() => b.input('v', 'float32', [2, 3]).reshape([4, -1]), /do not divide/);
  assert.throws(() => b.input('t', 'float32', [2, 3]).reshape([5]), /cannot reshape/);
});

test('Expand: broadcasting up a rank and along size-1 axes', () =>
  gradCheck({ inputs: [{ name: 'x', dims: [3, 1] }], build: (b, v) => b.op1('Expand', [v.x!, ints(b, [2, 1, 3, 4])]) }));

test('Expand: fold', async () => {
  const [e] = await foldMatchesRuntime((g) => [g.op1('Expand', [g.constant(Tensor.int64([2, 1], [7, INT64_MAX])), ints(g, [2, 1, 3])])]);
  assert.deepEqual(e!.dims, [2, 2, 3]);
});

for (const opset of [12, 13]) {
  const form = opset < 13 ? 'attribute' : 'input';
  test(`Unsqueeze then Squeeze with negative axes (axes as ${form}, opset ${opset})`, () =>
    gradCheck({
      opset,
      inputs: [{ name: 'x', dims: [3, 1, 2] }],
      build: (b, v) => {
        const u = b.unsqueeze(v.x!, [-1, 0]);
        assert.deepEqual(u.shape, [1, 3, 1, 2, 1]);
        return b.squeeze(u, [-3]);
      },
    }));
  test(`Squeeze without axes removes every size-1 axis (opset ${opset})`, () =>
    gradCheck({ opset, inputs: [{ name: 'x', dims: [1, 3, 1, 2] }], build: (b, v) => b.op1('Squeeze', [v.x!]) }));
  test(`Unsqueeze and Squeeze fold int64 plumbing (opset ${opset})`, async () => {
    const [u, s] = await foldMatchesRuntime((g) => [g.unsqueeze(scalarInt(g, 5), [0]), g.squeeze(g.constant(Tensor.int64([1, 2], [3, 4])), [0])], opset);
    assert.deepEqual([u!.dims, s!.dims], [[1], [2]]);
  });
}

// ---------------------------------------------------------------------------------------------
// Second order: each rule's gradient differentiated again (hvpCheck: ∂(v·∂L/∂x)/∂p against
// central differences). The functions are nonlinear so the second derivatives are not 0.

test('second order: Reshape, Transpose, Unsqueeze, Squeeze, Flatten and Expand', () =>
  hvpCheck({
    inputs: [{ name: 'x', dims: [2, 3] }, { name: 'z', dims: [3, 1] }],
    build: (b, v) => {
      const t = v.x!.reshape([3, 2]).transpose([1, 0]);
      const u = b.squeeze(b.unsqueeze(t, [0]), [0]);
      const e = b.op1('Expand', [v.z!, b.constInt64([2, 3, 2])]);
      return b.op1('Flatten', [u.mul(v.x!).reshape([2, 3, 1]).mul(e)], { axis: A.int(1) });
    },
  }));
