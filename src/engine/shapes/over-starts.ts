/**
 * Where train-shapes' over-score attack (--over-eps) starts each caption's search for a picture the
 * model scores above the caption's own: the caption's own picture, its near-miss partner's, a fresh
 * smooth random start (synthesis's), or the slot's last over-scored picture (a persistent chain).
 */
import { lowFrequencyNoise } from '../pag/init.js';
import { gaussian } from '../random.js';
import type { ShapesBatch } from './batches.js';

export const OVER_STARTS = ['own', 'partner', 'noise', 'chain'] as const;
export type OverStart = (typeof OVER_STARTS)[number];

export interface OverStartOptions {
  /** Picture side in px. */
  size: number;
  /** Which start slot i uses. */
  startOf: (i: number) => OverStart;
  /** The last step's over-scored pictures (chain slots), if any. */
  chains?: Float32Array;
  /** Chance that a chain slot starts again from fresh noise (as persistent samplers reset a few). */
  chainReset: number;
}

/** One start picture per caption of `batch`, laid out as its pixels. */
export function overStarts(batch: ShapesBatch & { partners: number[] }, rand: () => number, o: OverStartOptions): Float32Array {
  const out = new Float32Array(batch.pixels.length);
  const P = 3 * o.size * o.size;
  const n = batch.pixels.length / P;
  const gauss = (): number => gaussian(rand);
  for (let i = 0; i < n; i++) {
    const from = o.startOf(i);
    const fresh = from === 'noise' || (from === 'chain' && (!o.chains || rand() < o.chainReset));
    if (fresh) out.set(lowFrequencyNoise(o.size, rand, gauss), i * P);
    else if (from === 'chain') out.set(o.chains!.subarray(i * P, (i + 1) * P), i * P);
    else {
      const j = from === 'partner' ? batch.partners[i]! : i;
      out.set(batch.pixels.subarray(j * P, (j + 1) * P), i * P);
    }
  }
  return out;
}
