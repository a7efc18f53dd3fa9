/**
 * Training and evaluation batches of Shapes-world pictures with captions, as the tensors the
 * contrastive graph reads. A batch is a pure function of its seed, so a resumed training run
 * sees exactly the batches an uninterrupted one would; within a batch every scene differs in
 * what a caption can say, so no caption is a false negative for another picture.
 */
import { WordTokenizer } from '../clip/tokenizer-word.js';
import { rng } from '../random.js';
import { captions } from './captions.js';
import { SHAPES_CONFIG, SHAPES_TOKENIZER } from './model-config.js';
import { renderSceneFloat } from './render.js';
import { COLOUR_NAMES, POSITIONS, SHAPE_KINDS, sampleScene, type Scene, type SceneOptions } from './world.js';

export interface ShapesBatch {
  /** [n, 3, S, S] in [0, 1]. */
  pixels: Float32Array;
  /** [n, context] token ids. */
  ids: BigInt64Array;
  captions: string[];
  scenes: Scene[];
}

/** What a caption can tell apart: everything but the drawing jitter and the order of the shapes. */
export function sceneKey(scene: Scene): string {
  const shapes = scene.shapes.map((s) => `${s.size} ${s.colour} ${s.kind} ${s.position}`).sort();
  return `${scene.background}|${shapes.join('|')}`;
}

let tokenizer: WordTokenizer | undefined;
export function shapesTokenizer(): WordTokenizer {
  const spec = SHAPES_TOKENIZER as Extract<typeof SHAPES_TOKENIZER, { kind: 'word' }>;
  tokenizer ??= new WordTokenizer({ words: spec.words as readonly string[], sot: spec.sot, eot: spec.eot, pad: spec.pad, vocabSize: spec.vocabSize });
  return tokenizer;
}

/** Distinct scenes from one seed (by sceneKey): hardScenes without the near misses. */
export function distinctScenes(seed: number, n: number, opts: SceneOptions = {}): Scene[] {
  return hardScenes(seed, n, 1, opts);
}

/** Pictures and one random phrasing each for the given scenes. */
export function batchOf(scenes: readonly Scene[], seed: number): ShapesBatch {
  const S = SHAPES_CONFIG.vision.imageSize;
  const ctx = SHAPES_CONFIG.text.contextLength;
  const tok = shapesTokenizer();
  const r = rng(seed ^ 0x5bd1e995);
  const n = scenes.length;
  const pixels = new Float32Array(n * 3 * S * S);
  const ids = new BigInt64Array(n * ctx);
  const texts: string[] = [];
  scenes.forEach((scene, i) => {
    renderSceneFloat(scene, S, pixels, i * 3 * S * S);
    const text = captions(scene, r);
    texts.push(text);
    tok.encode(text, ctx).ids.forEach((id, j) => { ids[i * ctx + j] = BigInt(id); });
  });
  return { pixels, ids, captions: texts, scenes: [...scenes] };
}

export function makeBatch(seed: number, n: number, opts: SceneOptions = {}): ShapesBatch {
  return batchOf(distinctScenes(seed, n, opts), seed);
}

type Change = 'kind' | 'position' | 'size' | 'colour' | 'background' | 'swap';

/** The scene with exactly one thing a caption would say differently, or null when that change is impossible. */
export function variantOf(scene: Scene, change: Change, rand: () => number): Scene | null {
  const pick = <T>(xs: readonly T[]): T | null => (xs.length ? xs[Math.min(xs.length - 1, Math.floor(rand() * xs.length))]! : null);
  const shapes = scene.shapes.map((s) => ({ ...s }));
  const i = Math.floor(rand() * shapes.length);
  const s = shapes[i]!;
  const used = new Set(shapes.map((x) => x.colour));
  switch (change) {
    case 'kind': {
      const k = pick(SHAPE_KINDS.filter((x) => x !== s.kind));
      if (!k) return null;
      s.kind = k;
      break;
    }
    case 'position': {
      const p = pick(POSITIONS.filter((x) => !shapes.some((y) => y.position === x)));
      if (!p) return null;
      s.position = p;
      break;
    }
    case 'size':
      s.size = s.size === 'big' ? 'small' : 'big';
      break;
    case 'colour': {
      const c = pick(COLOUR_NAMES.filter((x) => x !== scene.background && x !== s.colour));
      if (!c) return null;
      s.colour = c;
      break;
    }
    case 'background': {
      const c = pick(COLOUR_NAMES.filter((x) => x !== scene.background && !used.has(x)));
      if (!c) return null;
      return { background: c, shapes };
    }
    case 'swap': {
      // Binding: the same words with the two shapes' colours exchanged.
      if (shapes.length !== 2 || shapes[0]!.colour === shapes[1]!.colour) return null;
      [shapes[0]!.colour, shapes[1]!.colour] = [shapes[1]!.colour, shapes[0]!.colour];
      break;
    }
  }
  return { background: scene.background, shapes };
}

const CHANGES: readonly Change[] = ['kind', 'position', 'size', 'colour', 'background', 'swap'];

/**
 * Distinct scenes in groups: a random scene and `group − 1` variants of it, each differing in one
 * thing (kind, position, size, a colour, the background, or which shape has which colour). In a
 * batch of unrelated scenes the colours alone tell almost every caption apart, and a model learns
 * little else; near-miss negatives make it learn the kind and the place as well.
 */
export function hardScenes(seed: number, n: number, group = 4, opts: SceneOptions = {}): Scene[] {
  const r = rng(seed);
  const seen = new Set<string>();
  const out: Scene[] = [];
  const add = (s: Scene): boolean => {
    const k = sceneKey(s);
    if (seen.has(k)) return false;
    seen.add(k);
    out.push(s);
    return true;
  };
  for (let draws = 0; out.length < n; draws++) {
    if (draws > 100 * n + 10_000) throw new RangeError(`could not draw ${n} distinct scenes; the world has fewer for these options`);
    const base = sampleScene(r, opts);
    if (!add(base)) continue;
    for (let tries = 0, made = 1; made < group && out.length < n && tries < 4 * group; tries++) {
      const v = variantOf(base, CHANGES[Math.floor(r() * CHANGES.length)]!, r);
      if (v && add(v)) made++;
    }
  }
  return out;
}

export function makeHardBatch(seed: number, n: number, group = 4, opts: SceneOptions = {}): ShapesBatch {
  return batchOf(hardScenes(seed, n, group, opts), seed);
}
