/**
 * The smallest CLIP the training tests build: every tower part present (patches, class token,
 * attention, MLP, causal text, projections) at sizes that compile and run in milliseconds.
 */
import { OPENAI_MEAN, OPENAI_STD, type ClipConfig } from '../clip/config.js';
import { expectedTensors } from '../clip/layout.js';
import { isBatchNormGain } from '../clip/towers.js';
import { gaussian, rng } from '../random.js';
import { Tensor } from '../onnx/tensor.js';
import { ALIGN_INPUTS } from './align-term.js';
import { TRAIN_INPUTS } from './contrastive-graph.js';
import { paramTensors, type Params } from './params.js';

export const TINY_SIZE = 16;

export const TINY_CONFIG: ClipConfig = {
  arch: 'custom',
  embedDim: 8,
  vision: { imageSize: TINY_SIZE, patchSize: 8, width: 16, layers: 1, heads: 2, outputDim: 8, act: 'gelu' },
  text: { contextLength: 6, vocabSize: 12, width: 16, layers: 1, heads: 2, outputDim: 8, act: 'gelu' },
  mean: [...OPENAI_MEAN],
  std: [...OPENAI_STD],
};

/**
 * Parameters far from open_clip's tiny init (which makes every embedding nearly the same and the
 * loss nearly flat), so that gradient checks see large, distinct gradients everywhere.
 */
export function farParams(cfg: ClipConfig, seed: number, logitScale = 2): Params {
  const r = rng(seed);
  const out: Params = new Map();
  for (const t of expectedTensors(cfg)) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    const gain = /(^|\.)ln_[^.]*\.weight$/.test(t.name) || isBatchNormGain(t.name);
    const std = t.name === 'visual.conv1.weight' ? 0.05 : t.name.endsWith('bias') ? 0.1 : 0.25;
    // A running variance must stay positive; the other buffers and parameters may take any sign.
    if (t.name.endsWith('.running_var')) for (let i = 0; i < n; i++) data[i] = 1 + 0.2 * Math.abs(gaussian(r));
    else for (let i = 0; i < n; i++) data[i] = (gain ? 1 : 0) + (gain ? 0.1 : std) * gaussian(r);
    out.set(t.name, data);
  }
  out.set('logit_scale', Float32Array.of(logitScale));
  return out;
}

/** The smallest ModifiedResNet the trainer builds (with the demo model's GELU): 32 px, a 1×1 attention grid. */
export const TINY_RESNET_CONFIG: ClipConfig = {
  ...TINY_CONFIG,
  vision: { kind: 'resnet', imageSize: 32, width: 4, layers: [1, 1, 1, 1], heads: 2, outputDim: 8, act: 'gelu' },
};

/** Σ aᵢbᵢ in float64, for the tests' independent references. */
export const dot = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
};

/** The cosine of two vectors in float64. */
export const cosOf = (a: ArrayLike<number>, b: ArrayLike<number>): number => dot(a, b) / Math.sqrt(dot(a, a) * dot(b, b));

/** What a training graph with the alignment term is fed: the contrastive batch, then the items. */
export interface AlignFeedData {
  pixels: Float32Array;
  ids: readonly number[];
  x: Float32Array;
  alignIds: readonly number[];
  direction: Float32Array;
}

/** The feeds of that graph for a config's tiny batch (batch and items counted from the arrays). */
export function alignGraphFeeds(cfg: ClipConfig, params: Params, d: AlignFeedData): Record<string, Tensor> {
  const S = cfg.vision.imageSize;
  const ctx = cfg.text.contextLength;
  const picture = (data: Float32Array): Tensor => new Tensor('float32', [data.length / (3 * S * S), 3, S, S], data);
  return {
    ...paramTensors(cfg, params),
    [TRAIN_INPUTS.pixels]: picture(d.pixels),
    [TRAIN_INPUTS.ids]: Tensor.int64([d.ids.length / ctx, ctx], [...d.ids]),
    [ALIGN_INPUTS.pixels]: picture(d.x),
    [ALIGN_INPUTS.ids]: Tensor.int64([d.alignIds.length / ctx, ctx], [...d.alignIds]),
    [ALIGN_INPUTS.direction]: picture(d.direction),
  };
}

/** Two captions for the contrastive batch and two for alignment items, in TINY_CONFIG's vocabulary (10 start, 11 end). */
export const TINY_BATCH_IDS = [10, 1, 2, 11, 0, 0, 10, 3, 4, 5, 11, 0];
export const TINY_ALIGN_IDS = [10, 6, 11, 0, 0, 0, 10, 2, 4, 11, 0, 0];
