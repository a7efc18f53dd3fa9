/**
 * The demo model's evaluation: zero-shot caption retrieval on held-out pictures, and syntheses
 * judged against the world's ground truth (judge.ts), for a robust and a vanilla model alike.
 * Held-out means drawn from seeds no training batch uses (training batches are seeded by
 * "<phase>:<seed>:<step>", these by "eval-…"), so no picture here was trained on; a scene's
 * *description* may still have occurred in training, as in any finite world.
 */
import { join } from 'node:path';
import { writeRgbPng, type RgbImage } from '../clip/image.js';
import { imagine } from '../pag/imagine.js';
import type { ClipModel } from '../pack/model.js';
import { cosine } from '../pack/model.js';
import { Tensor } from '../onnx/tensor.js';
import { hashName } from '../random.js';
import { batchOf, distinctScenes } from './batches.js';
import { parsePrompt } from './captions.js';
import { judgeImage, type Verdict } from './judge.js';
import { renderScene } from './render.js';
import type { Scene, SceneOptions } from './world.js';

/** Rendered pictures [N, 3, S, S] in [0, 1] (renderSceneFloat) as the model's normalised input. */
export function modelPixels(model: ClipModel, pixels: Float32Array): Tensor {
  const S = model.config.vision.imageSize;
  const { mean, std } = model.config;
  const plane = S * S;
  const normalised = new Float32Array(pixels.length);
  for (let i = 0; i < pixels.length; i++) {
    const c = Math.floor(i / plane) % 3;
    normalised[i] = (pixels[i]! - mean[c]!) / std[c]!;
  }
  return new Tensor('float32', [pixels.length / (3 * plane), 3, S, S], normalised);
}

const retrievalSeed = (opts: SceneOptions): number => hashName(`eval-retrieval:${opts.count ?? 'mixed'}`);

/** The scenes caption retrieval is measured on (the first n of one fixed sequence). */
export function retrievalScenes(n: number, opts: SceneOptions = {}): Scene[] {
  return distinctScenes(retrievalSeed(opts), n, opts);
}

/** Image → caption top-1 among `n` held-out scenes' captions (one phrasing each). */
export async function retrievalAccuracy(model: ClipModel, n = 500, opts: SceneOptions = {}): Promise<number> {
  if (!Number.isInteger(n) || n < 2) throw new RangeError(`caption retrieval needs at least 2 pictures, got ${n}`);
  const batch = batchOf(retrievalScenes(n, opts), retrievalSeed(opts), model.config.vision.imageSize);
  const img = await model.embedPixels(modelPixels(model, batch.pixels));
  const txt = await model.embedTexts(batch.captions);
  const E = model.config.embedDim;
  const I = img.data as Float32Array;
  const T = txt.data as Float32Array;
  const texts = Array.from({ length: n }, (_, j) => T.subarray(j * E, (j + 1) * E));
  let right = 0;
  for (let i = 0; i < n; i++) {
    const v = I.subarray(i * E, (i + 1) * E);
    let best = 0;
    let bestCos = -Infinity;
    for (let j = 0; j < n; j++) {
      const c = cosine(v, texts[j]!);
      if (c > bestCos) { bestCos = c; best = j; }
    }
    if (best === i) right++;
  }
  return right / n;
}

/** Held-out prompts: one caption of each of `n` distinct scenes. */
export function heldOutPrompts(n: number, opts: SceneOptions = {}, tag = 'eval-prompts'): string[] {
  return heldOutScenes(n, opts, tag).prompts;
}

/** heldOutPrompts with the scenes they were written from (what a perfect synthesis would draw). */
export function heldOutScenes(n: number, opts: SceneOptions = {}, tag = 'eval-prompts'): { scenes: Scene[]; prompts: string[] } {
  const seed = hashName(`${tag}:${opts.count ?? 'mixed'}`);
  const scenes = distinctScenes(seed, n, opts);
  return { scenes, prompts: batchOf(scenes, seed).captions };
}

/** Each scene's rendering as a PNG in `dir` (0.png, 1.png, …): start images for judgeSyntheses' `inits`. */
export async function writeTruePictures(scenes: readonly Scene[], dir: string): Promise<string[]> {
  return Promise.all(scenes.map(async (scene, i) => {
    const file = join(dir, `${i}.png`);
    await writeRgbPng(renderScene(scene), file);
    return file;
  }));
}

export interface JudgedSynthesis {
  prompt: string;
  image: RgbImage;
  score: number;
  verdict: Verdict;
}

export interface SynthesisOptions {
  steps?: number;
  views?: number;
  seed?: number;
  signal?: AbortSignal;
  /** Per prompt, an image file each synthesis starts from instead of the recipe's random start. */
  inits?: readonly string[];
  /** Recipe keys replacing the pack's for these syntheses. */
  recipe?: Readonly<Record<string, number>>;
  onResult?: (r: JudgedSynthesis, index: number) => void;
}

/** Synthesises each prompt (same seed for every model, so runs compare like for like) and judges it. */
export async function judgeSyntheses(model: ClipModel, prompts: readonly string[], o: SynthesisOptions = {}): Promise<JudgedSynthesis[]> {
  if (o.inits && o.inits.length !== prompts.length) throw new RangeError(`${o.inits.length} start images for ${prompts.length} prompts`);
  const out: JudgedSynthesis[] = [];
  for (const [i, prompt] of prompts.entries()) {
    const parts = parsePrompt(prompt);
    const r = await imagine(model, {
      prompt, seed: o.seed ?? 1000 + i,
      ...(o.inits ? { init: o.inits[i]! } : {}),
      ...(o.steps !== undefined ? { steps: o.steps } : {}),
      ...(o.views !== undefined ? { views: o.views } : {}),
      ...(o.recipe ? { recipe: o.recipe } : {}),
    }, { ...(o.signal ? { signal: o.signal } : {}) });
    const j: JudgedSynthesis = { prompt, image: r.image, score: r.score, verdict: judgeImage(r.image, parts) };
    out.push(j);
    o.onResult?.(j, i);
  }
  return out;
}

export const successRate = (rs: readonly JudgedSynthesis[]): number => (rs.length ? rs.filter((r) => r.verdict.ok).length / rs.length : 0);

/** Share of syntheses right in each part: background colour; every named colour in its cell; every shape (colour, cell and kind). */
export function partRates(rs: readonly JudgedSynthesis[]): { background: number; colourInPlace: number; shape: number } {
  const n = Math.max(1, rs.length);
  return {
    background: rs.filter((r) => r.verdict.background.ok).length / n,
    colourInPlace: rs.filter((r) => r.verdict.shapes.every((s) => s.colourOk)).length / n,
    shape: rs.filter((r) => r.verdict.shapes.every((s) => s.ok)).length / n,
  };
}

/**
 * Per named kind, over every shape the prompts name: how many, how many judged right, and what
 * the judge read the rest as (its best-matching kind, or `no blob` where no blob of the named
 * colour filled the cell).
 */
export function kindBreakdown(rs: readonly JudgedSynthesis[]): Record<string, { named: number; right: number; readAs: Record<string, number> }> {
  const out: Record<string, { named: number; right: number; readAs: Record<string, number> }> = {};
  for (const r of rs) {
    for (const s of r.verdict.shapes) {
      const k = (out[s.want.kind] ??= { named: 0, right: 0, readAs: {} });
      k.named++;
      if (s.ok) { k.right++; continue; }
      const as = s.colourOk ? String(s.kind) : 'no blob';
      k.readAs[as] = (k.readAs[as] ?? 0) + 1;
    }
  }
  return out;
}
