/**
 * open_clip's ModifiedResNet (OpenAI CLIP's RN50 family) on the graph builder, parameters named as
 * in its state dict (`visual.layer1.0.conv2.weight`, `visual.attnpool.q_proj.bias`, ...):
 * a 3-conv stem with an average pool instead of a max pool, four stages of Bottleneck blocks whose
 * strided steps are "anti-aliased" (an average pool before a stride-1 convolution, on the main path
 * and the shortcut alike), and a QKV attention pool over the final grid instead of a global pool.
 *
 * BatchNorm is written with primitive ops (Sub, Mul, Div, Sqrt, ReduceMean), so our autodiff takes
 * first and second derivatives through it in both modes: running statistics (inference, default)
 * or the batch's own (training, with `batchStats`).
 */
import { A, type GraphBuilder, type Value } from '../onnx/builder.js';
import { Tensor } from '../onnx/tensor.js';
import { gelu, linear, type ResNetConfig, type VisionTowerOptions, type Weights } from './tower-types.js';

/** torch.nn.BatchNorm2d's default epsilon, which ModifiedResNet keeps. */
const BN_EPS = 1e-5;
/** Bottleneck.expansion: a block's output has 4× the channels of its inner convolutions. */
const EXPANSION = 4;
/** Stem (2 × 2) and three stride-2 stages: the attention pool sees an (imageSize / 32)² grid. */
export const RESNET_REDUCTION = 32;

export interface ResNetBlock {
  name: string;
  inplanes: number;
  planes: number;
  stride: number;
  /** Shortcut through AvgPool → 1×1 conv (`downsample.0`) → BN (`downsample.1`), else identity. */
  downsample: boolean;
}

/** The blocks of the four stages in order, as ModifiedResNet._make_layer builds them. */
export function resnetBlocks(cfg: ResNetConfig): ResNetBlock[] {
  const out: ResNetBlock[] = [];
  let inplanes = cfg.width;
  cfg.layers.forEach((count, stage) => {
    const planes = cfg.width * 2 ** stage;
    for (let i = 0; i < count; i++) {
      const stride = i === 0 && stage > 0 ? 2 : 1;
      out.push({ name: `visual.layer${stage + 1}.${i}`, inplanes, planes, stride, downsample: stride > 1 || inplanes !== planes * EXPANSION });
      inplanes = planes * EXPANSION;
    }
  });
  return out;
}

/** The attention pool's token width (ModifiedResNet's embed_dim): the last stage's output channels. */
export const resnetFeatureDim = (cfg: ResNetConfig): number => cfg.width * RESNET_REDUCTION;

/** Divisibility the tower relies on; the message names what is wrong and by how much. */
export function resnetShapeError(cfg: ResNetConfig): string | null {
  if (cfg.layers.length !== 4 || !cfg.layers.every((n) => Number.isInteger(n) && n > 0)) {
    return `layers should be four positive block counts, got ${JSON.stringify(cfg.layers)}`;
  }
  if (cfg.width % 2 !== 0) return `ResNet width ${cfg.width} is odd; the stem halves it`;
  if (cfg.imageSize % RESNET_REDUCTION !== 0) return `image size ${cfg.imageSize} is not a multiple of ${RESNET_REDUCTION}, the ResNet's total reduction`;
  const dim = resnetFeatureDim(cfg);
  if (cfg.heads < 1 || dim % cfg.heads !== 0) return `attention pool width ${dim} does not split into ${cfg.heads} heads`;
  return null;
}

export interface ResNetTensor {
  name: string;
  shape: number[];
  /** BatchNorm running statistics: read by inference, updated by the trainer, never by gradients. */
  buffer?: true;
}

/** Every tensor the tower reads, in open_clip's state-dict order (num_batches_tracked left out). */
export function resnetTensors(cfg: ResNetConfig): ResNetTensor[] {
  const out: ResNetTensor[] = [];
  const conv = (name: string, outC: number, inC: number, k: number): void => {
    out.push({ name: `${name}.weight`, shape: [outC, inC, k, k] });
  };
  const bn = (name: string, c: number): void => {
    out.push({ name: `${name}.weight`, shape: [c] }, { name: `${name}.bias`, shape: [c] });
    out.push({ name: `${name}.running_mean`, shape: [c], buffer: true }, { name: `${name}.running_var`, shape: [c], buffer: true });
  };
  const half = cfg.width / 2;
  conv('visual.conv1', half, 3, 3);
  bn('visual.bn1', half);
  conv('visual.conv2', half, half, 3);
  bn('visual.bn2', half);
  conv('visual.conv3', cfg.width, half, 3);
  bn('visual.bn3', cfg.width);
  for (const blk of resnetBlocks(cfg)) {
    const wide = blk.planes * EXPANSION;
    conv(`${blk.name}.conv1`, blk.planes, blk.inplanes, 1);
    bn(`${blk.name}.bn1`, blk.planes);
    conv(`${blk.name}.conv2`, blk.planes, blk.planes, 3);
    bn(`${blk.name}.bn2`, blk.planes);
    conv(`${blk.name}.conv3`, wide, blk.planes, 1);
    bn(`${blk.name}.bn3`, wide);
    if (blk.downsample) {
      conv(`${blk.name}.downsample.0`, wide, blk.inplanes, 1);
      bn(`${blk.name}.downsample.1`, wide);
    }
  }
  const dim = resnetFeatureDim(cfg);
  const grid = cfg.imageSize / RESNET_REDUCTION;
  out.push({ name: 'visual.attnpool.positional_embedding', shape: [grid * grid + 1, dim] });
  for (const p of ['k_proj', 'q_proj', 'v_proj']) {
    out.push({ name: `visual.attnpool.${p}.weight`, shape: [dim, dim] }, { name: `visual.attnpool.${p}.bias`, shape: [dim] });
  }
  out.push({ name: 'visual.attnpool.c_proj.weight', shape: [cfg.outputDim, dim] }, { name: 'visual.attnpool.c_proj.bias', shape: [cfg.outputDim] });
  return out;
}

// ---------------------------------------------------------------------------------------------
// Layers

/** torch.nn.Conv2d without bias (every ModifiedResNet convolution), square kernel. */
function conv2d(b: GraphBuilder, x: Value, w: Weights, name: string, inC: number, outC: number, k: number, stride = 1): Value {
  const pad = (k - 1) / 2;
  return b.op1('Conv', [x, w(`${name}.weight`, [outC, inC, k, k])], {
    kernel_shape: A.ints([k, k]),
    strides: A.ints([stride, stride]),
    pads: A.ints([pad, pad, pad, pad]),
  });
}

/** nn.AvgPool2d(k): non-overlapping k×k windows (sizes here are always multiples of k). */
function avgPool(b: GraphBuilder, x: Value, k: number): Value {
  if (k === 1) return x;
  return b.op1('AveragePool', [x], { kernel_shape: A.ints([k, k]), strides: A.ints([k, k]) });
}

/** [C] → [1, C, 1, 1], to broadcast over NCHW. */
const perChannel = (v: Value, c: number): Value => v.reshape([1, c, 1, 1]);

/**
 * nn.BatchNorm2d. Inference: (x − running_mean)·γ/√(running_var + ε) + β. Training (a sink given):
 * the batch's mean and biased variance over N, H, W take the running ones' place, and the sink
 * receives the mean and the unbiased variance (n/(n−1) times it), which is what torch blends into
 * the running buffers.
 */
function batchNorm(b: GraphBuilder, x: Value, w: Weights, name: string, c: number, opts: VisionTowerOptions): Value {
  const gamma = perChannel(w(`${name}.weight`, [c]), c);
  const beta = perChannel(w(`${name}.bias`, [c]), c);
  if (!opts.batchStats) {
    const scale = gamma.div(perChannel(w(`${name}.running_var`, [c]), c).add(BN_EPS).sqrt());
    return x.sub(perChannel(w(`${name}.running_mean`, [c]), c)).mul(scale).add(beta);
  }
  const [n, , h, wd] = x.shape;
  if (typeof n !== 'number' || typeof h !== 'number' || typeof wd !== 'number') {
    throw new Error(`${name}: BatchNorm with batch statistics needs a static batch and size, got [${x.shape.join(',')}]`);
  }
  const count = n * h * wd;
  if (count < 2) throw new Error(`${name}: BatchNorm with batch statistics needs more than one value per channel, got [${x.shape.join(',')}]`);
  const mean = x.mean([0, 2, 3], true);
  const centred = x.sub(mean);
  const variance = centred.mul(centred).mean([0, 2, 3], true);
  const unbiased = variance.mul(b.scalar(count / (count - 1), x.dtype));
  opts.batchStats(name, mean.reshape([c]), unbiased.reshape([c]));
  return centred.div(variance.add(BN_EPS).sqrt()).mul(gamma).add(beta);
}

const act = (x: Value, opts: VisionTowerOptions): Value => (opts.activation ? opts.activation(x) : x.relu());

function convBnRelu(b: GraphBuilder, x: Value, w: Weights, conv: string, bn: string, inC: number, outC: number, k: number, opts: VisionTowerOptions, stride = 1): Value {
  return act(batchNorm(b, conv2d(b, x, w, conv, inC, outC, k, stride), w, bn, outC, opts), opts);
}

/** open_clip Bottleneck: 1×1 → 3×3 → (avgpool) → 1×1, plus the shortcut, then ReLU. */
function bottleneck(b: GraphBuilder, x: Value, w: Weights, blk: ResNetBlock, opts: VisionTowerOptions): Value {
  const { name, inplanes, planes, stride } = blk;
  const wide = planes * EXPANSION;
  let out = convBnRelu(b, x, w, `${name}.conv1`, `${name}.bn1`, inplanes, planes, 1, opts);
  out = convBnRelu(b, out, w, `${name}.conv2`, `${name}.bn2`, planes, planes, 3, opts);
  out = avgPool(b, out, stride);
  out = batchNorm(b, conv2d(b, out, w, `${name}.conv3`, planes, wide, 1), w, `${name}.bn3`, wide, opts);
  const identity = blk.downsample
    ? batchNorm(b, conv2d(b, avgPool(b, x, stride), w, `${name}.downsample.0`, inplanes, wide, 1), w, `${name}.downsample.1`, wide, opts)
    : x;
  return act(out.add(identity), opts);
}

/**
 * open_clip AttentionPool2d: the grid's positions become tokens, their mean is prepended, positions
 * are added, and multi-head attention runs with separate q/k/v projections. Only the first (mean)
 * token's output is kept, so only its query is computed: the same numbers, L times fewer products.
 */
function attentionPool(b: GraphBuilder, x: Value, w: Weights, cfg: ResNetConfig): Value {
  const dim = resnetFeatureDim(cfg);
  const grid = cfg.imageSize / RESNET_REDUCTION;
  const heads = cfg.heads;
  const headDim = dim / heads;
  const name = 'visual.attnpool';
  const flat = x.reshape([0, dim, grid * grid]).transpose([0, 2, 1]);
  let tokens = b.op1('Concat', [flat.mean([1], true), flat], { axis: A.int(1) });
  tokens = tokens.add(w(`${name}.positional_embedding`, [grid * grid + 1, dim]));
  const first = b.op1('Gather', [tokens, b.constant(Tensor.int64([1], [0]), 'attnpool_query_index')], { axis: A.int(1) });
  // [N, L, dim] → [N, heads, L, headDim]; k straight to [N, heads, headDim, L] for q·kᵀ.
  const split = (t: Value, perm: number[]): Value => t.reshape([0, 0, heads, headDim]).transpose(perm);
  const q = split(linear(first, w, `${name}.q_proj`, dim, dim), [0, 2, 1, 3]).mul(1 / Math.sqrt(headDim));
  const kt = split(linear(tokens, w, `${name}.k_proj`, dim, dim), [0, 2, 3, 1]);
  const v = split(linear(tokens, w, `${name}.v_proj`, dim, dim), [0, 2, 1, 3]);
  const ctx = q.matmul(kt).softmax(-1).matmul(v).reshape([0, dim]);
  return linear(ctx, w, `${name}.c_proj`, dim, cfg.outputDim);
}

// ---------------------------------------------------------------------------------------------
// Tower

/** open_clip ModifiedResNet: [N, 3, S, S] pixels (already normalised) → [N, outputDim]. */
export function resnetTower(b: GraphBuilder, pixels: Value, cfg: ResNetConfig, w: Weights, opts: VisionTowerOptions = {}): Value {
  // The config's activation (a clipag extension: open_clip's is always ReLU) unless a test overrides it.
  if (cfg.act === 'gelu' && !opts.activation) opts = { ...opts, activation: gelu };
  const bad = resnetShapeError(cfg);
  if (bad) throw new Error(`vision tower: ${bad}`);
  const half = cfg.width / 2;
  let x = convBnRelu(b, pixels, w, 'visual.conv1', 'visual.bn1', 3, half, 3, opts, 2);
  x = convBnRelu(b, x, w, 'visual.conv2', 'visual.bn2', half, half, 3, opts);
  x = convBnRelu(b, x, w, 'visual.conv3', 'visual.bn3', half, cfg.width, 3, opts);
  x = avgPool(b, x, 2);
  for (const blk of resnetBlocks(cfg)) x = bottleneck(b, x, w, blk, opts);
  return attentionPool(b, x, w, cfg);
}
