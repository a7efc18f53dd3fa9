/**
 * The smallest CLIP the training tests build: every tower part present (patches, class token,
 * attention, MLP, causal text, projections) at sizes that compile and run in milliseconds.
 */
import { OPENAI_MEAN, OPENAI_STD, type ClipConfig } from '../clip/config.js';
import { expectedTensors } from '../clip/layout.js';
import { isBatchNormGain } from '../clip/towers.js';
import { gaussian, rng } from '../random.js';
import type { Params } from './params.js';

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
