/**
 * A server's safety filter: what happens to a flagged picture (mode) and which concepts flag it.
 * The list is the server's intent, not a copy of any model's: the model's default concepts apply
 * unless removed, and the server's own concepts come on top (engine/safety/concepts.ts resolves
 * them per model, because default lists and threshold scales differ between models). Caps live
 * here so that /safety, the store and the engine agree.
 */
import { cleanConcept, conceptKey, MAX_CONCEPT_CHARS, MAX_CONCEPTS, THRESHOLD_RANGE } from '../engine/safety/concepts.js';

export { MAX_CONCEPT_CHARS, MAX_CONCEPTS, THRESHOLD_RANGE } from '../engine/safety/concepts.js';

/** block: not posted; spoiler: posted behind Discord's spoiler cover; off: not screened. */
export const SAFETY_MODES = ['block', 'spoiler', 'off'] as const;
export type SafetyMode = (typeof SAFETY_MODES)[number];

/** A concept of the server's own; a threshold left out is the model's default. */
export interface SafetyConcept {
  text: string;
  image?: number;
  prompt?: number;
}

export interface GuildSafety {
  mode: SafetyMode;
  concepts: SafetyConcept[];
  /** Default concepts this server removed. */
  removed: string[];
}

/** Block by default: a server that never looked at /safety gets the conservative behaviour. */
export const DEFAULT_SAFETY: Readonly<GuildSafety> = Object.freeze({
  mode: 'block',
  concepts: Object.freeze([]) as unknown as SafetyConcept[],
  removed: Object.freeze([]) as unknown as string[],
});

/** A change /safety refuses: one line a moderator can act on. */
export class SafetyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SafetyError';
  }
}

const [LO, HI] = THRESHOLD_RANGE;
const fmt = (n: number): string => n.toLocaleString('en-US');
const shown = (t: string): string => (t.length > 40 ? `"${t.slice(0, 39)}…"` : `"${t}"`);

/** One concept text, cleaned; the problem with it as a SafetyError. */
export function checkConceptText(raw: unknown, n?: number): string {
  if (typeof raw !== 'string') throw new SafetyError(n === undefined ? 'a concept must be text' : `concept ${n} is not text`);
  const text = cleanConcept(raw);
  if (text === '') throw new SafetyError(n === undefined ? 'a concept cannot be empty' : `concept ${n} is empty: each concept needs at least one word`);
  if (text.length > MAX_CONCEPT_CHARS) throw new SafetyError(`the concept ${shown(text)} is ${fmt(text.length)} characters; the most is ${MAX_CONCEPT_CHARS}`);
  return text;
}

export function checkThreshold(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < LO || v > HI) {
    throw new SafetyError(`${what} must be a number from ${LO} to ${HI}, got ${String(v)}`);
  }
  return v;
}

function checkList<T>(list: unknown, what: string, one: (x: unknown, n: number) => T, key: (x: T) => string): T[] {
  if (!Array.isArray(list)) throw new SafetyError(`${what} must be a list`);
  // The count first: a list of thousands is refused in one line, without a line per entry.
  if (list.length > MAX_CONCEPTS) throw new SafetyError(`${what}: at most ${MAX_CONCEPTS} concepts, got ${fmt(list.length)}`);
  const out = list.map((x, i) => one(x, i + 1));
  const keys = out.map(key);
  const twice = keys.findIndex((k, i) => keys.indexOf(k) !== i);
  if (twice >= 0) throw new SafetyError(`${what}: ${shown(keys[twice]!)} is listed twice`);
  return out;
}

/** Checks a patch and returns it cleaned. Throws SafetyError naming the first problem, in one line. */
export function validateSafetyPatch(patch: Partial<GuildSafety>): Partial<GuildSafety> {
  const out: Partial<GuildSafety> = {};
  if (patch.mode !== undefined) {
    if (!(SAFETY_MODES as readonly string[]).includes(patch.mode)) throw new SafetyError(`mode must be one of ${SAFETY_MODES.join(', ')}, got ${String(patch.mode)}`);
    out.mode = patch.mode;
  }
  if (patch.concepts !== undefined) {
    out.concepts = checkList(patch.concepts, 'concepts', (c, n) => {
      const e = (c ?? {}) as Partial<SafetyConcept>;
      const text = checkConceptText(e.text, n);
      const concept: SafetyConcept = { text };
      if (e.image !== undefined) concept.image = checkThreshold(e.image, `the image threshold of ${shown(text)}`);
      if (e.prompt !== undefined) concept.prompt = checkThreshold(e.prompt, `the prompt threshold of ${shown(text)}`);
      return concept;
    }, (c) => conceptKey(c.text));
  }
  if (patch.removed !== undefined) {
    out.removed = checkList(patch.removed, 'removed defaults', (t, n) => checkConceptText(t, n), conceptKey);
  }
  return out;
}
