/**
 * The gradient-alignment term (Ganz, Kawar & Elad, ICML 2023: train the input gradients to be
 * perceptually aligned directly). For a picture x and a caption t whose true picture is known, the
 * direction that perceptually means "more like t" is render(t) − x; the term asks the model's own
 * input gradient ∂cos(f(x), g(t))/∂x to point that way:
 *
 *   align = mean over items of 1 − cos(∂cos(f(xᵢ), g(tᵢ))/∂xᵢ, dᵢ)
 *
 * Differentiating it with respect to the weights needs gradients of a graph that already holds
 * gradient nodes (second-order autodiff), which is why it is its own graph piece.
 */
import { gradients } from '../onnx/autodiff.js';
import type { GraphBuilder, Value } from '../onnx/builder.js';

/** Inputs the term adds to a training graph, and its outputs. */
export const ALIGN_INPUTS = { pixels: 'align_pixels', ids: 'align_ids', direction: 'align_direction', weight: 'align_weight' } as const;
export const ALIGN_OUTPUTS = { loss: 'align_loss', cos: 'align_cos' } as const;

/** Keeps the cosine finite where a gradient or a direction is all zeros. */
const TINY = 1e-12;

export interface AlignTowers {
  /** Unit image embeddings [A, E] of pixels [A, 3, S, S] in [0, 1]. */
  image(pixels: Value): Value;
  /** Unit text embeddings [A, E] of ids [A, ctx]. */
  text(ids: Value): Value;
}

/**
 * Adds the term for A items: `align_pixels` [A,3,S,S], `align_ids` [A,ctx] and `align_direction`
 * [A,3,S,S] (render(t) − x, computed by the caller). Returns the scalar loss, and outputs
 * `align_loss` and each item's cosine `align_cos` [A] (what training logs).
 */
export function alignTerm(b: GraphBuilder, towers: AlignTowers, A: number, size: number, contextLength: number, weighted = false): Value {
  if (!Number.isInteger(A) || A < 1) throw new RangeError(`the alignment term needs at least 1 item, got ${A}`);
  const x = b.input(ALIGN_INPUTS.pixels, 'float32', [A, 3, size, size]);
  const ids = b.input(ALIGN_INPUTS.ids, 'int64', [A, contextLength]);
  const dir = b.input(ALIGN_INPUTS.direction, 'float32', [A, 3, size, size]);
  // Summing the items' cosines gives each picture its own gradient: the towers treat items
  // independently (LayerNorm; a ResNet's BatchNorm on running statistics, as in synthesis), so no
  // item's score depends on another's pixels.
  const score = b.reduce('ReduceSum', towers.image(x).mul(towers.text(ids)), [0, 1], false);
  const [g] = gradients(b, score, [x]);
  const flat = (v: Value): Value => v.reshape([A, 3 * size * size]);
  // Weighted: `align_weight` [A,3,S,S] holds √w per pixel, so the cosine is ⟨g, d⟩_w / (‖g‖_w ‖d‖_w). In
  // this world a shape covers ~6 % of a picture and ~15 % of ‖d‖²: a gradient that paints only the
  // background already scores cos ≈ 0.9, so unweighted the term says little about shapes.
  const w = weighted ? b.input(ALIGN_INPUTS.weight, 'float32', [A, 3, size, size]) : undefined;
  const gf = flat(w ? g!.mul(w) : g!);
  const df = flat(w ? dir.mul(w) : dir);
  const dot = b.reduce('ReduceSum', gf.mul(df), [1], false);
  const norm = (v: Value): Value => b.reduce('ReduceSumSquare', v, [1], false).add(b.scalar(TINY, 'float32')).sqrt();
  const cos = dot.div(norm(gf).mul(norm(df)));
  const loss = b.reduce('ReduceMean', b.scalar(1, 'float32').sub(cos), [0], false);
  b.output(cos, ALIGN_OUTPUTS.cos);
  b.output(loss, ALIGN_OUTPUTS.loss);
  return loss;
}
