/**
 * Items for the gradient-alignment term (train/align-term.ts): a picture x somewhere between a
 * start and a caption's true picture, the caption, and the direction render(caption) − x that the
 * model's input gradient should point along. In the Shapes world that direction is known exactly,
 * which is what makes training the gradients directly possible.
 *
 * x = (1 − α)·z + α·render(t) + σ·noise, α ~ U(0, αmax), σ ~ U(0, σmax), where the start z is flat
 * grey, synthesis's own smooth random start, or the picture of a scene one change away from t's
 * (so the direction is exactly that change: a kind, a cell, a colour, a size). The caption's scene
 * is drawn fresh, never one evaluation keeps to itself.
 */
import { gaussian, rng } from '../random.js';
import { lowFrequencyNoise } from '../pag/init.js';
import { shapesTokenizer, variantOf } from './batches.js';
import { captions } from './captions.js';
import { SHAPES_CONFIG } from './model-config.js';
import { renderSceneFloat } from './render.js';
import { COLOURS, sampleScene, type Scene } from './world.js';

export interface AlignItemOptions {
  /** Picture side in px. */
  size: number;
  /** Largest share of the true picture already in x (default 0.9). */
  alphaMax?: number;
  /** Largest pixel-noise standard deviation (default 0.08). */
  sigmaMax?: number;
  /** Scenes never to use as targets (held-out.ts isHeldOut). */
  exclude?: (s: Scene) => boolean;
  /** Share of items whose start is a near-miss scene's picture (default 1/3; the rest split between grey and noise). */
  nearMiss?: number;
  /**
   * Share of items whose start is the target's own scene with some of its shapes left out (at least
   * one; default 0): the background is done and the direction is the missing shapes alone, where
   * synthesis is once it has painted the background.
   */
  bare?: number;
  /** Share of two-shape targets (default 0.5, as the world's). */
  twoShapes?: number;
  /**
   * With λ > 0, `weight` holds √w per pixel for the term's weighted cosine: w = λ on the shapes of
   * the target and of a near-miss start, 1 elsewhere (shapes are ~6 % of a picture's pixels).
   */
  shapeWeight?: number;
}

export interface AlignItems {
  /** [A, 3, S, S] the pictures the gradient is taken at. */
  pixels: Float32Array;
  /** [A, ctx] the captions' ids. */
  ids: BigInt64Array;
  /** [A, 3, S, S] render(caption) − pixels. */
  direction: Float32Array;
  /** [A, 3, S, S] √(per-pixel weight), with shapeWeight. */
  weight?: Float32Array;
  captions: string[];
  targets: Scene[];
}

const CHANGES = ['kind', 'position', 'size', 'colour', 'background', 'swap'] as const;
const GREY = 0.5;

/** A items, a pure function of the seed (a resumed run sees the same ones). */
export function alignItems(seed: number, A: number, o: AlignItemOptions): AlignItems {
  const S = o.size;
  const P = 3 * S * S;
  const ctx = SHAPES_CONFIG.text.contextLength;
  const alphaMax = o.alphaMax ?? 0.9;
  const sigmaMax = o.sigmaMax ?? 0.08;
  const nearMiss = o.nearMiss ?? 1 / 3;
  const r = rng(seed);
  const gauss = (): number => gaussian(r);
  const tok = shapesTokenizer();
  const lambda = o.shapeWeight ?? 0;
  const out = emptyAlignItems(A, S, lambda > 0);
  const target = new Float32Array(P);
  const start = new Float32Array(P);
  for (let i = 0; i < A; i++) {
    let scene: Scene;
    do scene = sampleScene(r, { twoShapes: o.twoShapes ?? 0.5 }); while (o.exclude?.(scene));
    renderSceneFloat(scene, S, target, 0);
    const u = r();
    let near: Scene | null = null;
    if (u < nearMiss) {
      // The start is the same scene with one thing changed; a change the scene cannot take falls back to grey.
      for (let tries = 0; tries < 6 && !near; tries++) near = variantOf(scene, CHANGES[Math.floor(r() * CHANGES.length)]!, r);
    }
    const bare = o.bare ?? 0;
    if (near) renderSceneFloat(near, S, start, 0);
    else if (u >= nearMiss && u < nearMiss + bare) renderSceneOrBackground(withoutSomeShapes(scene, r), S, start);
    else if (u < nearMiss + bare + (1 - nearMiss - bare) / 2) start.fill(GREY);
    else start.set(lowFrequencyNoise(S, r, gauss));
    const alpha = alphaMax * r();
    const sigma = sigmaMax * r();
    const x = out.pixels.subarray(i * P, (i + 1) * P);
    const d = out.direction.subarray(i * P, (i + 1) * P);
    for (let k = 0; k < P; k++) {
      const v = (1 - alpha) * start[k]! + alpha * target[k]! + sigma * gauss();
      x[k] = v < 0 ? 0 : v > 1 ? 1 : v;
      d[k] = target[k]! - x[k]!;
    }
    if (out.weight) shapeWeights(out.weight.subarray(i * P, (i + 1) * P), S, lambda, [[scene, target], ...(near ? [[near, start] as const] : [])]);
    const text = captions(scene, r);
    out.captions.push(text);
    out.targets.push(scene);
    tok.encode(text, ctx).ids.forEach((id, j) => { out.ids[i * ctx + j] = BigInt(id); });
  }
  return out;
}

/** The scene with a random non-empty subset of its shapes removed (all of a one-shape scene's). */
export function withoutSomeShapes(scene: Scene, r: () => number): Scene {
  const n = scene.shapes.length;
  // A non-empty subset to drop, uniform over the 2ⁿ − 1 choices.
  const drop = 1 + Math.floor(r() * ((1 << n) - 1));
  return { ...scene, shapes: scene.shapes.filter((_, i) => !(drop & (1 << i))) };
}

/** renderSceneFloat, or the flat background when no shape is left (a scene of the world has at least one). */
export function renderSceneOrBackground(scene: Scene, S: number, out: Float32Array): void {
  if (scene.shapes.length) { renderSceneFloat(scene, S, out, 0); return; }
  const bg = COLOURS[scene.background];
  for (let c = 0; c < 3; c++) out.fill(bg[c]! / 255, c * S * S, (c + 1) * S * S);
}

/** Room for A items of side S, with a weight plane when the term is weighted. */
export function emptyAlignItems(A: number, S: number, weighted: boolean): AlignItems {
  const P = 3 * S * S;
  const ctx = SHAPES_CONFIG.text.contextLength;
  return {
    pixels: new Float32Array(A * P), ids: new BigInt64Array(A * ctx), direction: new Float32Array(A * P), captions: [], targets: [],
    ...(weighted ? { weight: new Float32Array(A * P) } : {}),
  };
}

/** Whether pixel p (of S × S) of a scene's rendered picture is off its background colour: on a shape. */
export function isShapePixel(scene: Scene, picture: Float32Array, S: number, p: number): boolean {
  const bg = COLOURS[scene.background];
  for (let c = 0; c < 3; c++) if (Math.abs(picture[c * S * S + p]! - bg[c]! / 255) > 1e-3) return true;
  return false;
}

/** √λ where a shape of any of `pictures` is (a pixel off its scene's background colour), 1 elsewhere. Draws no randomness. */
export function shapeWeights(out: Float32Array, S: number, lambda: number, pictures: ReadonlyArray<readonly [Scene, Float32Array]>): void {
  const plane = S * S;
  const on = Math.sqrt(lambda);
  for (let p = 0; p < plane; p++) {
    const w = pictures.some(([scene, img]) => isShapePixel(scene, img, S, p)) ? on : 1;
    for (let c = 0; c < 3; c++) out[c * plane + p] = w;
  }
}

