import assert from 'node:assert/strict';
import { test } from 'node:test';
import { A, GraphBuilder, type Value } from '../builder.js';
import { GradientError, gradients } from '../autodiff.js';
import { Tensor } from '../tensor.js';
import { Session } from '../../runtime.js';
import { agreesWithOrt } from '../testing/foldcheck.js';
import { gradCheck } from '../testing/gradcheck.js';
import { hvpCheck } from '../testing/hvpcheck.js';

// Values at least 0.2 from 0 (the kink of Abs, Relu, LeakyRelu) and from the Clip bounds used below.
const mixed = [-1.3, 0.4, 2.1, -0.7, 1.6, -2.4, 0.9, -0.2, 1.1, -1.8, 0.6, 2.7];
const positive = [0.3, 1.2, 2.5, 0.7, 1.9, 3.4, 0.5, 1.1, 2.2, 4.1, 0.9, 1.5];

for (const op of ['Exp', 'Tanh', 'Sigmoid']) {
  test(`${op}: gradient`, () =>
    gradCheck({ inputs: [{ name: 'x', dims: [3, 4] }], build: (b, v) => b.op1(op, [v.x!]) }));
}
for (const op of ['Sqrt', 'Log', 'Reciprocal']) {
  test(`${op}: gradient on positive values`, () =>
    gradCheck({ inputs: [{ name: 'x', dims: [3, 4], values: positive }], build: (b, v) => b.op1(op, [v.x!]) }));
}
for (const op of ['Reciprocal', 'Abs', 'Relu']) {
  test(`${op}: gradient on both signs`, () =>
    gradCheck({ inputs: [{ name: 'x', dims: [2, 6], values: mixed }], build: (b, v) => b.op1(op, [v.x!]) }));
}

test('LeakyRelu: default alpha and alpha=0.2', async () => {
  await gradCheck({ inputs: [{ name: 'x', dims: [12], values: mixed }], build: (b, v) => b.op1('LeakyRelu', [v.x!]) });
  await gradCheck({ inputs: [{ name: 'x', dims: [12], values: mixed }], build: (b, v) => b.op1('LeakyRelu', [v.x!], { alpha: A.float(0.2) }) });
});

// ORT CPU implements Erf and Softplus for float32 only.
for (const op of ['Erf', 'Softplus']) {
  test(`${op}: gradient (float32)`, () =>
    gradCheck({ dtype: 'float32', inputs: [{ name: 'x', dims: [2, 6] }], build: (b, v) => b.op1(op, [v.x!]) }));
}

// Gelu exists from opset 20. The exact form's gradient uses Erf, which ORT CPU has for float32
// only; a tighter tolerance than float32's default keeps the check sharp (its terms are small).
test('Gelu approximate=none: gradient (float32, opset 20)', () =>
  gradCheck({
    dtype: 'float32',
    tol: 2e-3,
    opset: 20,
    inputs: [{ name: 'x', dims: [3, 4], values: mixed }],
    build: (b, v) => b.op1('Gelu', [v.x!]),
  }));
test('Gelu approximate=tanh: gradient (opset 20)', () =>
  gradCheck({
    opset: 20,
    inputs: [{ name: 'x', dims: [3, 4], values: mixed }],
    build: (b, v) => b.op1('Gelu', [v.x!], { approximate: A.string('tanh') }),
  }));

test('Gelu: an unknown approximation is a gradient error', () => {
  const b = new GraphBuilder(20);
  const x = b.input('x', 'float32', [3]);
  const y = b.op1('Gelu', [x], { approximate: A.string('erf') }).sum();
  assert.throws(() => gradients(b, y, [x]), /approximate="erf"/);
});

const bound = (b: GraphBuilder, v: number) => b.scalar(v, 'float64');
const clipCases: [string, (b: GraphBuilder) => (Value | undefined)[]][] = [
  ['min and max', (b) => [bound(b, -1), bound(b, 1.5)]],
  ['max only (min omitted)', (b) => [undefined, bound(b, 1.5)]],
  ['min only', (b) => [bound(b, -1)]],
  ['no bounds', () => []],
];
for (const [name, bounds] of clipCases) {
  test(`Clip (opset 17), ${name}: gradient passes inside the bounds`, () =>
    gradCheck({ inputs: [{ name: 'x', dims: [3, 4], values: mixed }], build: (b, v) => b.op1('Clip', [v.x!, ...bounds(b)]) }));
}

test('Clip (opset 13): bounds fed at run time', () =>
  gradCheck({
    opset: 13,
    inputs: [
      { name: 'x', dims: [3, 4], values: mixed },
      { name: 'lo', dims: [], values: [-0.5], wrt: false },
      { name: 'hi', dims: [], values: [2], wrt: false },
    ],
    build: (b, v) => b.op1('Clip', [v.x!, v.lo!, v.hi!]),
  }));

// Clip-6 takes its bounds as attributes; ORT CPU has that kernel for float32 only.
test('Clip (opset 10): min/max attributes (float32)', async () => {
  await gradCheck({
    dtype: 'float32',
    opset: 10,
    inputs: [{ name: 'x', dims: [3, 4], values: mixed }],
    build: (b, v) => b.op1('Clip', [v.x!], { min: A.float(-1), max: A.float(1.5) }),
  });
  await gradCheck({
    dtype: 'float32',
    opset: 10,
    inputs: [{ name: 'x', dims: [3, 4], values: mixed }],
    build: (b, v) => b.op1('Clip', [v.x!], { max: A.float(0.5) }),
  });
});

test('Cast float32 → float64: the gradient comes back as float32', () =>
  gradCheck({
    dtype: 'float32',
    inputs: [{ name: 'x', dims: [2, 3] }],
    build: (_b, v) => {
      const x64 = v.x!.cast('float64');
      return x64.mul(x64);
    },
  }));

test('Cast float64 → float32: the gradient comes back as float64', () =>
  gradCheck({
    // The loss is computed in float32, so differences need a larger step and tolerance.
    eps: 1e-2,
    tol: 2e-3,
    inputs: [{ name: 'x', dims: [2, 3] }],
    build: (_b, v) => {
      const x32 = v.x!.cast('float32');
      return x32.mul(x32);
    },
  }));

test('Cast to an integer type cuts the gradient path', () =>
  gradCheck({
    // y = x·trunc(x): trunc(x) is a constant factor as far as gradients go (values avoid integers).
    inputs: [{ name: 'x', dims: [12], values: mixed }],
    build: (_b, v) => v.x!.mul(v.x!.cast('int64').cast('float64')),
  }));

test('Cast: infer keeps symbolic dims and reads "to"', () => {
  const b = new GraphBuilder();
  const x = b.input('x', 'float32', ['batch', 3]);
  const y = b.op1('Cast', [x], { to: A.int(7) });
  assert.equal(y.dtype, 'int64');
  assert.deepEqual(y.meta.shape, ['batch', 3]);
  assert.throws(() => b.op1('Cast', [x]), /"to" attribute/);
});

for (const op of ['Floor', 'Ceil', 'Round']) {
  test(`${op}: understood, but a loss through it is an error`, () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float64', ['n', 2]);
    const y = b.op1(op, [x]);
    assert.deepEqual(y.meta.shape, ['n', 2]);
    assert.throws(() => gradients(b, y.mul(x).sum(), [x]), (e) => e instanceof GradientError && /carries no gradient/.test(e.message));
  });
}

test('Sign: a zero gradient (the second derivative of Abs passes through it)', () =>
  gradCheck({
    inputs: [{ name: 'x', dims: [5], values: [-2, -0.5, 0.25, 1, 3] }],
    build: (b, v) => b.op1('Sign', [v.x!]).mul(v.x!),
  }));

test('folds: Cast between int, float and bool types', async () => {
  const b = new GraphBuilder();
  const ints = b.constInt64([3, -2, 0]);
  const floats = b.constant(Tensor.float64([4], [-1.7, 2.9, -0.2, 5]));
  const folded = {
    i32: ints.cast('int32'),
    f32: ints.cast('float32'),
    bool: ints.cast('bool'),
    trunc: floats.cast('int64'),
    fromBool: ints.cast('bool').cast('int64'),
  };
  assert.deepEqual(folded.i32.known!.toNumbers(), [3, -2, 0]);
  assert.equal(folded.i32.known!.dtype, 'int32');
  assert.deepEqual(folded.bool.known!.toNumbers(), [1, 1, 0]);
  assert.deepEqual(folded.trunc.known!.toNumbers(), [-1, 2, 0, 5]);
  assert.deepEqual(folded.fromBool.known!.toNumbers(), [1, 1, 0]);
  await agreesWithOrt(b, folded);
});

test('folds: Floor, Ceil, Round (halves to even), Sign', async () => {
  const b = new GraphBuilder();
  const x = b.constant(Tensor.float64([8], [-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, -1.2, 1.7]));
  const folded = Object.fromEntries(['Floor', 'Ceil', 'Round', 'Sign'].map((op) => [op, b.op1(op, [x])]));
  assert.deepEqual(folded.Round!.known!.toNumbers(), [-2, -2, -0, 0, 2, 2, -1, 2]);
  assert.deepEqual(folded.Floor!.known!.toNumbers(), [-3, -2, -1, 0, 1, 2, -2, 1]);
  await agreesWithOrt(b, folded);
});

test('folds: integer shape arithmetic through float ops (sqrt of a token count)', async () => {
  // The pattern of position-embedding interpolation in exported ViTs: Cast → Sqrt → Floor → Cast.
  const b = new GraphBuilder();
  const count = b.constInt64([49, 50]);
  const side = b.op1('Floor', [count.cast('float32').sqrt()]).cast('int64');
  assert.deepEqual(side.known!.toNumbers(), [7, 7]);
  assert.equal(side.known!.dtype, 'int64');
  await agreesWithOrt(b, { side });
});

test('folds: Clip on int64 (input bounds) and on floats (opset 10 attributes)', async () => {
  const b = new GraphBuilder();
  const x = b.constInt64([-5, 0, 3, 9]);
  const clipped = b.op1('Clip', [x, b.constant(Tensor.int64([], [-1])), b.constant(Tensor.int64([], [4]))]);
  assert.deepEqual(clipped.known!.toNumbers(), [-1, 0, 3, 4]);
  const upper = b.op1('Clip', [x, undefined, b.constant(Tensor.int64([], [2]))]);
  assert.deepEqual(upper.known!.toNumbers(), [-5, 0, 2, 2]);
  await agreesWithOrt(b, { clipped, upper });

  const old = new GraphBuilder(10);
  const f = old.constant(Tensor.float32([4], [-5, 0.5, 3, 9]));
  const c = old.op1('Clip', [f], { min: A.float(0), max: A.float(4) });
  assert.deepEqual(c.known!.toNumbers(), [0, 0.5, 3, 4]);
  await agreesWithOrt(old, { c });
});

test('folds: smooth ops and Relu family agree with ORT', async () => {
  const b = new GraphBuilder();
  const x = b.constant(Tensor.float64([6], [-1.5, -0.25, 0, 0.5, 1, 2]));
  const p = b.constant(Tensor.float64([3], [0.25, 1, 4]));
  const folded: Record<string, Value> = {
    abs: x.abs(), exp: x.exp(), tanh: x.tanh(), sigmoid: x.sigmoid(), relu: x.relu(),
    leaky: b.op1('LeakyRelu', [x], { alpha: A.float(0.1) }),
    sqrt: p.sqrt(), log: p.log(), reciprocal: p.reciprocal(),
  };
  assert.deepEqual(folded.leaky!.known!.toNumbers().slice(2), [0, 0.5, 1, 2]);
  // Transcendental functions may differ from ORT's in the last bit: compare with a tolerance.
  for (const [name, v] of Object.entries(folded)) b.output(v, name);
  const session = await Session.create(b.toModel(), { device: 'cpu', intraOpThreads: 1 });
  const out = await session.run({});
  await session.release();
  for (const [name, v] of Object.entries(folded)) {
    const want = out[name]!.toNumbers();
    v.known!.toNumbers().forEach((got, i) => assert.ok(Math.abs(got - want[i]!) < 1e-12, `${name}[${i}]: ${got} vs ORT ${want[i]}`));
  }
});

test('folds: a NaN cast to int64 is left to the runtime', () => {
  const b = new GraphBuilder();
  const y = b.constant(Tensor.float32([2], [NaN, 1])).cast('int64');
  assert.equal(y.known, undefined);
  assert.deepEqual(y.meta.shape, [2]);
});

// ---------------------------------------------------------------------------------------------
// Second order: each rule's gradient differentiated again (hvpCheck: ∂(v·∂L/∂x)/∂p against
// central differences). The functions are nonlinear so the second derivatives are not 0.

const above0 = (n: number): number[] => Array.from({ length: n }, (_, k) => 0.4 + 0.37 * k);

for (const [op, values] of [['Sqrt', above0(6)], ['Reciprocal', above0(6)], ['Log', above0(6)], ['Exp'], ['Tanh'], ['Sigmoid']] as const) {
  test(`second order: ${op}`, () =>
    hvpCheck({ inputs: [{ name: 'x', dims: [2, 3], values: values ? [...values] : undefined }], build: (b, v) => b.op1(op, [v.x!]) }));
}

// Piecewise linear: f(x)·x has second derivative 2f'(x), so the rule's own emitted ops (Sign,
// Where on a comparison) are differentiated; the kinks are far from the inputs.
for (const [op, attrs] of [['Abs', {}], ['Relu', {}], ['LeakyRelu', { alpha: A.float(0.3) }], ['Sign', {}]] as const) {
  test(`second order: ${op}(x)·x`, () =>
    hvpCheck({
      inputs: [{ name: 'x', dims: [6], values: [-2, -0.7, -0.2, 0.3, 0.9, 1.6] }],
      build: (b, v) => b.op1(op, [v.x!], attrs).mul(v.x!),
      // sign(x)·x = |x| is linear on each side of 0.
      expectZero: op === 'Sign',
    }));
}

// Softplus has only a float32 kernel in ORT's CPU build.
test('second order: Softplus (float32)', () =>
  hvpCheck({ dtype: 'float32', inputs: [{ name: 'x', dims: [2, 3] }], build: (b, v) => b.op1('Softplus', [v.x!]) }));

test('second order: Clip(x)·x, bounds as inputs', () =>
  hvpCheck({
    inputs: [{ name: 'x', dims: [6], values: [-2, -0.7, -0.2, 0.3, 0.9, 1.6] }],
    build: (b, v) => b.op1('Clip', [v.x!, b.scalar(-1, 'float64'), b.scalar(1, 'float64')]).mul(v.x!),
  }));

// Erf (and so Gelu's rule) has only a float32 kernel in ORT's CPU build.
test('second order: Erf (float32)', () =>
  hvpCheck({ dtype: 'float32', inputs: [{ name: 'x', dims: [2, 3] }], build: (b, v) => b.op1('Erf', [v.x!]) }));

for (const approximate of ['none', 'tanh']) {
  test(`second order: Gelu approximate=${approximate} (float32, opset 20)`, () =>
    hvpCheck({ dtype: 'float32', opset: 20, inputs: [{ name: 'x', dims: [2, 3] }], build: (b, v) => b.op1('Gelu', [v.x!], { approximate: A.string(approximate) }) }));
}

test('second order: Cast float32 → float64 → float32 (float32)', () =>
  hvpCheck({ dtype: 'float32', inputs: [{ name: 'x', dims: [2, 3] }], build: (b, v) => b.cast(b.cast(v.x!, 'float64').tanh(), 'float32').mul(v.x!) }));
