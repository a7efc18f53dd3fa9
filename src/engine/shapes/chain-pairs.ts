/**
 * Paired items at the pictures synthesis reaches (`--align-pairs` with `--align-chains`): each chain
 * picture x is taken twice, once with its own caption t and once with a partner t′ one change away
 * (mostly the kind). The paired term (train/align-term.ts) then asks that g_t(x) − g_t′(x) point
 * along render(t) − render(t′).
 *
 * Why at the chains: synthesis stops at a blob of the right colour in the right cell, and there the
 * plain direction render(t) − x is mostly the walk's own noise and the blob's fuzz, which both
 * captions share, while the outline that tells a square from a star is a small share of it
 * (MODEL_CARD.md, "Why synthesis stops at blobs"). In the difference of the two directions the shared
 * part cancels exactly and only the outline is left, so the pair term trains the kind-specific part of
 * the gradient at the very pictures where it is missing.
 *
 * With `drop`, a two-shape picture's partner is sometimes its scene with one shape left out: the
 * difference of the two true pictures is then that shape alone, in its cell, the thing two-shape
 * syntheses most often leave undrawn ("nothing drawn there").
 */
import { canSwapColours, drawChange, shapesTokenizer, variantOf, type NearMissMix } from './batches.js';
import { captions } from './captions.js';
import { renderSceneFloat } from './render.js';
import type { Scene } from './world.js';

/**
 * The change between a chain's caption and its partner's: the kind half of the time, as in
 * align-pairs.ts. Its draw reads the random stream as the first pair runs did (one number a try).
 */
export const PAIR_MIX: NearMissMix = Object.freeze({ weights: Object.freeze({ kind: 3, position: 1, size: 1, colour: 1 }), perGroup: false });

export interface ChainPicture {
  /** [3, S, S] where the chain is. */
  pixels: Float32Array;
  /** [3, S, S] its caption's true picture. */
  truth: Float32Array;
  /** [ctx] its caption's ids. */
  ids: BigInt64Array;
  scene: Scene;
  caption: string;
}

export interface PairedChainItem {
  pixels: Float32Array;
  ids: BigInt64Array;
  /** The caption's true picture. */
  truth: Float32Array;
  /** truth − pixels */
  direction: Float32Array;
  scene: Scene;
  caption: string;
}

export interface PairOptions {
  /** Scenes no partner may be (training leaves out evaluation's). */
  exclude?: (s: Scene) => boolean;
  /** The chance that a two-shape scene's partner leaves one of its shapes out (default 0). */
  drop?: number;
  /** How the partner's one change is drawn (default PAIR_MIX); a swap only where the scene has two shapes of two colours. */
  mix?: NearMissMix;
}

/** The scene without one of its two shapes, drawn at random; null for a one-shape scene. */
export function withoutOneShape(scene: Scene, rand: () => number): Scene | null {
  if (scene.shapes.length !== 2) return null;
  const keep = scene.shapes[Math.floor(rand() * 2) === 0 ? 1 : 0]!;
  return { background: scene.background, shapes: [{ ...keep }] };
}

/**
 * The chain's own item followed by its partner's, at the same pixels. The partner is a one-change
 * variant of the chain's scene (or, with `drop`, the scene less one shape) that `exclude` allows; if
 * none drawn in 50 tries is allowed, a RangeError says so (the world always has a kind to change to).
 * With drop 0 the random stream is read exactly as without it.
 */
export function pairChainPicture(c: ChainPicture, size: number, rand: () => number, o: PairOptions = {}): [PairedChainItem, PairedChainItem] {
  const P = 3 * size * size;
  if (c.pixels.length !== P || c.truth.length !== P) throw new RangeError(`pairChainPicture: pictures must hold ${P} values, got ${c.pixels.length} and ${c.truth.length}`);
  const drop = o.drop ?? 0;
  if (!(drop >= 0 && drop <= 1)) throw new RangeError(`pairChainPicture: drop must be a probability in [0, 1], got ${drop}`);
  // Where the scene cannot swap, the mix draws among the changes it can take.
  const given = o.mix ?? PAIR_MIX;
  const mix = canSwapColours(c.scene) || !given.weights.swap ? given : { ...given, weights: { ...given.weights, swap: 0 } };
  if (!Object.values(mix.weights).some((w) => w! > 0)) throw new RangeError('pairChainPicture: the mix has no change this scene can take (a swap needs two shapes of two colours)');
  let partner: Scene | null = null;
  for (let tries = 0; tries < 50 && !partner; tries++) {
    const v = drop > 0 && c.scene.shapes.length === 2 && rand() < drop
      ? withoutOneShape(c.scene, rand)
      : variantOf(c.scene, drawChange(mix, rand), rand);
    if (v && !o.exclude?.(v)) partner = v;
  }
  if (!partner) throw new RangeError('pairChainPicture: no partner outside the excluded scenes in 50 tries');
  const truth = renderSceneFloat(partner, size);
  const caption = captions(partner, rand);
  const ids = BigInt64Array.from(shapesTokenizer().encode(caption, c.ids.length).ids, (id) => BigInt(id));
  const directionTo = (t: Float32Array): Float32Array => t.map((v, k) => v - c.pixels[k]!);
  return [
    { pixels: c.pixels, ids: c.ids, truth: c.truth, direction: directionTo(c.truth), scene: c.scene, caption: c.caption },
    { pixels: c.pixels, ids, truth, direction: directionTo(truth), scene: partner, caption },
  ];
}

