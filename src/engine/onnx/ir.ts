import type { DType, Tensor } from './tensor.js';

/** A dimension: a size, a symbolic name (dynamic axis such as "batch"), or null when nothing is known. */
export type Dim = number | string | null;

export type Attr =
  | { kind: 'float'; value: number }
  | { kind: 'int'; value: number }
  | { kind: 'string'; value: string }
  | { kind: 'tensor'; value: Tensor }
  | { kind: 'floats'; value: number[] }
  | { kind: 'ints'; value: number[] }
  | { kind: 'strings'; value: string[] }
  /** Kept opaque so graphs with subgraph attributes (If, Loop) survive a round trip untouched. */
  | { kind: 'opaque'; value: Uint8Array };

export interface Node {
  opType: string;
  domain: string;
  name: string;
  /** '' marks an omitted optional input, as in ONNX. */
  inputs: string[];
  outputs: string[];
  attrs: Map<string, Attr>;
}

export interface ValueInfo {
  name: string;
  dtype: DType;
  /** null: rank unknown. */
  shape: Dim[] | null;
}

export interface Graph {
  name: string;
  nodes: Node[];
  inputs: ValueInfo[];
  outputs: ValueInfo[];
  initializers: Map<string, Tensor>;
  valueInfo: Map<string, ValueInfo>;
}

export interface OpsetId { domain: string; version: number }

export interface Model {
  irVersion: number;
  opsets: OpsetId[];
  producerName: string;
  producerVersion: string;
  graph: Graph;
  metadata: Map<string, string>;
}

/** The default-domain opset of a model (what op semantics follow). */
export function defaultOpset(model: Pick<Model, 'opsets'>): number {
  const o = model.opsets.find((x) => x.domain === '' || x.domain === 'ai.onnx');
  if (!o) throw new Error('model imports no default-domain opset');
  return o.version;
}

export const attrInt = (n: Node, key: string, def: number): number => {
  const a = n.attrs.get(key);
  return a && a.kind === 'int' ? a.value : def;
};
export const attrFloat = (n: Node, key: string, def: number): number => {
  const a = n.attrs.get(key);
  return a && (a.kind === 'float' || a.kind === 'int') ? a.value : def;
};
export const attrInts = (n: Node, key: string): number[] | undefined => {
  const a = n.attrs.get(key);
  return a && a.kind === 'ints' ? a.value : undefined;
};
export const attrString = (n: Node, key: string, def: string): string => {
  const a = n.attrs.get(key);
  return a && a.kind === 'string' ? a.value : def;
};
