/**
 * The smallest CLIP the training tests build: every tower part present (patches, class token,
 * attention, MLP, causal text, projections) at sizes that compile and run in milliseconds.
 */
import { OPENAI_MEAN, OPENAI_STD, type ClipConfig } from '../clip/config.js';

export const TINY_SIZE = 16;

export const TINY_CONFIG: ClipConfig = {
  arch: 'custom',
  embedDim: 8,
  vision: { imageSize: TINY_SIZE, patchSize: 8, width: 16, layers: 1, heads: 2, outputDim: 8, act: 'gelu' },
  text: { contextLength: 6, vocabSize: 12, width: 16, layers: 1, heads: 2, outputDim: 8, act: 'gelu' },
  mean: [...OPENAI_MEAN],
  std: [...OPENAI_STD],
};
