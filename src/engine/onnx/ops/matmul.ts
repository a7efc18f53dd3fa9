import { attrFloat, attrInt, type Dim } from '../ir.js';
import { A, fmtShape, type GraphBuilder, type Value } from '../builder.js';
import { register } from '../registry.js';
import type { GradBuilders, GradCtx, InferCtx, Meta, OpDef } from '../types.js';
import { broadcastShapes, needShape, once, unbroadcast } from './util.js';

const dimsDiffer = (a: Dim, b: Dim): boolean => typeof a === 'number' && typeof b === 'number' && a !== b;

/** Swaps the last two axes of a rank-r value (numpy's `.mT`). */
export function transposeLast2(x: Value): Value {
  const r = x.rank;
  if (r < 2) throw new Error(`cannot transpose the last two axes of ${x.name}, which has rank ${r}`);
  const perm = Array.from({ length: r }, (_, k) => k);
  perm[r - 2] = r - 1;
  perm[r - 1] = r - 2;
  return x.transpose(perm);
}

/**
 * numpy.matmul shapes: a 1-D left operand gets a leading 1 and a 1-D right operand a trailing 1,
 * both removed again from the result; the batch axes broadcast.
 */
export function matmulShape(a: Dim[], b: Dim[]): Dim[] {
  if (a.length === 0 || b.length === 0) throw new Error('MatMul operands must have rank ≥ 1, got a scalar');
  const a2 = a.length === 1 ? [1, a[0]!] : a;
  const b2 = b.length === 1 ? [b[0]!, 1] : b;
  const k1 = a2[a2.length - 1]!;
  const k2 = b2[b2.length - 2]!;
  if (dimsDiffer(k1, k2)) throw new Error(`MatMul of ${fmtShape(a)} and ${fmtShape(b)}: inner dimensions ${k1} and ${k2} differ`);
  const batch = broadcastShapes(a2.slice(0, -2), b2.slice(0, -2));
  const out: Dim[] = [...batch];
  if (a.length > 1) out.push(a2[a2.length - 2]!);
  if (b.length > 1) out.push(b2[b2.length - 1]!);
  return out;
}

function inferMatMul({ inputs: [a, b] }: InferCtx): Meta[] {
  return [{ dtype: a!.dtype, shape: matmulShape(needShape(a, 'input A'), needShape(b, 'input B')) }];
}

/**
 * y = a @ w. With 1-D operands viewed as matrices (a → [1,K], w → [K,1]) and dy given back the
 * axes MatMul dropped, da = dy @ wᵀ and dw = aᵀ @ dy; each is then summed over the batch axes
 * its operand was broadcast along, and the matrix view of a 1-D operand is dropped again.
 */
function matmulGrad({ b, x, dy }: GradCtx): GradBuilders {
  const a = x(0);
  const w = x(1);
  const a2 = once(() => (a.rank === 1 ? b.unsqueeze(a, [0]) : a));
  const w2 = once(() => (w.rank === 1 ? b.unsqueeze(w, [1]) : w));
  const dy2 = once(() => {
    const r = Math.max(a.rank, w.rank, 2);
    const dropped = [...(a.rank === 1 ? [r - 2] : []), ...(w.rank === 1 ? [r - 1] : [])];
    return dropped.length > 0 ? b.unsqueeze(dy(0)!, dropped) : dy(0)!;
  });
  return [
    () => {
      const g = dy2().matmul(transposeLast2(w2()));
      return unbroadcast(b, a.rank === 1 ? b.squeeze(g, [g.rank - 2]) : g, a);
    },
    () => {
      const flat = weightGradFlat(b, a, w, dy(0)!);
      if (flat) return flat;
      const g = transposeLast2(a2()).matmul(dy2());
      return unbroadcast(b, w.rank === 1 ? b.squeeze(g, [g.rank - 1]) : g, w);
    },
  ];
}

/**
 * The common Linear layer case, a batched activation times a 2-D weight: folding the batch axes
 * into rows gives dw = a_flatᵀ @ dy_flat directly, instead of a batch of [K,N] products that
 * would then be summed (for a ViT MLP weight that intermediate is batch × 768 × 3072).
 * Returns undefined where the shortcut does not apply.
 */
function weightGradFlat(b: GraphBuilder, a: Value, w: Value, dy: Value): Value | undefined {
  if (w.rank !== 2 || a.rank < 3) return undefined;
  const [k, n] = w.shape;
  if (typeof k !== 'number' || typeof n !== 'number') return undefined;
  return a.reshape([-1, k]).transpose([1, 0]).matmul(dy.reshape([-1, n]));
}

/** Gemm's operand after its optional transpose: op(X) = Xᵀ when trans is set. */
function gemmOperand(shape: Dim[], trans: boolean, what: string): [Dim, Dim] {
  if (shape.length !== 2) throw new Error(`Gemm ${what} must be 2-D, got ${fmtShape(shape)}`);
  return trans ? [shape[1]!, shape[0]!] : [shape[0]!, shape[1]!];
}

function inferGemm({ node, inputs: [a, b, c] }: InferCtx): Meta[] {
  const [m, k1] = gemmOperand(needShape(a, 'input A'), attrInt(node, 'transA', 0) === 1, 'input A');
  const [k2, n] = gemmOperand(needShape(b, 'input B'), attrInt(node, 'transB', 0) === 1, 'input B');
  if (dimsDiffer(k1, k2)) throw new Error(`Gemm inner dimensions ${k1} and ${k2} differ`);
  if (c) broadcastShapes(needShape(c, 'input C'), [m, n]);
  return [{ dtype: a!.dtype, shape: [m, n] }];
}

/**
 * Y = alpha·op(A)·op(B) + beta·C. With G = alpha·dY: d op(A) = G·op(B)ᵀ and d op(B) = op(A)ᵀ·G,
 * transposed back where the operand was transposed; each case is one Gemm whose trans flags
 * absorb all transposes (e.g. transA: dA = (G·op(B)ᵀ)ᵀ = op(B)·Gᵀ).
 */
function gemmGrad({ b, node, x, dy, has }: GradCtx): GradBuilders {
  const tA = attrInt(node, 'transA', 0) === 1;
  const tB = attrInt(node, 'transB', 0) === 1;
  const alpha = attrFloat(node, 'alpha', 1);
  const beta = attrFloat(node, 'beta', 1);
  const gemm = (p: Value, q: Value, transP: boolean, transQ: boolean): Value =>
    b.op1('Gemm', [p, q], { transA: A.int(transP ? 1 : 0), transB: A.int(transQ ? 1 : 0), alpha: A.float(alpha) });
  const g = (): Value => dy(0)!;
  return [
    () => (tA ? gemm(x(1), g(), tB, true) : gemm(g(), x(1), false, !tB)),
    () => (tB ? gemm(g(), x(0), true, tA) : gemm(x(0), g(), !tA, false)),
    has(2) ? () => {
      const dc = unbroadcast(b, g(), x(2));
      return beta === 1 ? dc : dc.mul(beta);
    } : undefined,
  ];
}

export const matMul: OpDef = { type: 'MatMul', infer: inferMatMul, grad: matmulGrad };
export const gemm: OpDef = { type: 'Gemm', infer: inferGemm, grad: gemmGrad };

register(matMul, gemm);
