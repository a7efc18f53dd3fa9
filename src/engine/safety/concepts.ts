/**
 * Safety concepts: short texts (e.g. "graphic violence") whose CLIP text embedding a picture, and
 * the prompt that made it, must not come too close to. Each has two thresholds, because the two
 * cosines live on different scales: image–text cosines of a CLIP sit low (≈ 0.2–0.35 for a real
 * ViT-B/32 when the text fits the picture), text–text cosines high (unrelated prompts already ≈ 0.6
 * –0.8). One threshold for both would either never fire on pictures or always fire on prompts.
 *
 * A server's list is its intent, independent of the model: the model's default list, less the
 * defaults it removed, plus its own concepts, whose thresholds may be left to the model's defaults.
 * Each model resolves that list with its own defaults (models differ in scale), see resolveConcepts.
 */

/** At most this many concepts in one list (a server's own, or a model's defaults). */
export const MAX_CONCEPTS = 100;
/** A concept is a short description, not a paragraph: CLIP reads 77 tokens at most. */
export const MAX_CONCEPT_CHARS = 100;
/**
 * Inclusive range of a threshold. Below 0.01 nearly every picture would be flagged by any CLIP;
 * above 0.99 only the concept's own text would (cosine 1).
 */
export const THRESHOLD_RANGE: readonly [number, number] = Object.freeze([0.01, 0.99]) as readonly [number, number];

/** Flagged when a cosine is strictly over its threshold. */
export interface Thresholds {
  /** Cosine of the concept's text embedding and the picture's image embedding. */
  image: number;
  /** Cosine of the concept's text embedding and the prompt's text embedding. */
  prompt: number;
}

/** A concept with both thresholds known: what screening takes. */
export interface Concept extends Thresholds {
  text: string;
}

/** A server's own concept; a threshold left out is the model's (or the default concept's). */
export interface ConceptEntry {
  text: string;
  image?: number;
  prompt?: number;
}

/** A server's concept list as stored: its own concepts and the default concepts it removed. */
export interface ConceptList {
  concepts: readonly ConceptEntry[];
  /** Texts of default concepts this server does not want (compared as conceptKey). */
  removed: readonly string[];
}

/** What a model brings: its default concepts and the thresholds a concept without its own gets. */
export interface SafetyDefaults {
  threshold: Thresholds;
  concepts: readonly Concept[];
}

/** One spelling of a concept: Unicode NFC, inner whitespace collapsed, trimmed. */
export function cleanConcept(text: string): string {
  return text.normalize('NFC').replace(/\s+/gu, ' ').trim();
}

/** Two concepts are the same when their keys are: case does not matter to a moderator (or to CLIP's tokenizer). */
export function conceptKey(text: string): string {
  return cleanConcept(text).toLowerCase();
}

/**
 * The concepts a model screens for: its defaults (unless removed) with the server's own concepts
 * over them (same key: the server's thresholds win), then the server's new ones in their order.
 */
export function resolveConcepts(defaults: SafetyDefaults, list: ConceptList): Concept[] {
  const removed = new Set(list.removed.map(conceptKey));
  const out = new Map<string, Concept>();
  const byKey = new Map(defaults.concepts.map((c) => [conceptKey(c.text), c]));
  for (const [key, c] of byKey) if (!removed.has(key)) out.set(key, { ...c });
  for (const e of list.concepts) {
    const key = conceptKey(e.text);
    const base = byKey.get(key) ?? defaults.threshold;
    out.set(key, { text: cleanConcept(e.text), image: e.image ?? base.image, prompt: e.prompt ?? base.prompt });
  }
  return [...out.values()];
}
