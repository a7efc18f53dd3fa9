/**
 * Whole-tower ONNX models with the interfaces the rest of the engine feeds: `ids` → `embedding` for
 * text, `pixels` (normalised, NCHW) → `embedding` for images, the batch dimension left dynamic.
 * Built with the foundation's builder, so the autodiff can differentiate them.
 */
import { GraphBuilder } from '../onnx/builder.js';
import type { Model } from '../onnx/ir.js';
import { bindWeights, textTower, visionTower, type TensorSource } from './towers.js';
import type { ClipConfig } from './config.js';

export const TEXT_INPUT = 'ids';
export const IMAGE_INPUT = 'pixels';
export const EMBEDDING = 'embedding';
const BATCH = 'batch';

/** Parameters are float32 inside the graph; a float16 pack's tensors are cast on the way in. */
const COMPUTE = 'float32';

export function textModel(cfg: ClipConfig, source: TensorSource): Model {
  const b = new GraphBuilder(17, 'clip_text');
  const ids = b.input(TEXT_INPUT, 'int64', [BATCH, cfg.text.contextLength]);
  b.output(textTower(b, ids, cfg.text, bindWeights(b, source, { dtype: COMPUTE })), EMBEDDING);
  return b.toModel();
}

export function visionModel(cfg: ClipConfig, source: TensorSource): Model {
  const s = cfg.vision.imageSize;
  const b = new GraphBuilder(17, 'clip_vision');
  const pixels = b.input(IMAGE_INPUT, COMPUTE, [BATCH, 3, s, s]);
  b.output(visionTower(b, pixels, cfg.vision, bindWeights(b, source, { dtype: COMPUTE })), EMBEDDING);
  return b.toModel();
}

/** Which state-dict names a tower reads (vision: `visual.*`; text: the rest but logit_scale). */
export function towerOf(name: string): 'vision' | 'text' | 'none' {
  if (name === 'logit_scale') return 'none';
  return name.startsWith('visual.') ? 'vision' : 'text';
}
