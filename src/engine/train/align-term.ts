/**
 * The gradient-alignment term (Ganz, Kawar & Elad, ICML 2023: train the input gradients to be
 * perceptually aligned directly). For a picture x and a caption t whose true picture is known, the
 * direction that perceptually means "more like t" is render(t) − x; the term asks the model's own
 * input gradient ∂cos(f(x), g(t))/∂x to point that way:
 *
 *   align = mean over items of 1 − cos(∂cos(f(xᵢ), g(tᵢ))/∂xᵢ, dᵢ)
 *
 * Paired (items 2m and 2m+1 share their picture), it adds the mean over pairs of
 * 1 − cos(g₂ₘ − g₂ₘ₊₁, d₂ₘ − d₂ₘ₊₁): what tells two captions apart must point from one picture to the other.
 *
 * With `truth`, it adds a term that ranks each item's true picture above the item's own picture for
 * its caption, as the model's softmax would rank two pictures for one caption:
 *
 *   truth = mean over items of softplus(s · (cos(f(xᵢ), g(tᵢ)) − cos(f(xᵢ + dᵢ), g(tᵢ))))
 *
 * (s the logit scale; xᵢ + dᵢ is the true picture). Synthesis climbs the caption's cosine, so where a
 * picture it reaches outscores the truth (two-shape scenes, measured: models/shapes/MODEL_CARD.md)
 * it will draw that picture however well its gradient points; with chain items as x this is
 * contrastive divergence's negative phase, the model's own samples pushed below the data.
 *
 * Differentiating it with respect to the weights needs gradients of a graph that already holds
 * gradient nodes (second-order autodiff), which is why it is its own graph piece.
 */
import { gradients } from '../onnx/autodiff.js';
import type { GraphBuilder, Value } from '../onnx/builder.js';
import { Tensor } from '../onnx/tensor.js';

/** Inputs the term adds to a training graph, and its outputs. */
export const ALIGN_INPUTS = { pixels: 'align_pixels', ids: 'align_ids', direction: 'align_direction', weight: 'align_weight' } as const;
export const ALIGN_OUTPUTS = { loss: 'align_loss', cos: 'align_cos', pairCos: 'align_pair_cos', truthGap: 'align_truth_gap' } as const;

/** Keeps the cosine finite where a gradient or a direction is all zeros. */
const TINY = 1e-12;

export interface AlignTowers {
  /** Unit image embeddings [A, E] of pixels [A, 3, S, S] in [0, 1]. */
  image(pixels: Value): Value;
  /** Unit text embeddings [A, E] of ids [A, ctx]. */
  text(ids: Value): Value;
}

/** The truth ranking's weight beside the alignment term's (1), and the model's logit scale (a graph value). */
export interface TruthRanking {
  weight: number;
  scale: Value;
}

/**
 * Adds the term for A items: `align_pixels` [A,3,S,S], `align_ids` [A,ctx] and `align_direction`
 * [A,3,S,S] (render(t) − x, computed by the caller). Returns the scalar loss, and outputs
 * `align_loss` and each item's cosine `align_cos` [A] (what training logs); with `truth`, each item's
 * cos(x, t) − cos(truth, t) as `align_truth_gap` [A].
 */
export function alignTerm(b: GraphBuilder, towers: AlignTowers, A: number, size: number, contextLength: number, weighted = false, paired = false, truth?: TruthRanking): Value {
  if (paired && A % 2 !== 0) throw new RangeError(`paired alignment items come in pairs: need an even number, got ${A}`);
  if (!Number.isInteger(A) || A < 1) throw new RangeError(`the alignment term needs at least 1 item, got ${A}`);
  const x = b.input(ALIGN_INPUTS.pixels, 'float32', [A, 3, size, size]);
  const ids = b.input(ALIGN_INPUTS.ids, 'int64', [A, contextLength]);
  const dir = b.input(ALIGN_INPUTS.direction, 'float32', [A, 3, size, size]);
  // Summing the items' cosines gives each picture its own gradient: the towers treat items
  // independently (LayerNorm; a ResNet's BatchNorm on running statistics, as in synthesis), so no
  // item's score depends on another's pixels.
  const txt = towers.text(ids);
  const itemCos = b.reduce('ReduceSum', towers.image(x).mul(txt), [1], false);
  const score = b.reduce('ReduceSum', itemCos, [0], false);
  const [g] = gradients(b, score, [x]);
  const flat = (v: Value): Value => v.reshape([A, 3 * size * size]);
  // Weighted: `align_weight` [A,3,S,S] holds √w per pixel, so the cosine is ⟨g, d⟩_w / (‖g‖_w ‖d‖_w). In
  // this world a shape covers ~6 % of a picture and ~15 % of ‖d‖²: a gradient that paints only the
  // background already scores cos ≈ 0.9, so unweighted the term says little about shapes.
  const w = weighted ? b.input(ALIGN_INPUTS.weight, 'float32', [A, 3, size, size]) : undefined;
  const gf = flat(w ? g!.mul(w) : g!);
  const df = flat(w ? dir.mul(w) : dir);
  const norm = (v: Value): Value => b.reduce('ReduceSumSquare', v, [1], false).add(b.scalar(TINY, 'float32')).sqrt();
  const cosOf = (u: Value, v: Value): Value => b.reduce('ReduceSum', u.mul(v), [1], false).div(norm(u).mul(norm(v)));
  const cos = cosOf(gf, df);
  let loss = b.reduce('ReduceMean', b.scalar(1, 'float32').sub(cos), [0], false);
  b.output(cos, ALIGN_OUTPUTS.cos);
  if (paired) {
    // Paired items (shapes/align-pairs.ts): 2m and 2m+1 share x, so the difference of their
    // gradients should point along render(t) − render(t′), the difference of their directions.
    const P = 3 * size * size;
    const sign = b.constant(Tensor.float32([1, 2, 1], [1, -1]));
    const diff = (v: Value): Value => b.reduce('ReduceSum', v.reshape([A / 2, 2, P]).mul(sign), [1], false);
    const pairCos = cosOf(diff(gf), diff(df));
    b.output(pairCos, ALIGN_OUTPUTS.pairCos);
    loss = loss.add(b.reduce('ReduceMean', b.scalar(1, 'float32').sub(pairCos), [0], false));
  }
  if (truth) {
    if (!(truth.weight > 0 && Number.isFinite(truth.weight))) throw new RangeError(`the truth ranking's weight must be > 0, got ${truth.weight}`);
    const gap = itemCos.sub(b.reduce('ReduceSum', towers.image(x.add(dir)).mul(txt), [1], false));
    b.output(gap, ALIGN_OUTPUTS.truthGap);
    const softplus = b.op1('Softplus', [gap.mul(truth.scale)]);
    loss = loss.add(b.reduce('ReduceMean', softplus, [0], false).mul(b.scalar(truth.weight, 'float32')));
  }
  b.output(loss, ALIGN_OUTPUTS.loss);
  return loss;
}
