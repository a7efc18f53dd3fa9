import { attrInt, type Model, type Node } from './ir.js';
import { GraphBuilder } from './builder.js';
import type { Meta } from './types.js';

/**
 * Floating-point operations of the dense products in a graph (MatMul, Gemm, Conv, ConvTranspose),
 * counted from static shapes as 2 per multiply–add. Elementwise ops, reductions and softmax are
 * left out: they are memory-bound, and leaving them out keeps the figure comparable with the
 * usual "GFLOPs of a model" numbers.
 */
export interface FlopCount {
  total: number;
  byOp: Record<string, number>;
  /** Nodes of a counted type whose shapes were not static, so their cost is missing from total. */
  uncounted: string[];
}

const prod = (a: readonly number[]): number => a.reduce((x, y) => x * y, 1);

function staticShape(m: Meta | undefined): number[] | undefined {
  if (!m || !m.shape || !m.shape.every((d): d is number => typeof d === 'number')) return undefined;
  return m.shape;
}

/** FLOPs of one node, or undefined when the op is not counted or its shapes are not static. */
function nodeFlops(node: Node, shapeOf: (name: string) => number[] | undefined): number | undefined {
  const a = shapeOf(node.inputs[0] ?? '');
  const w = shapeOf(node.inputs[1] ?? '');
  const y = shapeOf(node.outputs[0] ?? '');
  if (!a || !w || !y) return undefined;
  switch (node.opType) {
    case 'MatMul': {
      // y = a·w with batch dims broadcast: every output element is a dot product over K.
      const k = a.length === 1 ? a[0]! : a[a.length - 1]!;
      return 2 * prod(y) * k;
    }
    case 'Gemm': {
      const k = attrInt(node, 'transA', 0) ? a[0]! : a[1]!;
      return 2 * prod(y) * k;
    }
    case 'Conv': {
      // Each output element sums over its group's input channels times the kernel window.
      return 2 * prod(y) * prod(w.slice(1));
    }
    case 'ConvTranspose': {
      // Each input element scatters into (Cout/group)·kernel outputs; w is [Cin, Cout/group, k…].
      return 2 * prod(a) * prod(w.slice(1));
    }
    default:
      return undefined;
  }
}

export const COUNTED_OPS: ReadonlySet<string> = new Set(['MatMul', 'Gemm', 'Conv', 'ConvTranspose']);

/** Counts the FLOPs of a graph under construction (its inferred shapes are used). */
export function countFlops(b: GraphBuilder): FlopCount {
  const shapeOf = (name: string) => staticShape(b.metas.get(name));
  const out: FlopCount = { total: 0, byOp: {}, uncounted: [] };
  for (const node of b.nodes) {
    if (!COUNTED_OPS.has(node.opType) || (node.domain !== '' && node.domain !== 'ai.onnx')) continue;
    const f = nodeFlops(node, shapeOf);
    if (f === undefined) {
      out.uncounted.push(node.name);
      continue;
    }
    out.total += f;
    out.byOp[node.opType] = (out.byOp[node.opType] ?? 0) + f;
  }
  return out;
}

/** Counts the FLOPs of a model, fixing dynamic input dims first (e.g. { pixels: [8, 3, 224, 224] }). */
export function modelFlops(model: Model, inputShapes: Record<string, (number | string | null)[]> = {}): FlopCount {
  return countFlops(GraphBuilder.fromModel(model, inputShapes));
}
