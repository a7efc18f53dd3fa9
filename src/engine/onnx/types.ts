import type { Dim, Node } from './ir.js';
import type { DType, Tensor } from './tensor.js';
import type { GraphBuilder, Value } from './builder.js';

/** What is known about a value while building: its type, its shape, and (for small constants
 * and shape arithmetic) its contents, so Reshape targets and Slice bounds can be resolved. */
export interface Meta {
  dtype: DType;
  /** null: rank unknown. */
  shape: Dim[] | null;
  value?: Tensor;
  /** Entries of a small integer vector that is only partly known (dims like 'batch' or null). */
  dimValues?: Dim[];
  /** Produced by an op we do not model: dtype and shape are guesses. */
  opaque?: boolean;
}

export interface InferCtx {
  node: Node;
  /** undefined for an omitted optional input. */
  inputs: (Meta | undefined)[];
  opset: number;
}

export interface GradCtx {
  b: GraphBuilder;
  node: Node;
  opset: number;
  /** The node's i-th input (undefined when omitted). */
  x(i: number): Value;
  has(i: number): boolean;
  /** The node's j-th output. */
  y(j: number): Value;
  /** d(loss)/d(output j); undefined when no gradient reaches that output. */
  dy(j: number): Value | undefined;
}

/** One lazily built gradient per input: index i builds d(loss)/d(input i). Absent entries carry none. */
export type GradBuilders = (undefined | (() => Value))[];

export interface OpDef {
  type: string;
  infer(ctx: InferCtx): Meta[];
  /** Computes outputs at build time from known inputs (shape plumbing in exported graphs). */
  fold?(inputs: (Tensor | undefined)[], node: Node, opset: number): Tensor[];
  /** The gradient rule; absent means the op is understood but carries no gradient. */
  grad?(ctx: GradCtx): GradBuilders;
}
