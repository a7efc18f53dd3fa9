/**
 * Does PAG imply robustness here, as Ganz et al. claim? Caption retrieval among held-out pictures
 * before and after a PGD attack on each picture (the contrastive loss climbed inside an L2 ball),
 * measured with the training graph so it runs on any Shapes pack, ResNet or ViT.
 */
import type { ClipConfig } from '../clip/config.js';
import { Tensor } from '../onnx/tensor.js';
import { hashName, rng } from '../random.js';
import { Session } from '../runtime.js';
import { buildTrainModel, TRAIN_OUTPUTS } from '../train/contrastive-graph.js';
import { inBatchAccuracy } from '../train/metrics.js';
import { packParams, paramTensors } from '../train/params.js';
import { pgdAttack } from '../train/pgd.js';
import { batchOf } from './batches.js';
import { retrievalScenes } from './evaluate.js';

export interface RobustAccuracyOptions {
  /** Held-out pictures, each against the others' captions (default 100). */
  pictures?: number;
  /** L2 radius per picture, in pixel units of [0, 1] (default 2, the adversarial finetune's). */
  eps?: number;
  /** Attack iterations (default 10). */
  steps?: number;
  threads?: number;
}

/** Top-1 caption retrieval of clean and PGD-attacked held-out pictures, for the pack in `dir`. */
export async function robustAccuracy(dir: string, cfg: ClipConfig, o: RobustAccuracyOptions = {}): Promise<{ clean: number; attacked: number }> {
  const n = o.pictures ?? 100;
  const eps = o.eps ?? 2;
  const steps = o.steps ?? 10;
  if (!Number.isInteger(n) || n < 2) throw new RangeError(`robust accuracy needs at least 2 pictures, got ${n}`);
  if (!(eps >= 0)) throw new RangeError(`the attack radius must be ≥ 0, got ${eps}`);
  const S = cfg.vision.imageSize;
  const seed = hashName('eval-robust');
  const batch = batchOf(retrievalScenes(n), seed, S);
  const params = paramTensors(cfg, await packParams(dir, cfg));
  const session = await Session.create(buildTrainModel(cfg, { batch: n, wrt: 'pixels' }), { device: 'cpu', intraOpThreads: o.threads ?? 2 });
  try {
    const feeds = (px: Float32Array): Record<string, Tensor> => ({
      ...params,
      pixels: new Tensor('float32', [n, 3, S, S], px),
      ids: new Tensor('int64', [n, cfg.text.contextLength], batch.ids),
    });
    const accuracy = async (px: Float32Array): Promise<number> => inBatchAccuracy((await session.run(feeds(px), [TRAIN_OUTPUTS.logits]))[TRAIN_OUTPUTS.logits]!, n);
    const grad = async (px: Float32Array): Promise<Float32Array> => (await session.run(feeds(px), [TRAIN_OUTPUTS.pixelGrad]))[TRAIN_OUTPUTS.pixelGrad]!.data as Float32Array;
    // The step size of Madry et al.'s robustness library for L2 balls: 2.5·ε/steps.
    const attacked = await pgdAttack(batch.pixels, grad, { eps, alpha: (2.5 * eps) / Math.max(1, steps), steps, norm: 'l2', size: 3 * S * S, rand: rng(seed) });
    return { clean: await accuracy(batch.pixels), attacked: await accuracy(attacked) };
  } finally {
    await session.release();
  }
}
