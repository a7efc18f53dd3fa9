import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GraphBuilder, Tensor } from '../../src/engine/onnx/index.js';

/** The plumbing torch.onnx.export writes for q, k, v = x.chunk(3, -1) with a dynamic batch. */
test('shape arithmetic that avoids the dynamic dim is known at build time', () => {
  const b = new GraphBuilder(17);
  const x = b.input('x', 'float32', [17, 'batch', 96]);
  const shape = b.op1('Shape', [x]);
  assert.deepEqual(shape.meta.dimValues, [17, 'batch', 96]);
  const last = b.op1('Gather', [shape, b.constInt64([-1])]);
  assert.deepEqual(last.known?.toNumbers(), [96]);
  const third = last.div(b.constant(Tensor.int64([1], [3])));
  assert.deepEqual(third.known?.toNumbers(), [32]);
  const q = b.op1('Slice', [x, b.constInt64([0]), third, b.constInt64([-1])]);
  assert.deepEqual(q.shape, [17, 'batch', 32]);
});

test('a Reshape target built from Shape keeps the dim name', () => {
  const b = new GraphBuilder(17);
  const x = b.input('x', 'float32', ['n', 4, 6]);
  const n = b.unsqueeze(b.op1('Gather', [b.op1('Shape', [x]), b.constant(Tensor.int64([], [0]))]), [0]);
  const target = b.op1('Concat', [n, b.constInt64([-1])], { axis: 0 });
  assert.deepEqual(target.meta.dimValues, ['n', -1]);
  assert.deepEqual(x.reshape(target).shape, ['n', 24]);
});

test('Where(Equal(shape, -1), …) as exported for expand(-1, …) resolves', () => {
  const b = new GraphBuilder(17);
  const x = b.input('x', 'float32', ['n', 1, 8]);
  const want = b.op1('Concat', [b.unsqueeze(b.op1('Gather', [b.op1('Shape', [x]), b.constant(Tensor.int64([], [0]))]), [0]), b.constInt64([5, -1])], { axis: 0 });
  const isMinus = b.op1('Equal', [want, b.constInt64([-1])]);
  const ones = b.constInt64([1, 1, 1]);
  const fixed = b.op1('Where', [isMinus, ones, want]);
  assert.deepEqual(fixed.meta.dimValues, ['n', 5, 1]);
  assert.deepEqual(b.op1('Expand', [x, fixed]).shape, ['n', 5, 8]);
});
