/**
 * The Reshape family: ops that keep a tensor's elements and change how they are laid out —
 * Reshape, Transpose, Flatten, Squeeze, Unsqueeze and Expand (broadcast) — with their shape
 * inference, folds and gradient rules, and the transposeIf / flatten builder calls. The fold
 * helpers they use are shared from shape.ts.
 */
import { A, type GraphBuilder, type Value } from '../builder.js';
import { attrInt, attrInts, type Dim, type Node } from '../ir.js';
import { register } from '../registry.js';
import { entriesOf } from '../symbolic.js';
import { Tensor, numel } from '../tensor.js';
import { FOLD_LIMIT, allNumbers, assemble, inversePerm, stridesOf, unravel } from './shape.js';
import { broadcastShapes, normAxis, unbroadcast } from './util.js';

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

register(
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
);

/** Transposes only when the permutation moves something. */
export function transposeIf(x: Value, perm: number[]): Value {
  return perm.every((p, k) => p === k) ? x : x.transpose(perm);
}

/** Flatten as a builder call (axis counted like ONNX, in [0, rank]). */
export function flatten(b: GraphBuilder, x: Value, axis: number): Value {
  return b.op1('Flatten', [x], { axis: A.int(axis) });
}

export { reshapeTarget, unsqueezeShape, squeezeShape, axesArg, permOf };
