/**
 * CLIP's two towers as graph builders, in the shape of open_clip's `transformer.py` / `model.py`:
 * a residual block is LN → attention → add, LN → MLP → add; a tower is a few lines around a stack
 * of blocks. Parameters are asked for by their open_clip state-dict names, so the same builder runs
 * on random weights (benches, tests) and on real checkpoints.
 *
 * Layout is batch-first ([N, L, D]), as open_clip's `batch_first` transformer.
 */
import { gaussian, hashName, rng } from '../random.js';
import { A, type GraphBuilder, type Value } from '../onnx/builder.js';
import { Tensor, numel, type DType } from '../onnx/tensor.js';
import '../onnx/ops/index.js';
import { convTower } from './tower-conv.js';
import { resnetTower } from './tower-resnet.js';
import { gelu as geluOf, isConv, isResNet, linear, type Activation, type VisionTowerOptions, type VitConfig, type VisionConfig, type TextConfig, type Weights } from './tower-types.js';

export * from './tower-types.js';

/** open_clip `ViT-B-32` (exact GELU, as in the CLIPAG release). */
export const VIT_B_32: { vision: VitConfig; text: TextConfig } = {
  vision: { imageSize: 224, patchSize: 32, width: 768, layers: 12, heads: 12, outputDim: 512, act: 'gelu' },
  text: { contextLength: 77, vocabSize: 49408, width: 512, layers: 12, heads: 8, outputDim: 512, act: 'gelu' },
};


/** Where parameter data comes from (a checkpoint, a random generator), independent of any graph. */
export type TensorSource = (name: string, shape: number[]) => Tensor;

/** LayerNorm epsilon of torch.nn.LayerNorm, which open_clip uses throughout. */
const LN_EPS = 1e-5;

/**
 * Binds a tensor source to a graph: each parameter becomes one initializer named as in the state
 * dict (asked for twice, it is the same value), and its shape is checked against the config.
 * With `dtype`, parameters stored in another float type (a float16 pack) are cast to it inside the
 * graph, so the file's bytes can be used as they are.
 */
export function bindWeights(b: GraphBuilder, source: TensorSource, opts: { dtype?: DType } = {}): Weights {
  const bound = new Map<string, Value>();
  return (name, shape) => {
    const hit = bound.get(name);
    if (hit) return hit;
    if (b.has(name)) return b.value(name);
    const t = source(name, shape);
    if (t.dims.length !== shape.length || t.dims.some((d, k) => d !== shape[k])) {
      throw new Error(`tensor ${name} has shape [${t.dims.join(',')}], the config expects [${shape.join(',')}]`);
    }
    let v = b.initializer(name, t);
    if (opts.dtype && t.dtype !== opts.dtype) v = b.cast(v, opts.dtype);
    bound.set(name, v);
    return v;
  };
}

export interface RandomWeightOptions {
  seed?: number;
  /** Standard deviation of matrices, embeddings and biases (default 0.02, CLIP's usual init scale). */
  std?: number;
  dtype?: DType;
}

/**
 * Deterministic random parameters, a function of (seed, name) only, so the order in which a builder
 * asks for them does not matter. LayerNorm gains are 1 + noise (a gain near 0 would kill the
 * signal), logit_scale is CLIP's initial log(1/0.07), everything else is N(0, std²).
 */
export function randomTensors(opts: RandomWeightOptions = {}): TensorSource {
  const seed = opts.seed ?? 0;
  const std = opts.std ?? 0.02;
  const dtype = opts.dtype ?? 'float32';
  const cache = new Map<string, Tensor>();
  return (name, shape) => {
    const hit = cache.get(name);
    if (hit) return hit;
    const n = numel(shape);
    const data = dtype === 'float64' ? new Float64Array(n) : new Float32Array(n);
    if (name === 'logit_scale') {
      data.fill(Math.log(1 / 0.07));
    } else {
      const r = rng(seed ^ hashName(name));
      const isGain = /(^|\.)ln_[^.]*\.weight$/.test(name) || isBatchNormGain(name);
      // A variance must stay positive; 1 + |noise| keeps it near torch's initial 1.
      const isVar = name.endsWith('.running_var');
      for (let i = 0; i < n; i++) data[i] = isVar ? 1 + Math.abs(std * gaussian(r)) : (isGain ? 1 : 0) + std * gaussian(r);
    }
    const t = new Tensor(dtype, shape, data);
    cache.set(name, t);
    return t;
  };
}

/** A ResNet BatchNorm's weight (γ): stem and block `bnK`, and the shortcut's `downsample.1`. */
export const isBatchNormGain = (name: string): boolean => /(^|\.)(bn\d+|downsample\.1)\.weight$/.test(name);

/** Random weights bound to a graph (see randomTensors). */
export function randomWeights(b: GraphBuilder, opts: RandomWeightOptions = {}): Weights {
  return bindWeights(b, randomTensors(opts));
}

// ---------------------------------------------------------------------------------------------
// Layers


/**
 * LayerNormalization (opset 17) over the last axis. Its Mean and InvStdDev outputs are requested
 * although the forward pass ignores them: the gradient rule reuses them instead of recomputing
 * the statistics (float32; a float64 graph gets float32 stashes, which the rule recomputes).
 */
export function layerNorm(b: GraphBuilder, x: Value, w: Weights, name: string, width: number): Value {
  const [y] = b.op('LayerNormalization', [x, w(`${name}.weight`, [width]), w(`${name}.bias`, [width])], {
    axis: A.int(-1),
    epsilon: A.float(LN_EPS),
  }, { outputs: 3 });
  return y!;
}

/** Exact GELU (tower-types.ts), kept under its old signature for the ViT and text towers. */
export function gelu(_b: GraphBuilder, x: Value): Value {
  return geluOf(x);
}

/** OpenAI CLIP's QuickGELU, x·σ(1.702x). */
export function quickGelu(x: Value): Value {
  // ORT's QuickGeluFusion rewrites x·Sigmoid(x·α) into com.microsoft.QuickGelu, which has only a
  // float32 kernel, and then fails to load float64 graphs; x/(1/α) computes the same without
  // matching the pattern. float32 keeps the fusable form.
  const scaled = x.dtype === 'float64' ? x.div(1 / 1.702) : x.mul(1.702);
  return x.mul(scaled.sigmoid());
}

export function activation(b: GraphBuilder, x: Value, act: Activation): Value {
  return act === 'gelu' ? gelu(b, x) : quickGelu(x);
}

/**
 * torch.nn.MultiheadAttention (as open_clip calls it): one packed in-projection for q, k, v
 * (rows [0,w) are q, [w,2w) k, [2w,3w) v), scaled dot products per head, softmax over keys,
 * then the out-projection. `mask` is additive, broadcast over [N, heads, Lq, Lk].
 */
export function multiHeadAttention(b: GraphBuilder, x: Value, w: Weights, name: string, width: number, heads: number, mask?: Value): Value {
  if (width % heads !== 0) throw new Error(`${name}: width ${width} is not divisible by ${heads} heads`);
  const headDim = width / heads;
  const inProj = w(`${name}.in_proj_weight`, [3 * width, width]);
  const qkv = x.matmul(inProj.transpose([1, 0])).add(w(`${name}.in_proj_bias`, [3 * width]));
  const [q, k, v] = b.op('Split', [qkv, b.constInt64([width, width, width])], { axis: A.int(-1) }, { outputs: 3 });
  // [N, L, w] → [N, heads, L, headDim]; k goes straight to [N, heads, headDim, L] for q·kᵀ.
  // Reshape's 0 copies a dim, so N and L may be dynamic.
  const split = (t: Value, perm: number[]) => t.reshape([0, 0, heads, headDim]).transpose(perm);
  const qh = split(q!, [0, 2, 1, 3]).mul(1 / Math.sqrt(headDim));
  const kt = split(k!, [0, 2, 3, 1]);
  const vh = split(v!, [0, 2, 1, 3]);
  let scores = qh.matmul(kt);
  if (mask) scores = scores.add(mask);
  const ctx = scores.softmax(-1).matmul(vh).transpose([0, 2, 1, 3]).reshape([0, 0, width]);
  return linear(ctx, w, `${name}.out_proj`, width, width);
}

/** open_clip's MLP: c_fc (width → 4·width), activation, c_proj back. */
export function mlp(b: GraphBuilder, x: Value, w: Weights, name: string, width: number, act: Activation): Value {
  const hidden = 4 * width;
  return linear(activation(b, linear(x, w, `${name}.c_fc`, width, hidden), act), w, `${name}.c_proj`, hidden, width);
}

export interface BlockConfig {
  width: number;
  heads: number;
  act: Activation;
}

/** open_clip ResidualAttentionBlock: x + attn(ln_1(x)), then x + mlp(ln_2(x)). */
export function residualBlock(b: GraphBuilder, x: Value, w: Weights, name: string, cfg: BlockConfig, mask?: Value): Value {
  const attn = multiHeadAttention(b, layerNorm(b, x, w, `${name}.ln_1`, cfg.width), w, `${name}.attn`, cfg.width, cfg.heads, mask);
  const h = x.add(attn);
  return h.add(mlp(b, layerNorm(b, h, w, `${name}.ln_2`, cfg.width), w, `${name}.mlp`, cfg.width, cfg.act));
}

/** A stack of residual blocks named `<name>.resblocks.<i>`. */
export function transformer(b: GraphBuilder, x: Value, w: Weights, name: string, cfg: BlockConfig & { layers: number }, mask?: Value): Value {
  let h = x;
  for (let i = 0; i < cfg.layers; i++) h = residualBlock(b, h, w, `${name}.resblocks.${i}`, cfg, mask);
  return h;
}

// ---------------------------------------------------------------------------------------------
// Towers


/** The image tower of any kind: [N, 3, S, S] pixels (already normalised) → [N, outputDim]. */
export function visionTower(b: GraphBuilder, pixels: Value, cfg: VisionConfig, w: Weights, opts: VisionTowerOptions = {}): Value {
  checkPixels(pixels, cfg.imageSize);
  if (isResNet(cfg)) return resnetTower(b, pixels, cfg, w, opts);
  return isConv(cfg) ? convTower(b, pixels, cfg, w) : vitTower(b, pixels, cfg, w);
}

export function checkPixels(pixels: Value, size: number): void {
  const ps = pixels.shape;
  if (ps.length !== 4 || ps[1] !== 3 || ps[2] !== size || ps[3] !== size) {
    throw new Error(`vision tower: pixels ${pixels.name} should be [N,3,${size},${size}], got [${ps.join(',')}]`);
  }
}

/** open_clip VisionTransformer. */
function vitTower(b: GraphBuilder, pixels: Value, cfg: VitConfig, w: Weights): Value {
  const { imageSize: size, patchSize: patch, width } = cfg;
  if (size % patch !== 0) throw new Error(`image size ${size} is not a multiple of the patch size ${patch}`);
  const grid = size / patch;
  const tokens = grid * grid + 1;

  const conv = b.op1('Conv', [pixels, w('visual.conv1.weight', [width, 3, patch, patch])], {
    kernel_shape: A.ints([patch, patch]),
    strides: A.ints([patch, patch]),
  });
  const patches = conv.reshape([0, width, grid * grid]).transpose([0, 2, 1]);
  const cls = b.op1('Expand', [w('visual.class_embedding', [width]).reshape([1, 1, width]), batchShape(b, pixels, [1, width])]);
  let x = b.op1('Concat', [cls, patches], { axis: A.int(1) });
  x = x.add(w('visual.positional_embedding', [tokens, width]));
  x = layerNorm(b, x, w, 'visual.ln_pre', width);
  x = transformer(b, x, w, 'visual.transformer', cfg);
  const pooled = classToken(b, x);
  return layerNorm(b, pooled, w, 'visual.ln_post', width).matmul(w('visual.proj', [width, cfg.outputDim]));
}

/** [N, ...rest] as an int64 shape, N taken from x at run time when it is not static. */
export function batchShape(b: GraphBuilder, x: Value, rest: number[]): Value {
  const n = x.shape[0];
  if (typeof n === 'number') return b.constInt64([n, ...rest]);
  const batch = b.op1('Shape', [x], { start: A.int(0), end: A.int(1) });
  return b.op1('Concat', [batch, b.constInt64(rest)], { axis: A.int(0) });
}

/** x[:, 0, :], the class token. */
function classToken(b: GraphBuilder, x: Value): Value {
  return b.op1('Gather', [x, b.constant(Tensor.int64([], [0]), 'cls_index')], { axis: A.int(1) });
}

/** Additive causal mask [L, L]: 0 on and below the diagonal, a large negative number above. */
export function causalMask(b: GraphBuilder, len: number, dtype: DType): Value {
  // Finite rather than -inf: exp underflows to exactly 0 either way, and a finite value cannot turn
  // into NaN (0·inf, inf−inf) in any gradient expression that touches the scores.
  const NEG = -1e9;
  const m = new Array<number>(len * len);
  for (let i = 0; i < len; i++) for (let j = 0; j < len; j++) m[i * len + j] = j > i ? NEG : 0;
  return b.constant(Tensor.floats(dtype, [len, len], m), 'causal_mask');
}

/** Token embeddings plus positions: int64 ids [N, ctx] → [N, ctx, width]. */
export function textEmbed(b: GraphBuilder, ids: Value, cfg: TextConfig, w: Weights): Value {
  const is = ids.shape;
  if (is.length !== 2 || is[1] !== cfg.contextLength) {
    throw new Error(`text tower: ids ${ids.name} should be [N,${cfg.contextLength}], got [${is.join(',')}]`);
  }
  if (ids.dtype !== 'int64') throw new Error(`text tower: ids ${ids.name} should be int64, got ${ids.dtype}`);
  return b.op1('Gather', [w('token_embedding.weight', [cfg.vocabSize, cfg.width]), ids], { axis: A.int(0) });
}

/**
 * The text transformer after the token lookup: `embedded` [N, ctx, width] (so gradients can be taken
 * with respect to it), `ids` for pooling at the end-of-text token, which has the largest id in
 * CLIP's vocabulary, so its position is argmax(ids).
 */
export function textEncode(b: GraphBuilder, embedded: Value, ids: Value, cfg: TextConfig, w: Weights): Value {
  const { width, contextLength: len } = cfg;
  let x = embedded.add(w('positional_embedding', [len, width]));
  x = transformer(b, x, w, 'transformer', cfg, causalMask(b, len, x.dtype));
  x = layerNorm(b, x, w, 'ln_final', width);
  return eotToken(b, x, ids, width).matmul(w('text_projection', [width, cfg.outputDim]));
}

/** x[n, argmax(ids[n]), :] as GatherElements along the sequence axis. */
function eotToken(b: GraphBuilder, x: Value, ids: Value, width: number): Value {
  const eot = b.op1('ArgMax', [ids], { axis: A.int(-1), keepdims: A.int(1) });
  const index = b.op1('Expand', [b.unsqueeze(eot, [2]), b.constInt64([1, 1, width])]);
  return b.squeeze(b.op1('GatherElements', [x, index], { axis: A.int(1) }), [1]);
}

/** open_clip TextTransformer: int64 ids [N, ctx] → [N, outputDim]. */
export function textTower(b: GraphBuilder, ids: Value, cfg: TextConfig, w: Weights): Value {
  return textEncode(b, textEmbed(b, ids, cfg, w), ids, cfg, w);
}
