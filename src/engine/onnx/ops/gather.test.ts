import { test } from 'node:test';
import assert from 'node:assert/strict';
import { A, GraphBuilder, type Value } from '../builder.js';
import { Tensor } from '../tensor.js';
import { foldMatchesRuntime as foldCheck } from '../testing/foldcheck.js';
import { gradCheck } from '../testing/gradcheck.js';
import { gradients } from '../autodiff.js';
import { hvpCheck } from '../testing/hvpcheck.js';

const foldMatchesRuntime = (build: (b: GraphBuilder) => Value[], opset = 17) => foldCheck(new GraphBuilder(opset), build);
const ints = (b: GraphBuilder, vals: number[], dims = [vals.length]): Value => b.constant(Tensor.int64(dims, vals));
const scalarInt = (b: GraphBuilder, v: number): Value => b.constant(Tensor.int64([], [v]));

/** A view of x whose shape the builder cannot see (rank only): reshaped by a runtime int64 input. */
const hide = (b: GraphBuilder, x: Value, shape: Value): Value => b.op1('Reshape', [x, shape]);
const shapeInput = (name: string, dims: number[]) => ({ name, dims: [dims.length], dtype: 'int64' as const, values: dims });

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

test('GatherElements: infer checks ranks, folds bit for bit', async () => {
  const b = new GraphBuilder(17);
  const x = b.input('x', 'float32', ['n', 5]);
  assert.deepEqual(b.op1('GatherElements', [x, b.input('i', 'int64', ['n', 2])], { axis: A.int(1) }).shape, ['n', 2]);
  assert.throws(() => b.op1('GatherElements', [x, ints(b, [0, 1])], { axis: A.int(0) }), /differ in rank/);
  const [g] = await foldMatchesRuntime((f) => [
    f.op1('GatherElements', [ints(f, [10, 11, 12, 13, 14, 15], [2, 3]), ints(f, [2, -1, 0, 1, 1, -3], [2, 3])], { axis: A.int(1) }),
  ]);
  assert.deepEqual(g!.toNumbers(), [12, 12, 10, 14, 14, 13]);
});

// ---------------------------------------------------------------------------------------------
// GatherND

test('GatherND: whole rows and single elements, repeated tuples accumulate (opset 16)', () =>
  gradCheck({
    opset: 16,
    inputs: [{ name: 'x', dims: [3, 2, 4] }],
    build: (b, v) => {
      const rows = b.op1('GatherND', [v.x!, ints(b, [2, 1, 0, 0, 2, 1], [3, 2])]);
      const elems = b.op1('GatherND', [v.x!, ints(b, [1, 1, 3, -1, 0, -1], [2, 3])]);
      return b.op1('Concat', [rows.reshape([-1]), elems], { axis: A.int(0) });
    },
  }));

test('GatherND: runtime indices (opset 17)', () =>
  gradCheck({
    inputs: [{ name: 'x', dims: [4, 3] }, { name: 'i', dims: [2, 2, 1], dtype: 'int64', values: [3, 0, 3, -4] }],
    build: (b, v) => b.op1('GatherND', [v.x!, v.i!]),
  }));

test('GatherND: infer, fold with batch_dims, and refused gradients', async () => {
  const b = new GraphBuilder(17);
  const x = b.input('x', 'float64', ['n', 5, 7]);
  assert.deepEqual(b.op1('GatherND', [x, b.input('i', 'int64', [2, 3, 2])]).shape, [2, 3, 7]);
  assert.deepEqual(b.op1('GatherND', [x, b.input('j', 'int64', ['n', 1])], { batch_dims: A.int(1) }).shape, ['n', 7]);
  assert.throws(() => b.op1('GatherND', [x, ints(b, [0, 0, 0, 0], [1, 4])]), /do not fit/);
  const [a, c] = await foldMatchesRuntime((f) => [
    f.op1('GatherND', [ints(f, [1, 2, 3, 4, 5, 6], [3, 2]), ints(f, [2, 0, -1], [3, 1])]),
    f.op1('GatherND', [ints(f, [1, 2, 3, 4, 5, 6, 7, 8], [2, 2, 2]), ints(f, [1, 0, 0, 1], [2, 2])], { batch_dims: A.int(1) }),
  ]);
  assert.deepEqual(a!.toNumbers(), [5, 6, 1, 2, 5, 6]);
  assert.deepEqual(c!.toNumbers(), [3, 6]);
  const batched = b.op1('GatherND', [x, b.input('k', 'int64', ['n', 1])], { batch_dims: A.int(1) });
  assert.throws(() => gradients(b, batched.sum(), [x]), /batch_dims 0 only/);
  const old = new GraphBuilder(13);
  const y = old.input('y', 'float64', [3, 2]);
  assert.throws(() => gradients(old, old.op1('GatherND', [y, ints(old, [1], [1, 1])]).sum(), [y]), /opset 16/);
});

// ---------------------------------------------------------------------------------------------
// ScatterElements / ScatterND: gradients to data and updates; indices carry none.

for (const reduction of ['none', 'add'] as const) {
  // 'none' needs distinct target positions (ONNX leaves repeated ones undefined); 'add' repeats one.
  const elementIdx = reduction === 'none' ? [1, -1, 0, 2, 1, 0] : [1, -1, 1, 2, 2, 0];
  test(`ScatterElements (${reduction}): data and updates along axis 1`, () =>
    gradCheck({
      inputs: [
        { name: 'data', dims: [2, 4] },
        { name: 'upd', dims: [2, 3] },
        { name: 'i', dims: [2, 3], dtype: 'int64', values: elementIdx },
      ],
      build: (b, v) => b.op1('ScatterElements', [v.data!, v.i!, v.upd!], { axis: A.int(1), reduction: A.string(reduction) }),
    }));
  const tupleIdx = reduction === 'none' ? [2, 0, -2] : [2, 0, 2];
  test(`ScatterND (${reduction}): whole rows, with data of dynamic shape`, () =>
    gradCheck({
      inputs: [
        { name: 'data', dims: [3, 4] },
        shapeInput('s', [3, 4]),
        { name: 'upd', dims: [3, 4] },
        { name: 'i', dims: [3, 1], dtype: 'int64', values: tupleIdx },
      ],
      build: (b, v) => {
        const y = b.op1('ScatterND', [hide(b, v.data!, v.s!), v.i!, v.upd!], { reduction: A.string(reduction) });
        return y.reshape([3, 4]);
      },
    }));
}

test('ScatterND: single elements overwritten', () =>
  gradCheck({
    inputs: [{ name: 'data', dims: [2, 3] }, { name: 'upd', dims: [2] }],
    build: (b, v) => b.op1('ScatterND', [v.data!, ints(b, [1, 2, 0, -3], [2, 2]), v.upd!]),
  }));

test('Scatter: mul/max/min reductions are refused with a clear message', () => {
  const b = new GraphBuilder(18);
  const x = b.input('x', 'float64', [3]);
  const y = b.op1('ScatterElements', [x, ints(b, [0]), x.mul(2).reshape([3]).sum([0], true)], { axis: A.int(0), reduction: A.string('max') });
  assert.throws(() => gradients(b, y.sum(), [x]), /reduction 'max' has no gradient rule/);
});

test('Scatter: infer keeps data\'s shape; overwriting scatters fold bit for bit', async () => {
  const b = new GraphBuilder(17);
  const x = b.input('x', 'float32', ['n', 4]);
  assert.deepEqual(b.op1('ScatterND', [x, b.input('i', 'int64', [2, 1]), b.input('u', 'float32', [2, 4])]).shape, ['n', 4]);
  assert.throws(() => b.op1('ScatterElements', [x, ints(b, [0]), ints(b, [1, 1], [1, 2])]), /differ in rank/);
  const [e, n] = await foldMatchesRuntime((f) => [
    f.op1('ScatterElements', [ints(f, [0, 0, 0, 0, 0, 0], [2, 3]), ints(f, [2, -3], [2, 1]), ints(f, [7, 8], [2, 1])], { axis: A.int(1) }),
    f.op1('ScatterND', [ints(f, [1, 2, 3, 4, 5, 6], [3, 2]), ints(f, [-1, 0], [2, 1]), ints(f, [9, 9, 8, 8], [2, 2])]),
  ]);
  assert.deepEqual(e!.toNumbers(), [0, 0, 7, 8, 0, 0]);
  assert.deepEqual(n!.toNumbers(), [8, 8, 3, 4, 9, 9]);
  const add = b.op1('ScatterND', [ints(b, [1, 2], [2]), ints(b, [0, 0], [2, 1]), ints(b, [5, 5], [2])], { reduction: A.string('add') });
  assert.equal(add.known, undefined, 'an accumulating scatter is left to the runtime');
});

// ---------------------------------------------------------------------------------------------
// Second order: each rule's gradient differentiated again (hvpCheck: ∂(v·∂L/∂x)/∂p against
// central differences). The functions are nonlinear so the second derivatives are not 0.

for (const opset of [13, 17]) {
  test(`second order: Gather with repeated indices, squared (opset ${opset})`, () =>
    hvpCheck({
      opset,
      inputs: [{ name: 'x', dims: [4, 3] }],
      build: (b, v) => {
        const g = b.op1('Gather', [v.x!, ints(b, [2, -1, 0, 2, 1], [5])], { axis: A.int(0) });
        return g.mul(g);
      },
    }));
}

test('second order: GatherElements and GatherND, squared (opset 16)', () =>
  hvpCheck({
    opset: 16,
    inputs: [{ name: 'x', dims: [2, 3] }],
    build: (b, v) => {
      const e = b.op1('GatherElements', [v.x!, ints(b, [0, -1, 0, 2, 1, 1, 1, 2], [2, 4])], { axis: A.int(1) });
      const n = b.op1('GatherND', [v.x!, ints(b, [1, 1, 0, 2, 1, 1, 1, 0], [2, 2, 2])]).reshape([2, 2]);
      return e.mul(e).reshape([4, 2]).mul(b.op1('Concat', [n, n], { axis: A.int(0) }));
    },
  }));

for (const reduction of ['none', 'add'] as const) {
  test(`second order: ScatterElements and ScatterND (${reduction}), by data and updates`, () =>
    hvpCheck({
      inputs: [{ name: 'data', dims: [3, 4] }, { name: 'ue', dims: [3, 2] }, { name: 'un', dims: [2, 4] }],
      build: (b, v) => {
        const e = b.op1('ScatterElements', [v.data!, ints(b, [1, 3, 0, 2, -1, 1], [3, 2]), v.ue!], { axis: A.int(1), reduction: A.string(reduction) });
        const n = b.op1('ScatterND', [e, ints(b, [2, 0], [2, 1]), v.un!.mul(v.un!)], { reduction: A.string(reduction) });
        return n.mul(n).mul(v.data!);
      },
    }));
}
