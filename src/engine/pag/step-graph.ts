/**
 * One PAG synthesis step as a single ONNX graph: the canvas, this step's random views (given as
 * tensors: interpolation matrices, colour factors, cutout masks, noise), the vision tower on every
 * view, cosine losses against the target text embeddings, and d(loss)/d(canvas) from our autodiff.
 * The recipe's randomness lives in TypeScript (views.ts), so the graph is fixed per
 * (model, canvas size, view counts, target count, pictures) and is compiled once.
 *
 * A grid optimises several pictures in one run: every per-view input holds picture 0's views, then
 * picture 1's…, each picture's own views reading only its own canvas, so each picture's loss and
 * gradient are what a run of that picture alone gives.
 *
 * Per view v (globals first, then patches), following the CLIPAG notebook's order:
 *   global: a = x + noise_global[v]  (resized to the model's input by global_rows/cols when the canvas is larger)
 *   patch:  a = clamp(patch_rows[v] · (x + noise_patch) · patch_cols[v], 0, 1)   (random crop, resized)
 *   DiffAugment colour: brightness, saturation, contrast; then translation ∘ resize as aug_rows/aug_cols;
 *   cutout as keep; CLIP mean/std; encode; cos(v, t) with L2-normalised embeddings;
 *   loss = Σ_v Σ_t weights[v,t]·(1 − cos(v,t)).
 */
import { gradients } from '../onnx/autodiff.js';
import { A, GraphBuilder, type Value } from '../onnx/builder.js';
import type { Model } from '../onnx/ir.js';
import { Tensor } from '../onnx/tensor.js';
import type { ClipConfig } from '../clip/config.js';
import { bindWeights, visionTower, type TensorSource } from '../clip/towers.js';

export interface StepShape {
  /** Canvas side in pixels (≥ the model's input size). */
  canvas: number;
  global: number;
  patch: number;
  /** Number of target embeddings (a prompt, plus a negative prompt…). */
  targets: number;
  /** Pictures optimised together (a grid); 1 when left out. global/patch are per picture. */
  pictures?: number;
}

/** loss: [pictures], each picture's Σ weights·(1 − cos); cos: [pictures·views, targets]; grad: d(Σ loss)/d(image). */
export const STEP_OUTPUTS = { loss: 'loss', cos: 'cos', grad: 'grad_image' } as const;

/** The graph-cache name of a step graph: everything that changes its structure. */
export function stepGraphKind(s: StepShape): string {
  const n = s.pictures ?? 1;
  return `step-c${s.canvas}-g${s.global}-p${s.patch}-t${s.targets}${n > 1 ? `-n${n}` : ''}`;
}

/** R · X · C for a batch of per-view matrices R [V,S,H], C [V,W,S] applied to every channel of X. */
function sandwich(rows: Value, x: Value, cols: Value): Value {
  return rows.reshape([0, 1, rows.shape[1] as number, rows.shape[2] as number])
    .matmul(x)
    .matmul(cols.reshape([0, 1, cols.shape[1] as number, cols.shape[2] as number]));
}

export function buildStepModel(cfg: ClipConfig, shape: StepShape, source: TensorSource): Model {
  const S = cfg.vision.imageSize;
  const H = shape.canvas;
  const { global: G, patch: P, targets: T } = shape;
  const N = shape.pictures ?? 1;
  const V = G + P;
  if (H < S) throw new Error(`canvas ${H} px is smaller than the model's input (${S} px)`);
  if (V < 1) throw new Error('a step needs at least one view');
  if (T < 1) throw new Error('a step needs at least one target embedding');
  if (!Number.isInteger(N) || N < 1) throw new Error(`a step needs a whole number of pictures, got ${N}`);

  const b = new GraphBuilder(17, 'pag_step');
  const image = b.input('image', 'float32', [N, 3, H, H]);
  // Each picture's canvas beside its views: [N, 1, 3, H, H] broadcasts over a picture's views.
  const perPicture = image.reshape([N, 1, 3, H, H]);
  const parts: Value[] = [];
  if (G > 0) {
    let g = perPicture.add(b.input('noise_global', 'float32', [N * G, 3, H, H]).reshape([N, G, 3, H, H]));
    if (H !== S) {
      g = sandwich(b.input('global_rows', 'float32', [N * G, S, H]), g.reshape([N * G, 3, H, H]), b.input('global_cols', 'float32', [N * G, H, S]))
        .reshape([N, G, 3, S, S]);
    }
    parts.push(g);
  }
  if (P > 0) {
    const noisy = image.add(b.input('noise_patch', 'float32', [N, 3, H, H])).reshape([N, 1, 3, H, H]);
    const rows = b.input('patch_rows', 'float32', [N * P, S, H]).reshape([N, P, 1, S, H]);
    const cols = b.input('patch_cols', 'float32', [N * P, H, S]).reshape([N, P, 1, H, S]);
    parts.push(b.op1('Clip', [rows.matmul(noisy).matmul(cols), b.scalar(0, 'float32'), b.scalar(1, 'float32')]));
  }
  // Every picture's views [N, V, …] as one batch [N·V, …] for the tower.
  let a = (parts.length === 1 ? parts[0]! : b.op1('Concat', parts, { axis: A.int(1) })).reshape([N * V, 3, S, S]);

  const perView = (name: string): Value => b.input(name, 'float32', [N * V, 1, 1, 1]);
  a = a.add(perView('brightness'));
  const pixelMean = b.reduce('ReduceMean', a, [1], true);
  a = a.sub(pixelMean).mul(perView('saturation')).add(pixelMean);
  const viewMean = b.reduce('ReduceMean', a, [1, 2, 3], true);
  a = a.sub(viewMean).mul(perView('contrast')).add(viewMean);
  a = sandwich(b.input('aug_rows', 'float32', [N * V, S, S]), a, b.input('aug_cols', 'float32', [N * V, S, S]));
  a = a.mul(b.input('keep', 'float32', [N * V, 1, S, S]));

  const mean = b.constant(Tensor.float32([1, 3, 1, 1], cfg.mean), 'clip_mean');
  const std = b.constant(Tensor.float32([1, 3, 1, 1], cfg.std), 'clip_std');
  const pixels = a.sub(mean).div(std);

  const emb = visionTower(b, pixels, cfg.vision, bindWeights(b, source, { dtype: 'float32' }));
  const norm = b.reduce('ReduceSumSquare', emb, [1], true).sqrt();
  const unit = emb.div(norm);
  const target = b.input('target', 'float32', [T, cfg.embedDim]);
  const cos = unit.matmul(target.transpose([1, 0]));
  const weights = b.input('weights', 'float32', [N * V, T]);
  // One loss per picture; their sum's gradient is each picture's own in its slice of the canvas batch.
  const losses = b.reduce('ReduceSum', weights.mul(b.scalar(1, 'float32').sub(cos)).reshape([N, V * T]), [1], false);
  const loss = b.reduce('ReduceSum', losses, [0], false);

  const [grad] = gradients(b, loss, [image]);
  b.output(losses, STEP_OUTPUTS.loss);
  b.output(cos, STEP_OUTPUTS.cos);
  b.output(grad!, STEP_OUTPUTS.grad);
  return b.toModel();
}
