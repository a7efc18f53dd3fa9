import './ops/index.js';

export { GraphBuilder, Value, A, fmtShape } from './builder.js';
export { gradients, gradientModel, GradientError } from './autodiff.js';
export { decodeModel, encodeModel, loadModelFile } from './proto.js';
export { Tensor, type DType } from './tensor.js';
export type { Graph, Model, Node, Dim, Attr } from './ir.js';
export { registeredOps, opDef } from './registry.js';
