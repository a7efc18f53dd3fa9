import { attrInt, attrString, type Node } from '../ir.js';
import { A, fmtShape, type GraphBuilder, type Value } from '../builder.js';
import { register } from '../registry.js';
import { Tensor, numel, type TypedData } from '../tensor.js';
import type { GradBuilders, GradCtx, InferCtx, Meta, OpDef } from '../types.js';
import { flatten, transposeIf } from './reshape.js';
import { FOLD_LIMIT, assemble, inversePerm, stridesOf, unravel, zerosOfShape } from './shape.js';
import { padAxis, permutedShape } from './slice.js';
import { needShape, normAxis } from './util.js';

/**
 * Indexing by an index tensor: Gather, GatherElements, GatherND and their adjoints
 * ScatterElements and ScatterND. Each gather's gradient is a scatter-add of dy into zeros, and
 * each scatter's gradient is a gather of dy at the same indices, so the family is closed under
 * differentiation and gradients of gradients never leave it:
 *   Gather          ↔ ScatterND(add) (or a one-hot matrix product before opset 16)
 *   GatherElements  ↔ ScatterElements(add)
 *   GatherND        ↔ ScatterND(add)
 *   Scatter*(none)  → updates: Gather*(dy);  data: dy with the written positions zeroed
 *   Scatter*(add)   → updates: Gather*(dy);  data: dy
 */

const range = (from: number, to: number): number[] => Array.from({ length: Math.max(0, to - from) }, (_, k) => from + k);

/** Indices mapped into [0, d): ((i + d) mod d for i in [−d, d)) with truncating integer Div. */
function nonNegative(b: GraphBuilder, indices: Value, data: Value, axis: number): Value {
  const d = data.shape[axis];
  const known = indices.known;
  if (known && typeof d === 'number') {
    const vals = known.toNumbers().map((v) => (v < 0 ? v + d : v));
    return b.constant(Tensor.floats(indices.dtype, [...known.dims], vals), 'indices');
  }
  const size = typeof d === 'number'
    ? b.scalar(d, indices.dtype)
    : b.cast(b.op1('Gather', [b.op1('Shape', [data]), b.constant(Tensor.int64([], [axis]))], { axis: A.int(0) }), indices.dtype);
  const shifted = indices.add(size);
  return shifted.sub(shifted.div(size).mul(size));
}

/** An index read at build time, checked against its axis and counted from the end when negative. */
function checkedIndex(v: number, d: number, node: Node): number {
  if (v < -d || v >= d) throw new Error(`${node.opType} ${node.name}: index ${v} is out of range for an axis of size ${d}`);
  return v < 0 ? v + d : v;
}

/** Scatter reductions a gradient exists for: overwrite and accumulate. */
function reductionOf(node: Node): 'none' | 'add' {
  const r = attrString(node, 'reduction', 'none');
  if (r !== 'none' && r !== 'add') throw new Error(`${node.opType} reduction '${r}' has no gradient rule (only 'none' and 'add' do)`);
  return r;
}

// ---------------------------------------------------------------------------------------------
// Gather

function inferGather({ node, inputs: [data, indices] }: InferCtx): Meta[] {
  const ds = data!.shape;
  const is = indices?.shape ?? null;
  if (ds === null || is === null) return [{ dtype: data!.dtype, shape: null }];
  const a = normAxis(attrInt(node, 'axis', 0), ds.length);
  return [{ dtype: data!.dtype, shape: [...ds.slice(0, a), ...is, ...ds.slice(a + 1)] }];
}

function foldGather([data, indices]: (Tensor | undefined)[], node: Node): Tensor[] {
  const dims = data!.dims;
  const a = normAxis(attrInt(node, 'axis', 0), dims.length);
  const idx = indices!.toNumbers().map((v) => checkedIndex(v, dims[a]!, node));
  const outDims = [...dims.slice(0, a), ...indices!.dims, ...dims.slice(a + 1)];
  if (numel(outDims) > FOLD_LIMIT) return [];
  const strides = stridesOf(dims);
  const q = indices!.dims.length;
  const indexStrides = stridesOf(indices!.dims);
  return [assemble(data!.dtype, outDims, (i) => {
    const o = unravel(i, outDims);
    const flat = o.slice(a, a + q).reduce((acc, c, k) => acc + c * indexStrides[k]!, 0);
    const src = [...o.slice(0, a), idx[flat]!, ...o.slice(a + q)];
    return [data!.data, src.reduce((acc, c, k) => acc + c * strides[k]!, 0)];
  })];
}

/**
 * d(Gather)/d(data): scatter-add dy into zeros at the gathered positions (repeated indices
 * accumulate). The gathered axis is moved first so one rule covers every axis: ScatterND with
 * reduction 'add' from opset 16, else a one-hot matrix product, onehotᵀ·dy, valid at any opset.
 */
function gatherGrad(ctx: GradCtx): Value {
  const { b, node } = ctx;
  const data = ctx.x(0);
  const dy = ctx.dy(0)!;
  const r = data.rank;
  const q = ctx.x(1).rank;
  const a = normAxis(attrInt(node, 'axis', 0), r);
  const d = data.shape[a];
  const single = ctx.x(1).known;
  if (single && q === 0 && typeof d === 'number') {
    // One known index (torch's x[:, 0]): dy goes back into that slot, a Pad rather than a scatter.
    const i = single.toNumbers()[0]!;
    const at = i < 0 ? i + d : i;
    return padAxis(b, b.unsqueeze(dy, [a]), a, at, d - 1 - at);
  }
  const idx = nonNegative(b, ctx.x(1), data, a);
  const dataFirst = [a, ...range(0, a), ...range(a + 1, r)];
  const updates = transposeIf(dy, [...range(a, a + q), ...range(0, a), ...range(a + q, r + q - 1)]);
  let moved: Value;
  if (ctx.opset >= 16) {
    const zeros = zerosOfShape(b, dy.dtype, permutedShape(b, data, dataFirst));
    // ScatterND takes int64 indices only.
    moved = b.op1('ScatterND', [zeros, b.unsqueeze(b.cast(idx, 'int64'), [q]), updates], { reduction: A.string('add') });
  } else {
    const positions = typeof d === 'number'
      ? b.constant(Tensor.floats(idx.dtype, [d], range(0, d)), 'positions')
      : b.cast(b.op1('Range', [b.constant(Tensor.int64([], [0])), b.op1('Gather', [b.op1('Shape', [data]), b.constant(Tensor.int64([], [a]))], { axis: A.int(0) }), b.constant(Tensor.int64([], [1]))]), idx.dtype);
    const onehot = b.cast(b.op1('Equal', [idx.reshape([-1, 1]), positions]), dy.dtype);
    moved = onehot.transpose([1, 0]).matmul(flatten(b, updates, q)).reshape(permutedShape(b, data, dataFirst));
  }
  return transposeIf(moved, inversePerm(dataFirst));
}

// ---------------------------------------------------------------------------------------------
// GatherElements / ScatterElements: one index per element, along one axis.

function inferGatherElements({ node, inputs: [data, indices] }: InferCtx): Meta[] {
  const ds = needShape(data, 'data');
  const is = needShape(indices, 'indices');
  if (ds.length !== is.length) throw new Error(`GatherElements ${node.name}: data ${fmtShape(ds)} and indices ${fmtShape(is)} differ in rank`);
  normAxis(attrInt(node, 'axis', 0), ds.length);
  return [{ dtype: data!.dtype, shape: is }];
}

/** Offset into data of the element that element i of an indices-shaped tensor addresses along `axis`. */
function elementOffset(i: number, idxDims: readonly number[], idx: number[], dataDims: readonly number[], axis: number, node: Node): number {
  const at = unravel(i, idxDims);
  at[axis] = checkedIndex(idx[i]!, dataDims[axis]!, node);
  const strides = stridesOf(dataDims);
  return at.reduce((acc, c, k) => acc + c * strides[k]!, 0);
}

function foldGatherElements([data, indices]: (Tensor | undefined)[], node: Node): Tensor[] {
  const axis = normAxis(attrInt(node, 'axis', 0), data!.dims.length);
  const idx = indices!.toNumbers();
  return [assemble(data!.dtype, indices!.dims, (i) => [data!.data, elementOffset(i, indices!.dims, idx, data!.dims, axis, node)])];
}

function gatherElementsGrad(ctx: GradCtx): Value {
  const { b, node } = ctx;
  if (ctx.opset < 16) {
    throw new Error(`the GatherElements gradient needs ScatterElements with reduction 'add', which exists from opset 16 (this graph is opset ${ctx.opset})`);
  }
  const data = ctx.x(0);
  const axis = normAxis(attrInt(node, 'axis', 0), data.rank);
  const zeros = zerosOfShape(b, data.dtype, b.shapeOf(data));
  const idx = nonNegative(b, ctx.x(1), data, axis);
  return b.op1('ScatterElements', [zeros, idx, ctx.dy(0)!], { axis: A.int(axis), reduction: A.string('add') });
}

function inferScatter({ node, inputs: [data, indices, updates] }: InferCtx): Meta[] {
  const is = indices?.shape;
  const us = updates?.shape;
  if (node.opType === 'ScatterElements' && is && us && is.length !== us.length) {
    throw new Error(`ScatterElements ${node.name}: indices ${fmtShape(is)} and updates ${fmtShape(us)} differ in rank`);
  }
  return [{ dtype: data!.dtype, shape: data!.shape }];
}

/**
 * A scatter evaluated at build time when it only overwrites (a copy of bits, like the other
 * folds); accumulating reductions are left to the runtime. `target(j)` is the data offset that
 * update element j is written to.
 */
function foldScatterCopy(data: Tensor, updates: Tensor, node: Node, target: (j: number) => number): Tensor[] {
  if (attrString(node, 'reduction', 'none') !== 'none' || data.size > FOLD_LIMIT) return [];
  const source: [TypedData, number][] = Array.from({ length: data.size }, (_, i) => [data.data, i]);
  for (let j = 0; j < updates.size; j++) source[target(j)] = [updates.data, j];
  return [assemble(data.dtype, data.dims, (i) => source[i]!)];
}

/**
 * With reduction 'none' the written positions of data are overwritten, so they pass no gradient
 * back to data: scattering zeros over dy removes exactly them (no mask needs building).
 */
function scatterElementsGrad(ctx: GradCtx): GradBuilders {
  const { b, node } = ctx;
  const reduction = reductionOf(node);
  const axis = () => normAxis(attrInt(node, 'axis', 0), ctx.x(0).rank);
  return [
    () => {
      if (reduction === 'add') return ctx.dy(0)!;
      const zeros = zerosOfShape(b, ctx.dy(0)!.dtype, b.shapeOf(ctx.x(2)));
      return b.op1('ScatterElements', [ctx.dy(0)!, ctx.x(1), zeros], { axis: A.int(axis()) });
    },
    undefined,
    () => b.op1('GatherElements', [ctx.dy(0)!, ctx.x(1)], { axis: A.int(axis()) }),
  ];
}

// ---------------------------------------------------------------------------------------------
// GatherND / ScatterND: the last axis of indices is a coordinate tuple into data's leading axes.

function inferGatherND({ node, inputs: [data, indices] }: InferCtx): Meta[] {
  const ds = needShape(data, 'data');
  const is = needShape(indices, 'indices');
  const batch = attrInt(node, 'batch_dims', 0);
  const k = is[is.length - 1];
  if (is.length === 0) throw new Error(`GatherND ${node.name}: indices must have rank ≥ 1`);
  if (typeof k !== 'number') return [{ dtype: data!.dtype, shape: null }];
  if (batch + k > ds.length) throw new Error(`GatherND ${node.name}: index tuples of length ${k} after ${batch} batch axes do not fit data ${fmtShape(ds)}`);
  return [{ dtype: data!.dtype, shape: [...is.slice(0, -1), ...ds.slice(batch + k)] }];
}

/**
 * For each index tuple t of an indices tensor [..., k] into data's leading axes, the data offset
 * of the slice it addresses and that slice's size (batch_dims leading axes shared by both).
 */
function tupleOffsets(data: Tensor, indices: Tensor, batch: number, node: Node): { offsets: number[]; slice: number } {
  const ds = data.dims;
  const is = indices.dims;
  const k = is[is.length - 1]!;
  const strides = stridesOf(ds);
  const idx = indices.toNumbers();
  const outer = is.slice(0, -1);
  const perBatch = numel(outer.slice(batch));
  const offsets = range(0, numel(outer)).map((t) => {
    const bIdx = unravel(Math.floor(t / perBatch), outer.slice(0, batch));
    let off = bIdx.reduce((acc, c, j) => acc + c * strides[j]!, 0);
    for (let j = 0; j < k; j++) off += checkedIndex(idx[t * k + j]!, ds[batch + j]!, node) * strides[batch + j]!;
    return off;
  });
  return { offsets, slice: numel(ds.slice(batch + k)) };
}

function foldGatherND([data, indices]: (Tensor | undefined)[], node: Node): Tensor[] {
  const batch = attrInt(node, 'batch_dims', 0);
  const is = indices!.dims;
  const outDims = [...is.slice(0, -1), ...data!.dims.slice(batch + is[is.length - 1]!)];
  if (numel(outDims) > FOLD_LIMIT) return [];
  const { offsets, slice } = tupleOffsets(data!, indices!, batch, node);
  return [assemble(data!.dtype, outDims, (i) => [data!.data, offsets[Math.floor(i / slice)]! + (i % slice)])];
}

function gatherNDGrad(ctx: GradCtx): Value {
  const { b, node } = ctx;
  if (attrInt(node, 'batch_dims', 0) !== 0) throw new Error('the GatherND gradient supports batch_dims 0 only (ScatterND has no batch axes)');
  if (ctx.opset < 16) {
    throw new Error(`the GatherND gradient needs ScatterND with reduction 'add', which exists from opset 16 (this graph is opset ${ctx.opset})`);
  }
  const data = ctx.x(0);
  return b.op1('ScatterND', [zerosOfShape(b, data.dtype, b.shapeOf(data)), ctx.x(1), ctx.dy(0)!], { reduction: A.string('add') });
}

function scatterNDGrad(ctx: GradCtx): GradBuilders {
  const { b, node } = ctx;
  const reduction = reductionOf(node);
  return [
    () => {
      if (reduction === 'add') return ctx.dy(0)!;
      const zeros = zerosOfShape(b, ctx.dy(0)!.dtype, b.shapeOf(ctx.x(2)));
      return b.op1('ScatterND', [ctx.dy(0)!, ctx.x(1), zeros]);
    },
    undefined,
    () => b.op1('GatherND', [ctx.dy(0)!, ctx.x(1)]),
  ];
}

// ---------------------------------------------------------------------------------------------

const ops: OpDef[] = [
  { type: 'Gather', infer: inferGather, fold: foldGather, grad: (ctx) => [() => gatherGrad(ctx)] },
  { type: 'GatherElements', infer: inferGatherElements, fold: foldGatherElements, grad: (ctx) => [() => gatherElementsGrad(ctx)] },
  { type: 'GatherND', infer: inferGatherND, fold: foldGatherND, grad: (ctx) => [() => gatherNDGrad(ctx)] },
  {
    type: 'ScatterElements',
    infer: inferScatter,
    fold: ([data, indices, updates], node) => {
      const axis = normAxis(attrInt(node, 'axis', 0), data!.dims.length);
      const idx = indices!.toNumbers();
      return foldScatterCopy(data!, updates!, node, (j) => elementOffset(j, indices!.dims, idx, data!.dims, axis, node));
    },
    grad: scatterElementsGrad,
  },
  {
    type: 'ScatterND',
    infer: inferScatter,
    fold: ([data, indices, updates], node) => {
      const { offsets, slice } = tupleOffsets(data!, indices!, 0, node);
      return foldScatterCopy(data!, updates!, node, (j) => offsets[Math.floor(j / slice)]! + (j % slice));
    },
    grad: scatterNDGrad,
  },
];

register(...ops);
