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

/** A view of x whose shape the builder cannot see (rank only): reshaped by a runtime int64 input. */
const hide = (b: GraphBuilder, x: Value, shape: Value): Value => b.op1('Reshape', [x, shape]);
const shapeInput = (name: string, dims: number[]) => ({ name, dims: [dims.length], dtype: 'int64' as const, values: dims });

// ---------------------------------------------------------------------------------------------
// Concat

test('Concat: three inputs along a negative axis', () =>
  gradCheck({
    inputs: [{ name: 'a', dims: [2, 3, 1] }, { name: 'b', dims: [2, 3, 4] }, { name: 'c', dims: [2, 3, 2] }],
    build: (b, v) => b.op1('Concat', [v.a!, v.b!, v.c!], { axis: A.int(-1) }),
  }));

test('Concat: the same input twice, and inputs of dynamic size along the axis', () =>
  gradCheck({
    inputs: [{ name: 'a', dims: [2, 3] }, { name: 'b', dims: [4, 3] }, shapeInput('s', [2, 3])],
    build: (b, v) => {
      const a = hide(b, v.a!, v.s!);
      const y = b.op1('Concat', [a, v.b!, a], { axis: A.int(0) });
      assert.deepEqual(y.shape, [null, 3]);
      return b.op1('Reshape', [y, ints(b, [8, 3])]);
    },
  }));

test('Concat: infer and int64 fold', async () => {
  const b = new GraphBuilder(17);
  const x = b.input('x', 'float32', ['n', 3]);
  const y = b.input('y', 'float32', ['n', 5]);
  assert.deepEqual(b.op1('Concat', [x, y], { axis: A.int(1) }).shape, ['n', 8]);
  assert.deepEqual(b.op1('Concat', [x, y.transpose([1, 0]).transpose([1, 0])], { axis: A.int(0) }).shape, [null, 3]);
  const [v] = await foldMatchesRuntime((g) => [g.op1('Concat', [ints(g, [1]), ints(g, [-1, 4]), ints(g, [INT64_MAX])], { axis: A.int(0) })]);
  assert.deepEqual(Array.from(v!.data as BigInt64Array), [1n, -1n, 4n, INT64_MAX]);
  await foldMatchesRuntime((g) => [
    g.op1('Concat', [g.constant(Tensor.int64([2, 1], [1, 2])), g.constant(Tensor.int64([2, 2], [3, 4, 5, 6]))], { axis: A.int(-1) }),
  ]);
});

// ---------------------------------------------------------------------------------------------
// Split

test('Split: opset 12 split attribute, only some outputs used', () =>
  gradCheck({
    opset: 12,
    inputs: [{ name: 'x', dims: [2, 6] }],
    build: (b, v) => {
      const [p, , r] = b.op('Split', [v.x!], { axis: A.int(-1), split: A.ints([1, 2, 3]) }, { outputs: 3 });
      return b.op1('Concat', [r!, p!], { axis: A.int(1) });
    },
  }));

test('Split: opset 13 split input', () =>
  gradCheck({
    opset: 13,
    inputs: [{ name: 'x', dims: [5, 3] }],
    build: (b, v) => {
      const [p, q] = b.op('Split', [v.x!, ints(b, [2, 3])], { axis: A.int(0) }, { outputs: 2 });
      assert.deepEqual(p!.shape, [2, 3]);
      return q!.mul(2).sum([0], true).add(p!.sum([0], true));
    },
  }));

test('Split: equal parts by default, the last output alone used', () =>
  gradCheck({
    opset: 17,
    inputs: [{ name: 'x', dims: [3, 6] }],
    build: (b, v) => b.op('Split', [v.x!], { axis: A.int(1) }, { outputs: 3 })[2]!,
  }));

test('Split: opset 18 num_outputs with an uneven last chunk', () =>
  gradCheck({
    opset: 18,
    inputs: [{ name: 'x', dims: [7, 2] }],
    build: (b, v) => {
      const outs = b.op('Split', [v.x!], { axis: A.int(0), num_outputs: A.int(3) }, { outputs: 3 });
      assert.deepEqual(outs.map((o) => o.shape[0]), [3, 3, 1]);
      return b.op1('Concat', [outs[2]!, outs[0]!], { axis: A.int(0) });
    },
  }));

test('Split: fold matches the runtime', async () => {
  const outs = await foldMatchesRuntime((g) => g.op('Split', [ints(g, [4, 5, 6, INT64_MAX, 8]), ints(g, [3, 2])], { axis: A.int(0) }, { outputs: 2 }));
  assert.deepEqual(Array.from(outs[1]!.data as BigInt64Array), [INT64_MAX, 8n]);
});

// ---------------------------------------------------------------------------------------------
// Tile

test('Tile: static repeats', () =>
  gradCheck({
    inputs: [{ name: 'x', dims: [2, 1, 3] }],
    build: (b, v) => b.op1('Tile', [v.x!, ints(b, [2, 3, 1])]),
  }));

test('Tile: dynamic input and runtime repeats', () =>
  gradCheck({
    inputs: [{ name: 'x', dims: [2, 3] }, shapeInput('s', [2, 3]), { name: 'r', dims: [2], dtype: 'int64', values: [3, 2] }],
    build: (b, v) => {
      const y = b.op1('Tile', [hide(b, v.x!, v.s!), v.r!]);
      assert.deepEqual(y.shape, [null, null]);
      return b.op1('Reshape', [y, ints(b, [6, 6])]);
    },
  }));

test('Tile: infer and fold', async () => {
  const b = new GraphBuilder(17);
  assert.deepEqual(b.op1('Tile', [b.input('x', 'float32', ['n', 2]), ints(b, [1, 3])]).shape, ['n', 6]);
  await foldMatchesRuntime((g) => [g.op1('Tile', [g.constant(Tensor.int64([2, 1], [1, INT64_MAX])), ints(g, [2, 3])])]);
});

// ---------------------------------------------------------------------------------------------
// Second order: each rule's gradient differentiated again (hvpCheck: ∂(v·∂L/∂x)/∂p against
// central differences). The functions are nonlinear so the second derivatives are not 0.

test('second order: Concat, Split and Tile', () =>
  hvpCheck({
    inputs: [{ name: 'x', dims: [2, 3] }, { name: 'y', dims: [2, 3] }],
    build: (b, v) => {
      const c = b.op1('Concat', [v.x!, v.y!], { axis: A.int(0) });
      const [p, q] = b.op('Split', [c, b.constInt64([2, 2])], { axis: A.int(0) }, { outputs: 2 });
      return b.op1('Tile', [p!.mul(q!), b.constInt64([2, 1])]).mul(b.op1('Tile', [v.x!, b.constInt64([2, 1])]));
    },
  }));
