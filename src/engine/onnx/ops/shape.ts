/**
 * The Shape family: Shape, Size, Constant, ConstantOfShape and Range, with the build-time fold
 * helpers (stridesOf, unravel, assemble, ...) the other families share. The ops that rearrange a
 * tensor's elements (Reshape, Transpose, Flatten, Squeeze, Unsqueeze, Expand) are in reshape.ts.
 */
import { attrInt, type Attr, type Dim, type Node } from '../ir.js';
import type { GraphBuilder, Value } from '../builder.js';
import { register } from '../registry.js';
import { entriesOf } from '../symbolic.js';
import { Tensor, allocate, numel, type DType, type TypedData } from '../tensor.js';
import type { InferCtx, Meta } from '../types.js';

// ---------------------------------------------------------------------------------------------
// Build-time evaluation helpers shared with reshape.ts, slice.ts, join.ts and gather.ts. Folds copy
// raw elements rather than going through JS numbers, so int64 sentinels such as INT64_MAX (torch's
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

const allNumbers = (dims: readonly Dim[]): dims is number[] => dims.every((d) => typeof d === 'number');

// ---------------------------------------------------------------------------------------------
// Shape / Size

const same = ({ inputs: [x] }: InferCtx): Meta[] => [{ dtype: x!.dtype, shape: x!.shape }];

/** Clamps a Shape start/end attribute (opset 15) into [0, rank], counting negatives from the end. */
function normSlice(i: number, rank: number): number {
  return Math.min(Math.max(i < 0 ? i + rank : i, 0), rank);
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

/** Zeros of a runtime or static shape (an int64 vector), as ConstantOfShape so no big initializer is stored. */
export function zerosOfShape(b: GraphBuilder, dtype: DType, shape: Value): Value {
  return b.op1('ConstantOfShape', [shape], { value: { kind: 'tensor', value: Tensor.floats(dtype, [1], [0]) } });
}

export { same, normSlice, allNumbers };
