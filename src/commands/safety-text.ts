/** What /safety reads from moderators (concept lists) and shows them (the filter's settings). */
import { quoteText } from '../bot/sanitize.js';
import { conceptKey, type Concept } from '../engine/safety/concepts.js';
import type { GuildSafety, SafetyConcept, SafetyMode } from '../store/safety.js';

/** Discord's message limit is 2,000 characters; the list stops short of it with a count. */
const LIST_CHARS = 1700;

export const MODE_TEXT: Readonly<Record<SafetyMode, string>> = Object.freeze({
  block: 'block (a flagged picture is not posted; the thread says it was withheld)',
  spoiler: 'spoiler (a flagged picture is posted behind a spoiler cover)',
  off: 'off (pictures are not screened)',
});

/** "gore, graphic violence ,," → ['gore', 'graphic violence']: blank pieces (a trailing comma) are dropped. */
export function parseConcepts(s: string): string[] {
  return s.split(',').map((c) => c.trim()).filter((c) => c !== '');
}

const threshold = (v: number | undefined): string => (v === undefined ? 'default' : `> ${v}`);

/** "red star" (picture > 0.7 · prompt default): "default" is the default concept's threshold, else the model's. */
export function conceptText(c: SafetyConcept): string {
  return `"${quoteText(c.text, 100)}" (picture ${threshold(c.image)} · prompt ${threshold(c.prompt)})`;
}

/** Items joined with ", " up to `max` characters, then "… and N more". */
export function bounded(items: readonly string[], max: number): string {
  const out: string[] = [];
  let n = 0;
  for (const it of items) {
    if (n + it.length > max) return `${out.join(', ')} … and ${items.length - out.length} more`;
    out.push(it);
    n += it.length + 2;
  }
  return out.join(', ');
}

/**
 * The filter as /safety list shows it. `defaults`: the default list for real CLIP models, when this
 * bot serves any (`clipModels` names them); closed-vocabulary models (the demo) have none.
 */
export function describeSafety(s: GuildSafety, defaults: readonly Concept[], clipModels: readonly string[]): string {
  const removed = new Set(s.removed.map(conceptKey));
  const own = new Set(s.concepts.map((c) => conceptKey(c.text)));
  const kept = defaults.filter((c) => !removed.has(conceptKey(c.text)) && !own.has(conceptKey(c.text)));
  const lines = [`**Mode:** ${MODE_TEXT[s.mode]}`];
  if (clipModels.length) {
    lines.push(`**Default concepts** (for ${clipModels.map((m) => quoteText(m, 40)).join(', ')}): ${kept.length
      ? bounded(kept.map((c) => `"${quoteText(c.text, 100)}"`), LIST_CHARS / 2) : 'none'}`);
    if (s.removed.length) lines.push(`**Removed defaults:** ${bounded(s.removed.map((t) => `"${quoteText(t, 100)}"`), 300)}`);
  } else {
    lines.push('**Default concepts:** none (this bot\'s models have closed vocabularies; add concepts in their words)');
  }
  lines.push(`**This server's concepts (${s.concepts.length}):** ${s.concepts.length ? bounded(s.concepts.map(conceptText), LIST_CHARS / 2) : 'none'}`);
  return lines.join('\n');
}
