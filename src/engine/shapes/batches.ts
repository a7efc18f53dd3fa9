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
import { sampleScene, type Scene, type SceneOptions } from './world.js';

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

/** Distinct scenes from one seed (by sceneKey). */
export function distinctScenes(seed: number, n: number, opts: SceneOptions = {}): Scene[] {
  const r = rng(seed);
  const seen = new Set<string>();
  const out: Scene[] = [];
  while (out.length < n) {
    const s = sampleScene(r, opts);
    const k = sceneKey(s);
    if (seen.has(k)) continue;
    seen.add(k);
    out.push(s);
  }
  return out;
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
