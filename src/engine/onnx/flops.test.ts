import assert from 'node:assert/strict';
import { test } from 'node:test';
import { A, GraphBuilder } from './builder.js';
import { countFlops, modelFlops } from './flops.js';
import './ops/index.js';

test('MatMul with batch dims, Gemm with transposes: 2·M·N·K per product', () => {
  const b = new GraphBuilder();
  const x = b.input('x', 'float32', [4, 10, 16]);
  const w = b.input('w', 'float32', [16, 32]);
  const y = x.matmul(w); // 2·4·10·32·16
  const g = b.op1('Gemm', [b.input('a', 'float32', [8, 5]), b.input('c', 'float32', [7, 8])], { transA: A.int(1), transB: A.int(1) }); // 2·5·7·8
  b.output(y); b.output(g);
  const f = countFlops(b);
  assert.deepEqual(f.byOp, { MatMul: 2 * 4 * 10 * 32 * 16, Gemm: 2 * 5 * 7 * 8 });
  assert.equal(f.total, 40960 + 560);
  assert.deepEqual(f.uncounted, []);
});

test('Conv (grouped, strided) and ConvTranspose', () => {
  const b = new GraphBuilder();
  const x = b.input('x', 'float32', [2, 4, 8, 8]);
  // groups 2: each of 6 outputs sees 2 input channels × 3×3; stride 2, pad 1 → 4×4 outputs.
  const y = b.op1('Conv', [x, b.input('k', 'float32', [6, 2, 3, 3])], {
    kernel_shape: A.ints([3, 3]), strides: A.ints([2, 2]), pads: A.ints([1, 1, 1, 1]), group: A.int(2),
  });
  const t = b.op1('ConvTranspose', [x, b.input('kt', 'float32', [4, 3, 2, 2])], { kernel_shape: A.ints([2, 2]), strides: A.ints([2, 2]) });
  b.output(y); b.output(t);
  const f = countFlops(b);
  assert.equal(f.byOp.Conv, 2 * (2 * 6 * 4 * 4) * (2 * 3 * 3));
  assert.equal(f.byOp.ConvTranspose, 2 * (2 * 4 * 8 * 8) * (3 * 2 * 2));
});

test('dynamic dims are reported as uncounted until fixed by modelFlops', () => {
  const b = new GraphBuilder();
  const y = b.input('x', 'float32', ['batch', 16]).matmul(b.input('w', 'float32', [16, 4]));
  b.output(y, 'y');
  assert.equal(countFlops(b).uncounted.length, 1);
  const f = modelFlops(b.toModel(), { x: [3, 16] });
  assert.equal(f.total, 2 * 3 * 4 * 16);
  assert.deepEqual(f.uncounted, []);
});
