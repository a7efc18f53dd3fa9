import { attrInt, attrInts, attrString, type Dim, type Node } from '../ir.js';
import { A, fmtShape, type GraphBuilder, type Value } from '../builder.js';
import { register } from '../registry.js';
import { Tensor, numel } from '../tensor.js';
import type { GradCtx, InferCtx, Meta, OpDef } from '../types.js';
import { normAxis } from './util.js';
import { FOLD_LIMIT, allNumbers, assemble, flatten, inversePerm, stridesOf, transposeIf, unravel, zerosOfShape } from './shape.js';

/**
 * Slicing, joining and indexing: Concat, Split, Slice, Pad, Gather, GatherElements, Tile (and
 * ScatterElements/ScatterND, understood so gradient graphs built from them keep their shapes).
 * Their gradients move dy back to where the forward op read it: Slice ↔ Pad, Concat ↔ Slice,
 * Split ↔ Concat, Gather ↔ scatter-add, Tile ↔ fold-and-sum.
 */

/** A Slice bound past any real dim that is still exact as an int64 (INT64_MAX is not a JS number). */
const TO_END = Number.MAX_SAFE_INTEGER;
/** Bounds at least this large mean "to the end" (torch writes INT64_MAX, older exporters INT32_MAX). */
const HUGE = 2147483647;

/** What is known about an optional input: undefined when omitted, null when present but not known. */
type Known = Tensor | null | undefined;

const knownOf = (m: Meta | undefined): Known => (m === undefined ? undefined : m.value ?? null);
const ctxKnown = (ctx: GradCtx, i: number): Known => (ctx.has(i) ? ctx.x(i).known ?? null : undefined);
const range = (from: number, to: number): number[] => Array.from({ length: Math.max(0, to - from) }, (_, k) => from + k);

function requiredAxis(node: Node): number {
  const a = node.attrs.get('axis');
  if (!a || a.kind !== 'int') throw new Error(`${node.opType} ${node.name} has no axis attribute`);
  return a.value;
}

// ---------------------------------------------------------------------------------------------
// Builder helpers (opset-aware), used by the gradient rules.

/** Slice with inputs (opset ≥ 10) or attributes (older, unit steps only). */
export function sliceOp(b: GraphBuilder, x: Value, starts: number[], ends: number[], axes: number[], steps?: number[]): Value {
  if (b.opset >= 10) {
    const ins = [x, b.constInt64(starts), b.constInt64(ends), b.constInt64(axes)];
    if (steps) ins.push(b.constInt64(steps));
    return b.op1('Slice', ins);
  }
  if (steps && steps.some((s) => s !== 1)) throw new Error(`Slice with steps needs opset 10 (graph is opset ${b.opset})`);
  return b.op1('Slice', [x], { starts: A.ints(starts), ends: A.ints(ends), axes: A.ints(axes) });
}

/** Constant zero padding with full-rank begin/end amounts (pads an input from opset 11). */
export function padOp(b: GraphBuilder, x: Value, begins: number[], ends: number[]): Value {
  const pads = [...begins, ...ends];
  if (b.opset >= 11) return b.op1('Pad', [x, b.constInt64(pads)]);
  return b.op1('Pad', [x], { pads: A.ints(pads) });
}

function padAxis(b: GraphBuilder, x: Value, axis: number, before: number, after: number): Value {
  if (before === 0 && after === 0) return x;
  const begins = new Array<number>(x.rank).fill(0);
  const ends = new Array<number>(x.rank).fill(0);
  begins[axis] = before;
  ends[axis] = after;
  return padOp(b, x, begins, ends);
}

/** The size of one axis at runtime, as a one-element int64 vector. */
function axisSize(b: GraphBuilder, x: Value, axis: number): Value {
  const d = x.shape[axis];
  if (typeof d === 'number') return b.constInt64([d]);
  return sliceOp(b, b.op1('Shape', [x]), [axis], [axis + 1], [0]);
}

/** x's shape with its axes permuted, static when possible, else gathered from Shape(x) at runtime. */
function permutedShape(b: GraphBuilder, x: Value, perm: number[]): Value {
  if (x.isStatic) return b.constInt64(perm.map((p) => x.dims[p]!));
  return b.op1('Gather', [b.op1('Shape', [x]), b.constInt64(perm)], { axis: A.int(0) });
}

// ---------------------------------------------------------------------------------------------
// Slice

interface SliceSpec { starts: number[]; ends: number[]; axes: number[] | undefined; steps: number[] }

/** Slice bounds from attributes (opset < 10) or known inputs; null when some are not known. */
function sliceSpec(node: Node, args: Known[]): SliceSpec | null {
  let spec: SliceSpec;
  const attrStarts = attrInts(node, 'starts');
  if (attrStarts) {
    spec = { starts: attrStarts, ends: attrInts(node, 'ends') ?? [], axes: attrInts(node, 'axes'), steps: attrStarts.map(() => 1) };
  } else {
    const [starts, ends, axes, steps] = args;
    if (!starts || !ends || axes === null || steps === null) return null;
    const s = starts.toNumbers();
    spec = { starts: s, ends: ends.toNumbers(), axes: axes?.toNumbers(), steps: steps?.toNumbers() ?? s.map(() => 1) };
  }
  const n = spec.starts.length;
  if (spec.ends.length !== n || spec.steps.length !== n || (spec.axes && spec.axes.length !== n)) {
    throw new Error(`Slice ${node.name}: starts, ends, axes and steps must have the same length`);
  }
  if (spec.steps.some((t) => t === 0)) throw new Error(`Slice ${node.name}: a step is 0`);
  return spec;
}

interface AxisSlice { axis: number; start: number; end: number; step: number }

function sliceAxes(spec: SliceSpec, rank: number): AxisSlice[] {
  return spec.starts.map((start, k) => ({
    axis: normAxis(spec.axes ? spec.axes[k]! : k, rank),
    start,
    end: spec.ends[k]!,
    step: spec.steps[k]!,
  }));
}

/** Resolves bounds against a size as ONNX Slice does: negatives count from the end, then clamp. */
function normBounds(d: number, s: AxisSlice): { start: number; end: number; len: number } {
  let start = s.start < 0 ? s.start + d : s.start;
  let end = s.end < 0 ? s.end + d : s.end;
  if (s.step > 0) {
    start = Math.min(Math.max(start, 0), d);
    end = Math.min(Math.max(end, 0), d);
  } else {
    start = Math.min(Math.max(start, 0), d - 1);
    end = Math.min(Math.max(end, -1), d - 1);
  }
  return { start, end, len: Math.max(0, Math.ceil((end - start) / s.step)) };
}

function slicedDim(d: Dim, s: AxisSlice): Dim {
  if (typeof d === 'number') return normBounds(d, s).len;
  const whole = (s.step === 1 && s.start === 0 && s.end >= HUGE) || (s.step === -1 && s.start === -1 && s.end <= -HUGE);
  return whole ? d : null;
}

function inferSlice({ node, inputs }: InferCtx): Meta[] {
  const x = inputs[0]!;
  const shape = x.shape;
  if (shape === null) return [{ dtype: x.dtype, shape: null }];
  const spec = sliceSpec(node, inputs.slice(1, 5).map(knownOf));
  if (!spec) {
    // Bounds decided at runtime: the rank survives, the sliced axes' sizes do not.
    const axes = inputs[3]?.value?.toNumbers().map((a) => normAxis(a, shape.length));
    return [{ dtype: x.dtype, shape: shape.map((d, k) => (axes && !axes.includes(k) ? d : null)) }];
  }
  const out = [...shape];
  for (const s of sliceAxes(spec, shape.length)) out[s.axis] = slicedDim(shape[s.axis]!, s);
  return [{ dtype: x.dtype, shape: out }];
}

function foldSlice(inputs: (Tensor | undefined)[], node: Node): Tensor[] {
  const x = inputs[0]!;
  const spec = sliceSpec(node, inputs.slice(1, 5))!;
  const first = x.dims.map(() => 0);
  const step = x.dims.map(() => 1);
  const outDims = [...x.dims];
  for (const s of sliceAxes(spec, x.dims.length)) {
    const nb = normBounds(x.dims[s.axis]!, s);
    first[s.axis] = nb.start;
    step[s.axis] = s.step;
    outDims[s.axis] = nb.len;
  }
  const strides = stridesOf(x.dims);
  return [assemble(x.dtype, outDims, (i) => {
    const idx = unravel(i, outDims);
    let off = 0;
    idx.forEach((c, k) => { off += (first[k]! + c * step[k]!) * strides[k]!; });
    return [x.data, off];
  })];
}

/**
 * Puts the n elements of g along `axis` at positions p0, p0 + step, … of an axis of size d,
 * zeros elsewhere: interleave step − 1 zeros after each element (unsqueeze, pad, merge), keep
 * (n − 1)·step + 1 positions, then pad into place.
 */
function spreadAxis(b: GraphBuilder, g: Value, axis: number, n: number, p0: number, step: number, d: number): Value {
  let spread = g;
  if (step > 1) {
    const trailing = g.shape.slice(axis + 1);
    if (!allNumbers(trailing)) {
      // Merging needs the dims after the axis; move the axis last so only leading (copied) dims remain.
      const perm = [...range(0, axis), ...range(axis + 1, g.rank), axis];
      const moved = spreadAxis(b, g.transpose(perm), g.rank - 1, n, p0, step, d);
      return moved.transpose(inversePerm(perm));
    }
    const widened = padAxis(b, b.unsqueeze(g, [axis + 1]), axis + 1, 0, step - 1);
    const merged = widened.reshape([...new Array<number>(axis).fill(0), n * step, ...trailing]);
    spread = sliceOp(b, merged, [0], [(n - 1) * step + 1], [axis]);
  }
  return padAxis(b, spread, axis, p0, d - p0 - (n - 1) * step - 1);
}

/** d(Slice)/d(data): dy lands back where it was read, zeros elsewhere (positions are distinct). */
function sliceGrad(ctx: GradCtx): Value {
  const { b, node } = ctx;
  const data = ctx.x(0);
  const spec = sliceSpec(node, [1, 2, 3, 4].map((i) => ctxKnown(ctx, i)));
  if (!spec) throw new Error('the Slice gradient needs starts, ends, axes and steps known when the graph is built');
  const begins = new Array<number>(data.rank).fill(0);
  const ends = new Array<number>(data.rank).fill(0);
  const strided: { axis: number; start: number; len: number; step: number; d: number }[] = [];
  for (const s of sliceAxes(spec, data.rank)) {
    const d = data.shape[s.axis];
    if (typeof d !== 'number') {
      // "From start to the end" needs no size: pad the front only.
      if (s.step === 1 && s.start >= 0 && s.end >= HUGE) {
        begins[s.axis] = s.start;
        continue;
      }
      throw new Error(`the Slice gradient needs sliced axis ${s.axis} of ${data.name} ${fmtShape(data.shape)} to have a static size`);
    }
    const nb = normBounds(d, s);
    if (nb.len === 0) return zerosOfShape(b, data.dtype, b.shapeOf(data));
    if (s.step === 1) {
      begins[s.axis] = nb.start;
      ends[s.axis] = d - nb.end;
    } else {
      strided.push({ axis: s.axis, start: nb.start, len: nb.len, step: s.step, d });
    }
  }
  let g = ctx.dy(0)!;
  for (const s of strided) {
    if (s.step > 0) {
      g = spreadAxis(b, g, s.axis, s.len, s.start, s.step, s.d);
    } else {
      // Reverse first, so the last element read (the lowest position) comes first.
      const reversed = sliceOp(b, g, [s.len - 1], [-s.len - 1], [s.axis], [-1]);
      g = spreadAxis(b, reversed, s.axis, s.len, s.start + (s.len - 1) * s.step, -s.step, s.d);
    }
  }
  return begins.some((v) => v !== 0) || ends.some((v) => v !== 0) ? padOp(b, g, begins, ends) : g;
}

// ---------------------------------------------------------------------------------------------
// Pad

interface PadSpec { begins: number[]; ends: number[] }

/** Full-rank begin/end amounts from the pads attribute (opset < 11) or input, with opset-18 axes. */
function padSpec(node: Node, rank: number, pads: Known, axes: Known): PadSpec | null {
  const raw = attrInts(node, 'pads') ?? pads?.toNumbers();
  if (!raw || axes === null) return null;
  const ax = axes ? axes.toNumbers().map((a) => normAxis(a, rank)) : range(0, rank);
  if (raw.length !== 2 * ax.length) throw new Error(`Pad ${node.name}: ${raw.length} pads for ${ax.length} axes (need twice as many)`);
  const begins = new Array<number>(rank).fill(0);
  const ends = new Array<number>(rank).fill(0);
  ax.forEach((a, k) => {
    begins[a] = raw[k]!;
    ends[a] = raw[k + ax.length]!;
  });
  return { begins, ends };
}

function inferPad({ node, inputs: [x, pads, , axes] }: InferCtx): Meta[] {
  const shape = x!.shape;
  if (shape === null) return [{ dtype: x!.dtype, shape: null }];
  const spec = padSpec(node, shape.length, knownOf(pads), knownOf(axes));
  if (!spec) return [{ dtype: x!.dtype, shape: shape.map(() => null) }];
  return [{
    dtype: x!.dtype,
    shape: shape.map((d, k) => {
      const extra = spec.begins[k]! + spec.ends[k]!;
      if (typeof d === 'number') {
        if (d + extra < 0) throw new Error(`Pad ${node.name} crops axis ${k} of size ${d} below zero`);
        return d + extra;
      }
      return spec.begins[k] === 0 && spec.ends[k] === 0 ? d : null;
    }),
  }];
}

/**
 * d(Pad)/d(data): positive pads were added around x, so dx slices them off dy; negative pads
 * cropped x, so dx pads zeros back. Slicing with ends counted from the end keeps it shape-agnostic.
 */
function padGrad(ctx: GradCtx): Value {
  const { b, node } = ctx;
  const mode = attrString(node, 'mode', 'constant');
  if (mode !== 'constant') throw new Error(`Pad mode '${mode}' has no gradient rule here; only constant padding is differentiable`);
  const data = ctx.x(0);
  const spec = padSpec(node, data.rank, ctxKnown(ctx, 1), ctxKnown(ctx, 3));
  if (!spec) throw new Error('the Pad gradient needs pads (and axes) known when the graph is built');
  let g = ctx.dy(0)!;
  const axes = range(0, data.rank).filter((k) => spec.begins[k]! > 0 || spec.ends[k]! > 0);
  if (axes.length > 0) {
    g = sliceOp(b, g, axes.map((k) => Math.max(spec.begins[k]!, 0)), axes.map((k) => (spec.ends[k]! > 0 ? -spec.ends[k]! : TO_END)), axes);
  }
  const crop = (v: number) => Math.max(-v, 0);
  if (spec.begins.some((v) => v < 0) || spec.ends.some((v) => v < 0)) g = padOp(b, g, spec.begins.map(crop), spec.ends.map(crop));
  return g;
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
// Gather / GatherElements

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
  const d = dims[a]!;
  const idx = indices!.toNumbers().map((v) => {
    if (v < -d || v >= d) throw new Error(`Gather ${node.name}: index ${v} is out of range for an axis of size ${d}`);
    return v < 0 ? v + d : v;
  });
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

const likeData = ({ inputs: [data] }: InferCtx): Meta[] => [{ dtype: data!.dtype, shape: data!.shape }];

const ops: OpDef[] = [
  {
    type: 'Slice',
    infer: inferSlice,
    fold: foldSlice,
    grad: (ctx) => [() => sliceGrad(ctx)],
  },
  {
    type: 'Pad',
    infer: inferPad,
    // The constant value, pads and axes carry no gradient.
    grad: (ctx) => [() => padGrad(ctx)],
  },
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
    type: 'Gather',
    infer: inferGather,
    fold: foldGather,
    grad: (ctx) => [() => gatherGrad(ctx)],
  },
  {
    type: 'GatherElements',
    infer: ({ inputs: [data, indices] }) => [{ dtype: data!.dtype, shape: indices?.shape ?? null }],
    grad: (ctx) => [() => gatherElementsGrad(ctx)],
  },
  {
    type: 'Tile',
    infer: inferTile,
    fold: foldTile,
    grad: (ctx) => [() => tileGrad(ctx)],
  },
  // Emitted by the Gather gradients; understood so their outputs keep data's shape.
  { type: 'ScatterElements', infer: likeData },
  { type: 'ScatterND', infer: likeData },
];

register(...ops);

