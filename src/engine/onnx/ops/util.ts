import type { Dim } from '../ir.js';
import { fmtShape, type GraphBuilder, type Value } from '../builder.js';
import type { Meta } from '../types.js';
import type { DType } from '../tensor.js';

/** Normalises a possibly negative axis against a rank, with a clear error when out of range. */
export function normAxis(axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) throw new Error(`axis ${axis} is out of range for rank ${rank}`);
  return a;
}

export function sameDim(a: Dim, b: Dim): boolean {
  return a !== null && a === b;
}

/** Numpy-style broadcasting of dims; symbolic dims are assumed equal to whatever they meet. */
export function broadcastShapes(...shapes: Dim[][]): Dim[] {
  const rank = Math.max(...shapes.map((s) => s.length));
  const out: Dim[] = [];
  for (let k = 0; k < rank; k++) {
    let d: Dim = 1;
    for (const s of shapes) {
      const e = s[s.length - rank + k];
      if (e === undefined || e === 1) continue;
      if (d === 1 || d === null) d = e;
      else if (typeof d === 'number' && typeof e === 'number' && d !== e) {
        throw new Error(`shapes ${shapes.map(fmtShape).join(' and ')} do not broadcast`);
      } else if (typeof e === 'number') d = e;
    }
    out.push(d);
  }
  return out;
}

export function needShape(m: Meta | undefined, what: string): Dim[] {
  if (!m) throw new Error(`missing ${what}`);
  if (m.shape === null) throw new Error(`${what} has an unknown rank`);
  return m.shape;
}

export function meta(dtype: DType, shape: Dim[] | null): Meta {
  return { dtype, shape };
}

/**
 * Sums a broadcast gradient back to the shape of the operand it came from: over the leading axes
 * the operand lacked and over the axes where the operand had size 1.
 */
export function unbroadcast(b: GraphBuilder, g: Value, x: Value): Value {
  const gs = g.shape;
  const xs = x.shape;
  const lead = gs.length - xs.length;
  const axes: number[] = [];
  for (let k = 0; k < gs.length; k++) {
    if (k < lead) axes.push(k);
    else if (xs[k - lead] === 1 && gs[k] !== 1) axes.push(k);
  }
  let r = g;
  if (axes.length > 0) r = b.reduce('ReduceSum', g, axes, true);
  if (lead > 0) r = r.reshape(x.isStatic ? x.dims : b.op1('Shape', [x]));
  return r;
}

/** Known integer contents of an input (axes, shapes, bounds), or an error naming it. */
export function knownInts(v: Value, what: string): number[] {
  const t = v.known;
  if (!t) throw new Error(`${what} (${v.name}) must be known when the graph is built`);
  return t.toNumbers();
}

/** Defers building a value until first asked, then reuses it (rules share a term between inputs). */
export function once<T>(make: () => T): () => T {
  let v: T | undefined;
  return () => (v ??= make());
}
