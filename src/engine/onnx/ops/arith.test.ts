import assert from 'node:assert/strict';
import { GraphBuilder } from '../builder.js';
import { Tensor } from '../tensor.js';
import { test } from 'node:test';
import { gradCheck } from '../testing/gradcheck.js';
import { hvpCheck } from '../testing/hvpcheck.js';

for (const op of ['Add', 'Sub', 'Mul', 'Div'] as const) {
  test(`${op}: same shapes`, () =>
    gradCheck({
      inputs: [{ name: 'a', dims: [2, 3] }, { name: 'b', dims: [2, 3], values: op === 'Div' ? [1.5, -2, 3, 1.1, -1.7, 2.2] : undefined }],
      build: (b, v) => b.op1(op, [v.a!, v.b!]),
    }));
  test(`${op}: broadcasting both ways`, () =>
    gradCheck({
      inputs: [{ name: 'a', dims: [2, 1, 4] }, { name: 'b', dims: [3, 1], values: op === 'Div' ? [1.5, -2, 3] : undefined }],
      build: (b, v) => b.op1(op, [v.a!, v.b!]),
    }));
}

test('Neg and Identity', () =>
  gradCheck({ inputs: [{ name: 'a', dims: [3, 2] }], build: (b, v) => b.op1('Identity', [b.op1('Neg', [v.a!])]) }));

test('a value used twice accumulates its gradient', () =>
  gradCheck({ inputs: [{ name: 'a', dims: [4] }], build: (_b, v) => v.a!.mul(v.a!).add(v.a!) }));

test('gradient with respect to one input only', () =>
  gradCheck({ inputs: [{ name: 'a', dims: [2, 2] }, { name: 'b', dims: [2, 2], wrt: false }], build: (_b, v) => v.a!.mul(v.b!) }));

test('a value used three times accumulates through one Sum', () =>
  gradCheck({ inputs: [{ name: 'a', dims: [3] }], build: (_b, v) => v.a!.mul(v.a!).mul(v.a!) }));

test('broadcast gradients with a dynamic batch dim', () =>
  gradCheck({
    inputs: [{ name: 'a', dims: [2, 3], dynamicAxes: [0] }, { name: 'b', dims: [1, 3] }],
    build: (_b, v) => v.a!.mul(v.b!).add(v.b!),
    outputDims: [2, 3],
  }));

test('Mod folds like ONNX for both sign conventions', () => {
  const b = new GraphBuilder(17);
  const a = b.constant(Tensor.int64([4], [7, -7, 7, -7]));
  const d = b.constant(Tensor.int64([4], [3, 3, -3, -3]));
  assert.deepEqual(b.op1('Mod', [a, d]).known!.toNumbers(), [1, 2, -2, -1]);
  assert.deepEqual(b.op1('Mod', [a, d], { fmod: 1 }).known!.toNumbers(), [1, -1, 1, -1]);
});

// ---------------------------------------------------------------------------------------------
// Second order: each rule's gradient differentiated again (hvpCheck: ∂(v·∂L/∂x)/∂p against
// central differences). The functions are nonlinear so the second derivatives are not 0.

test('second order: Add, Sub, Mul and Div, broadcasting', () =>
  hvpCheck({
    inputs: [{ name: 'x', dims: [2, 3] }, { name: 'y', dims: [3] }, { name: 'z', dims: [2, 1], values: [1.5, -2] }],
    build: (_b, v) => v.x!.mul(v.y!).div(v.z!).sub(v.x!.div(v.y!.mul(v.y!).add(1))).add(v.z!.mul(v.x!)),
  }));

test('second order: Neg, Sum and Identity', () =>
  hvpCheck({
    inputs: [{ name: 'x', dims: [2, 3] }, { name: 'y', dims: [3] }],
    build: (b, v) => b.op1('Sum', [v.x!.mul(v.x!), b.op1('Neg', [v.y!]).mul(v.x!), b.op1('Identity', [v.x!.mul(v.y!)])]),
  }));
