// The window ops' gradient building blocks: a ConvTranspose that scatters a window op's output
// gradient back onto its input, the weight gradient as a Conv, the bias gradient as a sum.
import type { Dim } from '../ir.js';
import { A, fmtShape, type AttrInput, type GraphBuilder, type Value } from '../builder.js';
import { Tensor } from '../tensor.js';
import { effective, range, type Geometry } from './conv-window.js';

export const int64 = (b: GraphBuilder, dims: number[], values: number[]): Value => b.constant(Tensor.int64(dims, values), 'ints');

/** Keeps the first `want[i]` elements of each spatial axis where the op produced `have[i]`. */
export function crop(b: GraphBuilder, v: Value, have: number[], want: number[]): Value {
  if (have.every((h, i) => h === want[i])) return v;
  const axes = range(want.length, 2);
  return b.op1('Slice', [v, b.constInt64(want.map(() => 0)), b.constInt64(want), b.constInt64(axes)]);
}

/**
 * ConvTranspose attributes that scatter a window op's output gradient back onto exactly `size`
 * input positions: output index t of the uncropped transpose is padded-input index t, so crop
 * `begin` at the front and whatever is left beyond `size` at the back; when the windows stopped
 * short of the input's end, output_padding (always < stride) supplies the missing zeros.
 */
export function adjointAttrs(g: Geometry, group = 1): Record<string, AttrInput> {
  const end: number[] = [];
  const outputPadding: number[] = [];
  g.size.forEach((size, i) => {
    const full = g.strides[i]! * (g.out[i]! - 1) + effective(g.kernel[i]!, g.dilations[i]!);
    const rest = full - g.begin[i]! - size;
    end.push(Math.max(0, rest));
    outputPadding.push(Math.max(0, -rest));
  });
  return {
    strides: A.ints(g.strides),
    dilations: A.ints(g.dilations),
    pads: A.ints([...g.begin, ...end]),
    output_padding: A.ints(outputPadding),
    group: A.int(group),
  };
}

/**
 * dW[m, c, j] = Σ_n Σ_o dY[n, m, o] · Xpad[n, c, o·s + j·d]: a Conv whose batch is X's channels and
 * whose kernel is dY (batch as its input channels), with the forward stride as its dilation and the
 * forward dilation as its stride. Groups become the Conv's groups after moving the group axis next
 * to the batch. The end padding is trimmed to what the last window needs; any extra kernel
 * positions the correlation still yields are sliced off. wShape is [M, C/group, kernel…].
 */
export function weightGrad(b: GraphBuilder, x: Value, dy: Value, g: Geometry, group: number, wShape: Dim[]): Value {
  const k = g.size.length;
  const sp = range(k, 2);
  let xT: Value;
  let dyT: Value;
  if (group === 1) {
    xT = x.transpose([1, 0, ...sp]);
    dyT = dy.transpose([1, 0, ...sp]);
  } else {
    const [m, cg] = wShape;
    if (typeof m !== 'number' || typeof cg !== 'number') throw new Error(`grouped weight gradient needs static channel counts, the weight has shape ${fmtShape(wShape)}`);
    const sp3 = range(k, 3);
    xT = x.reshape([0, group, cg, ...g.size]).transpose([2, 1, 0, ...sp3]).reshape([cg, -1, ...g.size]);
    dyT = dy.reshape([0, group, m / group, ...g.out]).transpose([1, 2, 0, ...sp3]).reshape([m, -1, ...g.out]);
  }
  const reach = g.out.map((o, i) => g.strides[i]! * (o - 1) + 1);
  const end = g.size.map((size, i) => Math.max(0, reach[i]! + g.dilations[i]! * (g.kernel[i]! - 1) - size - g.begin[i]!));
  const produced = g.size.map((size, i) => Math.floor((size + g.begin[i]! + end[i]! - reach[i]!) / g.dilations[i]!) + 1);
  const corr = b.op1('Conv', [xT, dyT], {
    strides: A.ints(g.dilations),
    dilations: A.ints(g.strides),
    pads: A.ints([...g.begin, ...end]),
    group: A.int(group),
  });
  return crop(b, corr, produced, g.kernel).transpose([1, 0, ...sp]);
}

/** dB = ΣdY over the batch and spatial axes. */
export const biasGrad = (dy: Value): Value => dy.sum([0, ...range(dy.rank - 2, 2)]);
