import { attrInt, attrInts, type Dim, type Node } from '../ir.js';
import { register } from '../registry.js';
import { Tensor } from '../tensor.js';
import type { InferCtx, Meta, OpDef } from '../types.js';
import { broadcastShapes, needShape, normAxis, unbroadcast } from './util.js';

/** The target shape of a Reshape, resolving 0 (copy) and -1 (infer) against the input's shape. */
function reshapeTarget(inShape: Dim[], target: number[], allowzero: boolean): Dim[] {
  const out: Dim[] = target.map((d, k) => (d === 0 && !allowzero ? inShape[k] ?? null : d === -1 ? null : d));
  const minus = target.indexOf(-1);
  if (minus >= 0) {
    const total = inShape.every((d) => typeof d === 'number') ? (inShape as number[]).reduce((a, b) => a * b, 1) : null;
    const rest = out.filter((_, k) => k !== minus);
    if (total !== null && rest.every((d) => typeof d === 'number')) {
      const known = (rest as number[]).reduce((a, b) => a * b, 1);
      if (known === 0 || total % known !== 0) throw new Error(`cannot reshape [${inShape.join(',')}] to [${target.join(',')}]`);
      out[minus] = total / known;
    }
  }
  return out;
}

const same = ({ inputs: [x] }: InferCtx): Meta[] => [{ dtype: x!.dtype, shape: x!.shape }];

/** Axes given as an attribute (older opsets) or as the second input (opset 13+). */
function axesArg(node: Node, input: Tensor | undefined): number[] | undefined {
  return attrInts(node, 'axes') ?? input?.toNumbers();
}

function unsqueezeShape(shape: Dim[], axes: number[]): Dim[] {
  const rank = shape.length + axes.length;
  const ax = axes.map((a) => normAxis(a, rank));
  const out: Dim[] = [];
  let k = 0;
  for (let i = 0; i < rank; i++) out.push(ax.includes(i) ? 1 : shape[k++]!);
  return out;
}

function squeezeShape(shape: Dim[], axes: number[] | undefined): Dim[] {
  const ax = axes ? axes.map((a) => normAxis(a, shape.length)) : shape.flatMap((d, k) => (d === 1 ? [k] : []));
  return shape.filter((_, k) => !ax.includes(k));
}

register(
  {
    type: 'Shape',
    infer: ({ node, inputs: [x] }) => {
      const shape = needShape(x, 'input');
      const start = normSlice(attrInt(node, 'start', 0), shape.length);
      const end = normSlice(attrInt(node, 'end', shape.length), shape.length);
      const dims = shape.slice(start, end);
      const meta: Meta = { dtype: 'int64', shape: [dims.length] };
      if (dims.every((d) => typeof d === 'number')) meta.value = Tensor.int64([dims.length], dims as number[]);
      return [meta];
    },
  },
  {
    type: 'Reshape',
    infer: ({ node, inputs: [x, s] }) => {
      const target = s?.value?.toNumbers();
      const allowzero = attrInt(node, 'allowzero', 0) === 1;
      if (target) return [{ dtype: x!.dtype, shape: reshapeTarget(needShape(x, 'data'), target, allowzero) }];
      const len = needShape(s, 'shape')[0];
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
      const target = s?.value?.toNumbers();
      const xs = needShape(x, 'input');
      if (target) return [{ dtype: x!.dtype, shape: broadcastShapes(xs, target) }];
      const len = needShape(s, 'shape')[0];
      if (typeof len !== 'number') return [{ dtype: x!.dtype, shape: null }];
      // Unknown target dims: where x has a real size it survives broadcasting.
      const padded = [...new Array<Dim>(Math.max(0, len - xs.length)).fill(null), ...xs];
      return [{ dtype: x!.dtype, shape: padded.map((d) => (d === 1 ? null : d)) }];
    },
    grad: ({ b, x, dy }) => [() => unbroadcast(b, dy(0)!, x(0))],
  },
  {
    type: 'Unsqueeze',
    infer: ({ node, inputs: [x, a] }) => {
      const axes = axesArg(node, a?.value);
      if (!axes) throw new Error('Unsqueeze axes must be known when the graph is built');
      return [{ dtype: x!.dtype, shape: unsqueezeShape(needShape(x, 'input'), axes) }];
    },
    fold: ([x, a], node) => [new Tensor(x!.dtype, unsqueezeShape([...x!.dims], axesArg(node, a)!) as number[], x!.data)],
    grad: ({ b, x, dy }) => [() => dy(0)!.reshape(b.shapeOf(x(0)))],
  },
  {
    type: 'Squeeze',
    infer: ({ node, inputs: [x, a] }) => {
      if (node.inputs[1] && !a?.value) throw new Error('Squeeze axes must be known when the graph is built');
      return [{ dtype: x!.dtype, shape: squeezeShape(needShape(x, 'input'), axesArg(node, a?.value)) }];
    },
    fold: ([x, a], node) => [new Tensor(x!.dtype, squeezeShape([...x!.dims], axesArg(node, a)) as number[], x!.data)],
    grad: ({ b, x, dy }) => [() => dy(0)!.reshape(b.shapeOf(x(0)))],
  },
);

function normSlice(i: number, rank: number): number {
  return Math.min(Math.max(i < 0 ? i + rank : i, 0), rank);
}

export { same, reshapeTarget, unsqueezeShape, squeezeShape, axesArg, normSlice };
