/**
 * BatchNorm running statistics during training: the training graph normalises with each batch's
 * own statistics and outputs them (contrastive-graph.ts batchMeanName/batchVarName); the trainer
 * folds them into the running buffers that inference uses, as torch's train mode does.
 */
import type { Tensor } from '../onnx/tensor.js';
import { batchMeanName, batchVarName } from './contrastive-graph.js';
import type { Params } from './params.js';

/** torch's BatchNorm momentum: running ← 0.9·running + 0.1·batch (the variance unbiased). */
export const BN_MOMENTUM = 0.1;

const RUNNING = /^(.*)\.running_(mean|var)$/;

/** The graph outputs holding the batch statistics of every BatchNorm among `names`. */
export function batchStatOutputs(names: Iterable<string>): string[] {
  const out: string[] = [];
  for (const n of names) {
    const m = /^(.*)\.running_mean$/.exec(n);
    if (m) out.push(batchMeanName(m[1]!), batchVarName(m[1]!));
  }
  return out;
}

/** Moves every running buffer in `params` toward the batch statistics in `out`, in place. */
export function updateRunningStats(params: Params, out: Record<string, Tensor>): void {
  for (const [name, running] of params) {
    const m = RUNNING.exec(name);
    if (!m) continue;
    const key = m[2] === 'mean' ? batchMeanName(m[1]!) : batchVarName(m[1]!);
    const batch = out[key]?.data as Float32Array | undefined;
    if (!batch || batch.length !== running.length) throw new Error(`training graph gave no ${running.length}-value ${key} for ${name}`);
    for (let i = 0; i < running.length; i++) running[i] = (1 - BN_MOMENTUM) * running[i]! + BN_MOMENTUM * batch[i]!;
  }
}
