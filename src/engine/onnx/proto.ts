import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import protobuf from 'protobufjs';
import type { Attr, Dim, Graph, Model, Node, ValueInfo } from './ir.js';
import { Tensor, ONNX_DTYPE, allocate, dtypeFromOnnx, fromBytes } from './tensor.js';

/**
 * The subset of onnx.proto we read and write, as a protobufjs JSON descriptor. Field numbers are
 * the ONNX specification's; unknown fields are skipped on decode, which is what ONNX readers do.
 */
const schema = {
  nested: {
    ModelProto: {
      fields: {
        irVersion: { type: 'int64', id: 1 },
        opsetImport: { rule: 'repeated', type: 'OperatorSetIdProto', id: 8 },
        producerName: { type: 'string', id: 2 },
        producerVersion: { type: 'string', id: 3 },
        domain: { type: 'string', id: 4 },
        modelVersion: { type: 'int64', id: 5 },
        docString: { type: 'string', id: 6 },
        graph: { type: 'GraphProto', id: 7 },
        metadataProps: { rule: 'repeated', type: 'StringStringEntryProto', id: 14 },
      },
    },
    OperatorSetIdProto: { fields: { domain: { type: 'string', id: 1 }, version: { type: 'int64', id: 2 } } },
    StringStringEntryProto: { fields: { key: { type: 'string', id: 1 }, value: { type: 'string', id: 2 } } },
    GraphProto: {
      fields: {
        node: { rule: 'repeated', type: 'NodeProto', id: 1 },
        name: { type: 'string', id: 2 },
        initializer: { rule: 'repeated', type: 'TensorProto', id: 5 },
        docString: { type: 'string', id: 10 },
        input: { rule: 'repeated', type: 'ValueInfoProto', id: 11 },
        output: { rule: 'repeated', type: 'ValueInfoProto', id: 12 },
        valueInfo: { rule: 'repeated', type: 'ValueInfoProto', id: 13 },
      },
    },
    NodeProto: {
      fields: {
        input: { rule: 'repeated', type: 'string', id: 1 },
        output: { rule: 'repeated', type: 'string', id: 2 },
        name: { type: 'string', id: 3 },
        opType: { type: 'string', id: 4 },
        domain: { type: 'string', id: 7 },
        attribute: { rule: 'repeated', type: 'AttributeProto', id: 5 },
        docString: { type: 'string', id: 6 },
      },
    },
    AttributeProto: {
      fields: {
        name: { type: 'string', id: 1 },
        type: { type: 'int32', id: 20 },
        f: { type: 'float', id: 2 },
        i: { type: 'int64', id: 3 },
        s: { type: 'bytes', id: 4 },
        t: { type: 'TensorProto', id: 5 },
        g: { type: 'bytes', id: 6 },
        floats: { rule: 'repeated', type: 'float', id: 7 },
        ints: { rule: 'repeated', type: 'int64', id: 8 },
        strings: { rule: 'repeated', type: 'bytes', id: 9 },
        graphs: { rule: 'repeated', type: 'bytes', id: 11 },
      },
    },
    TensorProto: {
      fields: {
        dims: { rule: 'repeated', type: 'int64', id: 1 },
        dataType: { type: 'int32', id: 2 },
        floatData: { rule: 'repeated', type: 'float', id: 4, options: { packed: true } },
        int32Data: { rule: 'repeated', type: 'int32', id: 5, options: { packed: true } },
        stringData: { rule: 'repeated', type: 'bytes', id: 6 },
        int64Data: { rule: 'repeated', type: 'int64', id: 7, options: { packed: true } },
        name: { type: 'string', id: 8 },
        rawData: { type: 'bytes', id: 9 },
        doubleData: { rule: 'repeated', type: 'double', id: 10, options: { packed: true } },
        uint64Data: { rule: 'repeated', type: 'uint64', id: 11, options: { packed: true } },
        externalData: { rule: 'repeated', type: 'StringStringEntryProto', id: 13 },
        dataLocation: { type: 'int32', id: 14 },
      },
    },
    ValueInfoProto: {
      fields: { name: { type: 'string', id: 1 }, type: { type: 'TypeProto', id: 2 }, docString: { type: 'string', id: 3 } },
    },
    TypeProto: { fields: { tensorType: { type: 'TypeProtoTensor', id: 1 } } },
    TypeProtoTensor: { fields: { elemType: { type: 'int32', id: 1 }, shape: { type: 'TensorShapeProto', id: 2 } } },
    TensorShapeProto: { fields: { dim: { rule: 'repeated', type: 'Dimension', id: 1 } } },
    Dimension: { fields: { dimValue: { type: 'int64', id: 1 }, dimParam: { type: 'string', id: 2 } } },
  },
};

const root = protobuf.Root.fromJSON(schema);
const ModelProto = root.lookupType('ModelProto');
/** The protobuf message type itself, for tests that need encodings our writer never produces. */
export const ModelProtoType = ModelProto;

/* Decoded protobufjs messages are plain objects with optional fields; these shapes name what we read. */
interface LongLike { toString(): string }
type Int64 = number | LongLike;
interface PTensor {
  dims?: Int64[]; dataType?: number; floatData?: number[]; int32Data?: number[]; int64Data?: Int64[];
  name?: string; rawData?: Uint8Array; doubleData?: number[]; uint64Data?: Int64[];
  externalData?: { key: string; value: string }[]; dataLocation?: number; stringData?: Uint8Array[];
}
interface PAttr {
  name: string; type?: number; f?: number; i?: Int64; s?: Uint8Array; t?: PTensor; g?: Uint8Array;
  floats?: number[]; ints?: Int64[]; strings?: Uint8Array[]; graphs?: Uint8Array[];
}
interface PNode { input?: string[]; output?: string[]; name?: string; opType: string; domain?: string; attribute?: PAttr[] }
interface PValueInfo { name: string; type?: { tensorType?: { elemType?: number; shape?: { dim?: { dimValue?: Int64; dimParam?: string }[] } } } }
interface PGraph { node?: PNode[]; name?: string; initializer?: PTensor[]; input?: PValueInfo[]; output?: PValueInfo[]; valueInfo?: PValueInfo[] }
interface PModel {
  irVersion?: Int64; opsetImport?: { domain?: string; version?: Int64 }[]; producerName?: string;
  producerVersion?: string; graph?: PGraph; metadataProps?: { key: string; value: string }[];
}

const num = (x: Int64 | undefined): number => (x === undefined ? 0 : typeof x === 'number' ? x : Number(x.toString()));
const big = (x: Int64): bigint => BigInt(typeof x === 'number' ? x : x.toString());
const utf8 = new TextDecoder();

export interface LoadOptions {
  /** Directory that external-data paths are relative to (the model file's folder). */
  baseDir?: string;
}

function tensorFromProto(p: PTensor, opts: LoadOptions): Tensor {
  const dtype = dtypeFromOnnx(p.dataType ?? 0);
  const dims = (p.dims ?? []).map(num);
  const name = p.name ?? '';
  if (p.dataLocation === 1) {
    const kv = new Map((p.externalData ?? []).map((e) => [e.key, e.value]));
    const location = kv.get('location');
    if (!location || !opts.baseDir) throw new Error(`tensor ${name}: external data needs the model's folder to be known`);
    const buf = readFileSync(resolve(opts.baseDir, location));
    const offset = Number(kv.get('offset') ?? 0);
    const length = kv.has('length') ? Number(kv.get('length')) : buf.byteLength - offset;
    if (offset + length > buf.byteLength) throw new Error(`tensor ${name}: external data runs past the end of ${location}`);
    return new Tensor(dtype, dims, fromBytes(dtype, buf.subarray(offset, offset + length)));
  }
  if (p.rawData && p.rawData.byteLength > 0) return new Tensor(dtype, dims, fromBytes(dtype, p.rawData));
  const n = dims.reduce((a, b) => a * b, 1);
  const data = allocate(dtype, n);
  const fill = (src: ArrayLike<number | bigint>) => {
    if (src.length !== n) throw new Error(`tensor ${name}: has ${src.length} values, shape needs ${n}`);
    for (let i = 0; i < n; i++) (data as unknown as (number | bigint)[])[i] = src[i]!;
  };
  switch (dtype) {
    case 'float32': fill(p.floatData ?? []); break;
    case 'float64': fill(p.doubleData ?? []); break;
    case 'int64': fill((p.int64Data ?? []).map(big)); break;
    case 'uint64': case 'uint32': {
      const src = (p.uint64Data ?? []).map(big);
      fill(dtype === 'uint64' ? src : src.map(Number));
      break;
    }
    // int32_data carries every type of 32 bits or fewer, float16 bits included (onnx.proto).
    default: fill(p.int32Data ?? []);
  }
  return new Tensor(dtype, dims, data);
}

function tensorToProto(name: string, t: Tensor, ext?: ExternalRef): PTensor {
  const head = { name, dims: t.dims.map((d) => d), dataType: ONNX_DTYPE[t.dtype] };
  if (!ext) return { ...head, rawData: t.bytes() };
  if (ext.length !== t.data.byteLength) {
    throw new Error(`internal: external data for ${name} is ${ext.length} bytes, the tensor has ${t.data.byteLength}`);
  }
  const externalData = [
    { key: 'location', value: ext.location },
    { key: 'offset', value: String(ext.offset) },
    { key: 'length', value: String(ext.length) },
  ];
  // TensorProto.DataLocation EXTERNAL = 1.
  return { ...head, dataLocation: 1, externalData };
}

function attrFromProto(a: PAttr, opts: LoadOptions): Attr {
  // AttributeProto.AttributeType numbers: FLOAT 1, INT 2, STRING 3, TENSOR 4, GRAPH 5, FLOATS 6, INTS 7, STRINGS 8.
  switch (a.type) {
    case 1: return { kind: 'float', value: a.f ?? 0 };
    case 2: return { kind: 'int', value: num(a.i) };
    case 3: return { kind: 'string', value: utf8.decode(a.s ?? new Uint8Array()) };
    case 4: return { kind: 'tensor', value: tensorFromProto(a.t ?? {}, opts) };
    case 6: return { kind: 'floats', value: a.floats ?? [] };
    case 7: return { kind: 'ints', value: (a.ints ?? []).map(num) };
    case 8: return { kind: 'strings', value: (a.strings ?? []).map((s) => utf8.decode(s)) };
    default: {
      // Subgraph and other rare attributes: keep the encoded AttributeProto so it round-trips.
      const bytes = root.lookupType('AttributeProto').encode(a).finish();
      return { kind: 'opaque', value: bytes };
    }
  }
}

function attrToProto(name: string, a: Attr): PAttr {
  const enc = new TextEncoder();
  switch (a.kind) {
    case 'float': return { name, type: 1, f: a.value };
    case 'int': return { name, type: 2, i: a.value };
    case 'string': return { name, type: 3, s: enc.encode(a.value) };
    case 'tensor': return { name, type: 4, t: tensorToProto('', a.value) };
    case 'floats': return { name, type: 6, floats: a.value };
    case 'ints': return { name, type: 7, ints: a.value };
    case 'strings': return { name, type: 8, strings: a.value.map((s) => enc.encode(s)) };
    case 'opaque': return { ...(root.lookupType('AttributeProto').decode(a.value) as unknown as PAttr), name };
  }
}

function valueInfoFromProto(v: PValueInfo): ValueInfo | undefined {
  const tt = v.type?.tensorType;
  if (!tt || !tt.elemType) return undefined;
  const dims = tt.shape?.dim;
  const shape: Dim[] | null = tt.shape
    ? (dims ?? []).map((d) => (d.dimParam ? d.dimParam : d.dimValue !== undefined && num(d.dimValue) > 0 ? num(d.dimValue) : null))
    : null;
  return { name: v.name, dtype: dtypeFromOnnx(tt.elemType), shape };
}

function valueInfoToProto(v: ValueInfo): PValueInfo {
  const shape = v.shape === null ? undefined : {
    dim: v.shape.map((d) => (typeof d === 'number' ? { dimValue: d } : typeof d === 'string' ? { dimParam: d } : {})),
  };
  return { name: v.name, type: { tensorType: { elemType: ONNX_DTYPE[v.dtype], shape } } };
}

function graphFromProto(g: PGraph, opts: LoadOptions): Graph {
  const initializers = new Map<string, Tensor>();
  for (const t of g.initializer ?? []) initializers.set(t.name ?? '', tensorFromProto(t, opts));
  const infos = (list: PValueInfo[] | undefined) =>
    (list ?? []).map((v) => {
      const info = valueInfoFromProto(v);
      if (!info) throw new Error(`value ${v.name} is not a tensor (sequences and maps are not supported)`);
      return info;
    });
  const valueInfo = new Map<string, ValueInfo>();
  for (const v of g.valueInfo ?? []) {
    const info = valueInfoFromProto(v);
    if (info) valueInfo.set(info.name, info);
  }
  const nodes: Node[] = (g.node ?? []).map((n, i) => ({
    opType: n.opType,
    domain: n.domain ?? '',
    name: n.name || `${n.opType}_${i}`,
    inputs: n.input ?? [],
    outputs: n.output ?? [],
    attrs: new Map((n.attribute ?? []).map((a) => [a.name, attrFromProto(a, opts)])),
  }));
  return {
    name: g.name ?? 'graph',
    nodes,
    // Older exporters list initializers among the inputs; they are constants, not feeds.
    inputs: infos(g.input).filter((v) => !initializers.has(v.name)),
    outputs: infos(g.output),
    initializers,
    valueInfo,
  };
}

/** Decodes ONNX ModelProto bytes. Throws with a message naming what is wrong. */
export function decodeModel(bytes: Uint8Array, opts: LoadOptions = {}): Model {
  let m: PModel;
  try {
    m = ModelProto.decode(bytes) as unknown as PModel;
  } catch (e) {
    throw new Error(`not an ONNX model (protobuf decoding failed: ${(e as Error).message})`);
  }
  if (!m.graph || !m.opsetImport || m.opsetImport.length === 0) {
    throw new Error('not an ONNX model (no graph or no opset import)');
  }
  return {
    irVersion: num(m.irVersion),
    opsets: m.opsetImport.map((o) => ({ domain: o.domain ?? '', version: num(o.version) })),
    producerName: m.producerName ?? '',
    producerVersion: m.producerVersion ?? '',
    graph: graphFromProto(m.graph, opts),
    metadata: new Map((m.metadataProps ?? []).map((e) => [e.key, e.value])),
  };
}

export function loadModelFile(path: string): Model {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(code === 'ENOENT' ? 'file not found' : `cannot read file (${code ?? (e as Error).message})`);
  }
  return decodeModel(bytes, { baseDir: dirname(path) });
}

/**
 * Where an initializer's bytes already lie in a file beside the model (ONNX external data): the model
 * then carries only the reference, and ONNX Runtime reads the bytes itself when loading from a path.
 */
export interface ExternalRef {
  /** Relative to the model file's folder; ONNX Runtime refuses paths that leave it. */
  location: string;
  offset: number;
  length: number;
}

export interface EncodeOptions {
  /** Initializers to store as references instead of inline bytes. */
  external?: (name: string, t: Tensor) => ExternalRef | undefined;
}

function graphToProto(g: Graph, opts: EncodeOptions = {}): PGraph {
  return {
    name: g.name,
    node: g.nodes.map((n) => ({
      input: n.inputs, output: n.outputs, name: n.name, opType: n.opType, domain: n.domain || undefined,
      attribute: [...n.attrs].map(([k, a]) => attrToProto(k, a)),
    })),
    initializer: [...g.initializers].map(([k, t]) => tensorToProto(k, t, opts.external?.(k, t))),
    input: g.inputs.map(valueInfoToProto),
    output: g.outputs.map(valueInfoToProto),
    valueInfo: [...g.valueInfo.values()].map(valueInfoToProto),
  };
}

/** Encodes a model as ONNX ModelProto bytes (all tensors as raw_data, little-endian as ONNX requires). */
export function encodeModel(model: Model, opts: EncodeOptions = {}): Uint8Array {
  const msg: PModel = {
    irVersion: model.irVersion,
    opsetImport: model.opsets.map((o) => ({ domain: o.domain, version: o.version })),
    producerName: model.producerName,
    producerVersion: model.producerVersion,
    graph: graphToProto(model.graph, opts),
    metadataProps: [...model.metadata].map(([key, value]) => ({ key, value })),
  };
  const err = ModelProto.verify(msg);
  if (err) throw new Error(`internal: model does not encode: ${err}`);
  return ModelProto.encode(msg).finish();
}

