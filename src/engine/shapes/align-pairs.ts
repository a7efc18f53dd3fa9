/**
 * Paired items for the gradient-alignment term: two captions one change apart (mostly the kind of a
 * shape) at one shared picture x. Their gradients' difference should point along the difference of
 * their pictures, render(t) − render(t′): the outline that tells a circle from a square, which
 * carries so little of render(t) − x's energy that the plain term hardly rewards it
 * (tools/grad-at-start.ts: aligned models' gradients at a start reach cosine 0.96 on the
 * background and 0.14 on the shapes).
 *
 * Items 2m and 2m+1 are a pair. x = (1 − α)·z + α·(render(t) + render(t′))/2 + σ·noise: halfway
 * between the two pictures, so neither caption is favoured by x itself; z flat grey or synthesis's
 * smooth noise start. Each item's direction is its own render(t) − x, as in align-items.ts, so the
 * per-item term applies to them unchanged.
 */
import { gaussian, rng } from '../random.js';
import { lowFrequencyNoise } from '../pag/init.js';
import { emptyAlignItems, shapeWeights, type AlignItemOptions, type AlignItems } from './align-items.js';
import { shapesTokenizer, variantOf, type Change } from './batches.js';
import { captions } from './captions.js';
import { SHAPES_CONFIG } from './model-config.js';
import { renderSceneFloat } from './render.js';
import { sampleScene, type Scene } from './world.js';

/** The change between a pair's captions: the kind half of the time, as that is what the plain term misses. */
const PAIR_CHANGES: readonly Change[] = ['kind', 'kind', 'kind', 'position', 'size', 'colour'];
const GREY = 0.5;

/** A items (A even) in A/2 pairs, a pure function of the seed. `nearMiss` is not used. */
export function alignPairs(seed: number, A: number, o: AlignItemOptions): AlignItems {
  if (!Number.isInteger(A) || A < 2 || A % 2 !== 0) throw new RangeError(`paired alignment items come in pairs: need an even number ≥ 2, got ${A}`);
  const S = o.size;
  const P = 3 * S * S;
  const ctx = SHAPES_CONFIG.text.contextLength;
  const alphaMax = o.alphaMax ?? 0.9;
  const sigmaMax = o.sigmaMax ?? 0.08;
  const r = rng(seed);
  const gauss = (): number => gaussian(r);
  const tok = shapesTokenizer();
  const lambda = o.shapeWeight ?? 0;
  const out = emptyAlignItems(A, S, lambda > 0);
  const pictures = [new Float32Array(P), new Float32Array(P)] as const;
  const start = new Float32Array(P);
  for (let m = 0; m < A / 2; m++) {
    let pair: [Scene, Scene] | undefined;
    while (!pair) {
      const scene = sampleScene(r, { twoShapes: o.twoShapes ?? 0.5 });
      if (o.exclude?.(scene)) continue;
      const other = variantOf(scene, PAIR_CHANGES[Math.floor(r() * PAIR_CHANGES.length)]!, r);
      if (other && !o.exclude?.(other)) pair = [scene, other];
    }
    pair.forEach((s, k) => renderSceneFloat(s, S, pictures[k], 0));
    if (r() < 0.5) start.fill(GREY);
    else start.set(lowFrequencyNoise(S, r, gauss));
    const alpha = alphaMax * r();
    const sigma = sigmaMax * r();
    const x = out.pixels.subarray(2 * m * P, (2 * m + 1) * P);
    for (let k = 0; k < P; k++) {
      const v = (1 - alpha) * start[k]! + (alpha * (pictures[0][k]! + pictures[1][k]!)) / 2 + sigma * gauss();
      x[k] = v < 0 ? 0 : v > 1 ? 1 : v;
    }
    out.pixels.copyWithin((2 * m + 1) * P, 2 * m * P, (2 * m + 1) * P);
    for (let k = 0; k < 2; k++) {
      const i = 2 * m + k;
      const d = out.direction.subarray(i * P, (i + 1) * P);
      const picture = pictures[k === 0 ? 0 : 1];
      for (let q = 0; q < P; q++) d[q] = picture[q]! - x[q]!;
      const text = captions(pair[k]!, r);
      out.captions.push(text);
      out.targets.push(pair[k]!);
      tok.encode(text, ctx).ids.forEach((id, j) => { out.ids[i * ctx + j] = BigInt(id); });
    }
    // √λ on either picture's shapes, for both items of the pair.
    if (out.weight) {
      const first = out.weight.subarray(2 * m * P, (2 * m + 1) * P);
      shapeWeights(first, S, lambda, [[pair[0], pictures[0]], [pair[1], pictures[1]]]);
      out.weight.set(first, (2 * m + 1) * P);
    }
  }
  return out;
}
