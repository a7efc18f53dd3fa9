import assert from 'node:assert/strict';
import { test } from 'node:test';
import { A, GraphBuilder, type Value } from '../builder.js';
import { gradients } from '../autodiff.js';
import { Tensor } from '../tensor.js';
import { Session } from '../../runtime.js';
import { agreesWithOrt } from '../testing/foldcheck.js';
import { gradCheck } from '../testing/gradcheck.js';
import { hvpCheck } from '../testing/hvpcheck.js';

const positive = (n: number): number[] => Array.from({ length: n }, (_, i) => 0.4 + ((i * 7) % 11) * 0.23);

test('Pow: gradients of base and exponent, same shapes', () =>
  gradCheck({
    inputs: [{ name: 'a', dims: [2, 3], values: positive(6) }, { name: 'e', dims: [2, 3] }],
    build: (b, v) => b.op1('Pow', [v.a!, v.e!]),
  }));

test('Pow: broadcasting both ways', () =>
  gradCheck({
    inputs: [{ name: 'a', dims: [2, 1, 3], values: positive(6) }, { name: 'e', dims: [4, 1] }],
    build: (b, v) => b.op1('Pow', [v.a!, v.e!]),
  }));

test('Pow: integer exponent tensor, negative bases', () =>
  gradCheck({
    inputs: [
      { name: 'a', dims: [2, 3], values: [-1.3, 0.7, -2.1, 1.5, -0.4, 2.2] },
      { name: 'e', dims: [3], values: [2, 3, 1], dtype: 'int64', as: 'initializer' },
    ],
    build: (b, v) => b.op1('Pow', [v.a!, v.e!]),
  }));

test('Pow: constant scalar exponent (square root)', () =>
  gradCheck({
    inputs: [{ name: 'a', dims: [2, 3], values: positive(6) }, { name: 'e', dims: [], values: [0.5], as: 'initializer', wrt: false }],
    build: (b, v) => b.op1('Pow', [v.a!, v.e!]),
  }));

for (const op of ['Min', 'Max']) {
  test(`${op}: two inputs, same shape`, () =>
    gradCheck({ inputs: [{ name: 'a', dims: [3, 4] }, { name: 'c', dims: [3, 4] }], build: (b, v) => b.op1(op, [v.a!, v.c!]) }));
  test(`${op}: three inputs broadcasting`, () =>
    gradCheck({
      inputs: [{ name: 'a', dims: [2, 3] }, { name: 'c', dims: [3] }, { name: 'd', dims: [2, 1] }],
      build: (b, v) => b.op1(op, [v.a!, v.c!, v.d!]),
    }));
  test(`${op}: a single input passes its gradient through`, () =>
    gradCheck({ inputs: [{ name: 'a', dims: [4] }], build: (b, v) => b.op1(op, [v.a!]) }));
}

test('Where: condition fed at run time, same shapes', () =>
  gradCheck({
    inputs: [
      { name: 'c', dims: [2, 3], values: [1, 0, 0, 1, 1, 0], dtype: 'bool' },
      { name: 'a', dims: [2, 3] },
      { name: 'e', dims: [2, 3] },
    ],
    build: (b, v) => b.op1('Where', [v.c!, v.a!, v.e!]),
  }));

test('Where: all three operands broadcast', () =>
  gradCheck({
    inputs: [
      { name: 'c', dims: [2, 1, 3], values: [1, 0, 1, 0, 0, 1], dtype: 'bool' },
      { name: 'a', dims: [3] },
      { name: 'e', dims: [2, 2, 1] },
    ],
    build: (b, v) => b.op1('Where', [v.c!, v.a!, v.e!]),
  }));

test('Where: a condition computed from the differentiated value', () =>
  gradCheck({
    // A hand-written leaky relu: x > 0 ? x : 0.3x (values avoid the kink at 0).
    inputs: [{ name: 'x', dims: [6], values: [-1.2, 0.5, 2, -0.3, 0.8, -2.5] }],
    build: (b, v) => b.op1('Where', [b.op1('Greater', [v.x!, b.scalar(0, 'float64')]), v.x!, v.x!.mul(0.3)]),
  }));

test('Equal/Greater/…: bool outputs, broadcast (symbolic) shapes, no gradient path', () => {
  const b = new GraphBuilder();
  const x = b.input('x', 'float32', ['batch', 3]);
  const r = b.input('r', 'float32', [1, 3]);
  for (const op of ['Equal', 'Greater', 'Less', 'GreaterOrEqual', 'LessOrEqual']) {
    const y = b.op1(op, [x, r]);
    assert.equal(y.dtype, 'bool', op);
    assert.deepEqual(y.meta.shape, ['batch', 3], op);
  }
  const m = b.op1('And', [b.op1('Not', [b.op1('IsNaN', [x])]), b.op1('IsInf', [r])]);
  assert.equal(m.dtype, 'bool');
  assert.deepEqual(m.meta.shape, ['batch', 3]);
  assert.throws(() => b.op1('Less', [x, b.input('z', 'float32', [2])]), /do not broadcast/);
  // The mask is understood: a loss using it through Where differentiates only through the branches.
  const loss = b.op1('Where', [m, x, x.mul(2)]).sum();
  const [g] = gradients(b, loss, [x]);
  assert.deepEqual(g!.meta.shape, ['batch', 3]);
});

test('Where and Min/Max: infer broadcasts, keeps X dtype', () => {
  const b = new GraphBuilder();
  const c = b.input('c', 'bool', ['n', 1, 3]);
  const w = b.op1('Where', [c, b.input('a', 'float32', [4, 1]), b.input('e', 'float32', [3])]);
  assert.equal(w.dtype, 'float32');
  assert.deepEqual(w.meta.shape, ['n', 4, 3]);
  const mx = b.op1('Max', [b.input('p', 'int64', [2, 1]), b.input('q', 'int64', [5]), b.input('s', 'int64', [])]);
  assert.equal(mx.dtype, 'int64');
  assert.deepEqual(mx.meta.shape, [2, 5]);
});


const bools = (b: GraphBuilder, v: number[]) => b.constant(new Tensor('bool', [v.length], Uint8Array.from(v)));
const known = (v: Value): number[] => v.known!.toNumbers();

test('folds: comparisons of int64 shape vectors', async () => {
  const b = new GraphBuilder();
  const s = b.constInt64([2, 3, 4]);
  const t = b.constInt64([2, 5, 1]);
  const folded = {
    eq: b.op1('Equal', [s, t]),
    gt: b.op1('Greater', [s, t]),
    lt: b.op1('Less', [s, t]),
    ge: b.op1('GreaterOrEqual', [s, t]),
    le: b.op1('LessOrEqual', [s, t]),
    eqScalar: b.op1('Equal', [s, b.constant(Tensor.int64([], [3]))]),
  };
  assert.deepEqual(known(folded.eq), [1, 0, 0]);
  assert.equal(folded.eq.known!.dtype, 'bool');
  assert.deepEqual(known(folded.gt), [0, 0, 1]);
  assert.deepEqual(known(folded.lt), [0, 1, 0]);
  assert.deepEqual(known(folded.ge), [1, 0, 1]);
  assert.deepEqual(known(folded.le), [1, 1, 0]);
  assert.deepEqual(known(folded.eqScalar), [0, 1, 0]);
  await agreesWithOrt(b, folded);
});

test('folds: logic, IsNaN and IsInf (detect attributes)', async () => {
  const b = new GraphBuilder();
  const p = bools(b, [1, 1, 0, 0]);
  const q = bools(b, [1, 0, 1, 0]);
  const f = b.constant(Tensor.float32([4], [NaN, Infinity, -Infinity, 1]));
  const folded = {
    not: b.op1('Not', [p]),
    and: b.op1('And', [p, q]),
    or: b.op1('Or', [p, q]),
    xor: b.op1('Xor', [p, q]),
    nan: b.op1('IsNaN', [f]),
    inf: b.op1('IsInf', [f]),
    negInf: b.op1('IsInf', [f], { detect_positive: A.int(0) }),
    posInf: b.op1('IsInf', [f], { detect_negative: A.int(0) }),
  };
  assert.deepEqual(known(folded.not), [0, 0, 1, 1]);
  assert.deepEqual(known(folded.and), [1, 0, 0, 0]);
  assert.deepEqual(known(folded.or), [1, 1, 1, 0]);
  assert.deepEqual(known(folded.xor), [0, 1, 1, 0]);
  assert.deepEqual(known(folded.nan), [1, 0, 0, 0]);
  assert.deepEqual(known(folded.inf), [0, 1, 1, 0]);
  assert.deepEqual(known(folded.negInf), [0, 0, 1, 0]);
  assert.deepEqual(known(folded.posInf), [0, 1, 0, 0]);
  await agreesWithOrt(b, folded);
});

test('folds: Where/Max/Min/Pow on int64 shape plumbing', async () => {
  // torch.onnx.export's reshape(-1, …) pattern: Where(Equal(shape, 0), input shape, shape).
  const b = new GraphBuilder();
  const target = b.constInt64([0, -1, 64]);
  const inShape = b.constInt64([8, 49, 768]);
  const zero = b.constant(Tensor.int64([], [0]));
  const folded = {
    resolved: b.op1('Where', [b.op1('Equal', [target, zero]), inShape, target]),
    max: b.op1('Max', [target, b.constant(Tensor.int64([1], [1]))]),
    min: b.op1('Min', [inShape, b.constInt64([16, 16, 16]), b.constant(Tensor.int64([], [32]))]),
    pow: b.op1('Pow', [b.constInt64([2, 3, 7]), b.constant(Tensor.int64([], [2]))]),
    powFloat: b.op1('Pow', [b.constant(Tensor.float32([2], [4, 9])), b.constant(Tensor.float32([], [0.5]))]),
  };
  assert.deepEqual(known(folded.resolved), [8, -1, 64]);
  assert.equal(folded.resolved.known!.dtype, 'int64');
  assert.deepEqual(known(folded.max), [1, 1, 64]);
  assert.deepEqual(known(folded.min), [8, 16, 16]);
  assert.deepEqual(known(folded.pow), [4, 9, 49]);
  assert.deepEqual(known(folded.powFloat), [2, 3]);
  await agreesWithOrt(b, folded);
});

test('folds: Where broadcasts a scalar condition', async () => {
  const b = new GraphBuilder();
  const w = b.op1('Where', [bools(b, [1]), b.constInt64([1, 2]), b.constant(Tensor.int64([2, 1], [7, 8]))]);
  assert.deepEqual([...w.known!.dims], [2, 2]);
  assert.deepEqual(known(w), [1, 2, 1, 2]);
  await agreesWithOrt(b, { w });
});

test('folds: an int64 Pow with no finite value is left to the runtime', () => {
  const b = new GraphBuilder();
  const y = b.op1('Pow', [b.constInt64([0, 2]), b.constant(Tensor.int64([], [-1]))]);
  assert.equal(y.known, undefined);
  assert.deepEqual(y.meta.shape, [2]);
});

// ---------------------------------------------------------------------------------------------
// Second order: each rule's gradient differentiated again (hvpCheck: ∂(v·∂L/∂x)/∂p against
// central differences). The functions are nonlinear so the second derivatives are not 0.

test('second order: Pow by base and exponent', () =>
  hvpCheck({
    inputs: [{ name: 'x', dims: [2, 3], values: [0.5, 1.2, 2, 0.8, 1.7, 2.4] }, { name: 'e', dims: [3], values: [0.5, 1.5, 2.5] }],
    build: (b, v) => b.op1('Pow', [v.x!, v.e!]),
  }));

for (const op of ['Min', 'Max']) {
  test(`second order: ${op}(x, y)·x`, () =>
    hvpCheck({ inputs: [{ name: 'x', dims: [2, 3] }, { name: 'y', dims: [3] }], build: (b, v) => b.op1(op, [v.x!, v.y!]).mul(v.x!) }));
}

test('second order: Where picks x² or x·y', () =>
  hvpCheck({
    inputs: [{ name: 'x', dims: [2, 3] }, { name: 'y', dims: [3] }],
    build: (b, v) => b.op1('Where', [b.op1('Greater', [v.x!, v.y!]), v.x!.mul(v.x!), v.x!.mul(v.y!)]),
  }));
