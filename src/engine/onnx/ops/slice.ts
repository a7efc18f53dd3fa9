import { attrInts, attrString, type Dim, type Node } from '../ir.js';
import { A, fmtShape, type GraphBuilder, type Value } from '../builder.js';
import { register } from '../registry.js';
import type { Tensor } from '../tensor.js';
import type { GradCtx, InferCtx, Meta, OpDef } from '../types.js';
import { normAxis } from './util.js';
import { allNumbers, assemble, inversePerm, stridesOf, unravel, zerosOfShape } from './shape.js';

/**
 * Slicing and padding: Slice and Pad, each the other's adjoint (joining is join.ts, indexing by
 * an index tensor gather.ts). The opset-aware builders here are shared with those families.
 */

/** A Slice bound past any real dim that is still exact as an int64 (INT64_MAX is not a JS number). */
const TO_END = Number.MAX_SAFE_INTEGER;
/** Bounds at least this large mean "to the end" (torch writes INT64_MAX, older exporters INT32_MAX). */
const HUGE = 2147483647;

/** What is known about an optional input: undefined when omitted, null when present but not known. */
export type Known = Tensor | null | undefined;

export const knownOf = (m: Meta | undefined): Known => (m === undefined ? undefined : m.value ?? null);
const ctxKnown = (ctx: GradCtx, i: number): Known => (ctx.has(i) ? ctx.x(i).known ?? null : undefined);
const range = (from: number, to: number): number[] => Array.from({ length: Math.max(0, to - from) }, (_, k) => from + k);

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

export function padAxis(b: GraphBuilder, x: Value, axis: number, before: number, after: number): Value {
  if (before === 0 && after === 0) return x;
  const begins = new Array<number>(x.rank).fill(0);
  const ends = new Array<number>(x.rank).fill(0);
  begins[axis] = before;
  ends[axis] = after;
  return padOp(b, x, begins, ends);
}

/** The size of one axis at runtime, as a one-element int64 vector. */
export function axisSize(b: GraphBuilder, x: Value, axis: number): Value {
  const d = x.shape[axis];
  if (typeof d === 'number') return b.constInt64([d]);
  return sliceOp(b, b.op1('Shape', [x]), [axis], [axis + 1], [0]);
}

/** x's shape with its axes permuted, static when possible, else gathered from Shape(x) at runtime. */
export function permutedShape(b: GraphBuilder, x: Value, perm: number[]): Value {
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
];

register(...ops);
