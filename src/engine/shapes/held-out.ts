/**
 * The scenes evaluation keeps to itself. `npm run eval` draws its prompts and retrieval pictures
 * from fixed seeds (evaluate.ts); training must never see one of those descriptions as a target,
 * or "judged correct on held-out prompts" would partly measure recall. The set is the first
 * HELD_OUT_PROMPTS one-shape and two-shape eval scenes (eval draws prefixes of these sequences)
 * and the retrieval scenes, compared by sceneKey (what a caption can say).
 */
import { sceneKey } from './batches.js';
import { heldOutScenes, retrievalScenes } from './evaluate.js';
import type { Scene } from './world.js';

/** How many prompts of each kind eval may ever ask for (its --prompts / --two-shape). */
export const HELD_OUT_PROMPTS = 200;
/** How many retrieval pictures eval may ever ask for (its --retrieval). */
export const HELD_OUT_RETRIEVAL = 1000;

let keys: Set<string> | undefined;

/** sceneKeys of every scene eval may use. */
export function heldOutKeys(): ReadonlySet<string> {
  keys ??= new Set([
    ...heldOutScenes(HELD_OUT_PROMPTS, { count: 1 }).scenes,
    ...heldOutScenes(HELD_OUT_PROMPTS, { count: 2 }).scenes,
    ...retrievalScenes(HELD_OUT_RETRIEVAL),
  ].map(sceneKey));
  return keys;
}

export const isHeldOut = (scene: Scene): boolean => heldOutKeys().has(sceneKey(scene));
