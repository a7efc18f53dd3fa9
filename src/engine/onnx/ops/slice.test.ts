import { test } from 'node:test';
import assert from 'node:assert/strict';
import { A, GraphBuilder, type Value } from '../builder.js';
import { Tensor } from '../tensor.js';
import { Session } from '../../runtime.js';
import { foldMatchesRuntime as foldCheck } from '../testing/foldcheck.js';
import { gradCheck, randn, rng } from '../testing/gradcheck.js';
import { gradients } from '../autodiff.js';
import { hvpCheck } from '../testing/hvpcheck.js';

const foldMatchesRuntime = (build: (b: GraphBuilder) => Value[], opset = 17) => foldCheck(new GraphBuilder(opset), build);
const INT64_MAX = 9223372036854775807n;
const INT64_MIN = -9223372036854775808n;
const ints = (b: GraphBuilder, vals: (number | bigint)[]): Value => b.constant(Tensor.int64([vals.length], vals));

/** A view of x whose shape the builder cannot see (rank only): reshaped by a runtime int64 input. */
const hide = (b: GraphBuilder, x: Value, shape: Value): Value => b.op1('Reshape', [x, shape]);
const shapeInput = (name: string, dims: number[]) => ({ name, dims: [dims.length], dtype: 'int64' as const, values: dims });


/**
 * d(Σ y²)/dx through a graph whose input has symbolic dims equals the one through the same graph
 * with static dims (whose rules gradCheck covers): checks the shape-agnostic paths of a rule.
 */
async function dynamicMatchesStatic(dims: number[], symbolic: (number | string)[], build: (b: GraphBuilder, x: Value) => Value): Promise<void> {
  const values = randn(rng(5), dims.reduce((a, c) => a * c, 1));
  const gradFor = async (shape: (number | string)[]) => {
    const b = new GraphBuilder(17);
    const x = b.input('x', 'float64', shape);
    const y = build(b, x);
    const [g] = gradients(b, y.mul(y).sum(), [x]);
    b.output(g!, 'g');
    const s = await Session.create(b.toModel(), { device: 'cpu', intraOpThreads: 1 });
    const out = (await s.run({ x: Tensor.float64(dims, values) })).g!;
    await s.release();
    return out;
  };
  const expected = await gradFor(dims);
  const got = await gradFor(symbolic);
  assert.deepEqual([...got.dims], dims);
  assert.ok(expected.toNumbers().some((v) => v !== 0), 'the static gradient is all zeros: a useless check');
  got.toNumbers().forEach((v, k) => assert.ok(Math.abs(v - expected.toNumbers()[k]!) < 1e-12, `element ${k}: ${v} vs ${expected.toNumbers()[k]}`));
}

// ---------------------------------------------------------------------------------------------
// Slice

for (const opset of [13, 17]) {
  test(`Slice: unit steps, negative starts and axes, INT64_MAX end (opset ${opset})`, () =>
    gradCheck({
      opset,
      inputs: [{ name: 'x', dims: [3, 5, 4] }],
      build: (b, v) => b.op1('Slice', [v.x!, ints(b, [-4, 1]), ints(b, [INT64_MAX, -1]), ints(b, [1, -1])]),
    }));
}

test('Slice: step 2 and step -1 together, ends beyond the size', () =>
  gradCheck({
    inputs: [{ name: 'x', dims: [7, 5] }],
    build: (b, v) => b.op1('Slice', [v.x!, ints(b, [1, -1]), ints(b, [100, INT64_MIN]), ints(b, [0, 1]), ints(b, [2, -1])]),
  }));

test('Slice: step -2 from INT64_MAX start and step 3 with clamped bounds', () =>
  gradCheck({
    inputs: [{ name: 'x', dims: [6, 8] }],
    build: (b, v) => b.op1('Slice', [v.x!, ints(b, [INT64_MAX, -7]), ints(b, [0, 1000]), ints(b, [0, -1]), ints(b, [-2, 3])]),
  }));

test('Slice: strided axis before symbolic trailing dims (moved last internally) matches the static graph', () =>
  dynamicMatchesStatic([7, 2, 3], [7, 'h', 'w'], (b, x) => b.op1('Slice', [x, ints(b, [-1, 1]), ints(b, [0, INT64_MAX]), ints(b, [0, 2]), ints(b, [-3, 1])])));

test('Slice: dynamic dims elsewhere, and a start-to-end slice of a dynamic axis', () =>
  gradCheck({
    inputs: [{ name: 'x', dims: [4, 6] }, shapeInput('s', [4, 6])],
    build: (b, v) => {
      const x = hide(b, v.x!, v.s!);
      const y = b.op1('Slice', [x, ints(b, [1, 2]), ints(b, [INT64_MAX, INT64_MAX])]);
      return b.op1('Reshape', [y, ints(b, [3, 4])]);
    },
  }));

test('Slice: an empty slice gives a zero gradient', () =>
  gradCheck({
    inputs: [{ name: 'x', dims: [3, 4] }],
    build: (b, v) => b.op1('Slice', [v.x!, ints(b, [3]), ints(b, [1]), ints(b, [1])]).add(b.op1('ReduceSum', [v.x!], { keepdims: A.int(1) })),
  }));

test('Slice: infer keeps symbolic dims for whole-axis slices, folds int64 vectors bit for bit', async () => {
  const b = new GraphBuilder(17);
  const x = b.input('x', 'float32', ['batch', 10, 'seq']);
  const y = b.op1('Slice', [x, ints(b, [0, 2, -3]), ints(b, [INT64_MAX, -1, INT64_MAX]), ints(b, [0, 1, 2])]);
  assert.deepEqual(y.shape, ['batch', 7, null]);
  const z = b.op1('Slice', [x, ints(b, [8]), ints(b, [0]), ints(b, [-2]), ints(b, [-3])]);
  assert.deepEqual(z.shape, ['batch', 3, 'seq']);
  const unknownStarts = b.op1('Slice', [x, b.op1('Shape', [x]), ints(b, [5, 5, 5])]);
  assert.deepEqual(unknownStarts.shape, [null, null, null]);
  const [a, c] = await foldMatchesRuntime((g) => {
    const v = ints(g, [5, INT64_MAX, -2, INT64_MIN, 7]);
    return [
      g.op1('Slice', [v, ints(g, [1]), ints(g, [INT64_MAX])]),
      g.op1('Slice', [v, ints(g, [-1]), ints(g, [INT64_MIN]), ints(g, [0]), ints(g, [-2])]),
    ];
  });
  assert.deepEqual(Array.from(a!.data as BigInt64Array), [INT64_MAX, -2n, INT64_MIN, 7n]);
  assert.deepEqual(Array.from(c!.data as BigInt64Array), [7n, -2n, 5n]);
});

test('Slice: a gradient with unknown bounds is refused with a clear message', () =>
  assert.rejects(
    gradCheck({
      inputs: [{ name: 'x', dims: [4] }, shapeInput('st', [1])],
      build: (b, v) => b.op1('Reshape', [b.op1('Slice', [v.x!, v.st!, ints(b, [3])]), ints(b, [2])]),
    }),
    /starts, ends, axes and steps known/,
  ));

// ---------------------------------------------------------------------------------------------
// Pad

for (const opset of [13, 18]) {
  test(`Pad: positive, negative (crop) and mixed pads (opset ${opset})`, () =>
    gradCheck({
      opset,
      inputs: [{ name: 'x', dims: [3, 4, 5] }],
      build: (b, v) => b.op1('Pad', [v.x!, ints(b, [1, 0, -2, 2, -1, 1])]),
    }));
}

test('Pad: constant_value input carries no gradient; opset 18 axes input with negative axes', () =>
  gradCheck({
    opset: 18,
    inputs: [{ name: 'x', dims: [2, 3, 4] }, { name: 'c', dims: [], wrt: false }],
    build: (b, v) => b.op1('Pad', [v.x!, ints(b, [2, -1, 1, 3]), v.c!, ints(b, [-1, 0])]),
  }));

test('Pad: dynamic dims do not matter', () =>
  gradCheck({
    inputs: [{ name: 'x', dims: [3, 4] }, shapeInput('s', [3, 4])],
    build: (b, v) => {
      const y = b.op1('Pad', [hide(b, v.x!, v.s!), ints(b, [1, -1, 0, 2])]);
      assert.deepEqual(y.shape, [null, null]);
      return b.op1('Reshape', [y, ints(b, [4, 5])]);
    },
  }));

test('Pad: infer, and reflect mode refuses a gradient', async () => {
  const b = new GraphBuilder(17);
  const x = b.input('x', 'float32', ['n', 3, 4]);
  assert.deepEqual(b.op1('Pad', [x, ints(b, [0, 1, -1, 0, 2, 0])]).shape, ['n', 6, 3]);
  await assert.rejects(
    gradCheck({ inputs: [{ name: 'x', dims: [4] }], build: (g, v) => g.op1('Pad', [v.x!, ints(g, [1, 1])], { mode: 'reflect' }) }),
    /only constant padding is differentiable/,
  );
});

// ---------------------------------------------------------------------------------------------
// Second order: each rule's gradient differentiated again (hvpCheck: ∂(v·∂L/∂x)/∂p against
// central differences). The functions are nonlinear so the second derivatives are not 0.

test('second order: strided Slice and cropping Pad, squared', () =>
  hvpCheck({
    inputs: [{ name: 'x', dims: [6, 4] }],
    build: (b, v) => {
      const s = b.op1('Slice', [v.x!, b.constInt64([5, 1]), b.constInt64([0, 4]), b.constInt64([0, 1]), b.constInt64([-2, 2])]);
      const p = b.op1('Pad', [s, b.constInt64([1, -1, 0, 2])]);
      return p.mul(p);
    },
  }));
