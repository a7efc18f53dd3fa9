/** What a training log reports about a batch, from the graph's logits. */
import type { Tensor } from '../onnx/tensor.js';

/** Share of the B pictures whose own caption scores highest among the batch's ([B, B] logits). */
export function inBatchAccuracy(logits: Tensor, B: number): number {
  const L = logits.data as Float32Array;
  let right = 0;
  for (let i = 0; i < B; i++) {
    let best = 0;
    for (let j = 1; j < B; j++) if (L[i * B + j]! > L[i * B + best]!) best = j;
    if (best === i) right++;
  }
  return right / B;
}

/** Share of captions that score their own (attacked) picture above the over-scored one searched for them. */
export function ownAbove(logits: Tensor, extraLogits: Tensor, B: number): number {
  const own = logits.data as Float32Array;
  const over = extraLogits.data as Float32Array;
  let right = 0;
  for (let i = 0; i < B; i++) if (own[i * B + i]! > over[i * B + i]!) right++;
  return right / B;
}

export const mean = (xs: ArrayLike<number>): number => {
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += xs[i]!;
  return xs.length ? s / xs.length : 0;
};
