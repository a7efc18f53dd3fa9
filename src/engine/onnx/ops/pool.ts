// Op family pool: MaxPool, AveragePool and their global forms over [N, C, D1 … Dk] tensors. Their
// gradients are window ops too (conv.ts explains the adjoint pairs):
//   AveragePool:   ConvTranspose of dY / count with a ones kernel
//   MaxPool:       dY scattered to the argmax positions (a recomputed Indices output)
import { attrInt, attrInts, type Node } from '../ir.js';
import { A, type AttrInput, type GraphBuilder, type Value } from '../builder.js';
import { register } from '../registry.js';
import { Tensor, type DType } from '../tensor.js';
import type { GradBuilders, GradCtx, InferCtx, Meta } from '../types.js';
import { needShape } from './util.js';
import { adjointAttrs, int64 } from './conv-adjoint.js';
import { effective, forwardGeometry, forwardSpatial, product, range, spatialOf, type Geometry } from './conv-window.js';

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
