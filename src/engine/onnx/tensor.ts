/** Element types we store, named as onnxruntime-node names them so tensors cross over without a table. */
export type DType =
  | 'float32' | 'float64' | 'float16' | 'bfloat16'
  | 'int8' | 'uint8' | 'int16' | 'uint16' | 'int32' | 'uint32' | 'int64' | 'uint64'
  | 'bool' | 'string';

export type TypedData =
  | Float32Array | Float64Array | Uint16Array | Int8Array | Uint8Array | Int16Array
  | Int32Array | Uint32Array | BigInt64Array | BigUint64Array;

/** ONNX TensorProto.DataType numbers (onnx.proto). */
export const ONNX_DTYPE: Record<DType, number> = {
  float32: 1, uint8: 2, int8: 3, uint16: 4, int16: 5, int32: 6, int64: 7, string: 8,
  bool: 9, float16: 10, float64: 11, uint32: 12, uint64: 13, bfloat16: 16,
};

const BY_NUMBER = new Map<number, DType>(Object.entries(ONNX_DTYPE).map(([k, v]) => [v, k as DType]));

export function dtypeFromOnnx(n: number): DType {
  const d = BY_NUMBER.get(n);
  if (!d) throw new Error(`unsupported ONNX element type ${n}`);
  return d;
}

export const FLOAT_DTYPES: ReadonlySet<DType> = new Set(['float32', 'float64', 'float16', 'bfloat16']);
export const isFloat = (d: DType | undefined): boolean => d !== undefined && FLOAT_DTYPES.has(d);
export const isInteger = (d: DType | undefined): boolean =>
  d !== undefined && !FLOAT_DTYPES.has(d) && d !== 'bool' && d !== 'string';

export function bytesPerElement(d: DType): number {
  switch (d) {
    case 'float64': case 'int64': case 'uint64': return 8;
    case 'float32': case 'int32': case 'uint32': return 4;
    case 'float16': case 'bfloat16': case 'int16': case 'uint16': return 2;
    case 'int8': case 'uint8': case 'bool': return 1;
    case 'string': throw new Error('string tensors have no fixed element size');
  }
}

export function allocate(d: DType, n: number): TypedData {
  switch (d) {
    case 'float32': return new Float32Array(n);
    case 'float64': return new Float64Array(n);
    case 'float16': case 'bfloat16': case 'uint16': return new Uint16Array(n);
    case 'int8': return new Int8Array(n);
    case 'uint8': case 'bool': return new Uint8Array(n);
    case 'int16': return new Int16Array(n);
    case 'int32': return new Int32Array(n);
    case 'uint32': return new Uint32Array(n);
    case 'int64': return new BigInt64Array(n);
    case 'uint64': return new BigUint64Array(n);
    case 'string': throw new Error('string tensors are not supported');
  }
}

/** Reinterprets little-endian bytes as a typed array, copying so the result is aligned and owned. */
export function fromBytes(d: DType, bytes: Uint8Array): TypedData {
  const size = bytesPerElement(d);
  if (bytes.byteLength % size !== 0) throw new Error(`${bytes.byteLength} bytes is not a whole number of ${d} elements`);
  const out = allocate(d, bytes.byteLength / size);
  new Uint8Array(out.buffer, out.byteOffset, out.byteLength).set(bytes);
  return out;
}

export const numel = (dims: readonly number[]): number => dims.reduce((a, b) => a * b, 1);

/** A dense tensor with a known shape; the unit of initializers, constants and runtime feeds. */
export class Tensor {
  constructor(readonly dtype: DType, readonly dims: readonly number[], readonly data: TypedData) {
    if (data.length !== numel(dims)) {
      throw new Error(`tensor data has ${data.length} elements but shape [${dims.join(',')}] needs ${numel(dims)}`);
    }
  }

  static float32(dims: readonly number[], values: ArrayLike<number>): Tensor {
    return new Tensor('float32', dims, Float32Array.from(values));
  }
  static float64(dims: readonly number[], values: ArrayLike<number>): Tensor {
    return new Tensor('float64', dims, Float64Array.from(values));
  }
  static int64(dims: readonly number[], values: ArrayLike<number | bigint>): Tensor {
    return new Tensor('int64', dims, BigInt64Array.from(Array.from(values, (v) => BigInt(v))));
  }
  /** A scalar or 1-D tensor of the given float type. */
  static floats(dtype: DType, dims: readonly number[], values: ArrayLike<number>): Tensor {
    const t = allocate(dtype, values.length);
    if (dtype === 'float16' || dtype === 'bfloat16') throw new Error(`cannot build ${dtype} constants from numbers`);
    if (t instanceof BigInt64Array || t instanceof BigUint64Array) {
      for (let i = 0; i < values.length; i++) t[i] = BigInt(Math.trunc(values[i]!));
    } else {
      for (let i = 0; i < values.length; i++) t[i] = values[i]!;
    }
    return new Tensor(dtype, dims, t);
  }

  get size(): number { return this.data.length; }

  /** Values as JS numbers (int64 beyond 2^53 loses precision, acceptable for shapes and indices). */
  toNumbers(): number[] {
    return Array.from(this.data as ArrayLike<number | bigint>, (v) => Number(v));
  }

  bytes(): Uint8Array {
    return new Uint8Array(this.data.buffer, this.data.byteOffset, this.data.byteLength);
  }
}
