import { attrInt, attrInts, type Dim, type Node } from '../ir.js';
import type { GraphBuilder, Value } from '../builder.js';
import { register } from '../registry.js';
import type { GradCtx, InferCtx, OpDef } from '../types.js';
import type { Tensor } from '../tensor.js';
import { fromNumbers } from './fold.js';
import { needShape, normAxis } from './util.js';

/** Axes of a reduction, from its attribute or (newer opsets) its second input; [] means all axes. */
function reduceAxes(node: Node, axesInput: Tensor | undefined, rank: number): number[] {
  const raw = attrInts(node, 'axes') ?? axesInput?.toNumbers() ?? [];
  const noop = attrInt(node, 'noop_with_empty_axes', 0) === 1;
  if (raw.length === 0) return noop ? [] : Array.from({ length: rank }, (_, k) => k);
  return [...new Set(raw.map((a) => normAxis(a, rank)))].sort((a, b) => a - b);
}

function inferReduce({ node, inputs: [x, axes] }: InferCtx) {
  const shape = needShape(x, 'input');
  if (node.inputs[1] && !axes?.value) throw new Error('reduction axes must be known when the graph is built');
  const ax = reduceAxes(node, axes?.value, shape.length);
  const keep = attrInt(node, 'keepdims', 1) === 1;
  const out: Dim[] = keep ? shape.map((d, k) => (ax.includes(k) ? 1 : d)) : shape.filter((_, k) => !ax.includes(k));
  return [{ dtype: x!.dtype, shape: out }];
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

function foldSum([x, axesT]: (Tensor | undefined)[], node: Node): Tensor[] {
  const dims = [...x!.dims];
  const ax = reduceAxes(node, axesT, dims.length);
  const keep = attrInt(node, 'keepdims', 1) === 1;
  const outDims = dims.map((d, k) => (ax.includes(k) ? 1 : d));
  const vals = x!.toNumbers();
  const out = new Array<number>(outDims.reduce((a, c) => a * c, 1)).fill(0);
  const idx = new Array<number>(dims.length).fill(0);
  for (let i = 0; i < vals.length; i++) {
    let o = 0;
    for (let k = 0; k < dims.length; k++) o = o * outDims[k]! + (ax.includes(k) ? 0 : idx[k]!);
    out[o]! += vals[i]!;
    for (let k = dims.length - 1; k >= 0; k--) {
      if (++idx[k]! < dims[k]!) break;
      idx[k] = 0;
    }
  }
  return [fromNumbers(x!.dtype, keep ? outDims : outDims.filter((_, k) => !ax.includes(k)), out)];
}

export const reduceSum: OpDef = {
  type: 'ReduceSum',
  infer: inferReduce,
  fold: foldSum,
  grad: (ctx) => [() => expandBack(ctx.b, ctx.dy(0)!, ctx.x(0), axesOf(ctx), keepdimsOf(ctx))],
};

export { inferReduce, reduceAxes, keepdimsOf };

register(reduceSum);
