/**
 * The training graph of a CLIP: both towers with every parameter as a graph INPUT (so one compiled
 * session serves all steps while the weights change in TypeScript), CLIP's symmetric contrastive
 * loss with a learned temperature, and gradients from our autodiff, either with respect to the
 * parameters (a training step) or to the pixels (a PGD attack step for adversarial finetuning).
 */
import { expectedTensors } from '../clip/layout.js';
import type { ClipConfig } from '../clip/config.js';
import { isResNet, textTower, visionTower, type Weights } from '../clip/towers.js';
import { isBuffer } from './params.js';
import { gradients } from '../onnx/autodiff.js';
import { alignTerm } from './align-term.js';
import { GraphBuilder, type Value } from '../onnx/builder.js';
import { sliceOp } from '../onnx/ops/slice.js';
import type { Model } from '../onnx/ir.js';
import { Tensor } from '../onnx/tensor.js';

export const TRAIN_INPUTS = { pixels: 'pixels', ids: 'ids' } as const;
export const TRAIN_OUTPUTS = { loss: 'loss', contrastive: 'contrastive_loss', logits: 'logits', extraLogits: 'extra_logits', pixelGrad: 'grad_pixels' } as const;
/** The gradient output of parameter `name`. */
export const paramGradName = (name: string): string => `grad.${name}`;
/** A BatchNorm's batch mean and unbiased variance (training-mode ResNet), by its state-dict prefix. */
export const batchMeanName = (bn: string): string => `batch_mean.${bn}`;
export const batchVarName = (bn: string): string => `batch_var.${bn}`;

/** CLIP clamps the learned log-temperature at ln(100) (a logit scale of at most 100). */
export const MAX_LOGIT_SCALE = Math.log(100);

export interface TrainGraphOptions {
  batch: number;
  /** 'params': d(loss)/d(every parameter); 'pixels': d(loss)/d(pixels) only (adversarial attack). */
  wrt: 'params' | 'pixels';
  /**
   * Pictures after the batch's B that match no caption (default 0): every caption must score its
   * own picture above all of them too (they join the text-to-image softmax only). Adversarial
   * finetuning puts here the pictures an attack found the model scores *higher* than the clean
   * ones, so that it learns to rank them below.
   */
  extraImages?: number;
  /**
   * Items of the gradient-alignment term (align-term.ts; default 0: none). With A > 0 the graph
   * takes `align_pixels`, `align_ids` and `align_direction` and its loss is the contrastive loss
   * plus `alignWeight` × the term.
   */
  align?: number;
  alignWeight?: number;
  /** The term's cosine weighted per pixel by the input `align_weight` (√w) (align-term.ts). */
  alignWeighted?: boolean;
  /** Items come in pairs sharing a picture, and the term adds the pairs' difference cosine (align-term.ts). */
  alignPaired?: boolean;
  /**
   * Weight of the alignment term's truth ranking (align-term.ts: each item's true picture above its
   * own picture for its caption, at the model's temperature); 0 or absent: off.
   */
  alignTruthWeight?: number;
  /**
   * With wrt 'pixels', what `pixel_grad` differentiates: 'contrastive' (default) the loss, as attacks
   * climb it; 'cosine' −Σᵢ cos(image i, caption i), each picture against its own caption alone, as
   * synthesis climbs it (synthesis chains, train/synthesis-chains.ts).
   */
  pixelObjective?: 'contrastive' | 'cosine';
}

/**
 * Inputs: `pixels` [B+E,3,S,S] in [0,1] (normalised inside, so attacks work in pixel space), `ids`
 * [B,ctx] int64, and one input per parameter named as in the state dict. Pair i (image i, caption
 * i) is the positive; every other caption in the batch is a negative, both ways, and the E extra
 * pictures are negatives of every caption. `logits` is the [B,B] block of the batch's own pairs,
 * `extra_logits` (only when E > 0) the extra pictures' [E,B] block.
 */
export function buildTrainModel(cfg: ClipConfig, opts: TrainGraphOptions): Model {
  const B = opts.batch;
  const E = opts.extraImages ?? 0;
  if (!Number.isInteger(B) || B < 2) throw new RangeError(`contrastive training needs a batch of at least 2, got ${B}`);
  if (!Number.isInteger(E) || E < 0) throw new RangeError(`extra images must be a whole number ≥ 0, got ${E}`);
  if (opts.pixelObjective === 'cosine' && opts.wrt !== 'pixels') throw new RangeError('the cosine objective is a pixel gradient\'s: it needs wrt \'pixels\'');
  const S = cfg.vision.imageSize;
  const b = new GraphBuilder(17, `clip_train_${opts.wrt}`);
  const pixels = b.input(TRAIN_INPUTS.pixels, 'float32', [B + E, 3, S, S]);
  const ids = b.input(TRAIN_INPUTS.ids, 'int64', [B, cfg.text.contextLength]);

  const params = new Map<string, Value>();
  for (const t of expectedTensors(cfg)) params.set(t.name, b.input(t.name, 'float32', [...t.shape]));
  const w: Weights = (name, shape) => {
    const v = params.get(name);
    if (!v) throw new Error(`training graph: no parameter ${name}`);
    if (v.shape.join(',') !== shape.join(',')) throw new Error(`training graph: ${name} is [${v.shape.join(',')}], the tower asks for [${shape.join(',')}]`);
    return v;
  };

  const mean = b.constant(Tensor.float32([1, 3, 1, 1], cfg.mean), 'clip_mean');
  const std = b.constant(Tensor.float32([1, 3, 1, 1], cfg.std), 'clip_std');
  // A ResNet's BatchNorm trains on the batch's own statistics (as torch's train mode); the first
  // tower call's (the contrastive batch's) are outputs, from which the trainer updates the running
  // buffers. Attacks (wrt pixels) see the model as synthesis will: running statistics.
  const stats = new Map<string, [Value, Value]>();
  const towerOpts = opts.wrt === 'params' && isResNet(cfg.vision)
    ? { batchStats: (name: string, m: Value, v: Value) => { if (!stats.has(name)) stats.set(name, [m, v]); } }
    : {};
  const imageUnit = (px: Value, trainMode = true): Value => unit(b, visionTower(b, px.sub(mean).div(std), cfg.vision, w, trainMode ? towerOpts : {}));
  const every = imageUnit(pixels);
  const img = E === 0 ? every : sliceOp(b, every, [0], [B], [0]);
  const txt = unit(b, textTower(b, ids, cfg.text, w));

  // The temperature is clamped in the graph, as open_clip clamps it after each step; the clamp's
  // gradient is zero above the cap, which is what stops it growing.
  const scale = b.op1('Clip', [w('logit_scale', []), b.scalar(-1e4, 'float32'), b.scalar(MAX_LOGIT_SCALE, 'float32')]).exp();
  // Every picture against every caption once; the batch's own pairs are its first B rows.
  const everyLogits = every.matmul(txt.transpose([1, 0])).mul(scale);
  const logits = E === 0 ? everyLogits : sliceOp(b, everyLogits, [0], [B], [0]);
  const diag = b.reduce('ReduceSum', img.mul(txt), [1], false).mul(scale);
  const meanOf = (x: Value): Value => b.reduce('ReduceMean', x, [0], false);
  const imageToText = meanOf(b.reduce('ReduceLogSumExp', logits, [1], false));
  const textToImage = meanOf(b.reduce('ReduceLogSumExp', everyLogits, [0], false));
  const contrastive = imageToText.add(textToImage).sub(meanOf(diag).mul(b.scalar(2, 'float32'))).mul(b.scalar(0.5, 'float32'));
  const A = opts.align ?? 0;
  const loss = A > 0
    // The input gradient being aligned is synthesis's: a ResNet's BatchNorm on its running
    // statistics (constants here), not on the alignment items' own batch statistics.
    ? contrastive.add(alignTerm(b, { image: (px) => imageUnit(px, false), text: (t) => unit(b, textTower(b, t, cfg.text, w)) }, A, S, cfg.text.contextLength, opts.alignWeighted ?? false, opts.alignPaired ?? false,
      opts.alignTruthWeight === undefined || opts.alignTruthWeight === 0 ? undefined : { weight: opts.alignTruthWeight, scale }).mul(b.scalar(opts.alignWeight ?? 1, 'float32')))
    : contrastive;

  b.output(loss, TRAIN_OUTPUTS.loss);
  if (A > 0) b.output(contrastive, TRAIN_OUTPUTS.contrastive);
  b.output(logits, TRAIN_OUTPUTS.logits);
  if (E > 0) b.output(sliceOp(b, everyLogits, [B], [B + E], [0]), TRAIN_OUTPUTS.extraLogits);
  if (opts.wrt === 'pixels') {
    const objective = opts.pixelObjective === 'cosine' ? b.reduce('ReduceSum', img.mul(txt), [0, 1], false).neg() : loss;
    const [g] = gradients(b, objective, [pixels]);
    b.output(g!, TRAIN_OUTPUTS.pixelGrad);
  } else {
    for (const [name, [m, v]] of stats) {
      b.output(m, batchMeanName(name));
      b.output(v, batchVarName(name));
    }
    const names = [...params.keys()].filter((n) => !isBuffer(n));
    const grads = gradients(b, loss, names.map((n) => params.get(n)!));
    names.forEach((n, i) => b.output(grads[i]!, paramGradName(n)));
  }
  return b.toModel();
}

function unit(b: GraphBuilder, x: Value): Value {
  return x.div(b.reduce('ReduceSumSquare', x, [1], true).sqrt());
}
