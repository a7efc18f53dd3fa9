/**
 * Compiling the graphs a job needs before the first job asks for them. A session is built lazily on
 * first use, on the main thread (our autodiff builds the step graph in JavaScript, and ONNX Runtime
 * loads it synchronously): seconds for a real CLIP on a GPU, during which the bot could answer no
 * other interaction. So the engine pays for it once at start, for the requests most jobs make.
 */
import type { ClipModel } from '../engine/pack/model.js';
import { contrastGroupsOf } from '../engine/pag/contrast.js';
import { viewGroups } from '../engine/pag/imagine.js';
import { recipeFor, resolveSettings } from '../engine/pag/recipe.js';
import { buildStepModel, stepGraphKind, type StepShape } from '../engine/pag/step-graph.js';

/**
 * The step graph's shape for a request of the default size with `targets` text targets (a prompt,
 * then a negative prompt and the near-miss contrast where a job has them), computed the way
 * imagine() computes it.
 */
export function defaultStepShape(model: ClipModel, views: number | undefined, targets: number): StepShape {
  // The prompt is never read here; resolveSettings only insists that there is one.
  const s = resolveSettings({ prompt: 'warm-up', views }, recipeFor(model.manifest), model.config.vision.imageSize);
  const groups = viewGroups(s.global, s.patch, s.recipe.maxViewsPerRun);
  return { canvas: s.canvas, global: s.global / groups, patch: s.patch / groups, targets };
}

/**
 * Compiles the towers (the vision tower picks the starting canvas) and the step graphs of a
 * default-size request with and without a negative prompt, and where the pack contrasts prompts
 * with their near misses (pag/contrast.ts), with that target too: one more graph, since a prompt
 * may or may not name a group word. Other sizes still compile on their first job. Returns the
 * graphs' names.
 */
export async function warmUp(model: ClipModel, views?: number): Promise<string[]> {
  const kinds: string[] = ['vision', 'text'];
  for (const tower of ['vision', 'text'] as const) await model.session(tower);
  const contrasts = contrastGroupsOf(model.manifest, recipeFor(model.manifest)).length > 0;
  for (const targets of contrasts ? [1, 2, 3] : [1, 2]) {
    const shape = defaultStepShape(model, views, targets);
    const kind = stepGraphKind(shape);
    await model.graphSession(kind, ['vision'], (src) => buildStepModel(model.config, shape, src));
    kinds.push(kind);
  }
  return kinds;
}
