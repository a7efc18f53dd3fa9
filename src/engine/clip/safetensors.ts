/**
 * Reader and writer for the safetensors format (https://github.com/huggingface/safetensors):
 * an 8-byte little-endian u64 header length N, N bytes of UTF-8 JSON mapping tensor name to
 * {dtype, shape, data_offsets: [begin, end]} (offsets relative to the byte after the header, plus an
 * optional "__metadata__" string map), then the raw little-endian tensor bytes.
 *
 * The reader opens only the header and validates it whole, so a malformed file fails at open with one
 * message; tensor bytes are read on demand, one tensor at a time, so a large file is never held twice.
 */
import { promises as fsp } from 'node:fs';
import * as nodePath from 'node:path';
import { writeFileAtomic } from '../atomic-write.js';
import { allocate, numel, Tensor, type DType, type TypedData } from '../onnx/tensor.js';
import type { ReadTensorOptions, TensorInfo, WeightReader } from './weights.js';

/** Element types the format names, with their size in bytes and the DType they are stored as on disk. */
const ST_DTYPES = {
  F64: { size: 8, raw: 'float64' },
  F32: { size: 4, raw: 'float32' },
  F16: { size: 2, raw: 'float16' },
  BF16: { size: 2, raw: 'bfloat16' },
  I64: { size: 8, raw: 'int64' },
  I32: { size: 4, raw: 'int32' },
  I16: { size: 2, raw: 'int16' },
  I8: { size: 1, raw: 'int8' },
  U64: { size: 8, raw: 'uint64' },
  U32: { size: 4, raw: 'uint32' },
  U16: { size: 2, raw: 'uint16' },
  U8: { size: 1, raw: 'uint8' },
  BOOL: { size: 1, raw: 'bool' },
} as const satisfies Record<string, { size: number; raw: DType }>;

export type StDType = keyof typeof ST_DTYPES;

const isStDType = (s: unknown): s is StDType => typeof s === 'string' && Object.hasOwn(ST_DTYPES, s);

/** Where one tensor lies: begin/end are absolute byte positions in the file. */
export interface TensorEntry {
  readonly dtype: StDType;
  readonly shape: readonly number[];
  readonly begin: number;
  readonly end: number;
}

export interface ReadOptions {
  /** 'f16': return F16 tensors as raw float16 (Uint16Array) instead of converting to float32. */
  readonly keep?: 'f16';
}

/** Above this the header length is surely garbage (real headers are a few MB at most). */
export const MAX_HEADER_BYTES = 100 * 1024 * 1024;

export class SafetensorsFile implements WeightReader {
  /** Bytes read from the file so far (header included); lets callers and tests see reads stay lazy. */
  bytesRead = 0;

  constructor(
    readonly path: string,
    readonly tensors: ReadonlyMap<string, TensorEntry>,
    readonly metadata: Readonly<Record<string, string>>,
    headerBytes: number,
  ) {
    this.bytesRead = headerBytes;
  }

  get names(): string[] { return [...this.tensors.keys()]; }

  list(): TensorInfo[] {
    return [...this.tensors].map(([name, e]) => ({ name, dtype: ST_DTYPES[e.dtype].raw, shape: e.shape }));
  }

  read(name: string, opts: ReadTensorOptions = {}): Promise<Tensor> {
    return this.readTensor(name, opts.keepF16 ? { keep: 'f16' } : {});
  }

  /** Nothing to release: every read opens and closes the file itself. */
  async close(): Promise<void> {}

  /**
   * Reads one tensor's bytes and returns it as float32 (F32/F64/F16/BF16), or in its integer type
   * (I64 → int64, I32 → int32, …). With {keep: 'f16'}, F16 stays raw float16.
   */
  async readTensor(name: string, opts: ReadOptions = {}): Promise<Tensor> {
    const e = this.tensors.get(name);
    if (!e) {
      const some = this.names.slice(0, 5).join(', ');
      throw new Error(`${label(this.path)}: no tensor named ${name} (it has ${this.tensors.size}: ${some}${this.tensors.size > 5 ? ', …' : ''})`);
    }
    const raw = allocate(ST_DTYPES[e.dtype].raw, numel(e.shape));
    const fh = await fsp.open(this.path, 'r');
    try {
      await readExactly(fh, bytesOf(raw), e.begin, this.path);
    } finally {
      await fh.close();
    }
    this.bytesRead += e.end - e.begin;
    const [dtype, data] = convert(e.dtype, raw, opts);
    return new Tensor(dtype, e.shape.slice(), data);
  }
}

function convert(st: StDType, raw: TypedData, opts: ReadOptions): [DType, TypedData] {
  switch (st) {
    case 'F16':
      return opts.keep === 'f16' ? ['float16', raw] : ['float32', halfToFloat32(raw as Uint16Array)];
    case 'BF16': return ['float32', bfloat16ToFloat32(raw as Uint16Array)];
    case 'F64': return ['float32', Float32Array.from(raw as Float64Array)];
    default: return [ST_DTYPES[st].raw, raw];
  }
}

const label = (p: string): string => nodePath.basename(p);

const bytesOf = (d: TypedData): Uint8Array => new Uint8Array(d.buffer, d.byteOffset, d.byteLength);

async function readExactly(fh: fsp.FileHandle, into: Uint8Array, position: number, path: string): Promise<void> {
  let done = 0;
  while (done < into.byteLength) {
    const { bytesRead } = await fh.read(into, done, into.byteLength - done, position + done);
    if (bytesRead === 0) throw new Error(`${label(path)}: file ended early at byte ${position + done}`);
    done += bytesRead;
  }
}

/** Opens a safetensors file, reading and validating only its header. */
export async function openSafetensors(path: string): Promise<SafetensorsFile> {
  const fh = await fsp.open(path, 'r');
  let headerText: string;
  let fileSize: number;
  let n: number;
  try {
    fileSize = (await fh.stat()).size;
    if (fileSize < 8) throw new Error(`${label(path)}: file is ${fileSize} bytes, shorter than the 8-byte header length`);
    const lenBytes = new Uint8Array(8);
    await readExactly(fh, lenBytes, 0, path);
    const big = new DataView(lenBytes.buffer).getBigUint64(0, true);
    if (big > BigInt(MAX_HEADER_BYTES)) {
      throw new Error(`${label(path)}: header length ${big} is absurd (over ${MAX_HEADER_BYTES} bytes); not a safetensors file?`);
    }
    n = Number(big);
    if (8 + n > fileSize) throw new Error(`${label(path)}: header length ${n} is larger than the file (${fileSize} bytes)`);
    const headerBytes = new Uint8Array(n);
    await readExactly(fh, headerBytes, 8, path);
    try {
      headerText = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
    } catch {
      throw new Error(`${label(path)}: header is not valid UTF-8`);
    }
  } finally {
    await fh.close();
  }
  const { tensors, metadata } = parseHeader(headerText, 8 + n, fileSize, label(path));
  return new SafetensorsFile(path, tensors, metadata, 8 + n);
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Validates the header JSON; dataStart is the absolute offset of the first data byte. */
export function parseHeader(text: string, dataStart: number, fileSize: number, file: string)
  : { tensors: Map<string, TensorEntry>; metadata: Record<string, string> } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new Error(`${file}: header is not JSON (${(err as Error).message})`);
  }
  if (!isObject(json)) throw new Error(`${file}: header is not a JSON object`);

  const metadata: Record<string, string> = {};
  const tensors = new Map<string, TensorEntry>();
  const dataSize = fileSize - dataStart;
  for (const [name, v] of Object.entries(json)) {
    if (name === '__metadata__') {
      if (!isObject(v)) throw new Error(`${file}: __metadata__ is not an object of strings`);
      for (const [k, s] of Object.entries(v)) {
        if (typeof s !== 'string') throw new Error(`${file}: __metadata__.${k} is not a string`);
        metadata[k] = s;
      }
      continue;
    }
    const where = `${file}: tensor ${name}`;
    if (!isObject(v)) throw new Error(`${where}: entry is not an object`);
    const { dtype, shape, data_offsets: offs } = v;
    if (!isStDType(dtype)) {
      throw new Error(`${where}: unknown dtype ${JSON.stringify(dtype)} (known: ${Object.keys(ST_DTYPES).join(', ')})`);
    }
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new Error(`${where}: shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
    }
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isSafeInteger(o) && o >= 0) || offs[0] > offs[1]) {
      throw new Error(`${where}: data_offsets ${JSON.stringify(offs)} are not two non-negative integers [begin, end] with begin <= end`);
    }
    const [b, e] = offs as [number, number];
    const dims = shape as number[];
    const need = numel(dims) * ST_DTYPES[dtype].size;
    if (e - b !== need) {
      throw new Error(`${where}: data_offsets [${b}, ${e}] hold ${e - b} bytes, shape [${dims.join(',')}] ${dtype} needs ${need}`);
    }
    if (e > dataSize) {
      throw new Error(`${where}: data_offsets [${b}, ${e}] run past the end of the data (${dataSize} bytes)`);
    }
    tensors.set(name, { dtype, shape: dims, begin: dataStart + b, end: dataStart + e });
  }
  checkOverlaps(tensors, dataStart, file);
  return { tensors, metadata };
}

function checkOverlaps(tensors: Map<string, TensorEntry>, dataStart: number, file: string): void {
  const sorted = [...tensors].filter(([, t]) => t.end > t.begin).sort(([, a], [, b]) => a.begin - b.begin);
  for (let i = 1; i < sorted.length; i++) {
    const [pn, p] = sorted[i - 1]!;
    const [cn, c] = sorted[i]!;
    if (c.begin < p.end) {
      const span = (t: TensorEntry): string => `[${t.begin - dataStart}, ${t.end - dataStart}]`;
      throw new Error(`${file}: tensors ${pn} ${span(p)} and ${cn} ${span(c)} overlap`);
    }
  }
}

// --- half-precision conversions -------------------------------------------------------------------

let HALF_TABLE: Float32Array | undefined;

/** IEEE 754 binary16 bits → value: sign, 5-bit exponent (bias 15), 10-bit fraction. */
export function halfBitsToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24; // subnormal (and ±0): frac × 2^(1-15-10)
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** All 65536 half values, built once: a lookup beats per-element arithmetic on million-weight tensors. */
function halfTable(): Float32Array {
  if (!HALF_TABLE) {
    HALF_TABLE = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) HALF_TABLE[h] = halfBitsToNumber(h);
  }
  return HALF_TABLE;
}

export function halfToFloat32(bits: Uint16Array): Float32Array {
  const table = halfTable();
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = table[bits[i]!]!;
  return out;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** float32 → IEEE binary16 bits, rounding to nearest even (as torch's .half() and numpy do). */
export function float32ToHalfBits(x: number): number {
  f32[0] = x;
  const bits = u32[0]!;
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  const mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0); // inf, NaN (quiet)
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // overflow → inf
  if (e <= 0) {
    // Subnormal half (or zero): shift the implicit-1 mantissa right, rounding to nearest even.
    if (e < -10) return sign;
    const m = mant | 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rest = m & ((1 << shift) - 1);
    let r = m >>> shift;
    if (rest > half || (rest === half && (r & 1))) r++;
    return sign | r;
  }
  let r = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (r & 1))) r++; // a carry into the exponent is still correct
  return sign | r;
}

export function float32ToHalf(values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = float32ToHalfBits(values[i]!);
  return out;
}

/** bfloat16 is the top 16 bits of a float32, so widening is a shift (NaN, inf, subnormals come along). */
export function bfloat16ToFloat32(bits: Uint16Array): Float32Array {
  const out = new Uint32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = bits[i]! << 16;
  return new Float32Array(out.buffer);
}

// --- writer ---------------------------------------------------------------------------------------

const WRITE_DTYPES: Partial<Record<DType, StDType>> = {
  float32: 'F32', float16: 'F16', bfloat16: 'BF16', float64: 'F64', int64: 'I64', int32: 'I32', uint8: 'U8',
};

/** A tensor to be written: its header entry now, its bytes when the writer reaches it. */
export interface PendingTensor {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly number[];
  /** Produces the data (dtype and shape as declared); called once, in file order. */
  readonly data: () => Tensor | Promise<Tensor>;
}

export interface WrittenSafetensors {
  /** Absolute byte position of the first data byte (8 + header length). */
  readonly dataStart: number;
  /** Absolute [begin, end) byte positions of each tensor in the written file. */
  readonly spans: ReadonlyMap<string, readonly [number, number]>;
  readonly bytes: number;
}

/**
 * Writes tensors (float32, float16, bfloat16, float64, int64, int32, uint8) in order, atomically: to a
 * temporary file beside the target, then renamed over it, so a crash never leaves a half-written model.
 * The header comes first and needs only names, dtypes and shapes, so tensors are produced one at a time:
 * a model larger than memory can be converted. `onChunk` sees every byte written (for a running hash).
 * The header JSON is padded with spaces so the data starts 8-byte aligned, as the reference writer does.
 */
export async function writeSafetensorsLazy(
  path: string, tensors: readonly PendingTensor[], metadata?: Record<string, string>,
  onChunk?: (chunk: Uint8Array) => void,
): Promise<WrittenSafetensors> {
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  const relative = new Map<string, [number, number]>();
  let offset = 0;
  for (const t of tensors) {
    if (t.name === '__metadata__') throw new Error(`${label(path)}: a tensor cannot be named __metadata__`);
    if (relative.has(t.name)) throw new Error(`${label(path)}: tensor ${t.name} is listed twice`);
    const st = WRITE_DTYPES[t.dtype];
    if (!st) throw new Error(`${label(path)}: tensor ${t.name}: cannot write dtype ${t.dtype}`);
    const len = numel(t.shape) * ST_DTYPES[st].size;
    header[t.name] = { dtype: st, shape: [...t.shape], data_offsets: [offset, offset + len] };
    relative.set(t.name, [offset, offset + len]);
    offset += len;
  }
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  const pad = (8 - (json.byteLength % 8)) % 8;
  if (pad) json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.byteLength));
  const dataStart = 8 + json.byteLength;

  async function* chunks(): AsyncGenerator<Uint8Array> {
    for (const c of [len, json]) {
      onChunk?.(c);
      yield c;
    }
    for (const t of tensors) {
      const value = await t.data();
      if (value.dtype !== t.dtype || value.dims.length !== t.shape.length || value.dims.some((d, i) => d !== t.shape[i])) {
        throw new Error(`${label(path)}: tensor ${t.name} was declared ${t.dtype} [${t.shape.join(',')}] but is ${value.dtype} [${value.dims.join(',')}]`);
      }
      const bytes = value.bytes();
      onChunk?.(bytes);
      yield bytes;
    }
  }
  await writeFileAtomic(path, chunks());
  const spans = new Map([...relative].map(([k, [b, e]]) => [k, [dataStart + b, dataStart + e] as const]));
  return { dataStart, spans, bytes: dataStart + offset };
}

/** Writes tensors already in memory (see writeSafetensorsLazy). */
export async function writeSafetensors(
  path: string, tensors: Record<string, Tensor>, metadata?: Record<string, string>,
): Promise<void> {
  const pending = Object.entries(tensors).map(([name, t]) => ({ name, dtype: t.dtype, shape: t.dims, data: () => t }));
  await writeSafetensorsLazy(path, pending, metadata);
}
