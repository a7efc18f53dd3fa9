/**
 * Closure of the gradient rules under differentiation: for every op with a rule, a tiny graph is
 * differentiated, and every node the rule emits must either have a rule itself or never carry
 * a float value computed from a float one (Shape, Equal, integer index arithmetic…). Then the
 * gradient is differentiated again, which must build. The numbers are checked per family by
 * hvpCheck in ops/<family>.test.ts; this file only proves nothing is missing.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { A, GraphBuilder, type Value } from './builder.js';
import { gradients } from './autodiff.js';
import type { Node } from './ir.js';
import { opDef, registeredOps } from './registry.js';
import { Tensor, isFloat } from './tensor.js';
import './ops/index.js';

interface Case {
  /** A label for variants of one op (attributes, opsets, outputs used). */
  label?: string;
  opset?: number;
  /** Float inputs, differentiated with respect to. */
  inputs: Record<string, number[]>;
  build: (b: GraphBuilder, v: Record<string, Value>) => Value;
}

const ints = (b: GraphBuilder, dims: number[], vals: number[]): Value => b.constant(Tensor.int64(dims, vals));
const un = (op: string, attrs: Record<string, ReturnType<typeof A.int>> = {}): Case => ({ inputs: { x: [2, 3] }, build: (b, v) => b.op1(op, [v.x!], attrs) });
const bin = (op: string): Case => ({ inputs: { x: [2, 3], y: [3] }, build: (b, v) => b.op1(op, [v.x!, v.y!]) });
const conv = { x: [1, 2, 5, 5] };

/** One or more tiny graphs per op that has a gradient rule (the test fails when an op lacks one). */
const CASES: Record<string, Case[]> = {
  Add: [bin('Add')], Sub: [bin('Sub')], Mul: [bin('Mul')], Div: [bin('Div')], Neg: [un('Neg')], Identity: [un('Identity')],
  Sum: [{ inputs: { x: [2, 3], y: [3], z: [1, 3] }, build: (b, v) => b.op1('Sum', [v.x!, v.y!, v.z!]) }],
  Sqrt: [un('Sqrt')], Reciprocal: [un('Reciprocal')], Exp: [un('Exp')], Log: [un('Log')], Abs: [un('Abs')], Tanh: [un('Tanh')],
  Sigmoid: [un('Sigmoid')], Erf: [un('Erf')], Softplus: [un('Softplus')], Relu: [un('Relu')], LeakyRelu: [un('LeakyRelu')], Sign: [un('Sign')],
  Gelu: [{ label: 'exact', opset: 20, ...un('Gelu') }, { label: 'tanh', opset: 20, ...un('Gelu', { approximate: A.string('tanh') }) }],
  Clip: [
    { label: 'bounds as inputs', inputs: { x: [2, 3] }, build: (b, v) => b.op1('Clip', [v.x!, b.scalar(-0.5, 'float32'), b.scalar(0.5, 'float32')]) },
    { label: 'opset 6 attributes', opset: 6, ...un('Clip', { min: A.float(-0.5), max: A.float(0.5) }) },
  ],
  Cast: [{ inputs: { x: [2, 3] }, build: (b, v) => b.cast(b.cast(v.x!, 'float64').mul(v.x!.cast('float64')), 'float32') }],
  Pow: [bin('Pow')], Min: [bin('Min')], Max: [bin('Max')],
  Where: [{ inputs: { x: [2, 3], y: [3] }, build: (b, v) => b.op1('Where', [b.op1('Greater', [v.x!, v.y!]), v.x!, v.y!]) }],
  MatMul: [
    { label: 'batched', inputs: { x: [2, 3, 4], w: [4, 5] }, build: (b, v) => v.x!.matmul(v.w!) },
    { label: '1-D operands', inputs: { x: [4], w: [2, 4, 3] }, build: (b, v) => v.x!.matmul(v.w!) },
  ],
  Gemm: [{ inputs: { a: [4, 3], w: [5, 4], c: [5] }, build: (b, v) => b.op1('Gemm', [v.a!, v.w!, v.c!], { transA: A.int(1), transB: A.int(1), alpha: A.float(0.5), beta: A.float(2) }) }],
  Softmax: [un('Softmax'), { label: 'opset 11 (coerced to 2-D)', opset: 11, ...un('Softmax', { axis: A.int(0) }) }],
  LogSoftmax: [un('LogSoftmax')],
  LayerNormalization: [
    { label: 'Y only', inputs: { x: [2, 3], g: [3], c: [3] }, build: (b, v) => b.op1('LayerNormalization', [v.x!, v.g!, v.c!]) },
    {
      label: 'Mean and InvStdDev used too',
      inputs: { x: [2, 3], g: [3] },
      build: (b, v) => {
        const [y, mean, rs] = b.op('LayerNormalization', [v.x!, v.g!], {}, { outputs: 3 });
        return y!.add(mean!).mul(rs!);
      },
    },
  ],
  BatchNormalization: [{
    inputs: { x: [2, 3, 2], s: [3], c: [3], m: [3], var: [3] },
    build: (b, v) => b.op1('BatchNormalization', [v.x!, v.s!, v.c!, v.m!, v.var!.mul(v.var!)]),
  }],
  ReduceSum: [{ inputs: { x: [2, 3] }, build: (b, v) => v.x!.sum([1]) }],
  ...Object.fromEntries(['ReduceMean', 'ReduceMax', 'ReduceMin', 'ReduceSumSquare', 'ReduceL1', 'ReduceL2', 'ReduceLogSumExp', 'ReduceProd'].map((op) => [op, [
    { label: 'keepdims 0', inputs: { x: [2, 3] }, build: (b: GraphBuilder, v: Record<string, Value>) => b.reduce(op, v.x!, [1], false) },
  ]])),
  Reshape: [{ inputs: { x: [2, 3] }, build: (b, v) => v.x!.reshape([3, 2]) }],
  Expand: [{ inputs: { x: [3, 1] }, build: (b, v) => b.op1('Expand', [v.x!, b.constInt64([2, 3, 4])]) }],
  Unsqueeze: [{ inputs: { x: [2, 3] }, build: (b, v) => b.unsqueeze(v.x!, [0]) }],
  Squeeze: [{ inputs: { x: [2, 1, 3] }, build: (b, v) => b.squeeze(v.x!, [1]) }],
  Transpose: [{ inputs: { x: [2, 3, 4] }, build: (b, v) => v.x!.transpose([2, 0, 1]) }],
  Flatten: [{ inputs: { x: [2, 3, 4] }, build: (b, v) => b.op1('Flatten', [v.x!], { axis: A.int(2) }) }],
  Slice: [{ inputs: { x: [6, 4] }, build: (b, v) => b.op1('Slice', [v.x!, b.constInt64([5, 1]), b.constInt64([0, 4]), b.constInt64([0, 1]), b.constInt64([-2, 2])]) }],
  Pad: [{ inputs: { x: [3, 4] }, build: (b, v) => b.op1('Pad', [v.x!, b.constInt64([1, -1, 0, 2])]) }],
  Concat: [{ inputs: { x: [2, 3], y: [1, 3] }, build: (b, v) => b.op1('Concat', [v.x!, v.y!], { axis: A.int(0) }) }],
  Split: [{
    inputs: { x: [4, 3] },
    build: (b, v) => {
      const [p, q] = b.op('Split', [v.x!, b.constInt64([1, 3])], { axis: A.int(0) }, { outputs: 2 });
      return q!.add(p!);
    },
  }],
  Tile: [{ inputs: { x: [2, 3] }, build: (b, v) => b.op1('Tile', [v.x!, b.constInt64([2, 1])]) }],
  Gather: [
    { label: 'ScatterND path (opset 17)', inputs: { x: [4, 3] }, build: (b, v) => b.op1('Gather', [v.x!, ints(b, [2, 2], [0, 3, 3, 1])], { axis: A.int(0) }) },
    { label: 'one-hot path (opset 13)', opset: 13, inputs: { x: [4, 3] }, build: (b, v) => b.op1('Gather', [v.x!, ints(b, [2], [2, -1])], { axis: A.int(1) }) },
    { label: 'one known index (Pad path)', inputs: { x: [4, 3] }, build: (b, v) => b.op1('Gather', [v.x!, ints(b, [], [1])], { axis: A.int(0) }) },
  ],
  GatherElements: [{ inputs: { x: [2, 3] }, build: (b, v) => b.op1('GatherElements', [v.x!, ints(b, [2, 2], [0, 2, 1, 1])], { axis: A.int(1) }) }],
  GatherND: [{ inputs: { x: [3, 2] }, build: (b, v) => b.op1('GatherND', [v.x!, ints(b, [2, 1], [2, 0])]) }],
  ScatterElements: ['none', 'add'].map((reduction) => ({
    label: reduction,
    inputs: { x: [2, 3], u: [2, 1] },
    build: (b: GraphBuilder, v: Record<string, Value>) => b.op1('ScatterElements', [v.x!, ints(b, [2, 1], [1, 2]), v.u!], { axis: A.int(1), reduction: A.string(reduction) }),
  })),
  ScatterND: ['none', 'add'].map((reduction) => ({
    label: reduction,
    inputs: { x: [3, 2], u: [1, 2] },
    build: (b: GraphBuilder, v: Record<string, Value>) => b.op1('ScatterND', [v.x!, ints(b, [1, 1], [1]), v.u!], { reduction: A.string(reduction) }),
  })),
  Conv: [{ inputs: { ...conv, w: [4, 1, 3, 3], c: [4] }, build: (b, v) => b.op1('Conv', [v.x!, v.w!, v.c!], { group: A.int(2), strides: A.ints([2, 2]), pads: A.ints([1, 1, 1, 1]) }) }],
  ConvTranspose: [{ inputs: { ...conv, w: [2, 3, 3, 3], c: [3] }, build: (b, v) => b.op1('ConvTranspose', [v.x!, v.w!, v.c!], { strides: A.ints([2, 2]), pads: A.ints([1, 1, 0, 0]) }) }],
  MaxPool: [
    { label: 'opset 17, scatter-add', inputs: conv, build: (b, v) => b.op1('MaxPool', [v.x!], { kernel_shape: A.ints([3, 3]), strides: A.ints([2, 2]) }) },
    { label: 'opset 13, overlapping windows (offset channels)', opset: 13, inputs: conv, build: (b, v) => b.op1('MaxPool', [v.x!], { kernel_shape: A.ints([3, 3]), strides: A.ints([2, 2]) }) },
    { label: 'opset 13, disjoint windows (overwriting scatter)', opset: 13, inputs: conv, build: (b, v) => b.op('MaxPool', [v.x!], { kernel_shape: A.ints([2, 2]), strides: A.ints([2, 2]) }, { outputs: 2 })[0]! },
  ],
  AveragePool: [{ inputs: conv, build: (b, v) => b.op1('AveragePool', [v.x!], { kernel_shape: A.ints([3, 3]), pads: A.ints([1, 1, 1, 1]) }) }],
  GlobalAveragePool: [{ inputs: conv, build: (b, v) => b.op1('GlobalAveragePool', [v.x!]) }],
  GlobalMaxPool: [{ inputs: conv, build: (b, v) => b.op1('GlobalMaxPool', [v.x!]) }],
};

/** Whether a node turns a float value into a float value: then it needs a rule when it lies on a gradient path. */
function carriesFloat(b: GraphBuilder, n: Node): boolean {
  const floatIn = n.inputs.some((i) => i !== '' && isFloat(b.metas.get(i)?.dtype));
  const floatOut = n.outputs.some((o) => o !== '' && isFloat(b.metas.get(o)?.dtype));
  return floatIn && floatOut;
}

/**
 * Runs `run` with op's rule wrapped so that the nodes its gradient builders append are collected
 * (the loss's own gradient nodes are not the rule's doing).
 */
function emittedBy<T>(b: GraphBuilder, op: string, run: () => T): { result: T; nodes: Node[] } {
  const def = opDef(op)!;
  const rule = def.grad!;
  const nodes: Node[] = [];
  def.grad = (ctx) => rule(ctx).map((build) => build && (() => {
    const from = b.nodes.length;
    const g = build();
    nodes.push(...b.nodes.slice(from));
    return g;
  }));
  try {
    return { result: run(), nodes };
  } finally {
    def.grad = rule;
  }
}

interface Emitted { byRule: Set<string>; withoutRule: Set<string> }
const emitted = new Map<string, Emitted>();

for (const [op, cases] of Object.entries(CASES)) {
  for (const c of cases) {
    test(`${op}${c.label ? ` (${c.label})` : ''}: what its rule emits has rules, and the gradient differentiates again`, () => {
      const b = new GraphBuilder(c.opset ?? 17);
      const v = Object.fromEntries(Object.entries(c.inputs).map(([name, dims]) => [name, b.input(name, 'float32', dims)]));
      const y = c.build(b, v);
      assert.ok(b.nodes.some((n) => n.opType === op), `the case builds no ${op} node`);
      const wrt = Object.values(v);
      const { result: grads, nodes } = emittedBy(b, op, () => gradients(b, y.mul(y).sum(), wrt));
      const record = emitted.get(op) ?? { byRule: new Set(), withoutRule: new Set() };
      emitted.set(op, record);
      for (const n of nodes) {
        if (opDef(n.opType)?.grad) record.byRule.add(n.opType);
        else {
          record.withoutRule.add(n.opType);
          assert.ok(!carriesFloat(b, n), `${op}'s gradient emits ${n.opType} (node ${n.name}), which maps floats to floats but has no gradient rule`);
        }
      }
      // d/dw of Σ g ⊙ g for every w: each emitted rule is now applied in turn.
      const d = grads.map((g) => g.mul(g).sum()).reduce((p, q) => p.add(q));
      const second = gradients(b, d, wrt);
      second.forEach((h, k) => assert.deepEqual(h.shape, wrt[k]!.shape));
    });
  }
}

test('every op with a gradient rule has a case above', () => {
  const missing = registeredOps().filter((op) => opDef(op)!.grad && !CASES[op]);
  assert.deepEqual(missing, [], `add a case for ${missing.join(', ')}`);
});

test('ops emitted by gradient rules (table)', (t) => {
  const rows = [...emitted].sort(([a], [c]) => a.localeCompare(c)).map(([op, e]) =>
    `${op}: ${[...e.byRule].sort().join(' ')}${e.withoutRule.size ? ` | no rule, integer/bool only: ${[...e.withoutRule].sort().join(' ')}` : ''}`);
  for (const r of rows) t.diagnostic(r);
  assert.ok(rows.length > 0);
});
