import { attrInt, attrInts, type Dim, type Node } from '../ir.js';
import { A, fmtShape, type Value } from '../builder.js';
import { register } from '../registry.js';
import { numel, type Tensor } from '../tensor.js';
import type { GradCtx, InferCtx, Meta, OpDef } from '../types.js';
import { normAxis } from './util.js';
import { FOLD_LIMIT, allNumbers, assemble, stridesOf, unravel, zerosOfShape } from './shape.js';
import { axisSize, knownOf, sliceOp, type Known } from './slice.js';

/**
 * Joining and repeating: Concat, Split, Tile. Their gradients cut dy back into the pieces the
 * forward op put together: Concat ↔ Slice, Split ↔ Concat, Tile ↔ fold-and-sum.
 */

const range = (from: number, to: number): number[] => Array.from({ length: Math.max(0, to - from) }, (_, k) => from + k);

function requiredAxis(node: Node): number {
  const a = node.attrs.get('axis');
  if (!a || a.kind !== 'int') throw new Error(`${node.opType} ${node.name} has no axis attribute`);
  return a.value;
}

// ---------------------------------------------------------------------------------------------
// Concat / Split

function inferConcat({ node, inputs }: InferCtx): Meta[] {
  const shapes = inputs.map((m) => m?.shape ?? null);
  const dtype = inputs[0]!.dtype;
  if (shapes.some((s) => s === null)) return [{ dtype, shape: null }];
  const ss = shapes as Dim[][];
  const rank = ss[0]!.length;
  if (ss.some((s) => s.length !== rank)) throw new Error(`Concat inputs have different ranks: ${ss.map(fmtShape).join(', ')}`);
  const axis = normAxis(requiredAxis(node), rank);
  const out = range(0, rank).map((k): Dim => {
    const col = ss.map((s) => s[k]!);
    if (k === axis) return allNumbers(col) ? col.reduce((a, c) => a + c, 0) : null;
    return col.find((d) => typeof d === 'number') ?? col.find((d) => typeof d === 'string') ?? null;
  });
  return [{ dtype, shape: out }];
}

function foldConcat(inputs: (Tensor | undefined)[], node: Node): Tensor[] {
  const ts = inputs as Tensor[];
  const rank = ts[0]!.dims.length;
  const axis = normAxis(requiredAxis(node), rank);
  const sizes = ts.map((t) => t.dims[axis]!);
  const outDims = [...ts[0]!.dims];
  outDims[axis] = sizes.reduce((a, c) => a + c, 0);
  if (numel(outDims) > FOLD_LIMIT) return [];
  const strides = ts.map((t) => stridesOf(t.dims));
  return [assemble(ts[0]!.dtype, outDims, (i) => {
    const idx = unravel(i, outDims);
    let j = 0;
    while (idx[axis]! >= sizes[j]!) idx[axis]! -= sizes[j++]!;
    let off = 0;
    idx.forEach((c, k) => { off += c * strides[j]![k]!; });
    return [ts[j]!.data, off];
  })];
}

/** d(Concat)/d(input i): the slab of dy input i filled, at offsets static or measured at runtime. */
function concatGrad(ctx: GradCtx, i: number): Value {
  const { b, node } = ctx;
  const dy = ctx.dy(0)!;
  const axis = normAxis(requiredAxis(node), dy.rank);
  const sizes = node.inputs.map((_, j) => ctx.x(j).shape[axis]!);
  const before = sizes.slice(0, i);
  const own = sizes[i]!;
  if (allNumbers(before) && typeof own === 'number') {
    const start = before.reduce((a, c) => a + c, 0);
    return sliceOp(b, dy, [start], [start + own], [axis]);
  }
  let start = b.constInt64([0]);
  for (let j = 0; j < i; j++) start = start.add(axisSize(b, ctx.x(j), axis));
  const end = start.add(axisSize(b, ctx.x(i), axis));
  return b.op1('Slice', [dy, start, end, b.constInt64([axis])]);
}

/** Sizes of Split's outputs along its axis (null entries where the input's size is unknown). */
function splitSizes(node: Node, d: Dim, split: Known): Dim[] {
  const count = node.outputs.length;
  if (split === null) return new Array<Dim>(count).fill(null);
  const given = attrInts(node, 'split') ?? split?.toNumbers();
  if (given) {
    if (given.length !== count) throw new Error(`Split ${node.name}: ${given.length} sizes for ${count} outputs`);
    if (typeof d === 'number' && given.reduce((a, c) => a + c, 0) !== d) {
      throw new Error(`Split ${node.name}: sizes [${given.join(',')}] do not add up to ${d}`);
    }
    return given;
  }
  if (count === 1) return [d];
  if (typeof d !== 'number') return new Array<Dim>(count).fill(null);
  const parts = attrInt(node, 'num_outputs', 0);
  if (parts > 0) {
    // Opset 18: chunks of ceil(d / n), the last one smaller when d does not divide.
    if (parts !== count) throw new Error(`Split ${node.name}: num_outputs ${parts} but ${count} outputs`);
    const chunk = Math.ceil(d / parts);
    return range(0, count).map((k) => Math.max(0, Math.min(chunk, d - k * chunk)));
  }
  if (d % count !== 0) throw new Error(`Split ${node.name}: axis of size ${d} does not split into ${count} equal parts`);
  return new Array<number>(count).fill(d / count);
}

function inferSplit({ node, inputs: [x, split] }: InferCtx): Meta[] {
  const shape = x?.shape ?? null;
  if (shape === null) return node.outputs.map(() => ({ dtype: x!.dtype, shape: null }));
  const axis = normAxis(attrInt(node, 'axis', 0), shape.length);
  return splitSizes(node, shape[axis]!, knownOf(split)).map((s) => ({ dtype: x!.dtype, shape: shape.map((d, k) => (k === axis ? s : d)) }));
}

function foldSplit([x, split]: (Tensor | undefined)[], node: Node): Tensor[] {
  const dims = x!.dims;
  const axis = normAxis(attrInt(node, 'axis', 0), dims.length);
  const sizes = splitSizes(node, dims[axis]!, split) as number[];
  const strides = stridesOf(dims);
  let offset = 0;
  return sizes.map((size) => {
    const first = offset;
    offset += size;
    const outDims = dims.map((d, k) => (k === axis ? size : d));
    return assemble(x!.dtype, outDims, (i) => {
      const idx = unravel(i, outDims);
      idx[axis]! += first;
      return [x!.data, idx.reduce((a, c, k) => a + c * strides[k]!, 0)];
    });
  });
}

/** d(Split)/d(input): the output gradients side by side, zeros for outputs nothing reached. */
function splitGrad(ctx: GradCtx): Value {
  const { b, node } = ctx;
  const axis = attrInt(node, 'axis', 0);
  const parts = node.outputs.map((name, j) => {
    const g = ctx.dy(j);
    if (g) return g;
    if (!name) throw new Error(`Split ${node.name}: output ${j} is unnamed, so its size is unknown to the gradient`);
    const y = ctx.y(j);
    return zerosOfShape(b, y.dtype, b.shapeOf(y));
  });
  return parts.length === 1 ? parts[0]! : b.op1('Concat', parts, { axis: A.int(axis) });
}

// ---------------------------------------------------------------------------------------------
// Tile

function inferTile({ inputs: [x, repeats] }: InferCtx): Meta[] {
  const shape = x!.shape;
  const reps = repeats?.value?.toNumbers();
  if (shape === null) return [{ dtype: x!.dtype, shape: reps?.map(() => null) ?? null }];
  if (!reps) return [{ dtype: x!.dtype, shape: shape.map(() => null) }];
  if (reps.length !== shape.length) throw new Error(`Tile: ${reps.length} repeats for rank ${shape.length}`);
  return [{ dtype: x!.dtype, shape: shape.map((d, k) => (typeof d === 'number' ? d * reps[k]! : reps[k] === 1 ? d : null)) }];
}

function foldTile([x, repeats]: (Tensor | undefined)[]): Tensor[] {
  const reps = repeats!.toNumbers();
  const dims = x!.dims;
  const outDims = dims.map((d, k) => d * reps[k]!);
  if (numel(outDims) > FOLD_LIMIT) return [];
  const strides = stridesOf(dims);
  return [assemble(x!.dtype, outDims, (i) => [x!.data, unravel(i, outDims).reduce((acc, c, k) => acc + (c % dims[k]!) * strides[k]!, 0)])];
}

/**
 * d(Tile)/d(x): along each axis the output is r copies of d, so dy reshaped to
 * [r0, d0, r1, d1, …] and summed over the r axes is dx. The target is built at runtime from
 * Shape(x) when x is dynamic.
 */
function tileGrad(ctx: GradCtx): Value {
  const { b } = ctx;
  const x = ctx.x(0);
  const reps = ctx.x(1).known?.toNumbers();
  let target: Value;
  if (x.isStatic && reps) {
    target = b.constInt64(x.dims.flatMap((d, k) => [reps[k]!, d]));
  } else {
    const column = (v: Value) => v.reshape([-1, 1]);
    target = b.op1('Concat', [column(ctx.x(1)), column(b.shapeOf(x))], { axis: A.int(1) }).reshape([-1]);
  }
  return ctx.dy(0)!.reshape(target).sum(range(0, x.rank).map((k) => 2 * k), false);
}

// ---------------------------------------------------------------------------------------------

const ops: OpDef[] = [
  {
    type: 'Concat',
    infer: inferConcat,
    fold: foldConcat,
    grad: (ctx) => ctx.node.inputs.map((_, i) => () => concatGrad(ctx, i)),
  },
  {
    type: 'Split',
    infer: inferSplit,
    fold: foldSplit,
    grad: (ctx) => [() => splitGrad(ctx)],
  },
  {
    type: 'Tile',
    infer: inferTile,
    fold: foldTile,
    grad: (ctx) => [() => tileGrad(ctx)],
  },
];

register(...ops);
