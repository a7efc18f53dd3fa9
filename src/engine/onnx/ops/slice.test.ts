import { test } from 'node:test';
import assert from 'node:assert/strict';
import { A, GraphBuilder, type Value } from '../builder.js';
import { Tensor } from '../tensor.js';
import { Session } from '../../runtime.js';
import { foldMatchesRuntime as foldCheck } from '../testing/foldcheck.js';
import { gradCheck, randn, rng } from '../testing/gradcheck.js';
import { gradients } from '../autodiff.js';

const foldMatchesRuntime = (build: (b: GraphBuilder) => Value[], opset = 17) => foldCheck(new GraphBuilder(opset), build);
const INT64_MAX = 9223372036854775807n;
const INT64_MIN = -9223372036854775808n;
const ints = (b: GraphBuilder, vals: (number | bigint)[]): Value => b.constant(Tensor.int64([vals.length], vals));
const scalarInt = (b: GraphBuilder, v: number): Value => b.constant(Tensor.int64([], [v]));

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
// Gather

/** Indices with a negative and repeated entries, so the gradient has to accumulate. */
const IDX = [2, -1, 0, 2, -3];

for (const opset of [13, 17]) {
  const path = opset >= 16 ? 'ScatterND' : 'one-hot';
  test(`Gather (${path}, opset ${opset}): axis 0, repeated and negative indices`, () =>
    gradCheck({
      opset,
      inputs: [{ name: 'x', dims: [4, 3] }],
      build: (b, v) => b.op1('Gather', [v.x!, ints(b, IDX)], { axis: A.int(0) }),
    }));
  test(`Gather (${path}, opset ${opset}): axis -2 with 2-D runtime indices`, () =>
    gradCheck({
      opset,
      inputs: [{ name: 'x', dims: [2, 4, 3] }, { name: 'i', dims: [2, 3], dtype: 'int64', values: [3, -4, 3, 1, -1, 3] }],
      build: (b, v) => b.op1('Gather', [v.x!, v.i!], { axis: A.int(-2) }),
    }));
  test(`Gather (${path}, opset ${opset}): runtime scalar int32 index on the last axis`, () =>
    gradCheck({
      opset,
      inputs: [{ name: 'x', dims: [3, 2, 5] }, { name: 'i', dims: [], dtype: 'int32', values: [-2] }],
      build: (b, v) => b.op1('Gather', [v.x!, v.i!], { axis: A.int(2) }),
    }));
  test(`Gather (${path}, opset ${opset}): data of dynamic shape`, () =>
    gradCheck({
      opset,
      inputs: [{ name: 'x', dims: [3, 4] }, shapeInput('s', [3, 4]), { name: 'i', dims: [4], dtype: 'int64', values: [1, 1, -1, 0] }],
      build: (b, v) => {
        const g = b.op1('Gather', [hide(b, v.x!, v.s!), v.i!], { axis: A.int(1) });
        assert.deepEqual(g.shape, [null, 4]);
        return b.op1('Reshape', [g, ints(b, [3, 4])]);
      },
    }));
}

test('Gather: one known scalar index (the CLS-token read) takes the Pad path', () =>
  gradCheck({
    opset: 13,
    inputs: [{ name: 'x', dims: [2, 4, 3] }],
    build: (b, v) => {
      const y = b.op1('Gather', [v.x!, b.constant(Tensor.floats('int32', [], [-3]))], { axis: A.int(1) });
      return b.op1('Gather', [y, scalarInt(b, 0)], { axis: A.int(0) });
    },
  }));

test('Gather: infer and fold (torch reads dims with Gather(Shape(x), k))', async () => {
  const b = new GraphBuilder(17);
  const x = b.input('x', 'float32', ['n', 5, 7]);
  assert.deepEqual(b.op1('Gather', [x, b.input('i', 'int64', [2, 3])], { axis: A.int(1) }).shape, ['n', 2, 3, 7]);
  assert.deepEqual(b.op1('Gather', [x, scalarInt(b, -1)], { axis: A.int(-1) }).shape, ['n', 5]);
  const [d, m] = await foldMatchesRuntime((g) => [
    g.op1('Gather', [ints(g, [2, 5, 7]), scalarInt(g, -1)], { axis: A.int(0) }),
    g.op1('Gather', [g.constant(Tensor.float32([2, 3], [1, 2, 3, 4, 5, 6])), g.constant(Tensor.int64([2, 2], [2, 0, -1, 1]))], { axis: A.int(1) }),
  ]);
  assert.deepEqual(d!.dims, []);
  assert.deepEqual(d!.toNumbers(), [7]);
  assert.deepEqual(m!.dims, [2, 2, 2]);
});

// ---------------------------------------------------------------------------------------------
// GatherElements

test('GatherElements: repeated and negative indices along a negative axis (opset 16)', () =>
  gradCheck({
    opset: 16,
    inputs: [{ name: 'x', dims: [2, 3] }],
    build: (b, v) => b.op1('GatherElements', [v.x!, b.constant(Tensor.int64([2, 4], [0, -1, 0, 2, 1, 1, -3, 2]))], { axis: A.int(-1) }),
  }));

test('GatherElements: runtime indices on axis 0 (opset 17)', () =>
  gradCheck({
    inputs: [{ name: 'x', dims: [3, 2] }, { name: 'i', dims: [4, 2], dtype: 'int64', values: [0, 2, -1, 1, 0, 0, 2, -2] }],
    build: (b, v) => b.op1('GatherElements', [v.x!, v.i!], { axis: A.int(0) }),
  }));

test('GatherElements: before opset 16 the gradient is refused with a clear message', () =>
  assert.rejects(
    gradCheck({
      opset: 13,
      inputs: [{ name: 'x', dims: [3] }],
      build: (b, v) => b.op1('GatherElements', [v.x!, ints(b, [0, 0])], { axis: A.int(0) }),
    }),
    /opset 16/,
  ));

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
