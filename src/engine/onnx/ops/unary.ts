import { attrFloat, attrInt, attrString, type Node } from '../ir.js';
import type { GraphBuilder, Value } from '../builder.js';
import { register } from '../registry.js';
import { dtypeFromOnnx, isFloat, type DType, type Tensor } from '../tensor.js';
import type { GradCtx, InferCtx, Meta, OpDef } from '../types.js';
import { fromNumbers } from './fold.js';
import { zerosOfShape } from './shape.js';

/** A constant of v's dtype (gradients must not mix float32 and float64). */
const k = (v: Value, n: number): Value => v.b.scalar(n, v.dtype);

/** Half-precision tensors hold raw bits that JS numbers cannot read, strings are no numbers: neither is folded. */
export const foldable = (t: Tensor): boolean => t.dtype !== 'float16' && t.dtype !== 'bfloat16' && t.dtype !== 'string';

/**
 * Applies fn to each element of a known tensor, keeping its dtype (or giving `to`). Integer
 * results that are not finite (NaN cast to int64, say) are left to the runtime, not folded.
 */
function mapKnown(t: Tensor, fn: (v: number) => number, to: DType = t.dtype): Tensor[] {
  if (!foldable(t) || to === 'float16' || to === 'bfloat16' || to === 'string') return [];
  const values = t.toNumbers().map(fn);
  if (!isFloat(to) && !values.every(Number.isFinite)) return [];
  return [fromNumbers(to, t.dims, values)];
}

/** ONNX float attributes are float32 in the file; reading them rounded keeps folds equal to ORT's. */
const floatAttr = (node: Node, key: string, def: number): number => Math.fround(attrFloat(node, key, def));

const same = ({ inputs: [x] }: InferCtx): Meta[] => [{ dtype: x!.dtype, shape: x!.shape }];

/**
 * An elementwise y = f(x): the output has the input's type and shape. `fn` (when JS can compute
 * f) folds known inputs; `dx` states the local derivative as d(loss)/dx given dy, micrograd-style.
 */
function elementwise(
  type: string,
  fn: ((v: number, node: Node) => number) | undefined,
  dx?: (ctx: GradCtx, dy: Value) => Value,
): OpDef {
  const def: OpDef = { type, infer: same };
  if (fn) def.fold = ([x], node) => mapKnown(x!, (v) => fn(v, node));
  if (dx) def.grad = (ctx) => [() => dx(ctx, ctx.dy(0)!)];
  return def;
}

/** Piecewise-linear ops (Relu, LeakyRelu, Clip) pick their slope per element, away from the kinks. */
function where(b: GraphBuilder, cond: Value, a: Value, c: Value): Value {
  return b.op1('Where', [cond, a, c]);
}

/** ONNX Round rounds halves to even (numpy's rule), unlike Math.round. */
function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
const GELU_TANH_C = 0.044715;

/**
 * Gelu-20. Exact: y = x·Φ(x), y' = Φ(x) + x·φ(x) with Φ(x) = ½(1 + erf(x/√2)), φ(x) = e^(−x²/2)/√(2π).
 * Tanh form: y = ½x(1 + t), t = tanh(u), u = √(2/π)(x + 0.044715x³),
 * y' = ½(1 + t) + ½x(1 − t²)·√(2/π)(1 + 3·0.044715x²).
 */
function geluDerivative(b: GraphBuilder, x: Value, approximate: string): Value {
  if (approximate === 'tanh') {
    const x2 = x.mul(x);
    const u = x.add(x2.mul(x).mul(GELU_TANH_C)).mul(SQRT_2_OVER_PI);
    const t = u.tanh();
    const du = k(x, 1).add(x2.mul(3 * GELU_TANH_C)).mul(SQRT_2_OVER_PI);
    return k(x, 1).add(t).mul(0.5).add(x.mul(0.5).mul(k(x, 1).sub(t.mul(t))).mul(du));
  }
  if (approximate !== 'none') throw new Error(`Gelu approximate="${approximate}" is not one of none, tanh`);
  const cdf = b.op1('Erf', [x.mul(Math.SQRT1_2)]).add(1).mul(0.5);
  const pdf = x.mul(x).mul(-0.5).exp().mul(1 / Math.sqrt(2 * Math.PI));
  return cdf.add(x.mul(pdf));
}

/** Clip bounds: optional inputs from opset 11, float attributes before (absent means unbounded). */
function clipBounds(ctx: GradCtx): { lo?: Value; hi?: Value } {
  const x = ctx.x(0);
  if (ctx.opset >= 11) return { lo: ctx.has(1) ? ctx.x(1) : undefined, hi: ctx.has(2) ? ctx.x(2) : undefined };
  const attr = (key: string) => (ctx.node.attrs.has(key) ? k(x, floatAttr(ctx.node, key, 0)) : undefined);
  return { lo: attr('min'), hi: attr('max') };
}

function foldClip([x, lo, hi]: (Tensor | undefined)[], node: Node, opset: number): Tensor[] {
  const bound = (t: Tensor | undefined, key: string, none: number): number => {
    if (opset < 11) return node.attrs.has(key) ? floatAttr(node, key, 0) : none;
    if (!t) return none;
    if (t.size !== 1) throw new Error(`Clip ${key} must be a scalar, got ${t.size} values`);
    return t.toNumbers()[0]!;
  };
  const l = bound(lo, 'min', -Infinity);
  const h = bound(hi, 'max', Infinity);
  // When min > max ONNX sets every element to max, which min(max(v, l), h) gives.
  return mapKnown(x!, (v) => Math.min(Math.max(v, l), h));
}

function castTarget(node: Node): DType {
  const to = attrInt(node, 'to', -1);
  if (to < 0) throw new Error('Cast needs a "to" attribute');
  return dtypeFromOnnx(to);
}

function foldCast([x]: (Tensor | undefined)[], node: Node): Tensor[] {
  const to = castTarget(node);
  // Float → int truncates toward zero (fromNumbers and typed arrays both do); anything nonzero is true.
  return mapKnown(x!, to === 'bool' ? (v) => (v !== 0 ? 1 : 0) : (v) => v, to);
}

register(
  // d√x = 1/(2√x) = 1/(2y)
  elementwise('Sqrt', Math.sqrt, ({ y }, dy) => dy.div(y(0).mul(2))),
  // d(1/x) = −1/x² = −y²
  elementwise('Reciprocal', (v) => 1 / v, ({ y }, dy) => dy.mul(y(0).mul(y(0))).neg()),
  elementwise('Exp', Math.exp, ({ y }, dy) => dy.mul(y(0))),
  elementwise('Log', Math.log, ({ x }, dy) => dy.div(x(0))),
  elementwise('Abs', Math.abs, ({ b, x }, dy) => dy.mul(b.op1('Sign', [x(0)]))),
  // d tanh = 1 − tanh²
  elementwise('Tanh', Math.tanh, ({ y }, dy) => dy.mul(k(y(0), 1).sub(y(0).mul(y(0))))),
  // dσ = σ(1 − σ)
  elementwise('Sigmoid', (v) => 1 / (1 + Math.exp(-v)), ({ y }, dy) => dy.mul(y(0)).mul(k(y(0), 1).sub(y(0)))),
  // d erf(x) = (2/√π)·e^(−x²); JS has no erf, so known inputs are not folded.
  elementwise('Erf', undefined, ({ x }, dy) => dy.mul(x(0).mul(x(0)).neg().exp().mul(2 / Math.sqrt(Math.PI)))),
  // softplus = log(1 + eˣ), d = σ(x); folded in the overflow-safe form max(x,0) + log1p(e^−|x|).
  elementwise('Softplus', (v) => Math.max(v, 0) + Math.log1p(Math.exp(-Math.abs(v))), ({ x }, dy) => dy.mul(x(0).sigmoid())),
  elementwise('Relu', (v) => Math.max(v, 0), ({ b, x }, dy) =>
    where(b, b.op1('Greater', [x(0), k(x(0), 0)]), dy, k(dy, 0))),
  // LeakyRelu: y = αx for x < 0, x otherwise.
  elementwise('LeakyRelu', (v, node) => (v < 0 ? floatAttr(node, 'alpha', 0.01) * v : v), ({ b, node, x }, dy) =>
    where(b, b.op1('Less', [x(0), k(x(0), 0)]), dy.mul(floatAttr(node, 'alpha', 0.01)), dy)),
  elementwise('Gelu', undefined, ({ b, node, x }, dy) => dy.mul(geluDerivative(b, x(0), attrString(node, 'approximate', 'none')))),
  {
    type: 'Clip',
    infer: same,
    fold: foldClip,
    // The gradient passes where min ≤ x ≤ max; the bounds themselves get none.
    grad: (ctx) => [() => {
      const { b } = ctx;
      const x = ctx.x(0);
      const { lo, hi } = clipBounds(ctx);
      let g = ctx.dy(0)!;
      if (lo) g = where(b, b.op1('Less', [x, lo]), k(g, 0), g);
      if (hi) g = where(b, b.op1('Greater', [x, hi]), k(g, 0), g);
      return g;
    }],
  },
  {
    type: 'Cast',
    infer: ({ node, inputs: [x] }) => [{ dtype: castTarget(node), shape: x!.shape }],
    fold: foldCast,
    // Reached only on float → float casts (int and bool outputs carry no gradient).
    grad: ({ b, x, dy }) => [() => b.cast(dy(0)!, x(0).dtype)],
  },
  // Piecewise constant: understood and folded (integer plumbing), but no gradient.
  elementwise('Floor', Math.floor),
  elementwise('Ceil', Math.ceil),
  elementwise('Round', roundHalfEven),
  // Sign is piecewise constant too, but the Abs and ReduceL1 rules emit it, so a second
  // derivative passes through it: its derivative is 0 wherever it exists (torch's choice as well).
  {
    type: 'Sign',
    infer: same,
    fold: ([x]) => mapKnown(x!, Math.sign),
    grad: ({ b, x }) => [() => zerosOfShape(b, x(0).dtype, b.shapeOf(x(0)))],
  },
);
