/**
 * Writes PyTorch zip checkpoints as torch.save does (torch ≥ 1.6): `<archive>/data.pkl`, a protocol-2
 * pickle of the object whose tensors are `_rebuild_tensor_v2(<storage persistent id>, offset, size,
 * stride, requires_grad, OrderedDict())`, one stored (uncompressed) `<archive>/data/<key>` entry of raw
 * bytes per storage, `<archive>/byteorder` and `<archive>/version`. torch.load reads what it writes.
 *
 * For tests and benchmarks: storages may be produced lazily, chunk by chunk, so a 600 MB checkpoint is
 * written without being held; tensors are views (storage, offset, shape, stride), so several may share
 * one storage and a view may be non-contiguous. Options write what other torch versions or machines
 * write (big-endian storages, `_rebuild_tensor_v3` with UntypedStorage, zip64 records), and PyCall
 * writes a call of any global, which is how a hostile file looks.
 */
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import * as nodePath from 'node:path';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import * as yazl from 'yazl';
import { allocate, bytesPerElement, numel, type DType, type Tensor, type TypedData } from '../../onnx/tensor.js';

/** Element types torch has a legacy storage class for (the ones torch.save names in data.pkl). */
export type TorchDType = 'float32' | 'float64' | 'float16' | 'bfloat16' | 'int64' | 'int32' | 'int16' | 'int8' | 'uint8' | 'bool';

const STORAGE_CLASS: Record<TorchDType, string> = {
  float32: 'FloatStorage', float64: 'DoubleStorage', float16: 'HalfStorage', bfloat16: 'BFloat16Storage',
  int64: 'LongStorage', int32: 'IntStorage', int16: 'ShortStorage', int8: 'CharStorage', uint8: 'ByteStorage',
  bool: 'BoolStorage',
};

const isTorchDType = (d: DType): d is TorchDType => Object.hasOwn(STORAGE_CLASS, d);

const bytesOf = (d: TypedData): Uint8Array => new Uint8Array(d.buffer, d.byteOffset, d.byteLength);

/** One storage: `numel` elements of `dtype`, produced on demand as little-endian chunks of whole elements. */
export class TorchStorage {
  constructor(
    readonly dtype: TorchDType,
    readonly numel: number,
    private readonly produce: () => Iterable<Uint8Array> | AsyncIterable<Uint8Array>,
  ) {
    if (!Number.isSafeInteger(numel) || numel < 0) throw new Error(`storage size ${numel} is not a non-negative integer`);
  }

  get nbytes(): number { return this.numel * bytesPerElement(this.dtype); }

  chunks(): Iterable<Uint8Array> | AsyncIterable<Uint8Array> { return this.produce(); }
}

/** A strided window onto a storage, as torch keeps every tensor. Offset and strides count elements. */
export class TorchTensor {
  constructor(
    readonly storage: TorchStorage,
    readonly offset: number,
    readonly shape: readonly number[],
    readonly stride: readonly number[] = contiguousStride(shape),
    readonly requiresGrad = false,
  ) {
    if (stride.length !== shape.length) throw new Error(`shape [${shape.join(',')}] has ${stride.length} strides`);
    const last = numel(shape) === 0 ? offset - 1 : shape.reduce((a, s, d) => a + (s - 1) * stride[d]!, offset);
    if (offset < 0 || last >= storage.numel) {
      throw new Error(`view at offset ${offset}, shape [${shape.join(',')}], stride [${stride.join(',')}] runs past a storage of ${storage.numel} elements`);
    }
  }

  get dtype(): TorchDType { return this.storage.dtype; }
}

/** An nn.Parameter: pickled through torch._utils._rebuild_parameter. */
export class TorchParameter {
  constructor(readonly data: TorchTensor, readonly requiresGrad = true) {}
}

/** A Python tuple (arrays are lists). */
export class PyTuple {
  constructor(readonly items: readonly PickleValue[]) {}
}

/** A Python float even when the number is integral (plain numbers that are integers pickle as int). */
export class PyFloat {
  constructor(readonly value: number) {}
}

/** collections.OrderedDict, as state dicts are (a Map pickles as a plain dict). */
export class PyOrderedDict {
  constructor(readonly entries: ReadonlyMap<DictKey, PickleValue>) {}
}

/** `module.name(*args)` run on load: GLOBAL, the args tuple, REDUCE. Tests write hostile files with it. */
export class PyCall {
  constructor(readonly module: string, readonly name: string, readonly args: readonly PickleValue[]) {}
}

export type DictKey = string | number;

export type PickleValue =
  | null | boolean | number | bigint | string
  | readonly PickleValue[] | ReadonlyMap<DictKey, PickleValue>
  | PyTuple | PyFloat | PyOrderedDict | PyCall
  | TorchTensor | TorchParameter;

export function contiguousStride(shape: readonly number[]): number[] {
  const stride = new Array<number>(shape.length);
  let s = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    stride[d] = s;
    s *= shape[d]!;
  }
  return stride;
}

/** A storage over the tensor's own data (not copied), little-endian as it is in memory. */
export function storageOf(t: Tensor): TorchStorage {
  if (!isTorchDType(t.dtype)) throw new Error(`torch has no storage class for ${t.dtype}`);
  const bytes = bytesOf(t.data);
  return new TorchStorage(t.dtype, t.data.length, () => [bytes]);
}

/** A contiguous tensor over its own storage. */
export function tensorOf(t: Tensor, requiresGrad = false): TorchTensor {
  return new TorchTensor(storageOf(t), 0, [...t.dims], contiguousStride(t.dims), requiresGrad);
}

/**
 * A storage whose bytes are made when the writer reaches it, `chunkElements` at a time:
 * fill(first, out) fills `out` with elements first … first + out.length − 1.
 */
export function lazyStorage(
  dtype: TorchDType, count: number, fill: (first: number, out: TypedData) => void, chunkElements = 1 << 20,
): TorchStorage {
  return new TorchStorage(dtype, count, function* () {
    for (let first = 0; first < count; first += chunkElements) {
      const out = allocate(dtype, Math.min(chunkElements, count - first));
      fill(first, out);
      yield bytesOf(out);
    }
  });
}

/** A contiguous tensor over a lazy storage (see lazyStorage). */
export function lazyTensor(
  dtype: TorchDType, shape: readonly number[], fill: (first: number, out: TypedData) => void, requiresGrad = false,
): TorchTensor {
  return new TorchTensor(lazyStorage(dtype, numel(shape), fill), 0, [...shape], contiguousStride(shape), requiresGrad);
}

/** The same storage seen with dimensions a and b swapped (negative counts from the end), like Tensor.transpose. */
export function transposed(t: TorchTensor, a = -2, b = -1): TorchTensor {
  const rank = t.shape.length;
  const i = a < 0 ? rank + a : a;
  const j = b < 0 ? rank + b : b;
  const shape = [...t.shape];
  const stride = [...t.stride];
  [shape[i], shape[j]] = [shape[j]!, shape[i]!];
  [stride[i], stride[j]] = [stride[j]!, stride[i]!];
  return new TorchTensor(t.storage, t.offset, shape, stride, t.requiresGrad);
}

// ---------------------------------------------------------------------------------------------
// Pickle protocol 2 (Lib/pickletools.py documents each opcode).

class Pickler {
  private buf = new Uint8Array(1024);
  private len = 0;
  private readonly keys = new Map<TorchStorage, string>();

  constructor(private readonly rebuild: 'v2' | 'v3') {}

  /** Storages in the order data.pkl first names them, with their keys ('0', '1', …). */
  get storages(): [string, TorchStorage][] { return [...this.keys].map(([s, k]) => [k, s]); }

  bytes(): Uint8Array { return this.buf.subarray(0, this.len); }

  private raw(b: ArrayLike<number>): void {
    if (this.len + b.length > this.buf.length) {
      const bigger = new Uint8Array(Math.max(this.buf.length * 2, this.len + b.length));
      bigger.set(this.buf.subarray(0, this.len));
      this.buf = bigger;
    }
    this.buf.set(b, this.len);
    this.len += b.length;
  }

  private op(code: string): void { this.raw([code.charCodeAt(0)]); }

  private fixed(size: 2 | 4, put: (view: DataView) => void): void {
    const b = new Uint8Array(size);
    put(new DataView(b.buffer));
    this.raw(b);
  }

  start(): void { this.raw([0x80, 2]); } // PROTO 2
  stop(): void { this.op('.'); }

  int(v: number | bigint): void {
    if (typeof v === 'number' && v >= 0 && v < 256) { this.op('K'); this.raw([v]); return; }
    if (typeof v === 'number' && v >= 0 && v < 65536) { this.op('M'); this.fixed(2, (d) => d.setUint16(0, v, true)); return; }
    if (typeof v === 'number' && v >= -(2 ** 31) && v < 2 ** 31) { this.op('J'); this.fixed(4, (d) => d.setInt32(0, v, true)); return; }
    // LONG1: minimal little-endian two's complement, as pickle's encode_long.
    let x = BigInt(v);
    const out: number[] = [];
    for (;;) {
      out.push(Number(x & 0xffn));
      x >>= 8n;
      const signBit = (out[out.length - 1]! & 0x80) !== 0;
      if ((x === 0n && !signBit) || (x === -1n && signBit)) break;
    }
    this.raw([0x8a, out.length, ...out]);
  }

  float(v: number): void {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, v, false); // BINFLOAT is big-endian
    this.op('G');
    this.raw(b);
  }

  str(s: string): void {
    const b = new TextEncoder().encode(s);
    this.op('X');
    this.fixed(4, (d) => d.setUint32(0, b.length, true));
    this.raw(b);
  }

  global(module: string, name: string): void {
    this.op('c');
    this.raw(new TextEncoder().encode(`${module}\n${name}\n`));
  }

  tuple(items: readonly (() => void)[]): void {
    if (items.length === 0) { this.op(')'); return; }
    if (items.length <= 3) {
      for (const f of items) f();
      this.raw([0x84 + items.length]); // TUPLE1 … TUPLE3
      return;
    }
    this.op('(');
    for (const f of items) f();
    this.op('t');
  }

  call(module: string, name: string, args: readonly (() => void)[]): void {
    this.global(module, name);
    this.tuple(args);
    this.op('R');
  }

  emptyOrderedDict(): void { this.call('collections', 'OrderedDict', []); }

  dictItems(entries: ReadonlyMap<DictKey, PickleValue>): void {
    const all = [...entries];
    for (let i = 0; i < all.length; i += 1000) { // pickle batches SETITEMS by 1000
      this.op('(');
      for (const [k, v] of all.slice(i, i + 1000)) { this.value(k); this.value(v); }
      this.op('u');
    }
  }

  storage(s: TorchStorage, untyped: boolean): void {
    let key = this.keys.get(s);
    if (key === undefined) {
      key = String(this.keys.size);
      this.keys.set(s, key);
    }
    this.op('(');
    this.str('storage');
    if (untyped) this.global('torch', 'UntypedStorage');
    else this.global('torch', STORAGE_CLASS[s.dtype]);
    this.str(key);
    this.str('cpu');
    this.int(untyped ? s.nbytes : s.numel);
    this.op('t');
    this.op('Q'); // BINPERSID
  }

  tensor(t: TorchTensor, requiresGrad = t.requiresGrad): void {
    const v3 = this.rebuild === 'v3';
    const args = [
      () => this.storage(t.storage, v3),
      () => this.int(t.offset),
      () => this.tuple(t.shape.map((n) => () => this.int(n))),
      () => this.tuple(t.stride.map((n) => () => this.int(n))),
      () => this.value(requiresGrad),
      () => this.emptyOrderedDict(),
    ];
    if (v3) args.push(() => this.global('torch', t.dtype));
    this.call('torch._utils', v3 ? '_rebuild_tensor_v3' : '_rebuild_tensor_v2', args);
  }

  value(v: PickleValue): void {
    if (v === null) this.op('N');
    else if (v === true) this.raw([0x88]);
    else if (v === false) this.raw([0x89]);
    else if (typeof v === 'bigint') this.int(v);
    else if (typeof v === 'number') {
      if (Number.isSafeInteger(v)) this.int(v);
      else this.float(v);
    } else if (typeof v === 'string') this.str(v);
    else if (v instanceof PyFloat) this.float(v.value);
    else if (v instanceof PyTuple) this.tuple(v.items.map((x) => () => this.value(x)));
    else if (v instanceof TorchTensor) this.tensor(v);
    else if (v instanceof TorchParameter) {
      this.call('torch._utils', '_rebuild_parameter', [
        () => this.tensor(v.data, false), () => this.value(v.requiresGrad), () => this.emptyOrderedDict(),
      ]);
    } else if (v instanceof PyCall) this.call(v.module, v.name, v.args.map((x) => () => this.value(x)));
    else if (v instanceof PyOrderedDict) {
      this.emptyOrderedDict();
      this.dictItems(v.entries);
    } else if (v instanceof Map) {
      this.op('}');
      this.dictItems(v);
    } else if (Array.isArray(v)) {
      this.op(']');
      for (let i = 0; i < v.length; i += 1000) {
        this.op('(');
        for (const x of v.slice(i, i + 1000)) this.value(x);
        this.op('e'); // APPENDS
      }
    } else {
      throw new Error(`cannot pickle ${typeof v === 'object' ? Object.getPrototypeOf(v)?.constructor?.name : typeof v}`);
    }
  }
}

// ---------------------------------------------------------------------------------------------

export interface WriteTorchOptions {
  /** The folder every entry lives in; torch uses the file's stem (e.g. 'ViT-B-32' for ViT-B-32.pt). */
  readonly archiveName?: string;
  /** 'big' writes storages big-endian and says so in <archive>/byteorder, as torch does on such machines. */
  readonly byteOrder?: 'little' | 'big';
  /** Rebuild tensors with _rebuild_tensor_v3 over UntypedStorage (how torch 2.x writes newer dtypes). */
  readonly rebuild?: 'v2' | 'v3';
  /** Force zip64 records, as archives over 4 GB get. */
  readonly zip64?: boolean;
  /** Deflate the storage entries (torch never does; lets tests cover readers' fallback). */
  readonly compress?: boolean;
  /** Small records added under <archive>/, or replacing byteorder / version (tests write odd files with it). */
  readonly records?: Readonly<Record<string, string | Uint8Array>>;
  /** Rewrites the finished data.pkl (tests write truncated or malformed pickles with it). */
  readonly editPickle?: (pickle: Uint8Array) => Uint8Array;
}

async function* storageBytes(s: TorchStorage, bigEndian: boolean): AsyncGenerator<Uint8Array> {
  const size = bytesPerElement(s.dtype);
  let total = 0;
  for await (const chunk of s.chunks()) {
    if (chunk.byteLength % size !== 0) throw new Error(`a ${s.dtype} storage chunk of ${chunk.byteLength} bytes splits an element`);
    total += chunk.byteLength;
    if (!bigEndian || size === 1) {
      yield chunk;
      continue;
    }
    const swapped = chunk.slice();
    for (let i = 0; i < swapped.byteLength; i += size) {
      for (let a = i, b = i + size - 1; a < b; a++, b--) [swapped[a], swapped[b]] = [swapped[b]!, swapped[a]!];
    }
    yield swapped;
  }
  if (total !== s.nbytes) throw new Error(`a ${s.dtype} storage of ${s.numel} elements produced ${total} bytes, not ${s.nbytes}`);
}

/** Writes `obj` as torch.save would, through a temporary sibling renamed into place at the end. */
export async function writeTorchCheckpoint(path: string, obj: PickleValue, opts: WriteTorchOptions = {}): Promise<void> {
  const archive = opts.archiveName ?? nodePath.basename(path).replace(/\.[^.]*$/, '');
  const pickler = new Pickler(opts.rebuild ?? 'v2');
  pickler.start();
  pickler.value(obj);
  pickler.stop();

  const zip64 = opts.zip64 ?? false;
  const stored = { compress: false, forceZip64Format: zip64 };
  const zip = new yazl.ZipFile();
  const tmp = nodePath.join(nodePath.dirname(path), `.${nodePath.basename(path)}.${randomBytes(4).toString('hex')}.tmp`);
  const out = createWriteStream(tmp);
  const done = new Promise<void>((resolve, reject) => {
    out.on('error', reject);
    out.on('close', resolve);
    zip.on('error', reject);
    zip.outputStream.on('error', reject);
    zip.outputStream.pipe(out);
    const add = (name: string, data: Uint8Array | string): void => zip.addBuffer(Buffer.from(data), `${archive}/${name}`, stored);
    const records: Record<string, string | Uint8Array> = { byteorder: opts.byteOrder ?? 'little', version: '3\n', ...opts.records };
    add('data.pkl', opts.editPickle ? opts.editPickle(pickler.bytes()) : pickler.bytes());
    add('byteorder', records.byteorder!);
    for (const [key, s] of pickler.storages) {
      zip.addReadStreamLazy(`${archive}/data/${key}`, { ...stored, compress: opts.compress ?? false, size: s.nbytes }, (cb) => {
        const stream = Readable.from(storageBytes(s, opts.byteOrder === 'big'), { objectMode: false });
        stream.on('error', reject); // yazl does not pass on errors of the streams it is given
        cb(null, stream);
      });
    }
    for (const [name, data] of Object.entries(records)) if (name !== 'byteorder') add(name, data);
    zip.end({ forceZip64Format: zip64, comment: '' });
  });
  try {
    await done;
    await rename(tmp, path);
  } catch (e) {
    out.destroy();
    await rm(tmp, { force: true });
    throw e;
  }
}
