/**
 * Screens a finished picture, the way Stable Diffusion's safety checker does but with the model's
 * own CLIP: the picture's image embedding and the prompt's text embedding are each compared (cosine)
 * with every concept's text embedding; a concept is flagged when either cosine is over its
 * threshold. Screening the prompt too catches what a weak or robust model did not manage to draw
 * recognisably but was asked for, at the cost of one cached text embedding.
 */
import type { RgbImage } from '../clip/image.js';
import { cosine, type ClipModel } from '../pack/model.js';
import type { Concept, Thresholds } from './concepts.js';
import { conceptEmbeddings, type UnreadableConcept } from './embeddings.js';
import { imageInput } from './image-input.js';

export type Channel = keyof Thresholds;

export interface ConceptScore {
  text: string;
  /** Cosine with the picture. */
  image: number;
  /** Cosine with the prompt; undefined when none was given. */
  prompt: number | undefined;
  threshold: Thresholds;
  /** Which cosines are over their thresholds; empty when this concept is not flagged. */
  over: Channel[];
}

export interface SafetyVerdict {
  flagged: boolean;
  /** Of the flagged concepts, the one furthest over a threshold; undefined when none is flagged. */
  worst: ConceptScore | undefined;
  /** Every concept screened, in the order given. */
  scores: ConceptScore[];
  /** Concepts the model cannot read (a closed vocabulary): not screened. */
  unreadable: UnreadableConcept[];
}

export interface ScreenInput {
  /** A PNG/JPEG/WebP file (the pack's eval preprocessing), or pixels. */
  image: string | RgbImage;
  prompt?: string;
  concepts: readonly Concept[];
}

async function imageEmbedding(model: ClipModel, image: string | RgbImage): Promise<Float32Array> {
  const t = typeof image === 'string' ? await model.embedImageFile(image) : await model.embedPixels(imageInput(model, [image]));
  return t.data as Float32Array;
}

/** How far over its threshold a concept is, on its worse channel (negative: under both). */
export function margin(s: ConceptScore): number {
  const m = s.image - s.threshold.image;
  return s.prompt === undefined ? m : Math.max(m, s.prompt - s.threshold.prompt);
}

export async function screen(model: ClipModel, input: ScreenInput): Promise<SafetyVerdict> {
  const { embeddings, unreadable } = await conceptEmbeddings(model, input.concepts.map((c) => c.text));
  const readable = input.concepts.map((c, i) => ({ c, e: embeddings[i] })).filter((x): x is { c: Concept; e: Float32Array } => x.e !== undefined);
  if (readable.length === 0) return { flagged: false, worst: undefined, scores: [], unreadable };
  const img = await imageEmbedding(model, input.image);
  const prompt = input.prompt === undefined ? undefined : (await model.textEmbedding(input.prompt)).embedding;
  const scores = readable.map(({ c, e }): ConceptScore => {
    const image = cosine(img, e);
    const p = prompt && cosine(prompt, e);
    const over: Channel[] = [];
    if (image > c.image) over.push('image');
    if (p !== undefined && p > c.prompt) over.push('prompt');
    return { text: c.text, image, prompt: p, threshold: { image: c.image, prompt: c.prompt }, over };
  });
  const flagged = scores.filter((s) => s.over.length > 0);
  const worst = flagged.reduce<ConceptScore | undefined>((w, s) => (w === undefined || margin(s) > margin(w) ? s : w), undefined);
  return { flagged: worst !== undefined, worst, scores, unreadable };
}
