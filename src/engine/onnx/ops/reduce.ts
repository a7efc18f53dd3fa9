import { attrInt, attrInts, type Dim, type Node } from '../ir.js';
import type { GraphBuilder, Value } from '../builder.js';
import { register } from '../registry.js';
import type { GradCtx, InferCtx, Meta, OpDef } from '../types.js';
import { isFloat, numel, type DType, type Tensor } from '../tensor.js';
import { fromNumbers } from './fold.js';
import { foldable } from './unary.js';
import { needShape, normAxis } from './util.js';

/**
 * The Reduce* family and ArgMax/ArgMin.
 *
 * Axes: ReduceSum takes them as an input from opset 13, every other Reduce* from opset 18 (an
 * attribute before); reading both forms is enough to handle either. noop_with_empty_axes (input
 * form) turns "no axes" into "reduce over no axis": each element is its own group, so the op is
 * applied elementwise (ORT: ReduceSumSquare gives x², ReduceL1 and ReduceL2 |x|, the others x).
 * The gradient rules below hold unchanged for that case, with axes = [].
 */

/** Axes of a reduction, from its attribute or (newer opsets) its second input; [] means all axes. */
function reduceAxes(node: Node, axesInput: Tensor | undefined, rank: number): number[] {
  const raw = attrInts(node, 'axes') ?? axesInput?.toNumbers() ?? [];
  const noop = attrInt(node, 'noop_with_empty_axes', 0) === 1;
  if (raw.length === 0) return noop ? [] : Array.from({ length: rank }, (_, k) => k);
  return [...new Set(raw.map((a) => normAxis(a, rank)))].sort((a, b) => a - b);
}

/** The output dims of reducing `axes` of `shape`: size 1 there (keepdims) or dropped. */
function reducedShape<D extends Dim>(shape: D[], axes: number[], keep: boolean): (D | 1)[] {
  return keep ? shape.map((d, k) => (axes.includes(k) ? 1 : d)) : shape.filter((_, k) => !axes.includes(k));
}

function inferReduce({ node, inputs: [x, axes] }: InferCtx) {
  const shape = needShape(x, 'input');
  if (node.inputs[1] && !axes?.value) throw new Error('reduction axes must be known when the graph is built');
  const ax = reduceAxes(node, axes?.value, shape.length);
  const keep = attrInt(node, 'keepdims', 1) === 1;
  return [{ dtype: x!.dtype, shape: reducedShape(shape, ax, keep) }];
}

/** The reduced axes of this node, resolved against the input's rank. */
export function axesOf(ctx: GradCtx): number[] {
  return reduceAxes(ctx.node, ctx.has(1) ? ctx.x(1).known : undefined, ctx.x(0).rank);
}

/** Brings a reduced gradient back to x's rank (re-inserting dropped axes) and broadcasts it over x. */
export function expandBack(b: GraphBuilder, g: Value, x: Value, axes: number[], keepdims: boolean): Value {
  const kept = keepdims || axes.length === 0 ? g : b.unsqueeze(g, axes);
  return b.op1('Expand', [kept, b.shapeOf(x)]);
}

const keepdimsOf = (ctx: GradCtx) => attrInt(ctx.node, 'keepdims', 1) === 1;

// ---------------------------------------------------------------------------------------------
// Build-time evaluation: one grouping pass shared by every reduction (and ArgMax/ArgMin), so each
// op only states what it does to the list of values that land in one output position.

/** The elements of x grouped by the output position they reduce into, in row-major order
 * within a group (so a single reduced axis is walked in order); dims are in keepdims form. */
function groupByOutput(x: Tensor, axes: number[]): { dims: number[]; groups: number[][] } {
  const dims = [...x.dims];
  const outDims = reducedShape(dims, axes, true);
  const groups = Array.from({ length: numel(outDims) }, (): number[] => []);
  const vals = x.toNumbers();
  const idx = new Array<number>(dims.length).fill(0);
  for (let i = 0; i < vals.length; i++) {
    let o = 0;
    for (let k = 0; k < dims.length; k++) o = o * outDims[k]! + (axes.includes(k) ? 0 : idx[k]!);
    groups[o]!.push(vals[i]!);
    for (let k = dims.length - 1; k >= 0; k--) {
      if (++idx[k]! < dims[k]!) break;
      idx[k] = 0;
    }
  }
  return { dims: outDims, groups };
}

/** Packs folded numbers; integer results truncate like ONNX integer math, and a non-finite
 * integer result (Max of an empty group, say) is left unfolded rather than invented. */
function packFolded(dtype: DType, dims: number[], values: number[]): Tensor[] {
  if (isFloat(dtype)) return [fromNumbers(dtype, dims, values)];
  if (!values.every(Number.isFinite)) return [];
  return [fromNumbers(dtype, dims, values.map(Math.trunc))];
}

type Reducer = (values: number[]) => number;

function foldReduce(fn: Reducer): NonNullable<OpDef['fold']> {
  return ([x, axesT], node) => {
    if (!foldable(x!)) return [];
    const axes = reduceAxes(node, axesT, x!.dims.length);
    const { dims, groups } = groupByOutput(x!, axes);
    return packFolded(x!.dtype, reducedShape(dims, axes, attrInt(node, 'keepdims', 1) === 1), groups.map(fn));
  };
}

const sum: Reducer = (v) => v.reduce((a, c) => a + c, 0);
const sumSquare: Reducer = (v) => v.reduce((a, c) => a + c * c, 0);
/** log Σ eᵛ, shifted by the maximum so large values do not overflow. */
const logSumExp: Reducer = (v) => {
  const m = Math.max(...v);
  return Number.isFinite(m) ? m + Math.log(v.reduce((a, c) => a + Math.exp(c - m), 0)) : m;
};

// ---------------------------------------------------------------------------------------------
// Gradients. Each rule sees y and dy in keepdims form, where they broadcast against x, so most
// rules are one elementwise expression whose result already has x's shape.

interface Reduced {
  b: GraphBuilder;
  x: Value;
  /** The output, with reduced axes kept as size 1. */
  y: Value;
  /** d(loss)/dy, with reduced axes kept as size 1. */
  dy: Value;
  axes: number[];
}

function reduced(ctx: GradCtx): Reduced {
  const axes = axesOf(ctx);
  const kept = (v: Value) => (keepdimsOf(ctx) || axes.length === 0 ? v : ctx.b.unsqueeze(v, axes));
  return { b: ctx.b, x: ctx.x(0), y: kept(ctx.y(0)), dy: kept(ctx.dy(0)!), axes };
}

/** A rule for input 0 only; the axes input carries no gradient. */
const rule = (dx: (r: Reduced) => Value): NonNullable<OpDef['grad']> => (ctx) => [() => dx(reduced(ctx))];

/** How many elements each output averages, in x's dtype: a constant when the reduced dims are
 * static, else |x| / |y| from the runtime shapes (ReduceProd of Shape, so dynamic batches work). */
function groupSize({ b, x, y, axes }: Reduced): Value {
  const dims = axes.map((k) => x.shape[k]);
  if (dims.every((d): d is number => typeof d === 'number')) return b.scalar(numel(dims), x.dtype);
  const size = (v: Value) => b.cast(b.reduce('ReduceProd', b.op1('Shape', [v]), undefined, false), x.dtype);
  return size(x).div(size(y));
}

/**
 * ReduceMax/ReduceMin: the gradient goes to the positions equal to the result. Ties split it
 * evenly (mask / count), so the gradient sums to dy as for any one winner and stays symmetric;
 * this is the averaged subgradient TensorFlow's reduce_max uses. (Elementwise Max/Min in
 * compare.ts gives each tied input all of it; a reduction over many equal values, such as a
 * saturated or padded row, would multiply the gradient by the tie count there.)
 */
function extremumGrad({ b, x, y, dy, axes }: Reduced): Value {
  const mask = b.cast(b.op1('Equal', [x, y]), x.dtype);
  if (axes.length === 0) return mask.mul(dy);
  return mask.mul(dy.div(b.reduce('ReduceSum', mask, axes, true)));
}

/** d‖x‖₂/dx = x/‖x‖₂. At ‖x‖₂ = 0 (then x = 0 too) the subgradient 0 is taken, by dividing by 1
 * there, so one all-zero row does not turn the whole step into NaN. */
function l2Grad({ b, x, y, dy }: Reduced): Value {
  const zero = b.scalar(0, y.dtype);
  const safe = b.op1('Where', [b.op1('Equal', [y, zero]), b.scalar(1, y.dtype), y]);
  return x.mul(dy.div(safe));
}

// ---------------------------------------------------------------------------------------------

function reduction(type: string, fn: Reducer, dx?: (r: Reduced) => Value): OpDef {
  const def: OpDef = { type, infer: inferReduce, fold: foldReduce(fn) };
  if (dx) def.grad = rule(dx);
  return def;
}

export const reduceSum: OpDef = {
  type: 'ReduceSum',
  infer: inferReduce,
  fold: foldReduce(sum),
  grad: (ctx) => [() => expandBack(ctx.b, ctx.dy(0)!, ctx.x(0), axesOf(ctx), keepdimsOf(ctx))],
};

const reductions: OpDef[] = [
  // d mean/dx = dy/N at every position of the group.
  reduction('ReduceMean', (v) => sum(v) / v.length, (r) => r.b.op1('Expand', [r.dy.div(groupSize(r)), r.b.shapeOf(r.x)])),
  reduction('ReduceMax', (v) => Math.max(...v), extremumGrad),
  reduction('ReduceMin', (v) => Math.min(...v), extremumGrad),
  // d Σx²/dx = 2x.
  reduction('ReduceSumSquare', sumSquare, ({ x, dy }) => x.mul(2).mul(dy)),
  // d Σ|x|/dx = sign(x) (0 at 0, the subgradient ORT's Sign gives).
  reduction('ReduceL1', (v) => v.reduce((a, c) => a + Math.abs(c), 0), ({ b, x, dy }) => b.op1('Sign', [x]).mul(dy)),
  reduction('ReduceL2', (v) => Math.sqrt(sumSquare(v)), l2Grad),
  // d log Σeˣ/dx = eˣ/Σeˣ = e^(x − y): the softmax of the group.
  reduction('ReduceLogSumExp', logSumExp, ({ x, y, dy }) => x.sub(y).exp().mul(dy)),
  // d Πx/dx_i = Π_{j≠i} x_j = y/x_i. Only valid where x_i ≠ 0: a zero entry gets inf or NaN
  // (the exact value, the product of the others, has no cheap standard-op form). Mostly
  // ReduceProd appears on int64 shape vectors, which never carry gradients.
  reduction('ReduceProd', (v) => v.reduce((a, c) => a * c, 1), ({ y, dy, x }) => y.mul(dy).div(x)),
];

// ---------------------------------------------------------------------------------------------
// ArgMax/ArgMin: int64 indices along one axis; understood but carry no gradient.

function inferArg({ node, inputs: [x] }: InferCtx): Meta[] {
  const shape = needShape(x, 'input');
  const axis = normAxis(attrInt(node, 'axis', 0), shape.length);
  return [{ dtype: 'int64', shape: reducedShape(shape, [axis], attrInt(node, 'keepdims', 1) === 1) }];
}

/** Index of the first (or, with select_last_index, last) extreme value in a group. */
function argIndex(values: number[], better: (a: number, b: number) => boolean, last: boolean): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) {
    if (better(values[i]!, values[best]!) || (last && values[i] === values[best])) best = i;
  }
  return best;
}

function argOp(type: 'ArgMax' | 'ArgMin'): OpDef {
  const better = type === 'ArgMax' ? (a: number, b: number) => a > b : (a: number, b: number) => a < b;
  return {
    type,
    infer: inferArg,
    fold: ([x], node) => {
      if (!foldable(x!)) return [];
      const axis = normAxis(attrInt(node, 'axis', 0), x!.dims.length);
      if (x!.dims[axis] === 0) return [];
      const last = attrInt(node, 'select_last_index', 0) === 1;
      const { dims, groups } = groupByOutput(x!, [axis]);
      const idx = groups.map((g) => argIndex(g, better, last));
      return packFolded('int64', reducedShape(dims, [axis], attrInt(node, 'keepdims', 1) === 1), idx);
    },
  };
}

export { inferReduce, reduceAxes, keepdimsOf, reducedShape };

register(reduceSum, ...reductions, argOp('ArgMax'), argOp('ArgMin'));
