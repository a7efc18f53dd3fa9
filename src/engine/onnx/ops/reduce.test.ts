import assert from 'node:assert/strict';
import { test } from 'node:test';
import { A, GraphBuilder, type Value } from '../builder.js';
import { gradients } from '../autodiff.js';
import { Tensor } from '../tensor.js';
import { Session } from '../../runtime.js';
import { gradCheck, randn, rng } from '../testing/gradcheck.js';
import './index.js';
import { hvpCheck } from '../testing/hvpcheck.js';

const DIFFERENTIABLE = [
  'ReduceSum', 'ReduceMean', 'ReduceMax', 'ReduceMin', 'ReduceSumSquare',
  'ReduceL1', 'ReduceL2', 'ReduceLogSumExp', 'ReduceProd',
] as const;

/** Opset 13: axes are an attribute (an input for ReduceSum); opset 18: an input for all. */
const OPSETS = [13, 18] as const;
const AXES: (number[] | undefined)[] = [[1], [-1], [0, -1], undefined];

for (const op of DIFFERENTIABLE) {
  for (const opset of OPSETS) {
    for (const axes of AXES) {
      for (const keepdims of [false, true]) {
        const what = `${op} opset ${opset}, axes ${axes ? `[${axes.join(',')}]` : 'all'}, keepdims ${Number(keepdims)}`;
        test(`${what}: gradient`, () =>
          gradCheck({
            opset,
            inputs: [{ name: 'x', dims: [2, 3, 2] }],
            build: (b, v) => b.reduce(op, v.x!, axes, keepdims),
          }));
      }
    }
  }
  // noop_with_empty_axes belongs to the input form: opset 13 for ReduceSum, 18 for the rest.
  const noopOpset = op === 'ReduceSum' ? 13 : 18;
  test(`${op}: noop_with_empty_axes with an empty axes input, gradient`, () =>
    gradCheck({
      opset: noopOpset,
      inputs: [{ name: 'x', dims: [2, 3] }],
      build: (b, v) => b.op1(op, [v.x!, b.constInt64([])], { keepdims: 0, noop_with_empty_axes: 1 }),
    }));
  test(`${op}: noop_with_empty_axes with no axes input, gradient`, () =>
    gradCheck({
      opset: noopOpset,
      inputs: [{ name: 'x', dims: [3] }],
      build: (b, v) => b.op1(op, [v.x!], { noop_with_empty_axes: 1 }),
    }));
}

test('reductions feeding each other (softmax-like chain) differentiate together', () =>
  gradCheck({
    inputs: [{ name: 'x', dims: [2, 4] }],
    build: (b, v) => {
      const lse = b.reduce('ReduceLogSumExp', v.x!, [1], true);
      return b.reduce('ReduceMax', v.x!.sub(lse), [1], false).add(b.reduce('ReduceL2', v.x!, [-1], false));
    },
  }));

// ---------------------------------------------------------------------------------------------
// Gradients checked against exact values, where finite differences cannot be used.

/** Runs d(Σ y·w)/dx for a reduction built by `build`, returning the gradient's numbers. */
async function gradOf(
  dims: (number | string)[],
  values: number[],
  feedDims: number[],
  build: (b: GraphBuilder, x: Value) => Value,
  weights?: number[],
): Promise<number[]> {
  const b = new GraphBuilder(17);
  const x = b.input('x', 'float64', dims);
  const y = build(b, x);
  const w = weights ? b.constant(Tensor.float64([weights.length], weights)) : undefined;
  const loss = (w ? y.mul(w) : y).sum();
  b.output(loss, 'loss');
  b.output(gradients(b, loss, [x])[0]!, 'gx');
  const s = await Session.create(b.toModel(), { device: 'cpu', intraOpThreads: 1 });
  const out = await s.run({ x: Tensor.float64(feedDims, values) });
  await s.release();
  return out.gx!.toNumbers();
}

test('ReduceMax: tied maxima split the gradient evenly', async () => {
  const g = await gradOf([2, 3], [1, 3, 3, 2, 0, -1], [2, 3], (b, x) => b.reduce('ReduceMax', x, [1], false));
  assert.deepEqual(g, [0, 0.5, 0.5, 1, 0, 0]);
});

test('ReduceMin: three-way tie over all axes', async () => {
  const g = await gradOf([2, 2], [-1, -1, 4, -1], [2, 2], (b, x) => b.reduce('ReduceMin', x, undefined, false));
  assert.deepEqual(g.map((v) => Math.round(v * 1e12) / 1e12), [1 / 3, 1 / 3, 0, 1 / 3].map((v) => Math.round(v * 1e12) / 1e12));
});

test('ReduceL2: an all-zero row gets the zero subgradient, not NaN', async () => {
  const g = await gradOf([2, 2], [0, 0, 3, 4], [2, 2], (b, x) => b.reduce('ReduceL2', x, [1], false));
  assert.deepEqual(g.map((v) => +v.toFixed(12)), [0, 0, 0.6, 0.8]);
});

test('ReduceMean and ReduceMax: a dynamic reduced dim differentiates (group size from runtime shapes)', async () => {
  const w = [1, -2, 0.5];
  const vals = randn(rng(3), 12);
  const g = await gradOf(['n', 3], vals, [4, 3], (b, x) => b.reduce('ReduceMean', x, [0], false), w);
  assert.deepEqual(g.map((v) => +v.toFixed(12)), [0, 1, 2, 3].flatMap(() => w.map((c) => +(c / 4).toFixed(12))));
  const gm = await gradOf(['n', 3], vals, [4, 3], (b, x) => b.reduce('ReduceMax', x, [-2], false), w);
  for (let j = 0; j < 3; j++) {
    const col = [0, 1, 2, 3].map((i) => vals[i * 3 + j]!);
    const win = col.indexOf(Math.max(...col));
    // + 0 turns the -0 of 0·(negative weight) into 0 for the comparison.
    assert.deepEqual([0, 1, 2, 3].map((i) => gm[i * 3 + j]! + 0), [0, 1, 2, 3].map((i) => (i === win ? w[j] : 0)));
  }
});

// ---------------------------------------------------------------------------------------------
// Shape inference.

function inferred(opset: number, build: (b: GraphBuilder, x: Value) => Value, dims: (number | string)[] = [2, 'n', 4]) {
  const b = new GraphBuilder(opset);
  const y = build(b, b.input('x', 'float32', dims));
  return { dtype: y.dtype, shape: y.meta.shape };
}

test('infer: attribute axes (opset 13), negative, keepdims 0', () => {
  assert.deepEqual(inferred(13, (b, x) => b.op1('ReduceMean', [x], { axes: A.ints([-1]), keepdims: 0 })), { dtype: 'float32', shape: [2, 'n'] });
});

test('infer: input axes (opset 18), keepdims defaults to 1', () => {
  assert.deepEqual(inferred(18, (b, x) => b.op1('ReduceL2', [x, b.constInt64([0, 2])])), { dtype: 'float32', shape: [1, 'n', 1] });
});

test('infer: no axes reduces all, to a scalar without keepdims', () => {
  assert.deepEqual(inferred(18, (b, x) => b.reduce('ReduceMax', x, undefined, false)).shape, []);
  assert.deepEqual(inferred(13, (b, x) => b.reduce('ReduceLogSumExp', x, undefined, true)).shape, [1, 1, 1]);
});

test('infer: noop_with_empty_axes keeps the shape', () => {
  assert.deepEqual(inferred(18, (b, x) => b.op1('ReduceSumSquare', [x, b.constInt64([])], { noop_with_empty_axes: 1, keepdims: 0 })).shape, [2, 'n', 4]);
  assert.deepEqual(inferred(18, (b, x) => b.op1('ReduceMin', [x], { noop_with_empty_axes: 1 })).shape, [2, 'n', 4]);
});

test('infer: axes that are not known at build time are refused with a message', () => {
  const b = new GraphBuilder(18);
  const x = b.input('x', 'float32', [2, 3]);
  const axes = b.input('axes', 'int64', [1]);
  assert.throws(() => b.op1('ReduceProd', [x, axes]), /axes must be known/);
});

test('infer: ArgMax/ArgMin give int64 and honour axis and keepdims', () => {
  assert.deepEqual(inferred(13, (b, x) => b.op1('ArgMax', [x], { axis: -1, keepdims: 0 })), { dtype: 'int64', shape: [2, 'n'] });
  assert.deepEqual(inferred(13, (b, x) => b.op1('ArgMin', [x], { axis: 1 })), { dtype: 'int64', shape: [2, 1, 4] });
  assert.deepEqual(inferred(13, (b, x) => b.op1('ArgMax', [x])), { dtype: 'int64', shape: [1, 'n', 4] });
  assert.throws(() => inferred(13, (b, x) => b.op1('ArgMax', [x], { axis: 3 })), /out of range/);
});

// ---------------------------------------------------------------------------------------------
// Folding.

const known = (v: Value): { dims: number[]; values: number[]; dtype: string } => {
  const t = v.known;
  assert.ok(t, `${v.name} was not folded`);
  return { dims: [...t.dims], values: t.toNumbers(), dtype: t.dtype };
};

test('fold: ReduceProd of a known int64 shape vector (torch exports use it for sizes)', () => {
  for (const opset of [13, 18]) {
    const b = new GraphBuilder(opset);
    const shape = b.constInt64([2, 3, 4]);
    assert.deepEqual(known(b.reduce('ReduceProd', shape, [0], false)), { dims: [], values: [24], dtype: 'int64' });
    assert.deepEqual(known(b.reduce('ReduceProd', b.constInt64([]), undefined, true)), { dims: [1], values: [1], dtype: 'int64' });
  }
});

test('fold: ReduceSum, ReduceMean, ReduceMax, ReduceMin over chosen axes', () => {
  const b = new GraphBuilder(18);
  const x = b.constant(Tensor.float64([2, 3], [1, -2, 6, 4, 5, -3]));
  assert.deepEqual(known(b.reduce('ReduceSum', x, [1], false)).values, [5, 6]);
  assert.deepEqual(known(b.reduce('ReduceMean', x, [0], true)), { dims: [1, 3], values: [2.5, 1.5, 1.5], dtype: 'float64' });
  assert.deepEqual(known(b.reduce('ReduceMax', x, [-1], false)).values, [6, 5]);
  assert.deepEqual(known(b.reduce('ReduceMin', x, undefined, false)), { dims: [], values: [-3], dtype: 'float64' });
});

test('fold: integer ReduceMean truncates like ONNX integer division', () => {
  const b = new GraphBuilder(13);
  const x = b.constant(Tensor.int64([2, 2], [1, 2, -1, -2]));
  assert.deepEqual(known(b.reduce('ReduceMean', x, [1], false)), { dims: [2], values: [1, -1], dtype: 'int64' });
});

test('fold: ArgMax/ArgMin of a known tensor, first or last of ties', () => {
  const b = new GraphBuilder(13);
  const x = b.constant(Tensor.int64([2, 3], [1, 5, 5, 2, 2, 0]));
  assert.deepEqual(known(b.op1('ArgMax', [x], { axis: 1, keepdims: 0 })), { dims: [2], values: [1, 0], dtype: 'int64' });
  assert.deepEqual(known(b.op1('ArgMax', [x], { axis: 1, keepdims: 0, select_last_index: 1 })).values, [2, 1]);
  assert.deepEqual(known(b.op1('ArgMin', [x], { axis: -1 })), { dims: [2, 1], values: [0, 2], dtype: 'int64' });
  assert.deepEqual(known(b.op1('ArgMin', [x], { axis: 0, keepdims: 0 })).values, [0, 1, 1]);
});

test('fold: every op agrees with ONNX Runtime', async () => {
  const dims = [2, 3, 2];
  const vals = randn(rng(7), 12);
  const build = (b: GraphBuilder, x: Value): Record<string, Value> => ({
    ...Object.fromEntries(DIFFERENTIABLE.map((op) => [op, b.reduce(op, x, [0, -1], false)])),
    ArgMax: b.op1('ArgMax', [x], { axis: 1, keepdims: 1 }),
    ArgMin: b.op1('ArgMin', [x], { axis: -1, keepdims: 0, select_last_index: 1 }),
  });
  const fb = new GraphBuilder(18);
  const folded = build(fb, fb.constant(Tensor.float64(dims, vals)));
  const b = new GraphBuilder(18);
  const outs = build(b, b.input('x', 'float64', dims));
  for (const [name, v] of Object.entries(outs)) b.output(v, name);
  const s = await Session.create(b.toModel(), { device: 'cpu', intraOpThreads: 1 });
  const ran = await s.run({ x: Tensor.float64(dims, vals) });
  await s.release();
  for (const [name, v] of Object.entries(folded)) {
    const f = known(v);
    const r = ran[name]!;
    assert.deepEqual(f.dims, [...r.dims], `${name} dims`);
    assert.equal(f.dtype, r.dtype, `${name} dtype`);
    f.values.forEach((x, k) => assert.ok(Math.abs(x - r.toNumbers()[k]!) <= 1e-12 * Math.max(1, Math.abs(x)), `${name}[${k}]: folded ${x}, ORT ${r.toNumbers()[k]}`));
  }
});

// ---------------------------------------------------------------------------------------------
// Second order: each rule's gradient differentiated again (hvpCheck: ∂(v·∂L/∂x)/∂p against
// central differences). The functions are nonlinear so the second derivatives are not 0.

for (const [op, keepdims] of [
  ['ReduceSum', false], ['ReduceMean', true], ['ReduceMax', false], ['ReduceMin', true], ['ReduceSumSquare', false],
  ['ReduceL1', true], ['ReduceL2', false], ['ReduceLogSumExp', true], ['ReduceProd', false],
] as const) {
  test(`second order: ${op} (keepdims ${keepdims ? 1 : 0}), squared`, () =>
    hvpCheck({
      inputs: [{ name: 'x', dims: [2, 3] }],
      build: (b, v) => {
        const y = b.reduce(op, v.x!, [1], keepdims);
        return y.mul(y).add(y.mul(v.x!.sum([1], keepdims)));
      },
    }));
}
