/**
 * Alignment items from synthesis chains: the last `chains` items of a step become the pictures
 * persistent chains have climbed to, each with the direction to its caption's true picture. A chain
 * climbs as synthesis does: its caption's cosine, over 4 views (±2 px shifts, noise 0.03). On the
 * issue-17 probe, chains climbing the batch's contrastive loss without views gained a third as much
 * (15 % against 38 % on held-out one-shape prompts).
 */
import type { NearMissMix, ShapesBatch } from '../../src/engine/shapes/batches.js';
import { shapeWeights, type AlignItems } from '../../src/engine/shapes/align-items.js';
import { pairChainPicture } from '../../src/engine/shapes/chain-pairs.js';
import { isHeldOut } from '../../src/engine/shapes/held-out.js';
import type { Scene } from '../../src/engine/shapes/world.js';
import type { ChainGradient, ChainSource, SynthesisChains } from '../../src/engine/train/synthesis-chains.js';

export interface ChainItemOptions {
  /** Items taken from chains, at the end of the step's items. */
  chains: number;
  /** Each chain picture taken twice, with its caption and a one-change partner's (shapes/chain-pairs.ts). */
  paired: boolean;
  /** The step's items in all. */
  items: number;
  /** Picture side in pixels. */
  size: number;
  /** Token ids per caption. */
  context: number;
  /** Weight of shape pixels in the term (0: unweighted). */
  shapeWeight: number;
  slots: SynthesisChains<{ scene: Scene; caption: string }>;
  /** Synthesis's gradient through its views, at the current parameters. */
  grad: ChainGradient;
  /** Draws the pairs' partners. */
  pairRand: () => number;
  /** Paired: the chance a two-shape picture's partner leaves a shape out (shapes/chain-pairs.ts). */
  drop: number;
  /** Paired: how the partner's change is drawn (shapes/chain-pairs.ts). */
  mix: NearMissMix;
  /**
   * The share of restarted chains given a two-shape caption, drawn from the batch's scenes of that
   * count; undefined: the batch's own mix (half).
   */
  twoShapes?: number;
  /** Draws each restart's count when `twoShapes` is set. */
  countRand?: () => number;
}

/**
 * The batch as the chains' source: as it is, or resampled so a caption is a two-shape one with
 * chance p (each count's scenes drawn from the batch's own). Only restarted slots read it.
 */
export function chainSource(batch: ShapesBatch, P: number, ctx: number, p: number | undefined, rand: (() => number) | undefined): ChainSource<{ scene: Scene; caption: string }> {
  const tags = batch.scenes.map((scene, i) => ({ scene, caption: batch.captions[i]! }));
  if (p === undefined || !rand) return { pixels: batch.pixels, ids: batch.ids, tags };
  const byCount = [1, 2].map((n) => batch.scenes.flatMap((sc, i) => (sc.shapes.length === n ? [i] : [])));
  const n = batch.scenes.length;
  const pixels = new Float32Array(n * P);
  const ids = new BigInt64Array(n * ctx);
  const picked = Array.from({ length: n }, () => {
    const pool = byCount[rand() < p ? 1 : 0]!;
    // A batch without scenes of the wanted count keeps its own mix for that draw.
    return pool.length ? pool[Math.floor(rand() * pool.length)]! : Math.floor(rand() * n);
  });
  picked.forEach((j, i) => {
    pixels.set(batch.pixels.subarray(j * P, (j + 1) * P), i * P);
    ids.set(batch.ids.subarray(j * ctx, (j + 1) * ctx), i * ctx);
  });
  return { pixels, ids, tags: picked.map((j) => tags[j]!) };
}

/** Chain pictures a step takes: paired, each serves two items. */
export const chainPictures = (o: { chains: number; paired: boolean }): number => (o.paired ? o.chains / 2 : o.chains);

/**
 * Returns the step's taker: it writes the chain items into `items` and returns how far the chains
 * are from their true pictures (rms per pixel), which says whether synthesis gets there.
 */
export function chainItemTaker(o: ChainItemOptions): (items: AlignItems, batch: ShapesBatch) => Promise<number> {
  const P = 3 * o.size * o.size;
  const ctx = o.context;
  const per = o.paired ? 2 : 1;
  return async (items, batch) => {
    const got = await o.slots.advance(chainPictures(o), chainSource(batch, P, ctx, o.twoShapes, o.countRand), o.grad);
    const taken = Array.from({ length: got.tags.length }, (_, i) => ({
      pixels: got.pixels.subarray(i * P, (i + 1) * P),
      truth: got.truth.subarray(i * P, (i + 1) * P),
      direction: got.direction.subarray(i * P, (i + 1) * P),
      ids: got.ids.subarray(i * ctx, (i + 1) * ctx),
      ...got.tags[i]!,
    }));
    const chosen = o.paired ? taken.flatMap((c) => pairChainPicture(c, o.size, o.pairRand, { exclude: isHeldOut, drop: o.drop, mix: o.mix })) : taken;
    const first = o.items - o.chains;
    chosen.forEach((c, i) => {
      const at = first + i;
      items.pixels.set(c.pixels, at * P);
      items.direction.set(c.direction, at * P);
      items.ids.set(c.ids, at * ctx);
      items.targets[at] = c.scene;
      items.captions[at] = c.caption;
    });
    if (items.weight) {
      // √λ on the shapes of every caption an item's picture is taken with (both of a pair's).
      for (let i = 0; i < o.chains; i += per) {
        const group = chosen.slice(i, i + per);
        const w = items.weight.subarray((first + i) * P, (first + i + 1) * P);
        shapeWeights(w, o.size, o.shapeWeight, group.map((c) => [c.scene, c.truth] as const));
        for (let k = 1; k < group.length; k++) items.weight.set(w, (first + i + k) * P);
      }
    }
    return Math.sqrt(got.direction.reduce((a, d) => a + d * d, 0) / got.direction.length);
  };
}
