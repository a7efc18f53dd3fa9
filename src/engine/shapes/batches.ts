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

/** Pictures of `size` px (the demo model's by default) and one random phrasing each for the given scenes. */
export function batchOf(scenes: readonly Scene[], seed: number, size = SHAPES_CONFIG.vision.imageSize): ShapesBatch {
  const S = size;
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

export function makeBatch(seed: number, n: number, opts: SceneOptions = {}, size?: number): ShapesBatch {
  return batchOf(distinctScenes(seed, n, opts), seed, size);
}

export type Change = 'kind' | 'position' | 'size' | 'colour' | 'background' | 'swap';

/** Whether the swap change can be made: two shapes of two colours to exchange. */
export const canSwapColours = (scene: Scene): boolean => scene.shapes.length === 2 && scene.shapes[0]!.colour !== scene.shapes[1]!.colour;

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
      if (!canSwapColours(scene)) return null;
      [shapes[0]!.colour, shapes[1]!.colour] = [shapes[1]!.colour, shapes[0]!.colour];
      break;
    }
  }
  return { background: scene.background, shapes };
}

const CHANGES: readonly Change[] = ['kind', 'position', 'size', 'colour', 'background', 'swap'];

/**
 * How a group's near misses are chosen: each change's relative weight (missing: 0), and whether a
 * whole group shares one change (the scene in several kinds, or several cells), which makes the
 * model tell that one thing apart among many alternatives rather than from a single foil.
 */
export interface NearMissMix {
  weights: Partial<Record<Change, number>>;
  perGroup: boolean;
}

/** The mix the first models were trained with: every change alike, drawn for each variant. */
export const UNIFORM_MIX: NearMissMix = { weights: Object.fromEntries(CHANGES.map((c) => [c, 1])), perGroup: false };

/** A mix in parseMix's words, its changes in one order and those weighing 0 left out. */
export const mixText = (mix: NearMissMix): string => CHANGES.filter((c) => (mix.weights[c] ?? 0) > 0).map((c) => `${c}=${mix.weights[c]}`).join(',');

/** Parses "kind=3,position=3,size=1" (weights of the changes; unknown names refused). */
export function parseMix(text: string, perGroup: boolean): NearMissMix {
  const weights: Partial<Record<Change, number>> = {};
  for (const part of text.split(',').map((x) => x.trim()).filter(Boolean)) {
    const [name, value = '1'] = part.split('=');
    if (!CHANGES.includes(name as Change)) throw new RangeError(`unknown near-miss change "${name}"; the changes are ${CHANGES.join(', ')}`);
    const w = Number(value);
    if (!Number.isFinite(w) || w < 0) throw new RangeError(`the weight of "${name}" must be a number ≥ 0, got "${value}"`);
    weights[name as Change] = w;
  }
  if (!Object.values(weights).some((w) => w! > 0)) throw new RangeError('a near-miss mix needs at least one change with a weight above 0');
  return { weights, perGroup };
}

/** One change drawn by the mix's weights, reading one number from `rand`. */
export function drawChange(mix: NearMissMix, rand: () => number): Change {
  const total = CHANGES.reduce((a, c) => a + (mix.weights[c] ?? 0), 0);
  let x = rand() * total;
  for (const c of CHANGES) {
    x -= mix.weights[c] ?? 0;
    if (x < 0) return c;
  }
  // Rounding can leave x a hair above 0: the last change with weight is the one x fell in.
  return [...CHANGES].reverse().find((c) => (mix.weights[c] ?? 0) > 0)!;
}

/**
 * Distinct scenes in groups: a random scene and `group − 1` variants of it, each differing in one
 * thing (kind, position, size, a colour, the background, or which shape has which colour). In a
 * batch of unrelated scenes the colours alone tell almost every caption apart, and a model learns
 * little else; near-miss negatives make it learn the kind and the place as well.
 */
export function hardScenes(seed: number, n: number, group = 4, opts: SceneOptions = {}, mix: NearMissMix = UNIFORM_MIX): Scene[] {
  return hardGroups(seed, n, group, opts, mix).flat();
}

/** hardScenes, in its groups: each group's first scene and its variants. */
export function hardGroups(
  seed: number, n: number, group = 4, opts: SceneOptions = {}, mix: NearMissMix = UNIFORM_MIX, exclude?: (s: Scene) => boolean,
): Scene[][] {
  const r = rng(seed);
  const seen = new Set<string>();
  const groups: Scene[][] = [];
  // Every scene drawn is in `seen` and in one group: seen.size counts them.
  const add = (s: Scene, to: Scene[]): boolean => {
    const k = sceneKey(s);
    if (seen.has(k) || exclude?.(s)) return false;
    seen.add(k);
    to.push(s);
    return true;
  };
  for (let draws = 0; seen.size < n; draws++) {
    if (draws > 100 * n + 10_000) throw new RangeError(`could not draw ${n} distinct scenes; the world has fewer for these options`);
    const base = sampleScene(r, opts);
    const members: Scene[] = [];
    if (!add(base, members)) continue;
    groups.push(members);
    const shared = mix.perGroup ? drawChange(mix, r) : undefined;
    for (let tries = 0, made = 1; made < group && seen.size < n && tries < 4 * group; tries++) {
      const v = variantOf(base, shared ?? drawChange(mix, r), r);
      if (v && add(v, members)) made++;
    }
  }
  return groups;
}

export interface HardBatchOptions {
  /** Scenes per near-miss group (default 4). */
  group?: number;
  scene?: SceneOptions;
  mix?: NearMissMix;
  /** Picture side in px (default: the demo model's). */
  size?: number;
  /** Scenes never to use (training leaves out what evaluation keeps to itself: held-out.ts). */
  exclude?: (s: Scene) => boolean;
}

/** A near-miss batch, with each picture's partner: the next scene of its group, cyclically (itself when alone). */
export function makeHardBatch(seed: number, n: number, o: HardBatchOptions = {}): ShapesBatch & { partners: number[] } {
  const groups = hardGroups(seed, n, o.group ?? 4, o.scene ?? {}, o.mix ?? UNIFORM_MIX, o.exclude);
  const partners: number[] = [];
  for (const g of groups) {
    const first = partners.length;
    g.forEach((_, i) => partners.push(first + ((i + 1) % g.length)));
  }
  return { ...batchOf(groups.flat(), seed, o.size), partners };
}
