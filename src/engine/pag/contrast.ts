/**
 * Near-miss contrast (our addition, not the paper's): besides climbing the prompt's cosine, push away
 * from the prompts one word away from it, that word swapped for another of its group ("circle" for
 * each other kind). The pull toward the prompt and the push from its near misses share everything
 * but that word, so what is left of their difference is what tells the word apart: the outline of a
 * square where the prompt alone draws a blob. A pack names its groups (`contrast` in clipag.json)
 * and the weight (`contrastWeight` in its recipe).
 */
import type { Manifest } from '../pack/manifest.js';
import { normalize } from '../pack/model.js';
import type { Recipe } from './recipe.js';

/** The most near misses one prompt gets, so a long prompt of group words stays a bounded cost. */
export const MAX_NEAR_MISSES = 64;

/** A word as a literal in a unicode-mode pattern (which refuses escapes of anything but syntax characters). */
const escape = (w: string): string => w.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/**
 * The prompt with each whole-word occurrence of a group member (case-insensitive) swapped for each
 * other member of its group, one swap per near miss, in the order they occur; duplicates and the
 * prompt itself left out; at most `max`.
 */
export function nearMisses(prompt: string, groups: readonly (readonly string[])[], max = MAX_NEAR_MISSES): string[] {
  const out = new Set<string>();
  for (const group of groups) {
    const members = group.map((w) => w.toLowerCase());
    const re = new RegExp(`(?<![\\p{L}\\p{N}'-])(${members.map(escape).join('|')})(?![\\p{L}\\p{N}'-])`, 'giu');
    for (const m of prompt.matchAll(re)) {
      const said = m[1]!.toLowerCase();
      for (const other of members) {
        if (other === said) continue;
        const swapped = prompt.slice(0, m.index) + other + prompt.slice(m.index! + m[1]!.length);
        if (swapped !== prompt) out.add(swapped);
        if (out.size >= max) return [...out];
      }
    }
  }
  return [...out];
}

/** The groups a run contrasts over: the pack's, where its recipe weighs them; none otherwise. */
export function contrastGroupsOf(manifest: Pick<Manifest, 'contrast'>, recipe: Pick<Recipe, 'contrastWeight'>): readonly (readonly string[])[] {
  return recipe.contrastWeight > 0 ? manifest.contrast ?? [] : [];
}

/**
 * The contrast target: the direction of the mean of the near misses' unit embeddings, as a unit row
 * (the term is −weight·cos(picture, that direction), like a negative prompt's); undefined when the
 * prompt has no group word.
 */
export async function contrastTarget(
  embed: (text: string) => Promise<Float32Array>, prompt: string, groups: readonly (readonly string[])[],
): Promise<{ row: number[]; prompts: string[] } | undefined> {
  const prompts = nearMisses(prompt, groups);
  if (prompts.length === 0) return undefined;
  let sum: Float64Array | undefined;
  for (const p of prompts) {
    const unit = normalize(await embed(p));
    sum ??= new Float64Array(unit.length);
    unit.forEach((v, i) => { sum![i]! += v; });
  }
  // Near misses that cancel exactly leave no direction to push from.
  if (sum!.every((v) => v === 0)) return undefined;
  return { row: normalize(sum!), prompts };
}
