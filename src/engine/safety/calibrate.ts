/**
 * Threshold calibration for safety concepts. For each concept, labelled pictures (and their prompts)
 * are split into positives (the concept is in them) and negatives; the threshold is set so that at
 * most a target share of the negatives is over it (a false-positive rate a server can live with),
 * and the share of positives caught at that threshold is reported beside it, with the ROC AUC (the
 * chance a random positive scores over a random negative: 0.5 means the model cannot tell).
 */
import type { RgbImage } from '../clip/image.js';
import { cosine, type ClipModel } from '../pack/model.js';
import { conceptKey, THRESHOLD_RANGE } from './concepts.js';
import { conceptEmbeddings } from './embeddings.js';
import { imageInput } from './image-input.js';

export interface LabelledSample {
  /** A picture file, or pixels. */
  image: string | RgbImage;
  /** The prompt that made it, when known: the prompt channel is calibrated only from samples with one. */
  prompt?: string;
  /** The concepts this picture shows (any spelling: compared as conceptKey). */
  concepts: readonly string[];
}

export interface ChannelCalibration {
  /** Flag when the cosine is over this (clamped to THRESHOLD_RANGE). */
  threshold: number;
  /** Share of positives over the threshold. */
  tpr: number;
  /** Share of negatives over the threshold (at most the target, unless clamping raised it). */
  fpr: number;
  auc: number;
  positives: number;
  negatives: number;
}

export interface ConceptCalibration {
  text: string;
  image: ChannelCalibration | undefined;
  /** Undefined when no sample has a prompt, or no positive or no negative has one. */
  prompt: ChannelCalibration | undefined;
}

/**
 * The lowest threshold with at most ⌊fpr·n⌋ negatives strictly over it: the (k+1)-th highest
 * negative score. Ties at that score are not over it, so the bound holds with ties too.
 */
export function thresholdForFpr(negatives: readonly number[], fpr: number): number {
  if (negatives.length === 0) throw new Error('no negatives to calibrate against');
  if (!(fpr >= 0 && fpr < 1)) throw new RangeError(`the false-positive rate must be in [0, 1), got ${fpr}`);
  const desc = [...negatives].sort((a, b) => b - a);
  return desc[Math.min(desc.length - 1, Math.floor(fpr * desc.length))]!;
}

/** Share of `scores` strictly over `t`. */
export function overRate(scores: readonly number[], t: number): number {
  return scores.length ? scores.filter((s) => s > t).length / scores.length : 0;
}

/** ROC AUC by ranks (Mann–Whitney U), ties counting half. */
export function auc(positives: readonly number[], negatives: readonly number[]): number {
  if (!positives.length || !negatives.length) return Number.NaN;
  const all = [...positives.map((v) => ({ v, pos: true })), ...negatives.map((v) => ({ v, pos: false }))].sort((a, b) => a.v - b.v);
  let rankSum = 0;
  for (let i = 0; i < all.length;) {
    let j = i;
    while (j < all.length && all[j]!.v === all[i]!.v) j++;
    const rank = (i + 1 + j) / 2; // mean 1-based rank of the tie group
    for (let k = i; k < j; k++) if (all[k]!.pos) rankSum += rank;
    i = j;
  }
  const P = positives.length;
  return (rankSum - (P * (P + 1)) / 2) / (P * negatives.length);
}

export function calibrateChannel(positives: readonly number[], negatives: readonly number[], fpr: number): ChannelCalibration | undefined {
  if (!positives.length || !negatives.length) return undefined;
  const [lo, hi] = THRESHOLD_RANGE;
  const threshold = Math.min(hi, Math.max(lo, thresholdForFpr(negatives, fpr)));
  return {
    threshold, tpr: overRate(positives, threshold), fpr: overRate(negatives, threshold), auc: auc(positives, negatives),
    positives: positives.length, negatives: negatives.length,
  };
}

const BATCH = 64;

/** Unit image embeddings of the samples' pictures, in batches through the vision tower. */
async function imageEmbeddings(model: ClipModel, images: readonly (string | RgbImage)[]): Promise<Float32Array[]> {
  const E = model.config.embedDim;
  const files = images.filter((x): x is string => typeof x === 'string');
  if (files.length && files.length < images.length) throw new Error('calibrate: give either picture files or pixels, not both in one set');
  const out: Float32Array[] = [];
  for (const f of files) out.push((await model.embedImageFile(f)).data as Float32Array);
  if (files.length) return out;
  for (let at = 0; at < images.length; at += BATCH) {
    const part = images.slice(at, at + BATCH) as RgbImage[];
    const emb = (await model.embedPixels(imageInput(model, part))).data as Float32Array;
    for (let i = 0; i < part.length; i++) out.push(emb.slice(i * E, (i + 1) * E));
  }
  return out;
}

/** Per concept, both channels' thresholds at the target false-positive rate. */
export async function calibrateConcepts(
  model: ClipModel,
  samples: readonly LabelledSample[],
  concepts: readonly string[],
  o: { fpr: number },
): Promise<ConceptCalibration[]> {
  const { embeddings, unreadable } = await conceptEmbeddings(model, concepts);
  if (unreadable.length) throw new Error(`the model cannot read the concept "${unreadable[0]!.text}": ${unreadable[0]!.reason}`);
  const imgs = await imageEmbeddings(model, samples.map((s) => s.image));
  const withPrompt = samples.map((s, i) => ({ s, i })).filter((x) => x.s.prompt !== undefined);
  const E = model.config.embedDim;
  const promptEmb = new Map<number, Float32Array>();
  for (let at = 0; at < withPrompt.length; at += BATCH) {
    const part = withPrompt.slice(at, at + BATCH);
    const t = (await model.embedTexts(part.map((x) => x.s.prompt!))).data as Float32Array;
    part.forEach((x, k) => promptEmb.set(x.i, t.slice(k * E, (k + 1) * E)));
  }
  const labels = samples.map((s) => new Set(s.concepts.map(conceptKey)));
  return concepts.map((text, c) => {
    const e = embeddings[c]!;
    const key = conceptKey(text);
    const img = { pos: [] as number[], neg: [] as number[] };
    const txt = { pos: [] as number[], neg: [] as number[] };
    samples.forEach((_, i) => {
      const side = labels[i]!.has(key) ? 'pos' : 'neg';
      img[side].push(cosine(imgs[i]!, e));
      const p = promptEmb.get(i);
      if (p) txt[side].push(cosine(p, e));
    });
    return { text, image: calibrateChannel(img.pos, img.neg, o.fpr), prompt: calibrateChannel(txt.pos, txt.neg, o.fpr) };
  });
}
