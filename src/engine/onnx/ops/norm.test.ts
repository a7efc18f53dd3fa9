import assert from 'node:assert/strict';
import { test } from 'node:test';
import { A, GraphBuilder, type Value } from '../builder.js';
import { gradients } from '../autodiff.js';
import type { Attr, Dim } from '../ir.js';
import { ONNX_DTYPE, Tensor } from '../tensor.js';
import { Session } from '../../runtime.js';
import { gradCheck, randn, rng, type GradInput } from '../testing/gradcheck.js';
import { hvpCheck } from '../testing/hvpcheck.js';

// ---------------------------------------------------------------------------------------------
// LayerNormalization

interface LnVariant { dims: number[]; axis?: number; epsilon?: number; bias?: boolean; opset?: number }

const lnVariants: LnVariant[] = [
  { dims: [2, 3, 4] },
  { dims: [2, 3, 4], axis: 1, epsilon: 1e-3 }, // two trailing axes normalised
  { dims: [2, 3, 4], axis: -2 },
  { dims: [3, 4], axis: 0 }, // every axis
  { dims: [4, 5], bias: false },
  { dims: [2, 2, 5], opset: 18 }, // ReduceMean takes its axes as an input from 18
  { dims: [2, 2, 5], axis: -2, opset: 21 },
];

const lnAttrs = (v: { axis?: number; epsilon?: number }) => ({
  ...(v.axis === undefined ? {} : { axis: A.int(v.axis) }),
  ...(v.epsilon === undefined ? {} : { epsilon: A.float(v.epsilon) }),
});

function lnInputs(dims: number[], axis = -1, bias = true): GradInput[] {
  const normalised = dims.slice(axis < 0 ? axis + dims.length : axis);
  const inputs: GradInput[] = [{ name: 'x', dims }, { name: 'scale', dims: normalised }];
  return bias ? [...inputs, { name: 'bias', dims: normalised }] : inputs;
}

for (const v of lnVariants) {
  test(`LayerNormalization gradient of X, Scale and B at once: [${v.dims}], axis ${v.axis ?? -1}${v.bias === false ? ', no B' : ''}, opset ${v.opset ?? 17}`, () =>
    gradCheck({
      opset: v.opset,
      inputs: lnInputs(v.dims, v.axis, v.bias),
      build: (b, x) => b.op1('LayerNormalization', [x.x!, x.scale!, x.bias], lnAttrs(v)),
    }));
}

test('LayerNormalization gradient of X alone', () =>
  gradCheck({
    inputs: lnInputs([3, 4]).map((i) => (i.name === 'x' ? i : { ...i, wrt: false })),
    build: (b, x) => b.op1('LayerNormalization', [x.x!, x.scale!, x.bias]),
  }));

/** A LayerNormalization node with all three outputs (Y, Mean, InvStdDev). */
function lnWithStats(b: GraphBuilder, x: Record<string, Value>, stash: 'float32' | 'float64', axis = -1): Value[] {
  return b.op('LayerNormalization', [x.x!, x.scale!, x.bias], { axis: A.int(axis), stash_type: A.int(ONNX_DTYPE[stash]) }, { outputs: 3 });
}

// The rule reuses the node's own Mean/InvStdDev when they are in X's precision and recomputes
// them otherwise (a float32 stash would cost the float64 check its precision). ORT's CPU kernel
// has no float64 stash ("Could not find an implementation"), so the reusing path, and gradients
// flowing into the statistics themselves, are checked in float32.
test('LayerNormalization with Mean/InvStdDev outputs in float32 (recomputed for float64 X): gradient of Y', () =>
  gradCheck({ inputs: lnInputs([2, 3, 4], 1), build: (b, x) => lnWithStats(b, x, 'float32', 1)[0]! }));

test('LayerNormalization reusing its own Mean/InvStdDev outputs (float32): gradient of Y', () =>
  gradCheck({ dtype: 'float32', inputs: lnInputs([2, 3, 4], 1), build: (b, x) => lnWithStats(b, x, 'float32', 1)[0]! }));

// The float32 finite differences above are loose (2e-2); this pins the reusing path to the
// recomputing one, which the float64 checks verify tightly.
test('LayerNormalization: reusing Mean/InvStdDev gives the recomputed gradient (float32, to 1e-5)', async () => {
  const r = rng(7);
  const feeds = {
    x: Tensor.float32([2, 3, 4], randn(r, 24)),
    scale: Tensor.float32([3, 4], randn(r, 12)),
    bias: Tensor.float32([3, 4], randn(r, 12)),
  };
  const run = (outputs: number): Promise<number[][]> =>
    layerNormGrads('float32', [2, 3, 4], [3, 4], feeds, { axis: A.int(1) }, outputs);
  const reused = await run(3);
  const recomputed = await run(1);
  reused.forEach((g, i) => g.forEach((v, k) => assert.ok(Math.abs(v - recomputed[i]![k]!) < 1e-5 * Math.max(1, Math.abs(v)), `gradient ${i}[${k}]: ${v} vs ${recomputed[i]![k]}`)));
});

test('LayerNormalization: gradient through the Mean and InvStdDev outputs too (float32)', () =>
  gradCheck({
    dtype: 'float32',
    inputs: lnInputs([2, 3, 4], -2),
    build: (b, x) => {
      const [y, mean, rs] = lnWithStats(b, x, 'float32', -2);
      return y!.mul(rs!).add(mean!.mul(mean!));
    },
  }));

test('LayerNormalization: gradient through Mean and InvStdDev alone, Scale and B get zeros (float32)', () =>
  gradCheck({
    dtype: 'float32',
    inputs: lnInputs([3, 4]),
    build: (b, x) => {
      const [, mean, rs] = lnWithStats(b, x, 'float32');
      return mean!.mul(rs!).add(x.scale!.sum([0], true).mul(0.5));
    },
  }));

test('LayerNormalization infer: Y like X, statistics keep the normalised axes as 1s in stash_type', () => {
  const b = new GraphBuilder(17);
  const x = b.input('x', 'float64', ['batch', 'seq', 768]);
  const s = b.input('s', 'float64', [768]);
  const [y, mean, rs] = b.op('LayerNormalization', [x, s], {}, { outputs: 3 });
  assert.deepEqual(y!.meta, { dtype: 'float64', shape: ['batch', 'seq', 768] });
  assert.deepEqual(mean!.meta, { dtype: 'float32', shape: ['batch', 'seq', 1] });
  assert.deepEqual(rs!.meta.shape, ['batch', 'seq', 1]);
  const [, m2] = b.op('LayerNormalization', [x, b.input('s2', 'float64', ['seq', 768])], { axis: A.int(1), stash_type: A.int(11) }, { outputs: 2 });
  assert.deepEqual(m2!.meta, { dtype: 'float64', shape: ['batch', 1, 1] });
  assert.throws(() => b.op1('LayerNormalization', [x, s], { axis: A.int(3) }), /axis 3 is out of range for rank 3/);
});

test('LayerNormalization gradient with a dynamic batch dim matches the static one', async () => {
  const r = rng(5);
  const feeds = {
    x: Tensor.float64([2, 3, 4], randn(r, 24)),
    scale: Tensor.float64([4], randn(r, 4)),
    bias: Tensor.float64([4], randn(r, 4)),
  };
  const run = (xDims: Dim[]): Promise<number[][]> => layerNormGrads('float64', xDims, [4], feeds);
  const dynamic = await run(['n', 't', 4]);
  const fixed = await run([2, 3, 4]);
  dynamic.forEach((g, i) => g.forEach((v, k) => assert.ok(Math.abs(v - fixed[i]![k]!) < 1e-9, `gradient ${i}[${k}]: ${v} vs ${fixed[i]![k]}`)));
});

// ---------------------------------------------------------------------------------------------
// BatchNormalization (inference mode)

function bnInputs(dims: number[], seed: number): GradInput[] {
  const c = dims[1]!;
  const r = rng(seed);
  return [
    { name: 'x', dims },
    { name: 'scale', dims: [c] },
    { name: 'bias', dims: [c] },
    { name: 'mean', dims: [c] },
    // Variances must stay positive under the finite-difference step.
    { name: 'var', dims: [c], values: Array.from({ length: c }, () => 0.5 + r()) },
  ];
}

const bnVariants: { dims: number[]; opset: number; attrs: Record<string, ReturnType<typeof A.int>> }[] = [
  { dims: [2, 3, 2, 2], opset: 17, attrs: {} },
  { dims: [2, 3, 2, 2], opset: 15, attrs: { training_mode: A.int(0), epsilon: A.float(0.1) } },
  { dims: [4, 3], opset: 13, attrs: {} },
  { dims: [2, 3, 5], opset: 14, attrs: { momentum: A.float(0.7) } },
];

for (const v of bnVariants) {
  test(`BatchNormalization gradient of all five inputs: [${v.dims}], opset ${v.opset}, ${Object.keys(v.attrs).join(', ') || 'default attrs'}`, () =>
    gradCheck({
      opset: v.opset,
      inputs: bnInputs(v.dims, v.dims.length),
      build: (b, x) => b.op1('BatchNormalization', [x.x!, x.scale!, x.bias!, x.mean!, x.var!], v.attrs),
    }));
}

test('BatchNormalization in training mode is refused with advice', () => {
  const build = (opset: number, attrs: Record<string, ReturnType<typeof A.int>>, outputs: number) => {
    const b = new GraphBuilder(opset);
    const ins = ['x', 'scale', 'bias', 'mean', 'var'].map((n, i) => b.input(n, 'float32', i === 0 ? [2, 3, 4] : [3]));
    const outs = b.op('BatchNormalization', ins, attrs, { outputs });
    const loss = outs[0]!.sum();
    return () => gradients(b, loss, [ins[0]!]);
  };
  assert.throws(build(15, { training_mode: A.int(1) }, 3), /training mode.*eval mode/);
  assert.throws(build(13, {}, 5), /training mode.*eval mode/);
});

test('BatchNormalization infer: Y like X, training statistics per channel', () => {
  const b = new GraphBuilder(15);
  const x = b.input('x', 'float32', ['batch', 16, 'h', 'w']);
  const params = ['scale', 'bias', 'mean', 'var'].map((n) => b.input(n, 'float32', [16]));
  const [y, runMean, runVar] = b.op('BatchNormalization', [x, ...params], { training_mode: A.int(1) }, { outputs: 3 });
  assert.deepEqual(y!.meta.shape, ['batch', 16, 'h', 'w']);
  assert.deepEqual(runMean!.meta, { dtype: 'float32', shape: [16] });
  assert.deepEqual(runVar!.meta.shape, [16]);
  assert.throws(() => b.op1('BatchNormalization', [b.input('v', 'float32', [16]), ...params]), /must be \[N, C, \.\.\.\]/);
});

/**
 * Gradients of Σ LayerNorm(x)³ with respect to x, scale and bias, run in ORT. `outputs` asks the
 * forward node for its Mean/InvStdDev too (3), which the rule then reuses instead of recomputing.
 */
async function layerNormGrads(
  dtype: 'float32' | 'float64', xDims: Dim[], paramDims: number[], feeds: Record<string, Tensor>,
  attrs: Record<string, Attr> = {}, outputs = 1,
): Promise<number[][]> {
  const b = new GraphBuilder(17);
  const x = b.input('x', dtype, xDims);
  const scale = b.input('scale', dtype, paramDims);
  const bias = b.input('bias', dtype, paramDims);
  const y = b.op('LayerNormalization', [x, scale, bias], attrs, { outputs })[0]!;
  const loss = y.mul(y.mul(y)).sum();
  b.output(loss, 'loss');
  gradients(b, loss, [x, scale, bias]).forEach((g, i) => b.output(g, `g${i}`));
  const s = await Session.create(b.toModel(), { device: 'cpu', intraOpThreads: 1 });
  const out = await s.run(feeds);
  await s.release();
  return [out.g0!, out.g1!, out.g2!].map((t) => t.toNumbers());
}

// ---------------------------------------------------------------------------------------------
// Second order: each rule's gradient differentiated again (hvpCheck: ∂(v·∂L/∂x)/∂p against
// central differences). The functions are nonlinear so the second derivatives are not 0.

test('second order: LayerNormalization then tanh, by x, Scale and B', () =>
  hvpCheck({
    inputs: [{ name: 'x', dims: [2, 4] }, { name: 'g', dims: [4] }, { name: 'c', dims: [4] }],
    first: ['x', 'g'],
    second: ['x', 'g', 'c'],
    build: (b, v) => b.op1('LayerNormalization', [v.x!, v.g!, v.c!]).tanh(),
  }));

test('second order: LayerNormalization using its Mean and InvStdDev outputs (float32)', () =>
  hvpCheck({
    dtype: 'float32',
    inputs: [{ name: 'x', dims: [2, 4] }, { name: 'g', dims: [4] }],
    build: (b, v) => {
      const [y, mean, rs] = b.op('LayerNormalization', [v.x!, v.g!], {}, { outputs: 3 });
      return y!.mul(y!).add(mean!.mul(rs!));
    },
  }));

test('second order: BatchNormalization (inference) then tanh, by every input', () =>
  hvpCheck({
    inputs: [
      { name: 'x', dims: [2, 3, 2] },
      { name: 's', dims: [3] },
      { name: 'c', dims: [3] },
      { name: 'm', dims: [3] },
      { name: 'var', dims: [3], values: [0.6, 1.1, 1.7] },
    ],
    first: ['x', 's', 'var'],
    second: ['x', 's', 'c', 'm', 'var'],
    build: (b, v) => b.op1('BatchNormalization', [v.x!, v.s!, v.c!, v.m!, v.var!]).tanh(),
  }));
