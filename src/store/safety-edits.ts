/**
 * The edits /safety makes to a server's list, as pure functions of the current settings: each
 * returns the patch for SafetyRepo.update (which validates and audits it) or throws a SafetyError
 * naming the concept that is not there. `defaults`: the keys (conceptKey) of every default concept.
 */
import { conceptKey } from '../engine/safety/concepts.js';
import { SafetyError, type GuildSafety, type SafetyConcept } from './safety.js';

export interface ThresholdChange {
  image?: number;
  prompt?: number;
}

const sameKey = (a: string) => (b: string): boolean => conceptKey(a) === conceptKey(b);

/** A concept's thresholds after a change: those not named again are kept. */
function rethreshold(text: string, old: SafetyConcept | undefined, t: ThresholdChange): SafetyConcept {
  const out: SafetyConcept = { text };
  const image = t.image ?? old?.image;
  const prompt = t.prompt ?? old?.prompt;
  if (image !== undefined) out.image = image;
  if (prompt !== undefined) out.prompt = prompt;
  return out;
}

/** `texts` become the server's own concepts (one already there gets the new spelling and thresholds) and are no longer removed. */
export function addConcepts(cur: GuildSafety, texts: readonly string[], t: ThresholdChange): Pick<GuildSafety, 'concepts' | 'removed'> {
  const concepts = [...cur.concepts];
  for (const text of texts) {
    const at = concepts.findIndex((c) => sameKey(text)(c.text));
    const next = rethreshold(text, at >= 0 ? concepts[at] : undefined, t);
    if (at >= 0) concepts[at] = next;
    else concepts.push(next);
  }
  return { concepts, removed: cur.removed.filter((r) => !texts.some(sameKey(r))) };
}

/** The server's own concepts among `texts` are dropped, default ones are marked removed. */
export function removeConcepts(cur: GuildSafety, texts: readonly string[], defaults: ReadonlySet<string>): Pick<GuildSafety, 'concepts' | 'removed'> {
  const removed = [...cur.removed];
  for (const text of texts) {
    const own = cur.concepts.some((c) => sameKey(text)(c.text));
    const isDefault = defaults.has(conceptKey(text)) && !removed.some(sameKey(text));
    if (!own && !isDefault) throw new SafetyError(`"${text}" is not on this server's list (see /safety list)`);
    if (isDefault) removed.push(text);
  }
  return { concepts: cur.concepts.filter((c) => !texts.some(sameKey(c.text))), removed };
}

/** New thresholds for one of the server's own concepts, or for a default one (which then gets an entry of the server's own over it). */
export function setThresholds(cur: GuildSafety, text: string, t: ThresholdChange, defaults: ReadonlySet<string>): Pick<GuildSafety, 'concepts'> {
  const at = cur.concepts.findIndex((c) => sameKey(text)(c.text));
  const isDefault = defaults.has(conceptKey(text)) && !cur.removed.some(sameKey(text));
  if (at < 0 && !isDefault) throw new SafetyError(`"${text}" is not on this server's list: add it with /safety add`);
  const concepts = [...cur.concepts];
  if (at >= 0) concepts[at] = rethreshold(concepts[at]!.text, concepts[at], t);
  else concepts.push(rethreshold(text, undefined, t));
  return { concepts };
}
