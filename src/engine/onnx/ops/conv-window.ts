// The sliding window of Conv, ConvTranspose and the pools: a node's window attributes with ONNX's
// defaults and auto_pad rules, resolved against sizes into output sizes (shape inference) and into
// the per-axis geometry a gradient needs.
import { attrInt, attrInts, attrString, type Dim, type Node } from '../ir.js';
import { fmtShape, type Value } from '../builder.js';

type AutoPad = 'NOTSET' | 'VALID' | 'SAME_UPPER' | 'SAME_LOWER';
const AUTO_PADS: readonly string[] = ['NOTSET', 'VALID', 'SAME_UPPER', 'SAME_LOWER'];

/** A node's window attributes with ONNX defaults filled in; `pads` is [begin…, end…]. */
export interface Window {
  kernel: number[];
  strides: number[];
  dilations: number[];
  pads: number[];
  autoPad: AutoPad;
  ceil: boolean;
}

/** A window resolved against static sizes: everything a gradient needs, per spatial axis. */
export interface Geometry {
  size: number[];
  out: number[];
  kernel: number[];
  strides: number[];
  dilations: number[];
  begin: number[];
  end: number[];
}

export const range = (n: number, from = 0): number[] => Array.from({ length: n }, (_, i) => i + from);
export const product = (v: number[]): number => v.reduce((a, c) => a * c, 1);
export const effective = (kernel: number, dilation: number): number => (kernel - 1) * dilation + 1;

export function intsAttr(node: Node, key: string, k: number, fallback: number): number[] {
  const v = attrInts(node, key);
  if (v === undefined) return new Array<number>(k).fill(fallback);
  if (v.length !== k) throw new Error(`${key} has ${v.length} entries, expected ${k} (one per spatial axis)`);
  return v;
}

export function windowOf(node: Node, kernel: number[]): Window {
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
export function transposeAxis(size: number, w: Window, i: number, outputPadding: number[], outputShape: number[] | undefined) {
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
export function outputShapeOf(node: Node, k: number): number[] | undefined {
  const s = attrInts(node, 'output_shape');
  return s && s.length > k ? s.slice(s.length - k) : s;
}

export const spatialOf = (shape: Dim[], what: string): Dim[] => {
  if (shape.length < 3) throw new Error(`${what} has shape ${fmtShape(shape)}; expected [N, C, spatial…] with at least one spatial axis`);
  return shape.slice(2);
};

/** The kernel's spatial size: the kernel_shape attribute, else the weight's trailing dims. */
export function kernelOf(node: Node, weight: Dim[] | undefined, k: number): number[] | null {
  const attr = attrInts(node, 'kernel_shape');
  if (attr) {
    if (attr.length !== k) throw new Error(`kernel_shape has ${attr.length} entries for ${k} spatial axes`);
    return attr;
  }
  const ws = weight?.slice(2);
  return ws && ws.length === k && ws.every((d): d is number => typeof d === 'number') ? ws : null;
}

/** Output spatial dims of a forward window; an axis with a dynamic size gives an unknown dim. */
export function forwardSpatial(node: Node, spatial: Dim[], kernel: number[] | null): Dim[] {
  if (!kernel) return spatial.map(() => null);
  const w = windowOf(node, kernel);
  return spatial.map((d, i) => (typeof d === 'number' ? forwardAxis(d, w, i).out : null));
}

/** Resolves a forward window against static sizes, or says why a gradient cannot be built. */
export function forwardGeometry(node: Node, x: Value, kernel: number[] | null): Geometry {
  const size = staticSpatial(node, x);
  if (!kernel) throw new Error(`${node.opType} gradient needs a static kernel size (kernel_shape or a weight with static dims)`);
  const w = windowOf(node, kernel);
  const axes = size.map((d, i) => forwardAxis(d, w, i));
  return { size, out: axes.map((a) => a.out), kernel, strides: w.strides, dilations: w.dilations, begin: axes.map((a) => a.begin), end: axes.map((a) => a.end) };
}

export function staticSpatial(node: Node, x: Value): number[] {
  const spatial = spatialOf(x.shape, `input ${x.name}`);
  if (!spatial.every((d): d is number => typeof d === 'number')) {
    throw new Error(`${node.opType} gradient needs static spatial sizes, but ${x.name} has shape ${fmtShape(x.shape)}: fix them with inputShapes when differentiating`);
  }
  return spatial;
}
