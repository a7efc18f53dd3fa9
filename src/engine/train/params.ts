/**
 * A CLIP's trainable parameters as named Float32Arrays, initialised with the scales of open_clip's
 * TextTransformer `init_parameters` for both towers (open_clip leaves its VisionTransformer's own,
 * equivalent recipe commented out and uses PyTorch's defaults there). A ResNet image tower gets
 * ModifiedResNet.init_parameters' attention-pool scales, He-normal convolutions, BatchNorm γ = 1,
 * β = 0 (γ = 0 on each block's last BN, as open_clip) and running statistics 0 and 1, which are
 * buffers (TensorInfo.buffer): in the map like parameters, but never decayed or stepped. The conv
 * tower gets torch's defaults, as the probe it comes from: kaiming-uniform weights (biases 0 here),
 * GroupNorm γ = 1, β = 0.
 */
import { join } from 'node:path';
import { expectedTensors } from '../clip/layout.js';
import { openSafetensors } from '../clip/safetensors.js';
import type { ClipConfig } from '../clip/config.js';
import { Tensor } from '../onnx/tensor.js';
import { isBatchNormGain, isConv, isResNet, isVit } from '../clip/towers.js';
import { isGroupNormParam } from '../clip/tower-conv.js';
import { resnetFeatureDim } from '../clip/tower-resnet.js';
import { gaussian, rng } from '../random.js';

export type Params = Map<string, Float32Array>;

/**
 * Weight decay applies to matrices only: not gains, biases or the temperature (open_clip's rule),
 * and, our choice for a model this small, not the token and position embeddings either.
 */
export function decays(name: string, shape: readonly number[]): boolean {
  if (shape.length < 2 || isBuffer(name)) return false;
  return !/(embedding|class_embedding)/.test(name);
}

/** BatchNorm running statistics (and their counter), which the trainer updates outside the optimiser. */
export const isBuffer = (name: string): boolean => /\.(running_mean|running_var|num_batches_tracked)$/.test(name);

const fanIn = (shape: readonly number[]): number => shape.slice(1).reduce((a, b) => a * b, 1);

function resnetStd(name: string, shape: readonly number[], cfg: ClipConfig): number | null {
  if (!isResNet(cfg.vision) || !name.startsWith('visual.')) return null;
  // ModifiedResNet.init_parameters: positions N(0, 1/dim) at construction, q/k/v/c_proj std dim^-½.
  if (name.startsWith('visual.attnpool.')) return resnetFeatureDim(cfg.vision) ** -0.5;
  // He (kaiming-normal, fan-in) for convolutions followed by BN and ReLU.
  if (shape.length === 4) return Math.sqrt(2 / fanIn(shape));
  return null;
}

function stdFor(name: string, shape: readonly number[], cfg: ClipConfig): number {
  const resnet = resnetStd(name, shape, cfg);
  if (resnet !== null) return resnet;
  const v = cfg.vision;
  // The conv tower's convolutions and read-out: torch's default (kaiming-uniform, bound 1/√fan_in), as the probe.
  if (isConv(v) && name.startsWith('visual.')) return 1 / Math.sqrt(3 * fanIn(shape));
  const visual = name.startsWith('visual.') && isVit(v);
  const width = visual ? v.width : cfg.text.width;
  const layers = visual ? v.layers : cfg.text.layers;
  const attnStd = width ** -0.5;
  const projStd = width ** -0.5 * (2 * layers) ** -0.5;
  const fcStd = (2 * width) ** -0.5;
  if (name === 'token_embedding.weight') return 0.02;
  if (name === 'positional_embedding') return 0.01;
  if (name === 'visual.class_embedding' || name === 'visual.positional_embedding' || name === 'visual.proj') return attnStd;
  if (name === 'text_projection') return attnStd;
  if (name.endsWith('attn.in_proj_weight')) return attnStd;
  if (name.endsWith('attn.out_proj.weight')) return projStd;
  if (name.endsWith('mlp.c_fc.weight')) return fcStd;
  if (name.endsWith('mlp.c_proj.weight')) return projStd;
  // conv1: torch's default kaiming-uniform bound 1/sqrt(fan_in) has this standard deviation.
  if (name === 'visual.conv1.weight') return 1 / Math.sqrt(3 * fanIn(shape));
  throw new Error(`no initialisation rule for ${name}`);
}

export function initParams(cfg: ClipConfig, seed: number): Params {
  const r = rng(seed);
  const out: Params = new Map();
  for (const t of expectedTensors(cfg)) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    if (t.name === 'logit_scale') data[0] = Math.log(1 / 0.07);
    else if (/\.ln_[^.]*\.weight$|^ln_final\.weight$/.test(t.name)) data.fill(1);
    else if (isConv(cfg.vision) && isGroupNormParam(cfg.vision, t.name)) data.fill(t.name.endsWith('.weight') ? 1 : 0);
    else if (isBatchNormGain(t.name)) data.fill(/^visual\.layer\d+\.\d+\.bn3\.weight$/.test(t.name) ? 0 : 1);
    else if (t.name.endsWith('.running_var')) data.fill(1);
    else if (t.name.endsWith('.running_mean')) data.fill(0);
    else if (!t.name.endsWith('bias')) {
      const std = stdFor(t.name, t.shape, cfg);
      for (let i = 0; i < n; i++) data[i] = std * gaussian(r);
    }
    out.set(t.name, data);
  }
  return out;
}

export function paramTensors(cfg: ClipConfig, params: Params): Record<string, Tensor> {
  const feeds: Record<string, Tensor> = {};
  for (const t of expectedTensors(cfg)) {
    const data = params.get(t.name);
    if (!data) throw new Error(`parameters: no value for ${t.name}; a checkpoint of another architecture?`);
    feeds[t.name] = new Tensor('float32', [...t.shape], data);
  }
  return feeds;
}

export const paramCount = (params: Params): number => [...params.values()].reduce((a, p) => a + p.length, 0);

/** A pack's weights as training parameters (its state dict uses the same names), checked against the architecture. */
export async function packParams(dir: string, cfg: ClipConfig): Promise<Params> {
  const f = await openSafetensors(join(dir, 'weights.safetensors'));
  try {
    const params: Params = new Map();
    for (const t of expectedTensors(cfg)) {
      const data = Float32Array.from((await f.read(t.name)).data as Float32Array);
      const want = t.shape.reduce((a, b) => a * b, 1);
      if (data.length !== want) throw new Error(`${dir}: ${t.name} has ${data.length} values, this architecture needs ${want} (another --tower or --patch-size?)`);
      params.set(t.name, data);
    }
    return params;
  } finally {
    await f.close();
  }
}
