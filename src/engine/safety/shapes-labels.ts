/**
 * Labels for calibrating safety thresholds on the demo model without any sensitive picture: rendered
 * Shapes-world scenes, each labelled with the concepts (in the demo's words: "red star", "blue
 * background", "big circle") that its scene shows, its caption standing in for the prompt.
 */
import { rng } from '../random.js';
import { captions, parsePrompt, type ShapePart } from '../shapes/captions.js';
import { renderScene } from '../shapes/render.js';
import { sampleScene, type Scene, type ShapeSpec } from '../shapes/world.js';
import type { LabelledSample } from './calibrate.js';

const fits = (p: ShapePart, s: ShapeSpec): boolean =>
  p.kind === s.kind && (p.colour === undefined || p.colour === s.colour) && (p.size === undefined || p.size === s.size)
  && (p.position === undefined || p.position === s.position);

/** Whether a scene shows everything a concept says (one or two shapes, each matched to its own shape; a background). */
export function sceneShows(scene: Scene, concept: string): boolean {
  const parts = parsePrompt(concept);
  if (parts.background !== undefined && parts.background !== scene.background) return false;
  const [a, b] = parts.shapes;
  const [s0, s1] = scene.shapes;
  if (!a) return true;
  if (!b) return scene.shapes.some((s) => fits(a, s));
  return s1 !== undefined && ((fits(a, s0!) && fits(b, s1)) || (fits(a, s1) && fits(b, s0!)));
}

/** `n` random scenes (seeded) at `size` px with their captions as prompts, labelled for `concepts`. */
export function shapesSamples(n: number, seed: number, concepts: readonly string[], size: number): LabelledSample[] {
  for (const c of concepts) parsePrompt(c); // a concept outside the demo's words fails here, by name
  const rand = rng(seed);
  return Array.from({ length: n }, () => {
    const scene = sampleScene(rand);
    return { image: renderScene(scene, size), prompt: captions(scene, rand), concepts: concepts.filter((c) => sceneShows(scene, c)) };
  });
}
