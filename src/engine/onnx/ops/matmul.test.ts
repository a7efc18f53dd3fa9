import assert from 'node:assert/strict';
import { test } from 'node:test';
import { A, GraphBuilder, type Value } from '../builder.js';
import { gradients } from '../autodiff.js';
import type { Dim } from '../ir.js';
import { Tensor, numel } from '../tensor.js';
import { Session } from '../../runtime.js';
import { gradCheck, randn, rng } from '../testing/gradcheck.js';
import { hvpCheck } from '../testing/hvpcheck.js';

const matmulCases: [number[], number[]][] = [
  [[3, 4], [4, 2]],
  [[2, 3, 4], [2, 4, 2]], // batched, same batch
  [[2, 1, 3, 4], [5, 4, 2]], // batch dims broadcast both ways
  [[2, 3, 4], [4, 5]], // batched activation × 2-D weight (the flattened weight-gradient path)
  [[3, 4], [2, 4, 2]], // 2-D × batched
  [[1, 3, 4], [2, 4, 2]], // size-1 batch dim on the left
  [[4], [4, 3]], // 1-D left
  [[3, 4], [4]], // 1-D right
  [[4], [4]], // dot product
  [[4], [2, 4, 3]], // 1-D × batched
  [[2, 3, 4], [4]], // batched × 1-D
];

for (const [a, w] of matmulCases) {
  test(`MatMul gradient: [${a}] @ [${w}]`, () =>
    gradCheck({ inputs: [{ name: 'a', dims: a }, { name: 'w', dims: w }], build: (_b, v) => v.a!.matmul(v.w!) }));
}

test('MatMul gradient with respect to one operand only', () =>
  gradCheck({ inputs: [{ name: 'a', dims: [2, 3, 4] }, { name: 'w', dims: [4, 2], wrt: false }], build: (_b, v) => v.a!.matmul(v.w!) }));

test('MatMul: a value multiplied by itself accumulates both gradients', () =>
  gradCheck({ inputs: [{ name: 'a', dims: [3, 3] }], build: (_b, v) => v.a!.matmul(v.a!) }));

const inferMatMul = (a: Dim[], w: Dim[]): Dim[] => {
  const b = new GraphBuilder(17);
  return b.input('a', 'float32', a).matmul(b.input('w', 'float32', w)).shape;
};

test('MatMul infer: numpy shapes, 1-D operands and symbolic batch dims', () => {
  assert.deepEqual(inferMatMul([3, 4], [4, 5]), [3, 5]);
  assert.deepEqual(inferMatMul([2, 1, 3, 4], [5, 4, 6]), [2, 5, 3, 6]);
  assert.deepEqual(inferMatMul([4], [4, 5]), [5]);
  assert.deepEqual(inferMatMul([3, 4], [4]), [3]);
  assert.deepEqual(inferMatMul([4], [4]), []);
  assert.deepEqual(inferMatMul([4], [7, 4, 5]), [7, 5]);
  assert.deepEqual(inferMatMul([7, 3, 4], [4]), [7, 3]);
  assert.deepEqual(inferMatMul(['batch', 'seq', 768], [768, 3072]), ['batch', 'seq', 3072]);
  assert.deepEqual(inferMatMul(['batch', 12, 'seq', 64], ['batch', 12, 64, 'seq']), ['batch', 12, 'seq', 'seq']);
  assert.deepEqual(inferMatMul(['batch', 1, 3, 4], [5, 4, 6]), ['batch', 5, 3, 6]);
  assert.deepEqual(inferMatMul([null, 3, 'k'], ['k', 2]), [null, 3, 2]);
  assert.throws(() => inferMatMul([3, 4], [5, 6]), /inner dimensions 4 and 5 differ/);
  assert.throws(() => inferMatMul([2, 3, 4], [3, 4, 5]), /do not broadcast/);
  assert.throws(() => inferMatMul([], [4, 5]), /rank ≥ 1/);
});

/**
 * Builds y = a @ w with the given (possibly symbolic) input dims, differentiates Σ y², and runs
 * the gradients on concrete values: a rule that bakes in static shapes fails to build or to run.
 */
async function matmulGradsAt(aDims: Dim[], wDims: Dim[], aVals: Tensor, wVals: Tensor): Promise<number[][]> {
  const b = new GraphBuilder(17);
  const a = b.input('a', 'float64', aDims);
  const w = b.input('w', 'float64', wDims);
  const y = a.matmul(w);
  const loss = y.mul(y).sum();
  b.output(loss, 'loss');
  gradients(b, loss, [a, w]).forEach((g, i) => b.output(g, `g${i}`));
  const s = await Session.create(b.toModel(), { device: 'cpu', intraOpThreads: 1 });
  const out = await s.run({ a: aVals, w: wVals });
  await s.release();
  return [out.g0!, out.g1!].map((t) => t.toNumbers());
}

const symbolicCases: [Dim[], Dim[], number[], number[]][] = [
  [['n', 3, 4], [4, 5], [2, 3, 4], [4, 5]],
  [['n', 1, 3, 4], [5, 4, 2], [2, 1, 3, 4], [5, 4, 2]],
  [[4], ['n', 4, 3], [4], [2, 4, 3]],
  [['n', 'm'], ['m'], [3, 4], [4]],
];

for (const [aSym, wSym, aDims, wDims] of symbolicCases) {
  test(`MatMul gradient with dynamic dims: [${aSym}] @ [${wSym}]`, async () => {
    const r = rng(3);
    const av = Tensor.float64(aDims, randn(r, numel(aDims)));
    const wv = Tensor.float64(wDims, randn(r, numel(wDims)));
    const dynamic = await matmulGradsAt(aSym, wSym, av, wv);
    const fixed = await matmulGradsAt(aDims, wDims, av, wv);
    dynamic.forEach((g, i) => g.forEach((v, k) => assert.ok(Math.abs(v - fixed[i]![k]!) < 1e-9, `gradient ${i}[${k}]: ${v} vs ${fixed[i]![k]}`)));
  });
}

interface GemmVariant { transA: number; transB: number; alpha: number; beta: number; c?: number[] }

function gemmInputs(v: GemmVariant, m = 3, k = 4, n = 2) {
  const inputs = [
    { name: 'a', dims: v.transA ? [k, m] : [m, k] },
    { name: 'b', dims: v.transB ? [n, k] : [k, n] },
  ];
  return v.c ? [...inputs, { name: 'c', dims: v.c }] : inputs;
}

const gemmOp = (b: GraphBuilder, x: Record<string, Value>, v: GemmVariant): Value =>
  b.op1('Gemm', [x.a!, x.b!, x.c], { transA: A.int(v.transA), transB: A.int(v.transB), alpha: A.float(v.alpha), beta: A.float(v.beta) });

for (const transA of [0, 1]) {
  for (const transB of [0, 1]) {
    const v: GemmVariant = { transA, transB, alpha: 0.7, beta: 1.3, c: [3, 2] };
    test(`Gemm gradient: transA=${transA} transB=${transB}, alpha, beta, C [M,N]`, () =>
      gradCheck({ inputs: gemmInputs(v), build: (b, x) => gemmOp(b, x, v) }));
  }
}

for (const c of [[2], [3, 1], [1, 2], []]) {
  const v: GemmVariant = { transA: 1, transB: 0, alpha: 1, beta: -0.6, c };
  test(`Gemm gradient: C of shape [${c}] broadcast to [M,N]`, () =>
    gradCheck({ inputs: gemmInputs(v), build: (b, x) => gemmOp(b, x, v) }));
}

test('Gemm gradient without C, at opset 13', () => {
  const v: GemmVariant = { transA: 0, transB: 1, alpha: 2.5, beta: 1 };
  return gradCheck({ opset: 13, inputs: gemmInputs(v), build: (b, x) => gemmOp(b, x, v) });
});

test('Gemm infer: transposes and errors', () => {
  const shapeOf = (a: Dim[], w: Dim[], transA: number, transB: number, c?: Dim[]): Dim[] => {
    const b = new GraphBuilder(17);
    const cv = c ? b.input('c', 'float32', c) : undefined;
    return b.op1('Gemm', [b.input('a', 'float32', a), b.input('b', 'float32', w), cv], { transA: A.int(transA), transB: A.int(transB) }).shape;
  };
  assert.deepEqual(shapeOf([3, 4], [4, 5], 0, 0), [3, 5]);
  assert.deepEqual(shapeOf([4, 3], [4, 5], 1, 0, [5]), [3, 5]);
  assert.deepEqual(shapeOf([3, 4], [5, 4], 0, 1, [3, 1]), [3, 5]);
  assert.deepEqual(shapeOf(['k', 'n'], [5, 'k'], 1, 1), ['n', 5]);
  assert.throws(() => shapeOf([3, 4], [5, 4], 0, 0), /inner dimensions 4 and 5 differ/);
  assert.throws(() => shapeOf([2, 3, 4], [4, 5], 0, 0), /must be 2-D/);
  assert.throws(() => shapeOf([3, 4], [4, 5], 0, 0, [4]), /do not broadcast/);
});

// ---------------------------------------------------------------------------------------------
// Second order: each rule's gradient differentiated again (hvpCheck: ∂(v·∂L/∂x)/∂p against
// central differences). The functions are nonlinear so the second derivatives are not 0.

test('second order: batched MatMul, squared (by x and w)', () =>
  hvpCheck({
    inputs: [{ name: 'x', dims: [2, 3, 4] }, { name: 'w', dims: [4, 5] }],
    build: (_b, v) => {
      const y = v.x!.matmul(v.w!);
      return y.mul(y);
    },
  }));

test('second order: MatMul of a 1-D and a batched operand, squared', () =>
  hvpCheck({
    inputs: [{ name: 'x', dims: [4] }, { name: 'w', dims: [2, 4, 3] }],
    build: (_b, v) => {
      const y = v.x!.matmul(v.w!);
      return y.mul(y);
    },
  }));

test('second order: Gemm with transposes, alpha, beta and C, squared', () =>
  hvpCheck({
    inputs: [{ name: 'a', dims: [4, 3] }, { name: 'w', dims: [5, 4] }, { name: 'c', dims: [5] }],
    build: (b, v) => {
      const y = b.op1('Gemm', [v.a!, v.w!, v.c!], { transA: A.int(1), transB: A.int(1), alpha: A.float(0.5), beta: A.float(2) });
      return y.mul(y);
    },
  }));
