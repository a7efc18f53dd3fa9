// Op family conv: sliding windows over the spatial axes of [N, C, D1 … Dk] tensors.
// Conv and ConvTranspose are each other's adjoint, so every gradient here is another window op:
//   Conv:          dX = ConvTranspose(dY, W) sized back to X;  dW = Conv of X and dY with batch and
//                  channel axes swapped (stride ↔ dilation);    dB = ΣdY over N and space
//   ConvTranspose: dX = Conv(dY, W);  dW as Conv's, with the roles of X and dY exchanged
//   AveragePool:   ConvTranspose of dY / count with a ones kernel
//   MaxPool:       dY scattered to the argmax positions (a recomputed Indices output)
import { attrInt, attrInts, attrString, type Dim, type Node } from '../ir.js';
import { A, fmtShape, type AttrInput, type GraphBuilder, type Value } from '../builder.js';
import { register } from '../registry.js';
import { Tensor, type DType } from '../tensor.js';
import type { GradBuilders, GradCtx, InferCtx, Meta } from '../types.js';
import { needShape } from './util.js';

type AutoPad = 'NOTSET' | 'VALID' | 'SAME_UPPER' | 'SAME_LOWER';
const AUTO_PADS: readonly string[] = ['NOTSET', 'VALID', 'SAME_UPPER', 'SAME_LOWER'];

/** A node's window attributes with ONNX defaults filled in; `pads` is [begin…, end…]. */
interface Window {
  kernel: number[];
  strides: number[];
  dilations: number[];
  pads: number[];
  autoPad: AutoPad;
  ceil: boolean;
}

/** A window resolved against static sizes: everything a gradient needs, per spatial axis. */
interface Geometry {
  size: number[];
  out: number[];
  kernel: number[];
  strides: number[];
  dilations: number[];
  begin: number[];
  end: number[];
}

const range = (n: number, from = 0): number[] => Array.from({ length: n }, (_, i) => i + from);
const product = (v: number[]): number => v.reduce((a, c) => a * c, 1);
const effective = (kernel: number, dilation: number): number => (kernel - 1) * dilation + 1;

function intsAttr(node: Node, key: string, k: number, fallback: number): number[] {
  const v = attrInts(node, key);
  if (v === undefined) return new Array<number>(k).fill(fallback);
  if (v.length !== k) throw new Error(`${key} has ${v.length} entries, expected ${k} (one per spatial axis)`);
  return v;
}

function windowOf(node: Node, kernel: number[]): Window {
  const k = kernel.length;
  const autoPad = attrString(node, 'auto_pad', 'NOTSET');
  if (!AUTO_PADS.includes(autoPad)) throw new Error(`auto_pad ${autoPad} is not one of ${AUTO_PADS.join(', ')}`);
  const pads = attrInts(node, 'pads') ?? new Array<number>(2 * k).fill(0);
  if (pads.length !== 2 * k) throw new Error(`pads has ${pads.length} entries, expected ${2 * k} (begin and end per spatial axis)`);
  if (pads.some((p) => p < 0)) throw new Error(`negative pads [${pads.join(',')}] are not supported`);
  return {
    kernel,
    strides: intsAttr(node, 'strides', k, 1),
    dilations: intsAttr(node, 'dilations', k, 1),
    pads,
    autoPad: autoPad as AutoPad,
    ceil: attrInt(node, 'ceil_mode', 0) === 1,
  };
}

/** Splits a total padding between begin and end; SAME_UPPER puts the odd one at the end. */
function splitPad(total: number, upperAtEnd: boolean): [number, number] {
  const half = Math.floor(total / 2);
  return upperAtEnd ? [half, total - half] : [total - half, half];
}

/** Pads and output size of a forward window (Conv, pools) along spatial axis i. */
function forwardAxis(size: number, w: Window, i: number): { begin: number; end: number; out: number } {
  const eff = effective(w.kernel[i]!, w.dilations[i]!);
  const s = w.strides[i]!;
  if (w.autoPad === 'SAME_UPPER' || w.autoPad === 'SAME_LOWER') {
    const out = Math.ceil(size / s);
    const [begin, end] = splitPad(Math.max(0, (out - 1) * s + eff - size), w.autoPad === 'SAME_UPPER');
    return { begin, end, out };
  }
  const k = w.kernel.length;
  const [begin, end] = w.autoPad === 'VALID' ? [0, 0] : [w.pads[i]!, w.pads[i + k]!];
  const span = size + begin + end - eff;
  if (span < 0) {
    throw new Error(`along spatial axis ${i} the window spans ${eff} (kernel ${w.kernel[i]}, dilation ${w.dilations[i]}) but the padded input has only ${size + begin + end}`);
  }
  let out = (w.ceil ? Math.ceil(span / s) : Math.floor(span / s)) + 1;
  // ceil_mode never starts a window inside the end padding (the ONNX/PyTorch rule; ORT follows it).
  if (w.ceil && (out - 1) * s >= size + begin) out--;
  return { begin, end, out };
}

/** Pads and output size of ConvTranspose along spatial axis i (ONNX ConvTranspose, total_padding rule). */
function transposeAxis(size: number, w: Window, i: number, outputPadding: number[], outputShape: number[] | undefined) {
  const k = w.kernel.length;
  const natural = w.strides[i]! * (size - 1) + outputPadding[i]! + effective(w.kernel[i]!, w.dilations[i]!);
  const same = w.autoPad === 'SAME_UPPER' || w.autoPad === 'SAME_LOWER';
  if (outputShape || same) {
    const out = outputShape ? outputShape[i]! : size * w.strides[i]!;
    const [begin, end] = splitPad(natural - out, w.autoPad === 'SAME_UPPER');
    return { begin, end, out };
  }
  const [begin, end] = w.autoPad === 'VALID' ? [0, 0] : [w.pads[i]!, w.pads[i + k]!];
  return { begin, end, out: natural - begin - end };
}

/** ConvTranspose's explicit output_shape (spatial part; some exporters include N and C). */
function outputShapeOf(node: Node, k: number): number[] | undefined {
  const s = attrInts(node, 'output_shape');
  return s && s.length > k ? s.slice(s.length - k) : s;
}

const spatialOf = (shape: Dim[], what: string): Dim[] => {
  if (shape.length < 3) throw new Error(`${what} has shape ${fmtShape(shape)}; expected [N, C, spatial…] with at least one spatial axis`);
  return shape.slice(2);
};

/** The kernel's spatial size: the kernel_shape attribute, else the weight's trailing dims. */
function kernelOf(node: Node, weight: Dim[] | undefined, k: number): number[] | null {
  const attr = attrInts(node, 'kernel_shape');
  if (attr) {
    if (attr.length !== k) throw new Error(`kernel_shape has ${attr.length} entries for ${k} spatial axes`);
    return attr;
  }
  const ws = weight?.slice(2);
  return ws && ws.length === k && ws.every((d): d is number => typeof d === 'number') ? ws : null;
}

/** Output spatial dims of a forward window; an axis with a dynamic size gives an unknown dim. */
function forwardSpatial(node: Node, spatial: Dim[], kernel: number[] | null): Dim[] {
  if (!kernel) return spatial.map(() => null);
  const w = windowOf(node, kernel);
  return spatial.map((d, i) => (typeof d === 'number' ? forwardAxis(d, w, i).out : null));
}

/** Resolves a forward window against static sizes, or says why a gradient cannot be built. */
function forwardGeometry(node: Node, x: Value, kernel: number[] | null): Geometry {
  const size = staticSpatial(node, x);
  if (!kernel) throw new Error(`${node.opType} gradient needs a static kernel size (kernel_shape or a weight with static dims)`);
  const w = windowOf(node, kernel);
  const axes = size.map((d, i) => forwardAxis(d, w, i));
  return { size, out: axes.map((a) => a.out), kernel, strides: w.strides, dilations: w.dilations, begin: axes.map((a) => a.begin), end: axes.map((a) => a.end) };
}

function staticSpatial(node: Node, x: Value): number[] {
  const spatial = spatialOf(x.shape, `input ${x.name}`);
  if (!spatial.every((d): d is number => typeof d === 'number')) {
    throw new Error(`${node.opType} gradient needs static spatial sizes, but ${x.name} has shape ${fmtShape(x.shape)}: fix them with inputShapes when differentiating`);
  }
  return spatial;
}

const int64 = (b: GraphBuilder, dims: number[], values: number[]): Value => b.constant(Tensor.int64(dims, values), 'ints');

/** Keeps the first `want[i]` elements of each spatial axis where the op produced `have[i]`. */
function crop(b: GraphBuilder, v: Value, have: number[], want: number[]): Value {
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
function adjointAttrs(g: Geometry, group = 1): Record<string, AttrInput> {
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
function weightGrad(b: GraphBuilder, x: Value, dy: Value, g: Geometry, group: number, wShape: Dim[]): Value {
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
const biasGrad = (dy: Value): Value => dy.sum([0, ...range(dy.rank - 2, 2)]);

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

function inferPool({ node, inputs: [x] }: InferCtx): Meta[] {
  const xs = needShape(x, 'input X');
  const spatial = spatialOf(xs, 'input X');
  const kernel = attrInts(node, 'kernel_shape');
  if (!kernel) throw new Error(`${node.opType} needs a kernel_shape attribute`);
  if (kernel.length !== spatial.length) throw new Error(`kernel_shape has ${kernel.length} entries for ${spatial.length} spatial axes`);
  const shape = [xs[0]!, xs[1]!, ...forwardSpatial(node, spatial, kernel)];
  const metas: Meta[] = [{ dtype: x!.dtype, shape }];
  if (node.outputs.length > 1) metas.push({ dtype: 'int64', shape: [...shape] });
  return metas;
}

const poolGeometry = (node: Node, x: Value): Geometry => forwardGeometry(node, x, attrInts(node, 'kernel_shape') ?? null);

function floatConstant(b: GraphBuilder, dtype: DType, dims: number[], values: number[]): Value {
  return b.constant(Tensor.floats(dtype, dims, values));
}

/** A flat zeros vector with as many elements as x. */
function flatZeros(b: GraphBuilder, x: Value): Value {
  const size = x.isStatic ? b.constInt64([product(x.dims)]) : b.op1('Shape', [x.reshape([-1])]);
  return b.op1('ConstantOfShape', [size], { value: { kind: 'tensor', value: Tensor.floats(x.dtype, [1], [0]) } });
}

/** Argmax positions as MaxPool reports them with storage_order 0 (row-major flat indices into X). */
function maxIndices({ b, node, x, y }: GradCtx): Value {
  if (node.outputs[1] && attrInt(node, 'storage_order', 0) === 0) return y(1);
  const attrs = Object.fromEntries([...node.attrs].filter(([key]) => key !== 'storage_order'));
  return b.op('MaxPool', [x(0)], attrs, { outputs: 2 })[1]!;
}

/**
 * MaxPool's gradient routes each dY to its window's argmax. From opset 16 that is one
 * ScatterElements with reduction='add' (overlapping windows can share an argmax). Before 16
 * ScatterElements can only overwrite, which is exact when windows cannot overlap; otherwise
 * see scatterByOffset.
 */
function maxPoolGrad(ctx: GradCtx): GradBuilders {
  const { b, opset, x, dy } = ctx;
  return [
    () => {
      const idx = maxIndices(ctx);
      const g = dy(0)!;
      if (opset < 16) {
        const geo = poolGeometry(ctx.node, x(0));
        const disjoint = geo.strides.every((s, i) => s >= effective(geo.kernel[i]!, geo.dilations[i]!));
        if (!disjoint) return scatterByOffset(b, x(0), g, idx, geo);
      }
      const attrs: Record<string, AttrInput> = { axis: A.int(0) };
      if (opset >= 16) attrs.reduction = A.string('add');
      const flat = b.op1('ScatterElements', [flatZeros(b, x(0)), idx.reshape([-1]), g.reshape([-1])], attrs);
      return flat.reshape(b.shapeOf(x(0)));
    },
  ];
}

/**
 * Exact MaxPool gradient without a scatter-add (opsets 13–15, overlapping windows): work out at
 * which offset j of its window each argmax lies (from its coordinates, integer Div/Mod), split dY
 * into one channel per offset, and let a ConvTranspose with one-hot kernels put channel j at
 * offset j of every window, summing where windows overlap. Needs ConvTranspose, so float32 on
 * ORT CPU.
 */
function scatterByOffset(b: GraphBuilder, x: Value, dy: Value, idx: Value, g: Geometry): Value {
  const k = g.size.length;
  const kernelSize = product(g.kernel);
  const int = (v: number) => int64(b, [], [v]);
  let offset: Value | undefined;
  let inner = 1;
  let kernelStride = 1;
  for (let i = k - 1; i >= 0; i--) {
    const coord = b.op1('Mod', [b.op1('Div', [idx, int(inner)]), int(g.size[i]!)]);
    const trailing = new Array<number>(k - 1 - i).fill(1);
    const starts = int64(b, [g.out[i]!, ...trailing], range(g.out[i]!).map((o) => o * g.strides[i]! - g.begin[i]!));
    const j = b.op1('Div', [b.op1('Sub', [coord, starts]), int(g.dilations[i]!)]);
    const term = kernelStride === 1 ? j : b.op1('Mul', [j, int(kernelStride)]);
    offset = offset ? b.op1('Add', [offset, term]) : term;
    inner *= g.size[i]!;
    kernelStride *= g.kernel[i]!;
  }
  const which = int64(b, [kernelSize, ...new Array<number>(k).fill(1)], range(kernelSize));
  const at = b.op1('Equal', [b.unsqueeze(offset!, [2]), which]);
  const split = b.op1('Where', [at, b.unsqueeze(dy, [2]), b.scalar(0, dy.dtype)]).reshape([-1, kernelSize, ...g.out]);
  const oneHot = new Array<number>(kernelSize * kernelSize).fill(0);
  for (let j = 0; j < kernelSize; j++) oneHot[j * kernelSize + j] = 1;
  const kernels = floatConstant(b, dy.dtype, [kernelSize, 1, ...g.kernel], oneHot);
  return b.op1('ConvTranspose', [split, kernels], adjointAttrs(g)).reshape(b.shapeOf(x));
}

/**
 * How many of the window's taps at each output position the average divides by, per axis: taps
 * inside the padded input when count_include_pad, else inside the input. A ceil_mode window that
 * runs past the end padding counts only what it covers (ORT and PyTorch agree on this).
 */
function tapCounts(g: Geometry, includePad: boolean): number[][] {
  return g.size.map((size, i) => {
    const [lo, hi] = includePad ? [-g.begin[i]!, size + g.end[i]!] : [0, size];
    return range(g.out[i]!).map((o) => {
      const start = o * g.strides[i]! - g.begin[i]!;
      return range(g.kernel[i]!).filter((j) => {
        const p = start + j * g.dilations[i]!;
        return p >= lo && p < hi;
      }).length;
    });
  });
}

/** 1/count at every output position, as a constant broadcasting over [N, C, out…]. */
function inverseCounts(b: GraphBuilder, dtype: DType, g: Geometry, includePad: boolean): Value {
  const counts = tapCounts(g, includePad);
  const full = product(g.kernel);
  if (counts.every((c, i) => c.every((v) => v === g.kernel[i]))) {
    return b.scalar(1 / full, dtype);
  }
  const values: number[] = [];
  const visit = (axis: number, acc: number) => {
    if (axis === counts.length) {
      values.push(1 / acc);
      return;
    }
    for (const c of counts[axis]!) visit(axis + 1, acc * c);
  };
  visit(0, 1);
  return floatConstant(b, dtype, g.out, values);
}

/**
 * AveragePool's gradient spreads dY/count evenly over each window: a ConvTranspose with a ones
 * kernel, run per channel by folding C into the batch.
 */
function averagePoolGrad({ b, node, x, dy }: GradCtx): GradBuilders {
  return [
    () => {
      const g = poolGeometry(node, x(0));
      const scaled = dy(0)!.mul(inverseCounts(b, dy(0)!.dtype, g, attrInt(node, 'count_include_pad', 0) === 1));
      const ones = floatConstant(b, dy(0)!.dtype, [1, 1, ...g.kernel], new Array<number>(product(g.kernel)).fill(1));
      const spread = b.op1('ConvTranspose', [scaled.reshape([-1, 1, ...g.out]), ones], adjointAttrs(g));
      return spread.reshape(b.shapeOf(x(0)));
    },
  ];
}

function inferGlobal({ inputs: [x] }: InferCtx): Meta[] {
  const xs = needShape(x, 'input X');
  return [{ dtype: x!.dtype, shape: [xs[0]!, xs[1]!, ...spatialOf(xs, 'input X').map(() => 1)] }];
}

/** Spatial positions per (n, c): a constant when static, else counted at run time. */
function spatialCount(b: GraphBuilder, x: Value): Value {
  const spatial = x.shape.slice(2);
  if (spatial.every((d): d is number => typeof d === 'number')) return b.scalar(product(spatial), x.dtype);
  const ones = b.op1('ConstantOfShape', [b.op1('Shape', [x])], { value: { kind: 'tensor', value: Tensor.floats(x.dtype, [1], [1]) } });
  return ones.sum(range(x.rank - 2, 2), true);
}

register(
  { type: 'Conv', infer: inferConv, grad: convGrad },
  { type: 'ConvTranspose', infer: inferConvTranspose, grad: convTransposeGrad },
  { type: 'MaxPool', infer: inferPool, grad: maxPoolGrad },
  { type: 'AveragePool', infer: inferPool, grad: averagePoolGrad },
  {
    type: 'GlobalAveragePool',
    infer: inferGlobal,
    grad: ({ b, x, dy }) => [() => b.op1('Expand', [dy(0)!.div(spatialCount(b, x(0))), b.shapeOf(x(0))])],
  },
  {
    // The max's gradient is shared evenly among tied maxima (a subgradient, as for ReduceMax).
    type: 'GlobalMaxPool',
    infer: inferGlobal,
    grad: ({ b, x, y, dy }) => [
      () => {
        const hit = b.cast(b.op1('Equal', [x(0), y(0)]), x(0).dtype);
        const ties = hit.sum(range(x(0).rank - 2, 2), true);
        return hit.mul(dy(0)!.div(ties));
      },
    ],
  },
);
