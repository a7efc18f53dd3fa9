// Op family conv: sliding windows over the spatial axes of [N, C, D1 … Dk] tensors.
// Conv and ConvTranspose are each other's adjoint, so every gradient here is another window op:
//   Conv:          dX = ConvTranspose(dY, W) sized back to X;  dW = Conv of X and dY with batch and
//                  channel axes swapped (stride ↔ dilation);    dB = ΣdY over N and space
//   ConvTranspose: dX = Conv(dY, W);  dW as Conv's, with the roles of X and dY exchanged
// The pools (MaxPool, AveragePool and their global forms) are in pool.ts; the window arithmetic
// both share is in conv-window.ts, the adjoint building blocks in conv-adjoint.ts.
import { attrInt, type Dim } from '../ir.js';
import { A, fmtShape } from '../builder.js';
import { register } from '../registry.js';
import type { GradBuilders, GradCtx, InferCtx, Meta } from '../types.js';
import { needShape } from './util.js';
import { adjointAttrs, biasGrad, crop, weightGrad } from './conv-adjoint.js';
import {
  effective, forwardGeometry, forwardSpatial, intsAttr, kernelOf, outputShapeOf, spatialOf, staticSpatial, transposeAxis, windowOf,
  type Geometry,
} from './conv-window.js';

function inferConv({ node, inputs: [x, w] }: InferCtx): Meta[] {
  const xs = needShape(x, 'input X');
  const ws = needShape(w, 'weight W');
  const spatial = spatialOf(xs, 'input X');
  const group = attrInt(node, 'group', 1);
  const [c, cg] = [xs[1], ws[1]];
  if (typeof c === 'number' && typeof cg === 'number' && c !== cg * group) {
    throw new Error(`input X has ${c} channels but weight ${fmtShape(ws)} with group ${group} expects ${cg * group}`);
  }
  if (ws.length !== xs.length) throw new Error(`weight ${fmtShape(ws)} and input ${fmtShape(xs)} differ in rank`);
  return [{ dtype: x!.dtype, shape: [xs[0]!, ws[0]!, ...forwardSpatial(node, spatial, kernelOf(node, ws, spatial.length))] }];
}

function convGrad({ b, node, x, dy, has }: GradCtx): GradBuilders {
  const group = attrInt(node, 'group', 1);
  const geometry = () => forwardGeometry(node, x(0), kernelOf(node, x(1).shape, x(0).rank - 2));
  return [
    () => {
      const g = geometry();
      return b.op1('ConvTranspose', [dy(0)!, x(1)], adjointAttrs(g, group));
    },
    () => weightGrad(b, x(0), dy(0)!, geometry(), group, x(1).shape),
    has(2) ? () => biasGrad(dy(0)!) : undefined,
  ];
}

function inferConvTranspose({ node, inputs: [x, w] }: InferCtx): Meta[] {
  const xs = needShape(x, 'input X');
  const ws = needShape(w, 'weight W');
  const spatial = spatialOf(xs, 'input X');
  const k = spatial.length;
  const group = attrInt(node, 'group', 1);
  const mg = ws[1];
  const kernel = kernelOf(node, ws, k);
  let out: Dim[] = spatial.map(() => null);
  if (kernel) {
    const win = windowOf(node, kernel);
    const op = intsAttr(node, 'output_padding', k, 0);
    const shape = outputShapeOf(node, k);
    out = spatial.map((d, i) => (typeof d === 'number' ? transposeAxis(d, win, i, op, shape).out : shape?.[i] ?? null));
  }
  return [{ dtype: x!.dtype, shape: [xs[0]!, typeof mg === 'number' ? mg * group : null, ...out] }];
}

/**
 * ConvTranspose(X, W) is the adjoint of Conv(·, W) over the same window, seen from the transposed
 * output: so dX is that Conv of dY and dW is Conv's weight gradient with X and dY exchanged.
 */
function convTransposeGrad({ b, node, x, dy, has }: GradCtx): GradBuilders {
  const group = attrInt(node, 'group', 1);
  const geometry = (): Geometry => {
    const size = staticSpatial(node, x(0));
    const kernel = kernelOf(node, x(1).shape, size.length);
    if (!kernel) throw new Error('ConvTranspose gradient needs a static kernel size');
    const w = windowOf(node, kernel);
    const op = intsAttr(node, 'output_padding', size.length, 0);
    const axes = size.map((d, i) => transposeAxis(d, w, i, op, outputShapeOf(node, size.length)));
    if (axes.some((a) => a.begin < 0 || a.end < 0)) throw new Error('ConvTranspose gradient: output_shape larger than the natural output (negative pads) is not supported');
    // The adjoint Conv runs from the transposed output (size) back to X (out).
    return { size: axes.map((a) => a.out), out: size, kernel, strides: w.strides, dilations: w.dilations, begin: axes.map((a) => a.begin), end: axes.map((a) => a.end) };
  };
  return [
    () => {
      const g = geometry();
      const produced = g.size.map((s, i) => Math.floor((s + g.begin[i]! + g.end[i]! - effective(g.kernel[i]!, g.dilations[i]!)) / g.strides[i]!) + 1);
      const conv = b.op1('Conv', [dy(0)!, x(1)], {
        strides: A.ints(g.strides),
        dilations: A.ints(g.dilations),
        pads: A.ints([...g.begin, ...g.end]),
        group: A.int(group),
      });
      return crop(b, conv, produced, g.out);
    },
    () => weightGrad(b, dy(0)!, x(0), geometry(), group, x(1).shape),
    has(2) ? () => biasGrad(dy(0)!) : undefined,
  ];
}

register(
  { type: 'Conv', infer: inferConv, grad: convGrad },
  { type: 'ConvTranspose', infer: inferConvTranspose, grad: convTransposeGrad },
);
