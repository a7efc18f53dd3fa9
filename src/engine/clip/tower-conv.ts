/**
 * clipag's conv image tower, outside open_clip's family: the CLIPAG authors' probe from issue 17,
 * which the demo model's gradient-alignment training needs (models/shapes/MODEL_CARD.md, "A tower
 * whose read-out keeps position"). A stack of convolutions, each followed by GroupNorm and GELU, a
 * 1×1 convolution and GELU, and the whole map flattened into one linear layer: no pooling, so every
 * cell of the map has its own weights into the embedding, and the input gradient can ask for
 * different things in different places (open_clip's attention pool and a ViT's class token mix
 * the cells before the read-out).
 *
 * Parameters are named after tools/torch/probe_model.py's ImageTower under `visual.`
 * (`visual.body.0.weight` is the first convolution, `visual.body.1.*` its GroupNorm), so the probe's
 * trained weights are a pack after a rename. GroupNorm is written with primitive ops, so our
 * autodiff takes first and second derivatives through it.
 */
import { A, type GraphBuilder, type Value } from '../onnx/builder.js';
import { gelu, linear, type ConvConfig, type Weights } from './tower-types.js';

/** torch.nn.GroupNorm's default epsilon. */
const GN_EPS = 1e-5;
/** nn.Sequential indices per stack layer: conv, GroupNorm, GELU. */
const PER_LAYER = 3;

/** State-dict names of stack layer i's convolution and GroupNorm (nn.Sequential: conv, GroupNorm, GELU). */
const layerNames = (i: number): { conv: string; norm: string } => ({ conv: `visual.body.${PER_LAYER * i}`, norm: `visual.body.${PER_LAYER * i + 1}` });

/** Zero-padding each side of a square kernel (the probe's: 1 for its 4×4 and 3×3 kernels). */
export const convPad = (kernel: number): number => Math.floor((kernel - 1) / 2);

/** The map's side after each layer, from the picture's. */
export function convSides(cfg: ConvConfig): number[] {
  let side = cfg.imageSize;
  return cfg.convs.map((c) => {
    side = Math.floor((side + 2 * convPad(c.kernel) - c.kernel) / c.stride) + 1;
    return side;
  });
}

/** Length of the flattened map the read-out sees. */
export function convFeatureDim(cfg: ConvConfig): number {
  const sides = convSides(cfg);
  const side = sides[sides.length - 1] ?? cfg.imageSize;
  return cfg.headChannels * side * side;
}

/** What the tower relies on, as one line naming the problem; null when the config is sound. */
export function convShapeError(cfg: ConvConfig): string | null {
  if (!Array.isArray(cfg.convs) || cfg.convs.length === 0) return 'convs should list at least one layer';
  for (const [i, c] of cfg.convs.entries()) {
    if (![c.channels, c.kernel, c.stride].every((n) => Number.isInteger(n) && n > 0)) {
      return `convs[${i}] should have positive whole channels, kernel and stride, got ${JSON.stringify(c)}`;
    }
    if (c.channels % cfg.groups !== 0) return `convs[${i}]: ${c.channels} channels do not split into ${cfg.groups} groups`;
  }
  const sides = convSides(cfg);
  const bad = sides.findIndex((s) => s < 1);
  if (bad >= 0) return `convs[${bad}] leaves no map of a ${cfg.imageSize}-px picture`;
  return null;
}

export interface ConvTensor {
  name: string;
  shape: number[];
}

/** Every tensor the tower reads, in the probe's state-dict order. */
export function convTensors(cfg: ConvConfig): ConvTensor[] {
  const out: ConvTensor[] = [];
  let inC = 3;
  cfg.convs.forEach((c, i) => {
    const { conv, norm } = layerNames(i);
    out.push({ name: `${conv}.weight`, shape: [c.channels, inC, c.kernel, c.kernel] }, { name: `${conv}.bias`, shape: [c.channels] });
    out.push({ name: `${norm}.weight`, shape: [c.channels] }, { name: `${norm}.bias`, shape: [c.channels] });
    inC = c.channels;
  });
  out.push({ name: 'visual.head.weight', shape: [cfg.headChannels, inC, 1, 1] }, { name: 'visual.head.bias', shape: [cfg.headChannels] });
  out.push({ name: 'visual.proj.weight', shape: [cfg.outputDim, convFeatureDim(cfg)] }, { name: 'visual.proj.bias', shape: [cfg.outputDim] });
  return out;
}

/** GroupNorm weights and biases: a gain of 1 and a shift of 0 at initialisation, as torch's. */
export const isGroupNormParam = (cfg: ConvConfig, name: string): boolean =>
  cfg.convs.some((_, i) => name === `${layerNames(i).norm}.weight` || name === `${layerNames(i).norm}.bias`);

function conv2d(b: GraphBuilder, x: Value, w: Weights, name: string, inC: number, outC: number, kernel: number, stride: number): Value {
  const pad = convPad(kernel);
  return b.op1('Conv', [x, w(`${name}.weight`, [outC, inC, kernel, kernel]), w(`${name}.bias`, [outC])], {
    kernel_shape: A.ints([kernel, kernel]),
    strides: A.ints([stride, stride]),
    pads: A.ints([pad, pad, pad, pad]),
  });
}

/** nn.GroupNorm(groups, c): each sample's channels in `groups` runs, normalised over the run and the map. */
function groupNorm(x: Value, w: Weights, name: string, c: number, groups: number, side: number): Value {
  const grouped = x.reshape([0, groups, (c / groups) * side * side]);
  const centred = grouped.sub(grouped.mean([2], true));
  const variance = centred.mul(centred).mean([2], true);
  const normed = centred.div(variance.add(GN_EPS).sqrt()).reshape([0, c, side, side]);
  return normed.mul(w(`${name}.weight`, [c]).reshape([1, c, 1, 1])).add(w(`${name}.bias`, [c]).reshape([1, c, 1, 1]));
}

/** The probe's image tower: [N, 3, S, S] pixels (already normalised) → [N, outputDim]. */
export function convTower(b: GraphBuilder, pixels: Value, cfg: ConvConfig, w: Weights): Value {
  const bad = convShapeError(cfg);
  if (bad) throw new Error(`vision tower: ${bad}`);
  const sides = convSides(cfg);
  let x = pixels;
  let inC = 3;
  cfg.convs.forEach((c, i) => {
    const { conv, norm } = layerNames(i);
    x = conv2d(b, x, w, conv, inC, c.channels, c.kernel, c.stride);
    x = gelu(groupNorm(x, w, norm, c.channels, cfg.groups, sides[i]!));
    inC = c.channels;
  });
  x = gelu(conv2d(b, x, w, 'visual.head', inC, cfg.headChannels, 1, 1));
  // torch's flatten(1) of NCHW: channel-major, then rows, then columns.
  const dim = convFeatureDim(cfg);
  return linear(x.reshape([0, dim]), w, 'visual.proj', dim, cfg.outputDim);
}
