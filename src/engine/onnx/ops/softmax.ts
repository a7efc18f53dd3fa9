import { attrInt, type Node } from '../ir.js';
import { register } from '../registry.js';
import type { GradBuilders, GradCtx, InferCtx, Meta, OpDef } from '../types.js';
import { needShape, normAxis } from './util.js';

/**
 * The axes one softmax normalises over. From opset 13 that is the single `axis` (default -1).
 * Before 13 the input was coerced to 2-D, [prod(dims[:axis]), prod(dims[axis:])] with axis
 * defaulting to 1, and normalised along the second axis: that is every axis from `axis` on,
 * so no reshape is needed to express it.
 */
export function softmaxAxes(node: Node, opset: number, rank: number): number[] {
  if (opset >= 13) return [normAxis(attrInt(node, 'axis', -1), rank)];
  const first = normAxis(attrInt(node, 'axis', 1), rank);
  return Array.from({ length: rank - first }, (_, k) => first + k);
}

function inferSoftmax({ node, opset, inputs: [x] }: InferCtx): Meta[] {
  const shape = needShape(x, 'input');
  softmaxAxes(node, opset, shape.length);
  return [{ dtype: x!.dtype, shape }];
}

const axesOf = ({ node, opset, x }: GradCtx): number[] => softmaxAxes(node, opset, x(0).rank);

export const softmax: OpDef = {
  type: 'Softmax',
  infer: inferSoftmax,
  // Jacobian diag(y) − y yᵀ per normalised slice: dx = y·(dy − Σ dy·y).
  grad: (ctx): GradBuilders => [
    () => {
      const y = ctx.y(0);
      const dy = ctx.dy(0)!;
      return y.mul(dy.sub(dy.mul(y).sum(axesOf(ctx), true)));
    },
  ],
};

export const logSoftmax: OpDef = {
  type: 'LogSoftmax',
  infer: inferSoftmax,
  // y = x − logΣexp(x), so dx = dy − softmax(x)·Σ dy, and softmax(x) = exp(y).
  grad: (ctx): GradBuilders => [
    () => {
      const dy = ctx.dy(0)!;
      return dy.sub(ctx.y(0).exp().mul(dy.sum(axesOf(ctx), true)));
    },
  ],
};

register(softmax, logSoftmax);
