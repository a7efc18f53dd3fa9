import assert from 'node:assert/strict';
import { test } from 'node:test';
import { A, GraphBuilder } from '../builder.js';
import type { Dim } from '../ir.js';
import { gradCheck } from '../testing/gradcheck.js';
import { softmaxAxes } from './softmax.js';
import { hvpCheck } from '../testing/hvpcheck.js';

interface Variant { opset: number; dims: number[]; axis?: number }

// Opset ≥ 13 normalises along one axis (default -1); before 13 along every axis from `axis`
// (default 1) on. The finite differences run ORT's own forward kernel, so a rule that read the
// axis convention wrongly would not match.
const variants: Variant[] = [
  { opset: 17, dims: [2, 3, 4] },
  { opset: 13, dims: [2, 3, 4], axis: 1 },
  { opset: 17, dims: [2, 3, 4], axis: -2 },
  { opset: 18, dims: [2, 3, 4], axis: 0 },
  { opset: 17, dims: [5] },
  { opset: 12, dims: [2, 3, 4] },
  { opset: 12, dims: [2, 3, 4], axis: -1 },
  { opset: 12, dims: [2, 3, 4], axis: -2 },
  { opset: 12, dims: [2, 3, 4], axis: 0 },
  { opset: 11, dims: [3, 4], axis: 1 },
];

for (const op of ['Softmax', 'LogSoftmax'] as const) {
  for (const v of variants) {
    test(`${op} gradient: opset ${v.opset}, [${v.dims}], axis ${v.axis ?? 'default'}`, () =>
      gradCheck({
        opset: v.opset,
        inputs: [{ name: 'x', dims: v.dims }],
        build: (b, x) => b.op1(op, [x.x!], v.axis === undefined ? {} : { axis: A.int(v.axis) }),
      }));
  }
}

test('Softmax feeding LogSoftmax: gradients compose', () =>
  gradCheck({ inputs: [{ name: 'x', dims: [3, 4] }], build: (b, x) => b.op1('LogSoftmax', [x.x!.mul(x.x!).softmax(0)]) }));

test('softmax axes under both opset conventions', () => {
  const node = (axis?: number) => ({
    opType: 'Softmax', domain: '', name: 's', inputs: ['x'], outputs: ['y'],
    attrs: new Map(axis === undefined ? [] : [['axis', A.int(axis)] as const]),
  });
  assert.deepEqual(softmaxAxes(node(), 17, 4), [3]);
  assert.deepEqual(softmaxAxes(node(1), 13, 4), [1]);
  assert.deepEqual(softmaxAxes(node(-3), 17, 4), [1]);
  assert.deepEqual(softmaxAxes(node(), 12, 4), [1, 2, 3]);
  assert.deepEqual(softmaxAxes(node(-1), 12, 4), [3]);
  assert.deepEqual(softmaxAxes(node(-3), 11, 4), [1, 2, 3]);
  assert.deepEqual(softmaxAxes(node(0), 12, 2), [0, 1]);
});

test('Softmax and LogSoftmax infer: shape kept, axis checked', () => {
  const shapeOf = (op: string, dims: Dim[], opset: number, axis?: number): Dim[] => {
    const b = new GraphBuilder(opset);
    return b.op1(op, [b.input('x', 'float32', dims)], axis === undefined ? {} : { axis: A.int(axis) }).shape;
  };
  assert.deepEqual(shapeOf('Softmax', ['batch', 12, 'seq', 'seq'], 17), ['batch', 12, 'seq', 'seq']);
  assert.deepEqual(shapeOf('LogSoftmax', [null, 10], 12), [null, 10]);
  assert.throws(() => shapeOf('Softmax', [2, 3], 17, 2), /axis 2 is out of range for rank 2/);
  assert.throws(() => shapeOf('LogSoftmax', [5], 12), /axis 1 is out of range for rank 1/);
});

// ---------------------------------------------------------------------------------------------
// Second order: each rule's gradient differentiated again (hvpCheck: ∂(v·∂L/∂x)/∂p against
// central differences). The functions are nonlinear so the second derivatives are not 0.

test('second order: Softmax (opset 17, last axis)', () =>
  hvpCheck({ inputs: [{ name: 'x', dims: [2, 4] }], build: (b, v) => b.op1('Softmax', [v.x!]) }));

test('second order: Softmax over axes 1.. (opset 11 coercion)', () =>
  hvpCheck({ opset: 11, inputs: [{ name: 'x', dims: [2, 2, 3] }], build: (b, v) => b.op1('Softmax', [v.x!], { axis: A.int(1) }) }));

test('second order: LogSoftmax', () =>
  hvpCheck({ inputs: [{ name: 'x', dims: [2, 4] }], build: (b, v) => b.op1('LogSoftmax', [v.x!], { axis: A.int(0) }) }));
