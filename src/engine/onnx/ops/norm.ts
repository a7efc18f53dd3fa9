import { attrFloat, attrInt, type Dim } from '../ir.js';
import type { GraphBuilder, Value } from '../builder.js';
import { register } from '../registry.js';
import { dtypeFromOnnx } from '../tensor.js';
import type { GradBuilders, GradCtx, InferCtx, Meta, OpDef } from '../types.js';
import { needShape, normAxis, once, unbroadcast } from './util.js';

const range = (from: number, to: number): number[] => Array.from({ length: Math.max(0, to - from) }, (_, k) => from + k);

// ---------------------------------------------------------------------------------------------
// LayerNormalization (opset 17): Y = (X − mean)·rs·Scale + B, with mean and
// rs = 1/sqrt(var + epsilon) taken over the axes from `axis` on.

function inferLayerNorm({ node, inputs: [x] }: InferCtx): Meta[] {
  const shape = needShape(x, 'input X');
  const axis = normAxis(attrInt(node, 'axis', -1), shape.length);
  // Mean and InvStdDev keep the normalised axes as 1s and are stored as stash_type (float32 by default).
  const stats: Meta = { dtype: dtypeFromOnnx(attrInt(node, 'stash_type', 1)), shape: shape.map((d, k): Dim => (k < axis ? d : 1)) };
  return node.outputs.map((_, j) => (j === 0 ? { dtype: x!.dtype, shape } : stats));
}

interface Stats { mean: Value; rs: Value }

/**
 * The node's own Mean/InvStdDev outputs when it has them in X's precision; otherwise recomputed
 * (a node exported with only Y cannot grow outputs, and float32 stashes would cost a float64
 * graph its precision).
 */
function layerStats(ctx: GradCtx, axes: number[]): Stats {
  const { b, node } = ctx;
  const x = ctx.x(0);
  if (node.outputs[1] && node.outputs[2] && ctx.y(1).dtype === x.dtype && ctx.y(2).dtype === x.dtype) {
    return { mean: ctx.y(1), rs: ctx.y(2) };
  }
  const mean = b.reduce('ReduceMean', x, axes, true);
  const xc = x.sub(mean);
  const rs = b.reduce('ReduceMean', xc.mul(xc), axes, true).add(attrFloat(node, 'epsilon', 1e-5)).sqrt().reciprocal();
  return { mean, rs };
}

/**
 * dX of x̂ = (x − mean)·rs given g = dL/dx̂, means over the normalised axes:
 * dx = rs·(g − mean(g) − x̂·mean(g·x̂)).
 */
function normalisedGrad(b: GraphBuilder, g: Value, xhat: Value, rs: Value, axes: number[]): Value {
  const meanG = b.reduce('ReduceMean', g, axes, true);
  const meanGX = b.reduce('ReduceMean', g.mul(xhat), axes, true);
  return rs.mul(g.sub(meanG).sub(xhat.mul(meanGX)));
}

/**
 * Gradient reaching X through the Mean and InvStdDev outputs themselves: d mean/dx = 1/n and
 * d rs/dx = −rs³·(x − mean)/n = −rs²·x̂/n (the path through mean cancels since Σ(x − mean) = 0).
 */
function statsGrad(x: Value, xhat: Value, rs: Value, axes: number[], dMean: Value | undefined, dRs: Value | undefined): Value {
  const normalised = axes.map((k) => x.shape[k]);
  if (!normalised.every((d): d is number => typeof d === 'number')) {
    throw new Error(`the gradient through Mean/InvStdDev needs static normalised dims, got [${normalised.join(',')}]`);
  }
  const n = normalised.reduce((p, d) => p * d, 1);
  const viaRs = dRs ? xhat.mul(rs.mul(rs)).mul(x.b.cast(dRs, x.dtype)).neg() : undefined;
  const viaMean = dMean ? x.b.cast(dMean, x.dtype) : undefined;
  const sum = viaRs && viaMean ? viaRs.add(viaMean) : (viaRs ?? viaMean)!;
  return sum.div(n);
}

function layerNormGrad(ctx: GradCtx): GradBuilders {
  const { b, node, dy } = ctx;
  const x = ctx.x(0);
  const axes = range(normAxis(attrInt(node, 'axis', -1), x.rank), x.rank);
  const stats = once(() => layerStats(ctx, axes));
  const xhat = once(() => x.sub(stats().mean).mul(stats().rs));
  const dY = dy(0);
  const dMean = dy(1);
  const dRs = dy(2);
  const dx = (): Value => {
    const parts: Value[] = [];
    if (dY) parts.push(normalisedGrad(b, dY.mul(ctx.x(1)), xhat(), stats().rs, axes));
    if (dMean || dRs) parts.push(statsGrad(x, xhat(), stats().rs, axes, dMean, dRs));
    return parts.length === 2 ? parts[0]!.add(parts[1]!) : parts[0]!;
  };
  // Scale and B only reach Y; when only the statistics carry gradient theirs is zero.
  const viaY = (i: number, g: () => Value) => (dY ? () => unbroadcast(b, g(), ctx.x(i)) : () => b.zerosLike(ctx.x(i)));
  return [
    dx,
    viaY(1, () => dY!.mul(xhat())),
    ctx.has(2) ? viaY(2, () => dY!) : undefined,
  ];
}

// ---------------------------------------------------------------------------------------------
// BatchNormalization: Y = (X − mean)/sqrt(var + epsilon)·scale + B, per channel (axis 1).

function inferBatchNorm({ node, inputs }: InferCtx): Meta[] {
  const x = inputs[0];
  const shape = needShape(x, 'input X');
  if (shape.length < 2) throw new Error(`BatchNormalization input must be [N, C, ...], got rank ${shape.length}`);
  // Training outputs (running or saved mean and variance) are per channel, typed like input_mean.
  const stats: Meta = { dtype: inputs[3]?.dtype ?? x!.dtype, shape: [shape[1]!] };
  return node.outputs.map((_, j) => (j === 0 ? { dtype: x!.dtype, shape } : stats));
}

/** Training mode: the opset-14 attribute, or before 14 the presence of the optional statistics outputs. */
function isTraining(ctx: GradCtx): boolean {
  if (ctx.opset >= 14) return attrInt(ctx.node, 'training_mode', 0) === 1;
  return ctx.node.outputs.slice(1).some((o) => o !== '');
}

/**
 * Inference mode is an affine map per channel, y = x·k + (B − mean·k) with k = scale·rs and
 * rs = 1/sqrt(var + epsilon), so every input has a closed-form gradient, including
 * d/dmean = −Σdy·k and d/dvar = −½·Σ(dy·x̂)·scale·rs², sums over all axes but the channel.
 */
function batchNormGrad(ctx: GradCtx): GradBuilders {
  if (isTraining(ctx)) {
    // ORT's CPU build has no training-mode BatchNormalization, so such a rule could not be checked.
    throw new Error('BatchNormalization in training mode has no gradient rule: export the model in eval mode (model.eval())');
  }
  const { b, node } = ctx;
  const x = ctx.x(0);
  const dy = ctx.dy(0)!;
  const r = x.rank;
  const others = [0, ...range(2, r)];
  const param = (i: number): Value => b.cast(ctx.x(i), x.dtype);
  // [C] → [C, 1, …, 1] so it broadcasts along axis 1 of [N, C, D1, …].
  const perChannel = (v: Value): Value => (r > 2 ? b.unsqueeze(v, range(1, r - 1)) : v);
  const rs = once(() => param(4).add(attrFloat(node, 'epsilon', 1e-5)).sqrt().reciprocal());
  const k = once(() => param(1).mul(rs()));
  const dB = once(() => dy.sum(others));
  const dScale = once(() => dy.mul(x.sub(perChannel(param(3)))).mul(perChannel(rs())).sum(others));
  return [
    () => dy.mul(perChannel(k())),
    dScale,
    dB,
    () => dB().mul(k()).neg(),
    () => dScale().mul(param(1)).mul(rs().mul(rs())).mul(-0.5),
  ];
}

export const layerNormalization: OpDef = { type: 'LayerNormalization', infer: inferLayerNorm, grad: layerNormGrad };
export const batchNormalization: OpDef = { type: 'BatchNormalization', infer: inferBatchNorm, grad: batchNormGrad };

register(layerNormalization, batchNormalization);
