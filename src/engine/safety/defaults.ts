/**
 * The default concept lists shipped in models/safety/default-concepts.json: one for real CLIP packs
 * (open_clip's BPE tokenizer reads any English), one for closed-vocabulary demo packs, which cannot
 * express nudity or gore at all and so have no default concepts, only calibrated thresholds for the
 * concepts a server writes in their words. Which one a model gets follows from its tokenizer kind.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import type { ClipModel } from '../pack/model.js';
import { conceptKey, MAX_CONCEPT_CHARS, MAX_CONCEPTS, resolveConcepts, THRESHOLD_RANGE, type SafetyDefaults } from './concepts.js';

export const DEFAULT_CONCEPTS_FILE = fileURLToPath(new URL('../../../models/safety/default-concepts.json', import.meta.url));

const threshold = z.number().min(THRESHOLD_RANGE[0]).max(THRESHOLD_RANGE[1]);
const section = z.object({
  about: z.string().optional(),
  threshold: z.object({ image: threshold, prompt: threshold }),
  concepts: z.array(z.object({
    text: z.string().trim().min(1).max(MAX_CONCEPT_CHARS),
    image: threshold.optional(),
    prompt: threshold.optional(),
  })).max(MAX_CONCEPTS),
});
const file = z.object({ about: z.string().optional(), clip: section, closedVocabulary: section });

export interface DefaultConcepts {
  /** Packs whose tokenizer is CLIP's BPE. */
  clip: SafetyDefaults;
  /** Packs with a closed word list (the demo model). */
  closedVocabulary: SafetyDefaults;
}

/** Checks the file's shape; a concept's missing thresholds are its section's. */
export function parseDefaultConcepts(json: unknown, source: string): DefaultConcepts {
  const r = file.safeParse(json);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new Error(`${source}: ${i.path.join('.') || '(top)'}: ${i.message}`);
  }
  const resolve = (s: z.infer<typeof section>, name: string): SafetyDefaults => {
    const keys = s.concepts.map((c) => conceptKey(c.text));
    const twice = keys.find((k, i) => keys.indexOf(k) !== i);
    if (twice !== undefined) throw new Error(`${source}: ${name}: "${twice}" is listed twice`);
    const base: SafetyDefaults = { threshold: s.threshold, concepts: [] };
    return { threshold: s.threshold, concepts: resolveConcepts(base, { concepts: s.concepts, removed: [] }) };
  };
  return { clip: resolve(r.data.clip, 'clip'), closedVocabulary: resolve(r.data.closedVocabulary, 'closedVocabulary') };
}

const loaded = new Map<string, Promise<DefaultConcepts>>();

export function loadDefaultConcepts(path = DEFAULT_CONCEPTS_FILE): Promise<DefaultConcepts> {
  let p = loaded.get(path);
  if (!p) {
    p = (async () => {
      let json: unknown;
      try {
        json = JSON.parse(await readFile(path, 'utf8'));
      } catch (e) {
        throw new Error(`cannot read the default safety concepts ${path}: ${(e as Error).message}`);
      }
      return parseDefaultConcepts(json, path);
    })();
    loaded.set(path, p);
    p.catch(() => loaded.delete(path));
  }
  return p;
}

/** The section for a tokenizer kind: CLIP's BPE reads anything; anything else is a closed vocabulary. */
export function defaultsForTokenizer(d: DefaultConcepts, kind: string): SafetyDefaults {
  return kind === 'clip-bpe' ? d.clip : d.closedVocabulary;
}

/** A model's default concepts and thresholds. */
export async function safetyDefaults(model: ClipModel, path?: string): Promise<SafetyDefaults> {
  return defaultsForTokenizer(await loadDefaultConcepts(path), (await model.tokenizer()).kind);
}
