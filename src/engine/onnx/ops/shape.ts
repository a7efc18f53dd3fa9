import { attrInt, attrInts, type Attr, type Dim, type Node } from '../ir.js';
import { A, type GraphBuilder, type Value } from '../builder.js';
import { register } from '../registry.js';
import { entriesOf } from '../symbolic.js';
import { Tensor, allocate, numel, type DType, type TypedData } from '../tensor.js';
import type { InferCtx, Meta } from '../types.js';
import { broadcastShapes, normAxis, unbroadcast } from './util.js';

// ---------------------------------------------------------------------------------------------
// Build-time evaluation helpers shared with slice.ts, join.ts and gather.ts. Folds copy raw
// elements rather than going through JS numbers, so int64 sentinels such as INT64_MAX (torch's
// "to the end" Slice bound) survive Concat/Gather/Slice plumbing exactly.

/** Largest tensor a fold may produce; bigger results are left to the runtime. */
export const FOLD_LIMIT = 4096;

export function stridesOf(dims: readonly number[]): number[] {
  const s = new Array<number>(dims.length).fill(1);
  for (let k = dims.length - 2; k >= 0; k--) s[k] = s[k + 1]! * dims[k + 1]!;
  return s;
}

/** The multi-index of flat position i in a row-major tensor of the given dims. */
export function unravel(i: number, dims: readonly number[]): number[] {
  const idx = new Array<number>(dims.length).fill(0);
  for (let k = dims.length - 1; k >= 0; k--) {
    const d = dims[k]!;
    idx[k] = i % d;
    i = Math.floor(i / d);
  }
  return idx;
}

interface NumberArray { [i: number]: number }
interface BigArray { [i: number]: bigint }

/** A tensor whose element i is copied from `pick(i)` = [source data, offset], bit for bit. */
export function assemble(dtype: DType, dims: readonly number[], pick: (i: number) => readonly [TypedData, number]): Tensor {
  const n = numel(dims);
  const out = allocate(dtype, n);
  if (out instanceof BigInt64Array || out instanceof BigUint64Array) {
    for (let i = 0; i < n; i++) {
      const [src, off] = pick(i);
      out[i] = (src as unknown as BigArray)[off]!;
    }
  } else {
    for (let i = 0; i < n; i++) {
      const [src, off] = pick(i);
      out[i] = (src as unknown as NumberArray)[off]!;
    }
  }
  return new Tensor(dtype, dims, out);
}

/** The permutation that undoes `perm`. */
export function inversePerm(perm: readonly number[]): number[] {
  const inv = new Array<number>(perm.length);
  perm.forEach((p, k) => { inv[p] = k; });
  return inv;
}

/**
 * The product of some dims: a number when all are numbers; the one symbolic dim when all the
 * others multiply to 1 (so [batch, 1] flattens to batch); otherwise null.
 */
export function dimProduct(dims: readonly Dim[]): Dim {
  let n = 1;
  const other: Dim[] = [];
  for (const d of dims) {
    if (typeof d === 'number') n *= d;
    else other.push(d);
  }
  if (other.length === 0) return n;
  if (n === 0) return 0;
  return other.length === 1 && n === 1 ? other[0]! : null;
}

const allNumbers = (dims: readonly Dim[]): dims is number[] => dims.every((d) => typeof d === 'number');

// ---------------------------------------------------------------------------------------------
// Reshape

/**
 * How many elements -1 stands for: total(inShape minus the copied positions) / product(rest).
 * Copied dims (target 0) and equal symbolic names cancel, so [batch, 3, 4] → [0, -1] gives 12.
 */
function inferMinusOne(inShape: Dim[], copied: Set<number>, rest: Dim[]): Dim {
  const num = inShape.filter((_, k) => !copied.has(k));
  const den = [...rest];
  for (let k = num.length - 1; k >= 0; k--) {
    const d = num[k];
    if (typeof d !== 'string') continue;
    const j = den.indexOf(d);
    if (j >= 0) {
      num.splice(k, 1);
      den.splice(j, 1);
    }
  }
  if (!allNumbers(num) || !allNumbers(den)) return null;
  const total = numel(num);
  const known = numel(den);
  if (known === 0 || total % known !== 0) {
    throw new Error(`cannot reshape [${inShape.map((d) => d ?? '?').join(',')}]: ${total} elements do not divide by ${known}`);
  }
  return total / known;
}

/** The target shape of a Reshape, resolving 0 (copy) and -1 (infer) against the input's shape. */
function reshapeTarget(inShape: Dim[], target: Dim[], allowzero: boolean): Dim[] {
  const shown = `[${target.map((d) => d ?? '?').join(',')}]`;
  if (target.filter((d) => d === -1).length > 1) throw new Error(`Reshape target ${shown} has more than one -1`);
  const copied = new Set<number>();
  const out: Dim[] = target.map((d, k) => {
    // Entries only partly known (a dim name from Shape(x), or null) are the size itself.
    if (typeof d !== 'number') return d;
    if (d === 0 && !allowzero) {
      if (k >= inShape.length) throw new Error(`Reshape target ${shown} copies dim ${k} (0) but the input has rank ${inShape.length}`);
      copied.add(k);
      return inShape[k]!;
    }
    if (d < -1) throw new Error(`Reshape target ${shown} has a negative size ${d}`);
    return d === -1 ? null : d;
  });
  const minus = target.indexOf(-1);
  if (minus >= 0) {
    out[minus] = inferMinusOne(inShape, copied, out.filter((_, k) => k !== minus && !copied.has(k)));
  } else if (allNumbers(inShape) && allNumbers(out) && numel(inShape) !== numel(out)) {
    throw new Error(`cannot reshape [${inShape.join(',')}] (${numel(inShape)} elements) to ${shown}`);
  }
  return out;
}

const same = ({ inputs: [x] }: InferCtx): Meta[] => [{ dtype: x!.dtype, shape: x!.shape }];

// ---------------------------------------------------------------------------------------------
// Squeeze / Unsqueeze

/** Axes given as an attribute (older opsets) or as the second input (opset 13+). */
function axesArg(node: Node, input: Tensor | undefined): number[] | undefined {
  return attrInts(node, 'axes') ?? input?.toNumbers();
}

function unsqueezeShape(shape: Dim[], axes: number[]): Dim[] {
  const rank = shape.length + axes.length;
  const ax = axes.map((a) => normAxis(a, rank));
  if (new Set(ax).size !== ax.length) throw new Error(`Unsqueeze axes [${axes.join(',')}] repeat an axis`);
  const out: Dim[] = [];
  let k = 0;
  for (let i = 0; i < rank; i++) out.push(ax.includes(i) ? 1 : shape[k++]!);
  return out;
}

function squeezeShape(shape: Dim[], axes: number[] | undefined): Dim[] {
  const ax = axes ? axes.map((a) => normAxis(a, shape.length)) : shape.flatMap((d, k) => (d === 1 ? [k] : []));
  for (const a of ax) {
    const d = shape[a];
    if (typeof d === 'number' && d !== 1) throw new Error(`cannot squeeze axis ${a} of size ${d}`);
  }
  return shape.filter((_, k) => !ax.includes(k));
}

/** Clamps a Shape start/end attribute (opset 15) into [0, rank], counting negatives from the end. */
function normSlice(i: number, rank: number): number {
  return Math.min(Math.max(i < 0 ? i + rank : i, 0), rank);
}

// ---------------------------------------------------------------------------------------------
// Transpose / Flatten

function permOf(node: Node, rank: number): number[] {
  const perm = attrInts(node, 'perm') ?? Array.from({ length: rank }, (_, k) => rank - 1 - k);
  const sorted = [...perm].sort((a, b) => a - b);
  if (perm.length !== rank || sorted.some((p, k) => p !== k)) {
    throw new Error(`Transpose perm [${perm.join(',')}] is not a permutation of ${rank} axes`);
  }
  return perm;
}

function transposeFold(x: Tensor, perm: number[]): Tensor {
  const inStrides = stridesOf(x.dims);
  const outDims = perm.map((p) => x.dims[p]!);
  return assemble(x.dtype, outDims, (i) => {
    const idx = unravel(i, outDims);
    let off = 0;
    idx.forEach((c, k) => { off += c * inStrides[perm[k]!]!; });
    return [x.data, off];
  });
}

/** Flatten's axis (opset 11 allows negatives), in [0, rank]. */
function flattenAxis(node: Node, rank: number): number {
  const axis = attrInt(node, 'axis', 1);
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a > rank) throw new Error(`Flatten axis ${axis} is out of range for rank ${rank}`);
  return a;
}

// ---------------------------------------------------------------------------------------------
// Expand

function expandFold(x: Tensor, target: number[]): Tensor[] {
  const outDims = broadcastShapes([...x.dims], target) as number[];
  if (numel(outDims) > FOLD_LIMIT) return [];
  const lead = outDims.length - x.dims.length;
  const xs = stridesOf(x.dims);
  return [assemble(x.dtype, outDims, (i) => {
    const idx = unravel(i, outDims);
    let off = 0;
    for (let k = lead; k < outDims.length; k++) if (x.dims[k - lead] !== 1) off += idx[k]! * xs[k - lead]!;
    return [x.data, off];
  })];
}

// ---------------------------------------------------------------------------------------------
// Constant / ConstantOfShape / Range

/** The value of a Constant node, from whichever of its value attributes is set. */
function constantValue(node: Node): Tensor {
  const get = (k: string): Attr | undefined => node.attrs.get(k);
  const v = get('value');
  if (v?.kind === 'tensor') return v.value;
  const f = get('value_float');
  if (f?.kind === 'float' || f?.kind === 'int') return Tensor.float32([], [f.value]);
  const fs = get('value_floats');
  if (fs?.kind === 'floats' || fs?.kind === 'ints') return Tensor.float32([fs.value.length], fs.value);
  const i = get('value_int');
  if (i?.kind === 'int') return Tensor.int64([], [i.value]);
  const is = get('value_ints');
  if (is?.kind === 'ints') return Tensor.int64([is.value.length], is.value);
  const others = [...node.attrs.keys()].join(', ') || 'none';
  throw new Error(`Constant ${node.name}: only value, value_float(s) and value_int(s) are supported (attributes: ${others})`);
}

/** ConstantOfShape's fill element: its `value` attribute (a one-element tensor), float32 0 by default. */
function fillValue(node: Node): Tensor {
  const v = node.attrs.get('value');
  if (!v) return Tensor.float32([1], [0]);
  if (v.kind !== 'tensor' || v.value.size !== 1) throw new Error('ConstantOfShape value must be a one-element tensor');
  return v.value;
}

/** Range's length: max(ceil((limit − start) / delta), 0), from the ONNX Range definition. */
function rangeLength(start: number, limit: number, delta: number): number {
  if (delta === 0) throw new Error('Range delta must not be 0');
  return Math.max(Math.ceil((limit - start) / delta), 0);
}

const scalarOf = (t: Tensor): number => {
  if (t.size !== 1) throw new Error(`expected a scalar, got shape [${t.dims.join(',')}]`);
  return t.toNumbers()[0]!;
};

// ---------------------------------------------------------------------------------------------

register(
  {
    type: 'Shape',
    infer: ({ node, inputs: [x] }) => {
      if (!x || x.shape === null) return [{ dtype: 'int64', shape: [null] }];
      const shape = x.shape;
      const start = normSlice(attrInt(node, 'start', 0), shape.length);
      const end = normSlice(attrInt(node, 'end', shape.length), shape.length);
      const dims = shape.slice(start, Math.max(start, end));
      const meta: Meta = { dtype: 'int64', shape: [dims.length] };
      if (allNumbers(dims)) meta.value = Tensor.int64([dims.length], dims);
      return [meta];
    },
  },
  {
    type: 'Size',
    infer: ({ inputs: [x] }) => {
      const meta: Meta = { dtype: 'int64', shape: [] };
      if (x?.shape && allNumbers(x.shape)) meta.value = Tensor.int64([], [numel(x.shape)]);
      return [meta];
    },
    fold: ([x]) => [Tensor.int64([], [x!.size])],
  },
  {
    type: 'Reshape',
    infer: ({ node, inputs: [x, s] }) => {
      const target = entriesOf(s);
      const allowzero = attrInt(node, 'allowzero', 0) === 1;
      const xs = x!.shape;
      if (target && xs === null) return [{ dtype: x!.dtype, shape: target.map((d) => (typeof d !== 'number' || d > 0 || (d === 0 && allowzero) ? d : null)) }];
      if (target && xs) return [{ dtype: x!.dtype, shape: reshapeTarget(xs, target, allowzero) }];
      const len = s?.shape?.[0];
      return [{ dtype: x!.dtype, shape: typeof len === 'number' ? new Array<Dim>(len).fill(null) : null }];
    },
    fold: ([x, s], node) => {
      const dims = reshapeTarget([...x!.dims], s!.toNumbers(), attrInt(node, 'allowzero', 0) === 1) as number[];
      return [new Tensor(x!.dtype, dims, x!.data)];
    },
    grad: ({ b, x, dy }) => [() => dy(0)!.reshape(b.shapeOf(x(0)))],
  },
  {
    type: 'Expand',
    infer: ({ inputs: [x, s] }) => {
      const target = entriesOf(s);
      const xs = x!.shape;
      if (xs === null) return [{ dtype: x!.dtype, shape: null }];
      if (target) return [{ dtype: x!.dtype, shape: broadcastShapes(xs, target) }];
      const len = s?.shape?.[0];
      if (typeof len !== 'number') return [{ dtype: x!.dtype, shape: null }];
      // Unknown target dims: where x has a real size it survives broadcasting.
      const padded = [...new Array<Dim>(Math.max(0, len - xs.length)).fill(null), ...xs];
      return [{ dtype: x!.dtype, shape: padded.map((d) => (d === 1 ? null : d)) }];
    },
    fold: ([x, s]) => expandFold(x!, s!.toNumbers()),
    grad: ({ b, x, dy }) => [() => unbroadcast(b, dy(0)!, x(0))],
  },
  {
    type: 'Unsqueeze',
    infer: ({ node, inputs: [x, a] }) => {
      const axes = axesArg(node, a?.value);
      if (!axes) throw new Error('Unsqueeze axes must be known when the graph is built');
      return [{ dtype: x!.dtype, shape: x!.shape && unsqueezeShape(x!.shape, axes) }];
    },
    fold: ([x, a], node) => [new Tensor(x!.dtype, unsqueezeShape([...x!.dims], axesArg(node, a)!) as number[], x!.data)],
    grad: ({ b, x, dy }) => [() => dy(0)!.reshape(b.shapeOf(x(0)))],
  },
  {
    type: 'Squeeze',
    infer: ({ node, inputs: [x, a] }) => {
      if (node.inputs[1] && !a?.value) throw new Error('Squeeze axes must be known when the graph is built');
      return [{ dtype: x!.dtype, shape: x!.shape && squeezeShape(x!.shape, axesArg(node, a?.value)) }];
    },
    fold: ([x, a], node) => [new Tensor(x!.dtype, squeezeShape([...x!.dims], axesArg(node, a)) as number[], x!.data)],
    grad: ({ b, x, dy }) => [() => dy(0)!.reshape(b.shapeOf(x(0)))],
  },
  {
    type: 'Transpose',
    infer: ({ node, inputs: [x] }) => {
      const shape = x!.shape;
      if (shape === null) return [{ dtype: x!.dtype, shape: attrInts(node, 'perm')?.map(() => null) ?? null }];
      return [{ dtype: x!.dtype, shape: permOf(node, shape.length).map((p) => shape[p]!) }];
    },
    fold: ([x], node) => [transposeFold(x!, permOf(node, x!.dims.length))],
    // The adjoint of a permutation is its inverse.
    grad: ({ node, x, dy }) => [() => dy(0)!.transpose(inversePerm(permOf(node, x(0).rank)))],
  },
  {
    type: 'Flatten',
    infer: ({ node, inputs: [x] }) => {
      const shape = x!.shape;
      if (shape === null) return [{ dtype: x!.dtype, shape: [null, null] }];
      const a = flattenAxis(node, shape.length);
      return [{ dtype: x!.dtype, shape: [dimProduct(shape.slice(0, a)), dimProduct(shape.slice(a))] }];
    },
    fold: ([x], node) => {
      const a = flattenAxis(node, x!.dims.length);
      return [new Tensor(x!.dtype, [numel(x!.dims.slice(0, a)), numel(x!.dims.slice(a))], x!.data)];
    },
    grad: ({ b, x, dy }) => [() => dy(0)!.reshape(b.shapeOf(x(0)))],
  },
  {
    type: 'Constant',
    infer: ({ node }) => {
      const t = constantValue(node);
      return [{ dtype: t.dtype, shape: [...t.dims], value: t }];
    },
    fold: (_inputs, node) => [constantValue(node)],
  },
  {
    type: 'ConstantOfShape',
    infer: ({ node, inputs: [s] }) => {
      const dtype = fillValue(node).dtype;
      const dims = entriesOf(s);
      if (dims) return [{ dtype, shape: dims }];
      const len = s?.shape?.[0];
      return [{ dtype, shape: typeof len === 'number' ? new Array<Dim>(len).fill(null) : null }];
    },
    fold: ([s], node) => {
      const dims = s!.toNumbers();
      if (numel(dims) > FOLD_LIMIT) return [];
      const fill = fillValue(node);
      return [assemble(fill.dtype, dims, () => [fill.data, 0])];
    },
  },
  {
    type: 'Range',
    infer: ({ inputs: [start, limit, delta] }) => {
      const dtype = start!.dtype;
      if (start?.value && limit?.value && delta?.value) {
        return [{ dtype, shape: [rangeLength(scalarOf(start.value), scalarOf(limit.value), scalarOf(delta.value))] }];
      }
      return [{ dtype, shape: [null] }];
    },
    fold: ([start, limit, delta]) => {
      const s = scalarOf(start!);
      const d = scalarOf(delta!);
      const n = rangeLength(s, scalarOf(limit!), d);
      if (n > FOLD_LIMIT) return [];
      const t = allocate(start!.dtype, n);
      if (t instanceof BigInt64Array || t instanceof BigUint64Array) {
        for (let i = 0; i < n; i++) t[i] = BigInt(s + i * d);
      } else {
        for (let i = 0; i < n; i++) t[i] = s + i * d;
      }
      return [new Tensor(start!.dtype, [n], t)];
    },
  },
);

/** Transposes only when the permutation moves something. */
export function transposeIf(x: Value, perm: number[]): Value {
  return perm.every((p, k) => p === k) ? x : x.transpose(perm);
}

/** Zeros of a runtime or static shape (an int64 vector), as ConstantOfShape so no big initializer is stored. */
export function zerosOfShape(b: GraphBuilder, dtype: DType, shape: Value): Value {
  return b.op1('ConstantOfShape', [shape], { value: { kind: 'tensor', value: Tensor.floats(dtype, [1], [0]) } });
}

/** Flatten as a builder call (axis counted like ONNX, in [0, rank]). */
export function flatten(b: GraphBuilder, x: Value, axis: number): Value {
  return b.op1('Flatten', [x], { axis: A.int(axis) });
}

export { same, reshapeTarget, unsqueezeShape, squeezeShape, axesArg, normSlice, permOf, allNumbers };
