import { attrInt, type Dim, type Node } from './ir.js';
import { Tensor, isInteger } from './tensor.js';
import type { Meta } from './types.js';

/**
 * Partial evaluation of shape vectors that contain dynamic dims. Graphs exported with a dynamic
 * batch compute Reshape targets and Slice bounds from Shape(x) = [batch, 17, 96]; the entries
 * that do not involve the batch (96, and 96/3 from it) are still constants, and rules need them.
 * Each small integer vector carries its entries as Dims: numbers, dim names, or null (unknown).
 * An entry-wise result that comes out all numbers becomes a known value, so ordinary folding
 * takes over from there.
 */

const MAX_ENTRIES = 64;

/** Entries of a small integer vector or scalar, from its partial dims or its known value. */
export function entriesOf(m: Meta | undefined): Dim[] | undefined {
  if (!m) return undefined;
  if (m.dimValues) return m.dimValues;
  if (m.value && (isInteger(m.value.dtype) || m.value.dtype === 'bool') && m.value.size <= MAX_ENTRIES && m.value.dims.length <= 1) {
    return m.value.toNumbers();
  }
  return undefined;
}

function arith(op: string, a: Dim, b: Dim): Dim {
  if (typeof a === 'number' && typeof b === 'number') {
    switch (op) {
      case 'Add': return a + b;
      case 'Sub': return a - b;
      case 'Mul': return a * b;
      case 'Div': return b === 0 ? null : Math.trunc(a / b);
    }
  }
  // Identities keep a dim name: batch·1, batch/1, batch+0.
  if (typeof a === 'string' && ((op === 'Mul' || op === 'Div') && b === 1 || (op === 'Add' || op === 'Sub') && b === 0)) return a;
  if (typeof b === 'string' && (op === 'Mul' && a === 1 || op === 'Add' && a === 0)) return b;
  return null;
}

/** Dims are at least 1, so a named dim never equals 0 or a negative number. */
function equal(a: Dim, b: Dim): Dim {
  if (typeof a === 'number' && typeof b === 'number') return a === b ? 1 : 0;
  if (typeof a === 'string' && typeof b === 'string' && a === b) return 1;
  if (typeof a === 'string' && typeof b === 'number' && b <= 0) return 0;
  if (typeof b === 'string' && typeof a === 'number' && a <= 0) return 0;
  return null;
}

function zipBroadcast(a: Dim[], b: Dim[], f: (x: Dim, y: Dim) => Dim): Dim[] | undefined {
  if (a.length !== b.length && a.length !== 1 && b.length !== 1) return undefined;
  const n = Math.max(a.length, b.length);
  return Array.from({ length: n }, (_, i) => f(a[a.length === 1 ? 0 : i]!, b[b.length === 1 ? 0 : i]!));
}

function sliceEntries(x: Dim[], node: Node, inputs: (Meta | undefined)[]): Dim[] | undefined {
  const starts = entriesOf(inputs[1]);
  const ends = entriesOf(inputs[2]);
  const axes = inputs[3] ? entriesOf(inputs[3]) : [0];
  const steps = inputs[4] ? entriesOf(inputs[4]) : [1];
  const s = starts?.[0];
  const e = ends?.[0];
  const step = steps?.[0] ?? 1;
  if (starts?.length !== 1 || typeof s !== 'number' || typeof e !== 'number' || axes?.[0] !== 0 && axes?.[0] !== -1 || typeof step !== 'number' || step === 0) return undefined;
  void node;
  const n = x.length;
  const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi);
  const out: Dim[] = [];
  if (step > 0) {
    const from = clamp(s < 0 ? s + n : s, 0, n);
    const to = clamp(e < 0 ? e + n : e, 0, n);
    for (let i = from; i < to; i += step) out.push(x[i]!);
  } else {
    const from = clamp(s < 0 ? s + n : s, -1, n - 1);
    const to = clamp(e < 0 ? e + n : e, -1, n - 1);
    for (let i = from; i > to; i += step) out.push(x[i]!);
  }
  return out;
}

/** Entries of the node's (single) output, when it is a small integer vector we can follow. */
function propagate(node: Node, inputs: (Meta | undefined)[], opset: number): Dim[] | undefined {
  const ins = inputs.map(entriesOf);
  switch (node.opType) {
    case 'Shape': {
      const shape = inputs[0]?.shape;
      if (!shape) return undefined;
      const r = shape.length;
      const norm = (i: number) => Math.min(Math.max(i < 0 ? i + r : i, 0), r);
      return shape.slice(norm(attrInt(node, 'start', 0)), norm(attrInt(node, 'end', r)));
    }
    case 'Identity': case 'Unsqueeze': case 'Squeeze': case 'Reshape': case 'Flatten':
      return ins[0];
    case 'Cast': {
      // Casting to an integer type keeps dim values; other targets are left to folding.
      const to = attrInt(node, 'to', 0);
      return [6, 7, 12, 13].includes(to) ? ins[0] : undefined;
    }
    case 'Gather': {
      const data = ins[0];
      const idx = inputs[1]?.value?.toNumbers();
      if (!data || !idx || attrInt(node, 'axis', 0) !== 0) return undefined;
      return idx.map((i) => data[i < 0 ? i + data.length : i] ?? null);
    }
    case 'Concat':
      return ins.every((e) => e !== undefined) ? (ins as Dim[][]).flat() : undefined;
    case 'Slice':
      return ins[0] && opset >= 10 ? sliceEntries(ins[0], node, inputs) : undefined;
    case 'Add': case 'Sub': case 'Mul': case 'Div':
      return ins[0] && ins[1] ? zipBroadcast(ins[0], ins[1], (a, b) => arith(node.opType, a, b)) : undefined;
    case 'Equal':
      return ins[0] && ins[1] ? zipBroadcast(ins[0], ins[1], equal) : undefined;
    case 'Not':
      return ins[0]?.map((v) => (typeof v === 'number' ? 1 - v : null));
    case 'Where': {
      const [c, x, y] = ins;
      if (!c || !x || !y) return undefined;
      const n = Math.max(c.length, x.length, y.length);
      const at = (v: Dim[], i: number) => v[v.length === 1 ? 0 : i]!;
      return Array.from({ length: n }, (_, i) => {
        const ci = at(c, i);
        return ci === null || typeof ci === 'string' ? null : ci ? at(x, i) : at(y, i);
      });
    }
    default:
      return undefined;
  }
}

/**
 * Adds partial dims (and, when they are all numbers, a known value) to a node's output meta,
 * for ops on small integer vectors whose inputs are only partly known.
 */
export function withSymbolicValue(node: Node, inputs: (Meta | undefined)[], out: Meta, opset: number): Meta {
  if (out.value || out.opaque || !(isInteger(out.dtype) || out.dtype === 'bool') || node.outputs.length !== 1) return out;
  const rank = out.shape?.length;
  if (rank === undefined || rank > 1) return out;
  const entries = propagate(node, inputs, opset);
  if (!entries || entries.length > MAX_ENTRIES || (rank === 0 && entries.length !== 1)) return out;
  const shape = rank === 0 ? [] : [entries.length];
  if (entries.every((e): e is number => typeof e === 'number')) {
    const value = out.dtype === 'int64' ? Tensor.int64(shape, entries) : Tensor.floats(out.dtype, shape, entries);
    return { ...out, shape, value };
  }
  return { ...out, shape, dimValues: entries };
}

