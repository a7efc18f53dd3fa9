/**
 * Concept text embeddings, cached per (model, text): a server's list is screened against every
 * picture, and its texts change only when a moderator edits them. Kept apart from the model's own
 * prompt cache, whose churn (every new prompt) would evict them. A WeakMap, so a model the engine
 * pool unloads takes its entries with it.
 */
import { normalize, type ClipModel } from '../pack/model.js';
import { cleanConcept } from './concepts.js';

/** 100 concepts for each of several servers; past this the oldest are embedded again when asked. */
const PER_MODEL = 2048;

/** A concept the model's tokenizer cannot read (a closed vocabulary): why, in one line. */
export interface UnreadableConcept {
  text: string;
  reason: string;
}

const caches = new WeakMap<ClipModel, Map<string, Float32Array>>();

function cacheOf(model: ClipModel): Map<string, Float32Array> {
  let c = caches.get(model);
  if (!c) caches.set(model, (c = new Map()));
  return c;
}

/** Why the model cannot read `text`, or undefined when it can. Tokenizing only: no tower runs. */
export async function unreadable(model: ClipModel, text: string): Promise<string | undefined> {
  const tok = await model.tokenizer();
  try {
    tok.encode(cleanConcept(text), model.config.text.contextLength);
    return undefined;
  } catch (e) {
    return (e as Error).message.split('\n')[0]!;
  }
}

/**
 * Unit-length text embeddings of `texts` (cleaned), in order; texts the model cannot read come
 * back in `unreadable` instead, with undefined in their place. The ones not cached are embedded
 * in one batch through the text tower.
 */
export async function conceptEmbeddings(
  model: ClipModel,
  texts: readonly string[],
): Promise<{ embeddings: (Float32Array | undefined)[]; unreadable: UnreadableConcept[] }> {
  const cache = cacheOf(model);
  const clean = texts.map(cleanConcept);
  const missing: string[] = [];
  const bad = new Map<string, string>();
  for (const t of new Set(clean)) {
    if (cache.has(t)) continue;
    const why = await unreadable(model, t);
    if (why === undefined) missing.push(t);
    else bad.set(t, why);
  }
  if (missing.length) {
    const E = model.config.embedDim;
    const all = (await model.embedTexts(missing)).data as Float32Array;
    missing.forEach((t, i) => {
      cache.set(t, Float32Array.from(normalize(all.subarray(i * E, (i + 1) * E))));
      if (cache.size > PER_MODEL) cache.delete(cache.keys().next().value!);
    });
  }
  return {
    embeddings: clean.map((t) => cache.get(t)),
    unreadable: [...bad].map(([text, reason]) => ({ text, reason })),
  };
}

/** How many concept embeddings a model holds (tests check that a second screening embeds nothing). */
export function cachedConcepts(model: ClipModel): number {
  return caches.get(model)?.size ?? 0;
}
