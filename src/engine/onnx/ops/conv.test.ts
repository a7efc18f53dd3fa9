import { test } from 'node:test';
import assert from 'node:assert/strict';
import { A, GraphBuilder, type AttrInput, type Value } from '../builder.js';
import { gradCheck, rng, type GradInput } from '../testing/gradcheck.js';
import { Tensor } from '../tensor.js';
import type { Dim } from '../ir.js';
import { hvpCheck } from '../testing/hvpcheck.js';

// ORT's CPU kernels for Conv, ConvTranspose and the pools are float32-only, so every check here
// runs in float32. Conv and AveragePool are linear in each input, so finite differences are exact
// for any step and a large eps keeps float32 rounding out of the comparison.
const F32 = { dtype: 'float32', eps: 0.05, tol: 1e-3 } as const;

type Attrs = Record<string, AttrInput>;

const conv = (attrs: Attrs) => (b: GraphBuilder, v: Record<string, Value>) =>
  b.op1('Conv', v.bias ? [v.x!, v.w!, v.bias] : [v.x!, v.w!], attrs);

function convCase(name: string, x: number[], w: number[], attrs: Attrs, opts: { bias?: boolean; dynamicBatch?: boolean; outputDims?: number[] } = {}) {
  const inputs: GradInput[] = [
    { name: 'x', dims: x, dynamicAxes: opts.dynamicBatch ? [0] : undefined },
    { name: 'w', dims: w },
  ];
  if (opts.bias) inputs.push({ name: 'bias', dims: [w[0]!] });
  test(`Conv: ${name}`, () => gradCheck({ ...F32, inputs, build: conv(attrs), outputDims: opts.outputDims }));
}

convCase('stride 2 on odd and even sizes, asymmetric pads, bias', [2, 3, 5, 6], [4, 3, 3, 3], { strides: A.ints([2, 2]), pads: A.ints([1, 0, 0, 2]) }, { bias: true });
convCase('dilation 2 with pads', [2, 2, 6, 5], [3, 2, 2, 3], { dilations: A.ints([2, 2]), pads: A.ints([1, 2, 1, 0]) }, { bias: true });
convCase('stride 3 (weight correlation yields extra taps to crop)', [1, 2, 7, 8], [2, 2, 2, 3], { strides: A.ints([3, 3]) });
convCase('stride and dilation together', [1, 2, 9, 7], [2, 2, 2, 2], { strides: A.ints([2, 3]), dilations: A.ints([3, 2]), pads: A.ints([0, 1, 2, 0]) });
convCase('groups 2', [2, 4, 5, 6], [6, 2, 3, 3], { group: A.int(2), strides: A.ints([2, 1]), pads: A.ints([1, 1, 1, 1]) }, { bias: true });
convCase('depthwise (group = C)', [2, 3, 5, 6], [3, 1, 3, 3], { group: A.int(3), strides: A.ints([2, 2]), dilations: A.ints([1, 2]), pads: A.ints([1, 1, 1, 1]) });
convCase('depthwise with channel multiplier 2', [1, 2, 5, 5], [4, 1, 3, 3], { group: A.int(2), pads: A.ints([1, 1, 1, 1]) });
convCase('auto_pad SAME_UPPER, stride 2', [2, 2, 5, 6], [3, 2, 3, 3], { auto_pad: 'SAME_UPPER', strides: A.ints([2, 2]) }, { bias: true });
convCase('auto_pad SAME_LOWER, stride 2', [2, 2, 5, 6], [3, 2, 2, 3], { auto_pad: 'SAME_LOWER', strides: A.ints([2, 2]) });
convCase('auto_pad VALID ignores pads', [1, 2, 5, 6], [2, 2, 3, 3], { auto_pad: 'VALID' });
convCase('kernel_shape attribute given', [1, 2, 5, 5], [2, 2, 3, 2], { kernel_shape: A.ints([3, 2]), strides: A.ints([2, 2]) });
convCase('1-D, stride 2, dilation 2, asymmetric pads', [2, 3, 9], [2, 3, 3], { strides: A.ints([2]), dilations: A.ints([2]), pads: A.ints([2, 1]) }, { bias: true });
convCase('3-D, strides and pads', [1, 2, 4, 3, 5], [2, 2, 2, 2, 3], { strides: A.ints([2, 1, 2]), pads: A.ints([0, 1, 1, 1, 0, 0]) }, { bias: true });
convCase('dynamic batch dim, groups 2', [2, 4, 5, 5], [4, 2, 3, 3], { group: A.int(2), strides: A.ints([2, 2]) }, { bias: true, dynamicBatch: true, outputDims: [2, 4, 2, 2] });
convCase('dynamic batch dim, group 1', [2, 2, 5, 4], [3, 2, 3, 3], { strides: A.ints([2, 1]), pads: A.ints([1, 1, 1, 1]) }, { dynamicBatch: true, outputDims: [2, 3, 3, 4] });

test('Conv: gradient of the input only (weight a constant initializer)', () =>
  gradCheck({
    ...F32,
    inputs: [{ name: 'x', dims: [1, 2, 5, 6] }, { name: 'w', dims: [2, 2, 3, 3], as: 'initializer', wrt: false }],
    build: conv({ strides: A.ints([2, 2]) }),
  }));

const convT = (attrs: Attrs) => (b: GraphBuilder, v: Record<string, Value>) =>
  b.op1('ConvTranspose', v.bias ? [v.x!, v.w!, v.bias] : [v.x!, v.w!], attrs);

test('ConvTranspose: stride 2, asymmetric pads, output_padding, bias', () =>
  gradCheck({
    ...F32,
    inputs: [{ name: 'x', dims: [2, 3, 3, 4] }, { name: 'w', dims: [3, 2, 3, 3] }, { name: 'bias', dims: [2] }],
    build: convT({ strides: A.ints([2, 2]), pads: A.ints([1, 0, 0, 1]), output_padding: A.ints([1, 0]) }),
  }));

test('ConvTranspose: groups 2 and dilation 2', () =>
  gradCheck({
    ...F32,
    inputs: [{ name: 'x', dims: [1, 4, 3, 3] }, { name: 'w', dims: [4, 1, 2, 2] }],
    build: convT({ group: A.int(2), dilations: A.ints([2, 2]), strides: A.ints([2, 1]) }),
  }));

test('ConvTranspose: output_shape', () =>
  gradCheck({ ...F32, inputs: [{ name: 'x', dims: [1, 2, 3, 4] }, { name: 'w', dims: [2, 2, 3, 3] }], build: convT({ strides: A.ints([2, 2]), output_shape: A.ints([6, 8]) }) }));
test('ConvTranspose: auto_pad SAME_UPPER', () =>
  gradCheck({ ...F32, inputs: [{ name: 'x', dims: [1, 2, 3, 4] }, { name: 'w', dims: [2, 2, 3, 2] }], build: convT({ strides: A.ints([2, 2]), auto_pad: 'SAME_UPPER' }) }));

test('ConvTranspose: 1-D', () =>
  gradCheck({ ...F32, inputs: [{ name: 'x', dims: [2, 2, 4] }, { name: 'w', dims: [2, 3, 3] }], build: convT({ strides: A.ints([3]), pads: A.ints([1, 1]) }) }));

/** Distinct values 0.05 apart in a shuffled order: no two lie within a finite-difference step. */
function spread(n: number, seed: number): number[] {
  const r = rng(seed);
  const v = Array.from({ length: n }, (_, i) => (i - n / 2) * 0.05);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [v[i], v[j]] = [v[j]!, v[i]!];
  }
  return v;
}

const pool = (type: string, attrs: Attrs, outputs = 1) => (b: GraphBuilder, v: Record<string, Value>) => b.op(type, [v.x!], attrs, { outputs })[0]!;

// MaxPool is piecewise linear; with no ties within eps the finite differences are exact too.
const MAX = { dtype: 'float32', eps: 0.01, tol: 1e-3 } as const;

function maxPoolCase(name: string, dims: number[], attrs: Attrs, opts: { opset?: number; outputs?: number; dynamicBatch?: boolean; outputDims?: number[] } = {}) {
  const n = dims.reduce((a, c) => a * c, 1);
  test(`MaxPool: ${name}${opts.opset ? ` (opset ${opts.opset})` : ''}`, () =>
    gradCheck({
      ...MAX,
      opset: opts.opset,
      outputDims: opts.outputDims,
      inputs: [{ name: 'x', dims, values: spread(n, n), dynamicAxes: opts.dynamicBatch ? [0] : undefined }],
      build: pool('MaxPool', attrs, opts.outputs),
    }));
}

const overlapping = { kernel_shape: A.ints([3, 3]), strides: A.ints([2, 2]), pads: A.ints([1, 0, 1, 1]), ceil_mode: A.int(1) };
maxPoolCase('3×3 stride 2, pads, ceil_mode (overlapping windows)', [2, 2, 5, 6], overlapping);
maxPoolCase('3×3 stride 2, pads, ceil_mode (overlapping windows)', [2, 2, 5, 6], overlapping, { opset: 13 });
maxPoolCase('2×2 stride 2 (disjoint windows)', [1, 2, 5, 6], { kernel_shape: A.ints([2, 2]), strides: A.ints([2, 2]) }, { opset: 13 });
maxPoolCase('dilation 2, stride 1', [1, 2, 5, 6], { kernel_shape: A.ints([2, 2]), dilations: A.ints([2, 2]), pads: A.ints([0, 1, 1, 0]) });
maxPoolCase('dilation 2, stride 1', [1, 2, 5, 6], { kernel_shape: A.ints([2, 2]), dilations: A.ints([2, 2]), pads: A.ints([0, 1, 1, 0]) }, { opset: 15 });
maxPoolCase('with its Indices output (reused)', [1, 2, 5, 6], { kernel_shape: A.ints([3, 3]), strides: A.ints([1, 2]) }, { outputs: 2 });
maxPoolCase('storage_order 1 Indices (recomputed)', [1, 2, 5, 6], { kernel_shape: A.ints([3, 3]), strides: A.ints([1, 2]), storage_order: A.int(1) }, { outputs: 2 });
maxPoolCase('auto_pad SAME_UPPER', [1, 2, 5, 6], { kernel_shape: A.ints([2, 3]), strides: A.ints([2, 2]), auto_pad: 'SAME_UPPER' });
// ORT's kernels drop a ceil_mode window that would start in the end padding at every opset, but
// the ONNX shape inference ORT runs at load time only does so from opset 22 and would reject the
// check's static-shape Mul below that; so these cases run at opset 22.
const dropsLast = { kernel_shape: A.ints([2]), strides: A.ints([2]), pads: A.ints([1, 1]), ceil_mode: A.int(1) };
maxPoolCase('1-D, ceil_mode dropping a window in the padding', [2, 2, 5], dropsLast, { opset: 22 });
maxPoolCase('1-D', [2, 2, 7], { kernel_shape: A.ints([3]), strides: A.ints([2]), pads: A.ints([1, 1]) }, { opset: 13 });
maxPoolCase('3-D', [1, 2, 3, 4, 4], { kernel_shape: A.ints([2, 2, 2]), strides: A.ints([1, 2, 2]) });
maxPoolCase('dynamic batch dim', [2, 2, 5, 6], overlapping, { dynamicBatch: true, outputDims: [2, 2, 3, 3] });
maxPoolCase('dynamic batch dim', [2, 2, 5, 6], overlapping, { dynamicBatch: true, outputDims: [2, 2, 3, 3], opset: 13 });

function averagePoolCase(name: string, dims: number[], attrs: Attrs, opset?: number) {
  test(`AveragePool: ${name}`, () => gradCheck({ ...F32, opset, inputs: [{ name: 'x', dims }], build: pool('AveragePool', attrs) }));
}

for (const include of [0, 1]) {
  const c = { count_include_pad: A.int(include) };
  averagePoolCase(`count_include_pad ${include}, 3×3 stride 2, asymmetric pads`, [2, 2, 5, 6], { ...c, kernel_shape: A.ints([3, 3]), strides: A.ints([2, 2]), pads: A.ints([1, 0, 0, 1]) });
  averagePoolCase(`count_include_pad ${include}, ceil_mode`, [1, 2, 6, 5], { ...c, kernel_shape: A.ints([3, 2]), strides: A.ints([2, 2]), pads: A.ints([1, 1, 1, 0]), ceil_mode: A.int(1) });
  averagePoolCase(`count_include_pad ${include}, auto_pad SAME_UPPER`, [1, 2, 5, 6], { ...c, kernel_shape: A.ints([3, 3]), strides: A.ints([2, 2]), auto_pad: 'SAME_UPPER' });
  averagePoolCase(`count_include_pad ${include}, 1-D`, [2, 2, 7], { ...c, kernel_shape: A.ints([3]), strides: A.ints([2]), pads: A.ints([2, 1]) });
}
averagePoolCase('ceil_mode dropping a window in the padding (opset 22)', [2, 2, 5], { ...dropsLast, count_include_pad: A.int(1) }, 22);
averagePoolCase('no pads, odd size, stride 2', [2, 2, 5, 5], { kernel_shape: A.ints([2, 2]), strides: A.ints([2, 2]) });
averagePoolCase('dilation 2 (opset 19)', [1, 2, 6, 6], { kernel_shape: A.ints([2, 2]), dilations: A.ints([2, 2]), pads: A.ints([1, 1, 0, 0]) }, 19);
averagePoolCase('3-D', [1, 2, 3, 4, 4], { kernel_shape: A.ints([2, 2, 2]), strides: A.ints([1, 2, 2]) });

test('GlobalAveragePool', () => gradCheck({ ...F32, inputs: [{ name: 'x', dims: [2, 3, 4, 5] }], build: (b, v) => b.op1('GlobalAveragePool', [v.x!]) }));
test('GlobalAveragePool: dynamic spatial dims', () =>
  gradCheck({ ...F32, outputDims: [2, 3, 1, 1], inputs: [{ name: 'x', dims: [2, 3, 4, 5], dynamicAxes: [0, 2, 3] }], build: (b, v) => b.op1('GlobalAveragePool', [v.x!]) }));
test('GlobalMaxPool', () =>
  gradCheck({ ...MAX, inputs: [{ name: 'x', dims: [2, 3, 4, 5], values: spread(120, 7) }], build: (b, v) => b.op1('GlobalMaxPool', [v.x!]) }));

/** Output shapes of one node, inferred while building. */
function shapes(type: string, inputs: { dims: Dim[]; value?: number[] }[], attrs: Attrs, outputs = 1): Dim[][] {
  const b = new GraphBuilder(17);
  const vals = inputs.map((i, k) => (i.value ? b.initializer(`in${k}`, Tensor.float32(i.dims as number[], i.value)) : b.input(`in${k}`, 'float32', i.dims)));
  return b.op(type, vals, attrs, { outputs }).map((v) => v.shape);
}

test('infer: Conv output shapes', () => {
  assert.deepEqual(shapes('Conv', [{ dims: [2, 3, 5, 6] }, { dims: [4, 3, 3, 3] }], { strides: A.ints([2, 2]), pads: A.ints([1, 0, 0, 2]) }), [[2, 4, 2, 3]]);
  assert.deepEqual(shapes('Conv', [{ dims: ['n', 3, 5, 6] }, { dims: [4, 3, 3, 3] }], { auto_pad: 'SAME_UPPER', strides: A.ints([2, 2]) }), [['n', 4, 3, 3]]);
  assert.deepEqual(shapes('Conv', [{ dims: [1, 4, 'h', 6] }, { dims: [8, 2, 3, 3] }], { group: A.int(2), dilations: A.ints([2, 2]) }), [[1, 8, null, 2]]);
  assert.deepEqual(shapes('Conv', [{ dims: [1, 2, 9] }, { dims: [5, 2, 3] }], { strides: A.ints([2]), dilations: A.ints([2]), pads: A.ints([2, 1]) }), [[1, 5, 4]]);
  assert.deepEqual(shapes('Conv', [{ dims: [1, 2, 4, 3, 5] }, { dims: [2, 2, 2, 2, 3] }], { strides: A.ints([2, 1, 2]) }), [[1, 2, 2, 2, 2]]);
  assert.throws(() => shapes('Conv', [{ dims: [1, 3, 5, 5] }, { dims: [4, 2, 3, 3] }], {}), /3 channels/);
  assert.throws(() => shapes('Conv', [{ dims: [1, 2, 2, 2] }, { dims: [4, 2, 3, 3] }], {}), /window spans 3/);
});

test('infer: ConvTranspose output shapes', () => {
  assert.deepEqual(shapes('ConvTranspose', [{ dims: [2, 3, 3, 4] }, { dims: [3, 2, 3, 3] }], { strides: A.ints([2, 2]), pads: A.ints([1, 0, 0, 1]), output_padding: A.ints([1, 0]) }), [[2, 2, 7, 8]]);
  assert.deepEqual(shapes('ConvTranspose', [{ dims: [1, 4, 3, 3] }, { dims: [4, 1, 2, 2] }], { group: A.int(2), dilations: A.ints([2, 2]), strides: A.ints([2, 1]) }), [[1, 2, 7, 5]]);
  assert.deepEqual(shapes('ConvTranspose', [{ dims: ['n', 2, 3, 4] }, { dims: [2, 2, 3, 3] }], { strides: A.ints([2, 2]), output_shape: A.ints([6, 8]) }), [['n', 2, 6, 8]]);
  assert.deepEqual(shapes('ConvTranspose', [{ dims: [1, 2, 3, 4] }, { dims: [2, 5, 3, 3] }], { strides: A.ints([2, 2]), auto_pad: 'SAME_UPPER' }), [[1, 5, 6, 8]]);
});

test('infer: pool output shapes', () => {
  assert.deepEqual(shapes('MaxPool', [{ dims: [2, 2, 5, 6] }], overlapping, 2), [[2, 2, 3, 3], [2, 2, 3, 3]]);
  // ceil_mode: ceil((5+2-2)/2)+1 = 4, but the 4th window would start in the end padding.
  assert.deepEqual(shapes('MaxPool', [{ dims: [1, 1, 5] }], { kernel_shape: A.ints([2]), strides: A.ints([2]), pads: A.ints([1, 1]), ceil_mode: A.int(1) }), [[1, 1, 3]]);
  assert.deepEqual(shapes('AveragePool', [{ dims: [1, 2, 6, 5] }], { kernel_shape: A.ints([3, 2]), strides: A.ints([2, 2]), pads: A.ints([1, 1, 1, 0]), ceil_mode: A.int(1) }), [[1, 2, 4, 3]]);
  assert.deepEqual(shapes('AveragePool', [{ dims: ['n', 2, 'h', 7] }], { kernel_shape: A.ints([3, 3]), strides: A.ints([2, 2]), auto_pad: 'SAME_LOWER' }), [['n', 2, null, 4]]);
  assert.deepEqual(shapes('GlobalAveragePool', [{ dims: ['n', 3, 7, 7] }], {}), [['n', 3, 1, 1]]);
  assert.deepEqual(shapes('GlobalMaxPool', [{ dims: [2, 3, 9] }], {}), [[2, 3, 1]]);
  assert.throws(() => shapes('MaxPool', [{ dims: [1, 1, 5, 5] }], { kernel_shape: A.ints([2]) }), /kernel_shape has 1 entries/);
});

test('Conv gradient with dynamic spatial sizes says what to fix', async () => {
  const b = new GraphBuilder(17);
  const x = b.input('x', 'float32', [1, 2, 'h', 'w']);
  const w = b.initializer('w', Tensor.float32([2, 2, 3, 3], new Array(36).fill(0.1)));
  const y = b.op1('Conv', [x, w], {});
  const { gradients } = await import('../autodiff.js');
  assert.throws(() => gradients(b, y.sum(), [x]), /static spatial sizes.*inputShapes/);
});

// ---------------------------------------------------------------------------------------------
// Second order: each rule's gradient differentiated again (hvpCheck: ∂(v·∂L/∂x)/∂p against
// central differences). The functions are nonlinear so the second derivatives are not 0.

/** Distinct values 0.1 apart (a fixed shuffle), so no argmax of a pool changes within eps. */
const spaced = (n: number): number[] => Array.from({ length: n }, (_, k) => (((k * 7) % n) - n / 2) * 0.1);
const H32 = { dtype: 'float32', eps: 1e-2, tol: 2e-2 } as const;

test('second order: grouped strided Conv, squared, by x, W and B (float32)', () =>
  hvpCheck({
    ...H32,
    inputs: [{ name: 'x', dims: [1, 2, 5, 5] }, { name: 'w', dims: [4, 1, 3, 3] }, { name: 'c', dims: [4] }],
    build: (b, v) => {
      const y = b.op1('Conv', [v.x!, v.w!, v.c!], { group: A.int(2), strides: A.ints([2, 2]), pads: A.ints([1, 1, 1, 1]) });
      return y.mul(y);
    },
  }));

test('second order: ConvTranspose, squared, by x, W and B (float32)', () =>
  hvpCheck({
    ...H32,
    inputs: [{ name: 'x', dims: [1, 2, 3, 3] }, { name: 'w', dims: [2, 3, 3, 3] }, { name: 'c', dims: [3] }],
    build: (b, v) => {
      const y = b.op1('ConvTranspose', [v.x!, v.w!, v.c!], { strides: A.ints([2, 2]), pads: A.ints([1, 1, 0, 0]) });
      return y.mul(y);
    },
  }));

for (const [label, opset, kernel, outputs] of [
  ['scatter-add, opset 17', 17, 3, 1],
  ['overlapping windows, opset 13', 13, 3, 1],
  ['disjoint windows, Indices output, opset 13', 13, 2, 2],
] as const) {
  test(`second order: MaxPool (${label}), squared (float32)`, () =>
    hvpCheck({
      ...H32,
      opset,
      inputs: [{ name: 'x', dims: [1, 2, 5, 5], values: spaced(50) }],
      build: (b, v) => {
        const y = b.op('MaxPool', [v.x!], { kernel_shape: A.ints([kernel, kernel]), strides: A.ints([2, 2]) }, { outputs })[0]!;
        return y.mul(y);
      },
    }));
}

test('second order: AveragePool, GlobalAveragePool and GlobalMaxPool, squared (float32)', () =>
  hvpCheck({
    ...H32,
    inputs: [{ name: 'x', dims: [1, 2, 4, 4], values: spaced(32) }],
    build: (b, v) => {
      const a = b.op1('AveragePool', [v.x!], { kernel_shape: A.ints([3, 3]), pads: A.ints([1, 1, 1, 1]) });
      const g = b.op1('GlobalAveragePool', [v.x!]).mul(b.op1('GlobalMaxPool', [v.x!]));
      return a.mul(a).mul(g);
    },
  }));
