/**
 * Reader for PyTorch checkpoints in torch.save's zip format (torch ≥ 1.6): a zip whose entries
 * `<archive>/data.pkl` (a protocol-2 pickle of the saved object) and `<archive>/data/<key>` (one raw
 * storage each, little-endian unless `<archive>/byteorder` says "big") are stored uncompressed.
 *
 * Two promises shape it:
 * - Nothing in the pickle is ever executed. Globals resolve through a whitelist to inert stand-ins
 *   (tensor/parameter rebuild functions that only record geometry, storage types, OrderedDict, a few
 *   data-only helpers); any other global fails the whole file with one line naming it.
 * - Tensor bytes are read lazily, per tensor and only the byte span that tensor covers, so a 1.3 GB
 *   training checkpoint never sits in memory and its optimizer state is never read at all.
 */
import { promises as fsp } from 'node:fs';
import * as nodePath from 'node:path';
import type { Readable } from 'node:stream';
import pickleparser from 'pickleparser';
import yauzl from 'yauzl';
import { allocate, bytesPerElement, numel, Tensor, type DType, type TypedData } from '../onnx/tensor.js';
import { bfloat16ToFloat32, halfToFloat32 } from './safetensors.js';
import type { ReadTensorOptions, TensorInfo, WeightReader } from './weights.js';

export interface TorchCheckpoint extends WeightReader {
  /** Top-level entries that were not the state dict (e.g. 'optimizer', 'epoch', 'scaler'), for the import report. */
  readonly skipped: readonly string[];
  /** The prefix removed from every name ('module.' from DataParallel/DDP, '_orig_mod.' from torch.compile), or ''. */
  readonly strippedPrefix: string;
  /** Tensor bytes read so far (lets tests prove optimizer state is never read). */
  readonly bytesRead: number;
}

/** A problem with the file; the message lacks only the file label, which openTorchCheckpoint adds. */
class Refusal extends Error {}

const label = (p: string): string => nodePath.basename(p);

/** Library messages go into our one-line errors; keep them one line and short. */
const oneLine = (s: string): string => s.replace(/\s+/g, ' ').trim().slice(0, 300);

const errorText = (e: unknown): string => oneLine(e instanceof Error ? e.message : String(e));

// ---------------------------------------------------------------------------------------------
// What the unpickler builds: inert records, never live objects.

/** One `<archive>/data/<key>` entry as the pickle declares it. */
class StorageRef {
  constructor(
    readonly key: string,
    /** Element type the storage was declared with (uint8 for UntypedStorage). */
    readonly kind: StorageKind,
    /** Declared size in bytes (typed storages declare elements; we convert). */
    readonly nbytes: number,
  ) {
    Object.freeze(this);
  }
}

/** A tensor as `_rebuild_tensor*` describes it: a strided window onto a storage. */
class TensorRef {
  constructor(
    readonly storage: StorageRef,
    /** null: an element type torch has but we do not read (complex, quantised, float8). */
    readonly dtype: DType | null,
    readonly dtypeName: string,
    /** In elements of `dtype`. */
    readonly offset: number,
    readonly shape: readonly number[],
    readonly stride: readonly number[],
  ) {
    Object.freeze(this);
  }
}

interface StorageKind {
  readonly name: string;
  /** torch's name for the element type (complex64, …), for messages. */
  readonly torchName: string;
  readonly dtype: DType | null;
  /** Element size in bytes; UntypedStorage counts bytes. */
  readonly size: number;
  readonly untyped: boolean;
}

/** Stand-in for a torch dtype global (torch.float32, …); `_rebuild_tensor_v3` names the dtype this way. */
class DTypeRef {
  constructor(readonly name: string, readonly dtype: DType | null) { Object.freeze(this); }
}

/** Stand-in for torch.Tensor / torch.nn.Parameter as the `new_type` of `_rebuild_from_type_v2`. */
class TensorTypeRef {
  constructor(readonly name: string) { Object.freeze(this); }
}

/** Stand-in for numpy scalars and dtypes: recorded as opaque data, never decoded into objects. */
class NumpyRef {
  constructor(readonly what: string) { Object.freeze(this); }
  /** pickle's BUILD hands a numpy dtype its state; the state is data we have no use for. */
  __setstate__(): void {}
}

// Storage classes torch pickles by name (torch/storage.py's _LegacyStorage subclasses), with torch's
// name of their element type; types we do not read are still recognised so that an optimizer
// holding one does not fail the file.
const STORAGE_KINDS: ReadonlyMap<string, StorageKind> = new Map(
  ([
    ['FloatStorage', 'float32', 'float32', 4], ['DoubleStorage', 'float64', 'float64', 8],
    ['HalfStorage', 'float16', 'float16', 2], ['BFloat16Storage', 'bfloat16', 'bfloat16', 2],
    ['LongStorage', 'int64', 'int64', 8], ['IntStorage', 'int32', 'int32', 4], ['ShortStorage', 'int16', 'int16', 2],
    ['CharStorage', 'int8', 'int8', 1], ['ByteStorage', 'uint8', 'uint8', 1], ['BoolStorage', 'bool', 'bool', 1],
    ['ComplexFloatStorage', 'complex64', null, 8], ['ComplexDoubleStorage', 'complex128', null, 16],
    ['QInt8Storage', 'qint8', null, 1], ['QUInt8Storage', 'quint8', null, 1], ['QInt32Storage', 'qint32', null, 4],
    ['QUInt4x2Storage', 'quint4x2', null, 1], ['QUInt2x4Storage', 'quint2x4', null, 1],
  ] as const).map(([name, torchName, dtype, size]) => [name, Object.freeze({ name, torchName, dtype, size, untyped: false })]),
);
const UNTYPED: StorageKind = Object.freeze({ name: 'UntypedStorage', torchName: 'uint8', dtype: 'uint8', size: 1, untyped: true });

// torch dtype globals (torch.float32 …, as `_rebuild_tensor_v3` pickles them), with their aliases.
const TORCH_DTYPES: ReadonlyMap<string, DType | null> = new Map<string, DType | null>([
  ['float32', 'float32'], ['float', 'float32'], ['float64', 'float64'], ['double', 'float64'],
  ['float16', 'float16'], ['half', 'float16'], ['bfloat16', 'bfloat16'], ['int64', 'int64'], ['long', 'int64'],
  ['int32', 'int32'], ['int', 'int32'], ['int16', 'int16'], ['short', 'int16'], ['int8', 'int8'],
  ['uint8', 'uint8'], ['bool', 'bool'], ['uint16', 'uint16'], ['uint32', 'uint32'], ['uint64', 'uint64'],
  ['complex64', null], ['complex128', null], ['cfloat', null], ['cdouble', null], ['complex32', null],
  ['float8_e4m3fn', null], ['float8_e5m2', null], ['float8_e4m3fnuz', null], ['float8_e5m2fnuz', null],
]);

// ---------------------------------------------------------------------------------------------
// The whitelist. Each allowed global maps to a stand-in built fresh for every file (so a crafted
// pickle that BUILDs onto a stand-in cannot reach the next file) and frozen (so it cannot at all).
// Functions are arrows: pickle's OBJ/NEWOBJ/INST opcodes construct, and arrows cannot be constructed.

type Global = (...args: unknown[]) => unknown;

const isIndex = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

function indexList(v: unknown, what: string): number[] {
  if (!Array.isArray(v) || !v.every(isIndex)) throw new Refusal(`data.pkl gives a tensor ${what} that is not a tuple of non-negative integers`);
  return [...v];
}

function makeTensor(storage: unknown, offset: unknown, size: unknown, stride: unknown, dtype?: DTypeRef): TensorRef {
  if (!(storage instanceof StorageRef)) throw new Refusal('data.pkl rebuilds a tensor from something that is not a storage');
  if (!isIndex(offset)) throw new Refusal('data.pkl gives a tensor storage offset that is not a non-negative integer');
  const shape = indexList(size, 'size');
  const strides = indexList(stride, 'stride');
  if (strides.length !== shape.length) throw new Refusal(`data.pkl gives a tensor of rank ${shape.length} with ${strides.length} strides`);
  const dt = dtype ? dtype.dtype : storage.kind.dtype;
  const name = dtype ? dtype.name : storage.kind.torchName;
  return new TensorRef(storage, dt, name, offset, shape, strides);
}

/**
 * Names every allowed global resolves to, per file. Besides the tensor machinery (rebuild functions,
 * storage types, torch dtypes, torch.Tensor / Parameter as type tags) and OrderedDict, these data-only
 * globals are accepted because real checkpoints contain them and none can do anything: torch.Size
 * (a tuple), builtins set / frozenset (lists), _codecs.encode with latin1 (bytes, as protocol 2 spells
 * them), numpy scalar / dtype (kept as opaque markers, never decoded). Every class is refused, however
 * plain it looks (argparse.Namespace included): rebuilding one would mean trusting its code.
 */
function allowedGlobals(): Map<string, unknown> {
  const tensorTypes = ['torch._tensor.Tensor', 'torch.Tensor', 'torch.nn.parameter.Parameter'];
  const g = new Map<string, unknown>();
  // Tensor and parameter rebuild functions (torch/_utils.py): they only record the geometry.
  // _rebuild_tensor and _rebuild_tensor_v2 share their first four arguments; v2's extra
  // (requires_grad, backward hooks, metadata) mean nothing to an inference engine.
  const v2: Global = (storage, offset, size, stride) => makeTensor(storage, offset, size, stride);
  const v3: Global = (storage, offset, size, stride, _grad, _hooks, dtype) => {
    if (!(dtype instanceof DTypeRef)) throw new Refusal('data.pkl calls _rebuild_tensor_v3 without a torch dtype');
    return makeTensor(storage, offset, size, stride, dtype);
  };
  const param: Global = (data) => {
    if (!(data instanceof TensorRef)) throw new Refusal('data.pkl rebuilds a Parameter from something that is not a tensor');
    return data;
  };
  const rebuilders = new Set<unknown>([v2, v3, param]);
  // torch/_tensor.py: a tensor (or Parameter) carrying Python attributes; the attributes are dropped.
  const fromType: Global = (func, newType, args) => {
    if (!rebuilders.has(func) || !(newType instanceof TensorTypeRef) || !Array.isArray(args)) {
      throw new Refusal('data.pkl calls _rebuild_from_type_v2 with something other than a tensor rebuild');
    }
    return (func as Global)(...args);
  };
  g.set('torch._utils._rebuild_tensor', v2);
  g.set('torch._utils._rebuild_tensor_v2', v2);
  g.set('torch._utils._rebuild_tensor_v3', v3);
  g.set('torch._utils._rebuild_parameter', param);
  g.set('torch._utils._rebuild_parameter_with_state', param);
  g.set('torch._tensor._rebuild_from_type_v2', fromType);
  // Older torch pickled the module as torch.tensor (torch.serialization maps it the same way).
  g.set('torch.tensor._rebuild_from_type_v2', fromType);
  for (const t of tensorTypes) g.set(t, new TensorTypeRef(t));
  for (const [name, kind] of STORAGE_KINDS) g.set(`torch.${name}`, kind);
  g.set('torch.UntypedStorage', UNTYPED);
  g.set('torch.storage.UntypedStorage', UNTYPED);
  for (const [name, dtype] of TORCH_DTYPES) g.set(`torch.${name}`, new DTypeRef(name, dtype));
  // Plain containers. OrderedDict (state dicts, backward hooks) becomes a Map; its `_metadata`
  // attribute arrives through BUILD, which the parser ignores for Maps, so it is simply dropped.
  g.set('collections.OrderedDict', ((pairs?: unknown) => {
    const m = new Map<unknown, unknown>();
    if (Array.isArray(pairs)) for (const p of pairs) if (Array.isArray(p) && p.length === 2) m.set(p[0], p[1]);
    return m;
  }) satisfies Global);
  g.set('torch.Size', ((dims?: unknown) => indexList(dims ?? [], 'Size')) satisfies Global);
  const asList: Global = (items) => (Array.isArray(items) ? [...items] : []);
  for (const m of ['builtins', '__builtin__']) { g.set(`${m}.set`, asList); g.set(`${m}.frozenset`, asList); }
  // Protocol 2 cannot say "bytes" directly; Python 3 writes _codecs.encode(text, 'latin1') instead.
  g.set('_codecs.encode', ((text, encoding) => {
    if (typeof text !== 'string' || (encoding !== 'latin1' && encoding !== 'latin-1')) {
      throw new Refusal('data.pkl calls _codecs.encode with something other than a latin1 byte string');
    }
    return Uint8Array.from(text, (c) => c.charCodeAt(0) & 0xff);
  }) satisfies Global);
  // numpy scalars and dtypes (e.g. a best-accuracy float64 in a training checkpoint): opaque data.
  for (const m of ['numpy.core.multiarray', 'numpy._core.multiarray']) g.set(`${m}.scalar`, (() => new NumpyRef('scalar')) satisfies Global);
  g.set('numpy.dtype', (() => new NumpyRef('dtype')) satisfies Global);
  for (const v of g.values()) Object.freeze(v);
  return g;
}

/** Shows a module or name from the file in a message without letting it break the line. */
const shown = (s: unknown): string => (typeof s === 'string' ? s : String(s)).replace(/[^\x20-\x7e]/g, '?').slice(0, 120);

/** Decodes `<archive>/data.pkl` into Maps, arrays, primitives and the inert records above. */
function unpickle(bytes: Uint8Array, entryName: string): unknown {
  const globals = allowedGlobals();
  const storages = new Map<string, StorageRef>();
  const parser = new pickleparser.Parser({
    nameResolver: {
      resolve(module: string, name: string) {
        const hit = typeof module === 'string' && typeof name === 'string' ? globals.get(`${module}.${name}`) : undefined;
        if (hit === undefined) {
          throw new Refusal(
            `refuses to unpickle forbidden global ${shown(module)}.${shown(name)} (only tensors, storages and plain containers are allowed)`);
        }
        // The parser's type says a callable; markers (storage types, dtypes) are plain frozen objects,
        // which is what we want: pickle REDUCE on one fails instead of calling anything.
        return hit as Global;
      },
    },
    persistentResolver: { resolve: (pid: unknown) => storageFor(pid, storages) },
    unpicklingTypeOfDictionary: 'Map',
    unpicklingTypeOfSet: 'array',
  });
  try {
    return parser.parse(bytes);
  } catch (e) {
    if (e instanceof Refusal) throw e;
    throw new Refusal(`${entryName} is not a readable pickle (${errorText(e)}); the checkpoint is truncated or corrupt`);
  }
}

/** The persistent id torch writes for a storage: ('storage', StorageType, key, location, numel). */
function storageFor(pid: unknown, seen: Map<string, StorageRef>): StorageRef {
  const text = (v: unknown): unknown => (v instanceof Uint8Array ? new TextDecoder('latin1').decode(v) : v);
  if (!Array.isArray(pid) || pid.length < 5 || text(pid[0]) !== 'storage') {
    throw new Refusal('data.pkl refers to persistent data that is not a torch storage');
  }
  const [, kind, rawKey, , count] = pid as unknown[];
  const key = text(rawKey);
  if (!isStorageKind(kind) || (typeof key !== 'string' && typeof key !== 'number') || !isIndex(count)) {
    throw new Refusal('data.pkl declares a storage with a malformed persistent id');
  }
  const k = String(key);
  // torch.load keeps the first declaration of a key; views of one storage name it again and again.
  let s = seen.get(k);
  if (!s) {
    s = new StorageRef(k, kind, count * kind.size);
    seen.set(k, s);
  }
  return s;
}

const isStorageKind = (v: unknown): v is StorageKind => v === UNTYPED || [...STORAGE_KINDS.values()].includes(v as StorageKind);

// ---------------------------------------------------------------------------------------------
// Zip access. yauzl reads the structure (central directory, zip64 records, local headers); the bytes
// of a stored entry are then read straight from the file at the offset yauzl found, into the caller's
// buffer: that is what yauzl's own raw read stream does, minus a copy per 64 KB chunk, and it reads
// a 600 MB checkpoint about 2.5× faster.

const readFailed = (entry: yauzl.Entry, e: unknown): Refusal =>
  new Refusal(`zip entry ${entry.fileName} cannot be read (${errorText(e)}); the file is truncated or corrupt`);

class ZipSource {
  private readonly dataStart = new Map<yauzl.Entry, Promise<number>>();

  private constructor(private readonly zip: yauzl.ZipFile, private readonly fh: fsp.FileHandle) {}

  static async open(path: string, head: Uint8Array): Promise<ZipSource> {
    let zip: yauzl.ZipFile;
    try {
      zip = await yauzl.openPromise(path, { autoClose: false, lazyEntries: true });
    } catch (e) {
      const isZipStart = head[0] === 0x50 && head[1] === 0x4b;
      throw new Refusal(isZipStart
        ? `is not a readable zip archive (${errorText(e)}); the file is truncated or corrupt, download it again`
        : `is not a PyTorch checkpoint: not a zip archive (torch.save's format since 1.6) nor a legacy torch file`);
    }
    try {
      return new ZipSource(zip, await fsp.open(path, 'r'));
    } catch (e) {
      zip.close();
      throw new Refusal(`cannot be read (${(e as NodeJS.ErrnoException).code ?? errorText(e)})`);
    }
  }

  async entries(): Promise<Map<string, yauzl.Entry>> {
    const entries = new Map<string, yauzl.Entry>();
    try {
      for await (const entry of this.zip.eachEntry()) {
        if (entries.has(entry.fileName)) throw new Refusal(`zip archive has two entries named ${shown(entry.fileName)}`);
        entries.set(entry.fileName, entry);
      }
    } catch (e) {
      if (e instanceof Refusal) throw e;
      throw new Refusal(`is a corrupt zip archive (${errorText(e)}); the file is truncated or damaged, download it again`);
    }
    return entries;
  }

  /** Fills `into` with bytes [start, start + into.length) of an entry's uncompressed data. */
  async read(entry: yauzl.Entry, start: number, into: Uint8Array): Promise<void> {
    if (into.byteLength === 0) return;
    if (entry.compressionMethod === 0 && !entry.isEncrypted()) return this.readStored(entry, start, into);
    if (entry.canDecodeFileData()) return this.readDeflated(entry, start, into);
    throw new Refusal(`zip entry ${entry.fileName} is encrypted or uses a compression method we cannot read`);
  }

  async readWhole(entry: yauzl.Entry, limit: number): Promise<Uint8Array> {
    if (entry.uncompressedSize > limit) {
      throw new Refusal(`zip entry ${entry.fileName} is ${entry.uncompressedSize} bytes, more than the ${limit} we accept for it`);
    }
    const out = new Uint8Array(entry.uncompressedSize);
    await this.read(entry, 0, out);
    return out;
  }

  async close(): Promise<void> {
    this.zip.close();
    await this.fh.close();
  }

  private async readStored(entry: yauzl.Entry, start: number, into: Uint8Array): Promise<void> {
    let at = this.dataStart.get(entry);
    if (!at) {
      // The local header says where the data begins (its name and extra field vary in length).
      at = this.zip.readLocalFileHeaderPromise(entry, { minimal: true }).then((h) => h.fileDataStart);
      this.dataStart.set(entry, at);
    }
    let done = 0;
    try {
      const base = (await at) + start;
      while (done < into.byteLength) {
        const { bytesRead } = await this.fh.read(into, done, into.byteLength - done, base + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
    } catch (e) {
      this.dataStart.delete(entry);
      throw readFailed(entry, e);
    }
    if (done < into.byteLength) {
      throw new Refusal(`zip entry ${entry.fileName} ended after ${start + done} of ${start + into.byteLength} bytes; the file is truncated or corrupt`);
    }
  }

  /** A deflated entry cannot be entered in the middle: inflate from its start and drop the prefix. */
  private async readDeflated(entry: yauzl.Entry, start: number, into: Uint8Array): Promise<void> {
    let filled = 0;
    let skip = start;
    try {
      const stream: Readable = await this.zip.openReadStreamPromise(entry);
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        const c = chunk.subarray(Math.min(skip, chunk.byteLength));
        skip -= chunk.byteLength - c.byteLength;
        const take = Math.min(c.byteLength, into.byteLength - filled);
        into.set(c.subarray(0, take), filled);
        filled += take;
        if (filled === into.byteLength) break; // leaving the loop destroys the stream
      }
    } catch (e) {
      throw readFailed(entry, e);
    }
    if (filled < into.byteLength) {
      throw new Refusal(`zip entry ${entry.fileName} ended after ${start + filled} of ${start + into.byteLength} bytes; the file is truncated or corrupt`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Recognising what the file is before trusting it to be a checkpoint.

// torch.save(..., _use_new_zipfile_serialization=False) starts with pickle.dump(MAGIC_NUMBER) where
// MAGIC_NUMBER = 0x1950a86a20f9469cfc6c: PROTO 2, LONG1 of 10 bytes, little-endian.
const LEGACY_MAGIC = Uint8Array.from([0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19]);
const LEGACY_HINT = 'load and re-save it with a current torch: torch.save(torch.load(src, map_location="cpu"), "converted.pt")';

function sniff(head: Uint8Array, size: number): void {
  if (size === 0) throw new Refusal('is empty');
  if (LEGACY_MAGIC.every((b, i) => head[i] === b)) {
    throw new Refusal(`is in PyTorch's legacy (pre-1.6, non-zip) serialization format, which clipag does not read; ${LEGACY_HINT}`);
  }
  // Before 0.4 torch.save wrote a tar archive ("ustar" at offset 257).
  if (new TextDecoder('latin1').decode(head.subarray(257, 262)) === 'ustar') {
    throw new Refusal(`is in PyTorch's legacy tar serialization format, which clipag does not read; ${LEGACY_HINT}`);
  }
  if (head[0] === 0x80 && head[1] !== undefined && head[1] >= 2 && head[1] <= 5) {
    throw new Refusal('is a bare pickle, not a torch.save zip checkpoint; save the state dict with torch.save from torch 1.6 or later');
  }
}

interface Layout { prefix: string; dataPkl: yauzl.Entry }

const TORCHSCRIPT = 'is a TorchScript archive (torch.jit.save), not a state dict; in Python run '
  + 'torch.save(torch.jit.load(src, map_location="cpu").state_dict(), "state_dict.pt") and import that';

function findLayout(entries: Map<string, yauzl.Entry>): Layout {
  const names = [...entries.keys()];
  const pkls = names.filter((n) => n === 'data.pkl' || n.endsWith('/data.pkl'));
  if (pkls.length === 0) {
    if (names.some((n) => n === 'constants.pkl' || n.endsWith('/constants.pkl'))) throw new Refusal(TORCHSCRIPT);
    const some = names.slice(0, 5).map(shown).join(', ');
    throw new Refusal(`zip archive has no data.pkl, so it is not a torch.save checkpoint (entries: ${some || 'none'}${names.length > 5 ? ', …' : ''})`);
  }
  if (pkls.length > 1) throw new Refusal(`zip archive has ${pkls.length} data.pkl entries (${pkls.slice(0, 3).map(shown).join(', ')}); expected one checkpoint`);
  const name = pkls[0]!;
  const prefix = name.slice(0, name.length - 'data.pkl'.length);
  // torch.jit.save writes data.pkl too, beside constants.pkl and the model's code.
  if (entries.has(`${prefix}constants.pkl`) || names.some((n) => n.startsWith(`${prefix}code/`))) throw new Refusal(TORCHSCRIPT);
  return { prefix, dataPkl: entries.get(name)! };
}

// ---------------------------------------------------------------------------------------------
// Choosing the state dict.

const isDict = (v: unknown): v is Map<unknown, unknown> => v instanceof Map && Object.getPrototypeOf(v) === Map.prototype;

function describe(v: unknown): string {
  if (v === null || v === undefined) return 'None';
  if (isDict(v)) return 'dict';
  if (Array.isArray(v)) return 'list or tuple';
  if (v instanceof TensorRef) return 'tensor';
  if (v instanceof Uint8Array) return 'bytes';
  return typeof v === 'object' ? 'object' : typeof v;
}

interface Selection {
  /** Original key → tensor, in file order. */
  tensors: [string, TensorRef][];
  skipped: string[];
}

function selectStateDict(root: unknown): Selection {
  if (!isDict(root)) throw new Refusal(`holds a ${describe(root)}, not a state dict (a dict of tensors)`);
  const keys = [...root.keys()].map(String);
  const nested = root.get('state_dict');
  let dict: Map<unknown, unknown>;
  let path = '';
  const skipped: string[] = [];
  if (isDict(nested)) {
    // open_clip training checkpoints: {epoch, name, state_dict, optimizer, scaler}.
    dict = nested;
    path = 'state_dict.';
    skipped.push(...keys.filter((k) => k !== 'state_dict'));
  } else if ([...root.values()].some((v) => v instanceof TensorRef)) {
    dict = root;
  } else {
    const shownKeys = keys.slice(0, 12).map(shown).join(', ');
    throw new Refusal(`has no state dict: its top-level keys are ${shownKeys || '(none)'}${keys.length > 12 ? ', …' : ''} `
      + '(expected a dict of tensors or a "state_dict" entry)');
  }
  const tensors: [string, TensorRef][] = [];
  for (const [k, v] of dict) {
    if (v instanceof TensorRef) tensors.push([String(k), v]);
    else skipped.push(path + String(k));
  }
  if (tensors.length === 0) throw new Refusal(`${path ? 'its state_dict' : 'its top-level dict'} holds no tensors`);
  return { tensors, skipped };
}

// Wrappers that prefix every parameter name: DataParallel/DistributedDataParallel, torch.compile.
const WRAPPER_PREFIXES = ['module.', '_orig_mod.'];

function sharedPrefix(names: readonly string[]): string {
  let prefix = '';
  for (;;) {
    const p = WRAPPER_PREFIXES.find((w) => names.every((n) => n.startsWith(prefix + w) && n.length > prefix.length + w.length));
    if (!p) return prefix;
    prefix += p;
  }
}

// ---------------------------------------------------------------------------------------------
// Tensors: where each lies, and how to turn its span of storage bytes into a dense tensor.

interface Planned {
  readonly info: TensorInfo;
  readonly key: string;
  readonly ref: TensorRef & { readonly dtype: DType };
  readonly entry: yauzl.Entry;
  /** Byte range of the storage entry the tensor covers. */
  readonly begin: number;
  readonly end: number;
}

/** The largest real CLIP tensor (ViT-bigG's token embedding) has under 70 M elements. */
const MAX_TENSOR_ELEMENTS = 2 ** 31;

/** First and one-past-last element the strided tensor touches, relative to the storage start. */
function elementSpan(t: TensorRef): [number, number] {
  if (numel(t.shape) === 0) return [t.offset, t.offset];
  let last = t.offset;
  for (let d = 0; d < t.shape.length; d++) last += (t.shape[d]! - 1) * t.stride[d]!;
  return [t.offset, last + 1];
}

function plan(key: string, name: string, t: TensorRef, prefix: string, entries: Map<string, yauzl.Entry>): Planned {
  if (t.dtype === null) throw new Refusal(`tensor ${key} has element type ${t.dtypeName}, which clipag cannot read`);
  const count = numel(t.shape);
  // A stride-0 (expanded) view can claim far more elements than its storage holds; we materialise them.
  if (count > MAX_TENSOR_ELEMENTS) throw new Refusal(`tensor ${key} has ${count} elements, more than the ${MAX_TENSOR_ELEMENTS} clipag reads in one tensor`);
  const size = bytesPerElement(t.dtype);
  const [first, past] = elementSpan(t);
  const begin = first * size;
  const end = past * size;
  if (!Number.isSafeInteger(end)) throw new Refusal(`tensor ${key} has an impossible size or stride in data.pkl`);
  const entryName = `${prefix}data/${t.storage.key}`;
  const entry = entries.get(entryName);
  if (!entry) throw new Refusal(`tensor ${key} refers to storage ${shown(entryName)}, which the archive does not contain; the file is truncated or corrupt`);
  if (end > t.storage.nbytes) {
    throw new Refusal(`tensor ${key} reaches byte ${end} of storage ${shown(entryName)}, which data.pkl declares as ${t.storage.nbytes} bytes; the file is corrupt`);
  }
  if (end > entry.uncompressedSize) {
    throw new Refusal(`storage ${shown(entryName)} has ${entry.uncompressedSize} bytes but tensor ${key} needs bytes ${begin}..${end}; the file is truncated or corrupt`);
  }
  return {
    info: { name, dtype: t.dtype, shape: [...t.shape] },
    key,
    ref: t as TensorRef & { dtype: DType },
    entry,
    begin,
    end,
  };
}

/** Reverses each element's bytes in place (a checkpoint saved on a big-endian machine). */
function swapBytes(bytes: Uint8Array, size: number): void {
  for (let i = 0; i + size <= bytes.byteLength; i += size) {
    for (let a = i, b = i + size - 1; a < b; a++, b--) {
      const t = bytes[a]!;
      bytes[a] = bytes[b]!;
      bytes[b] = t;
    }
  }
}

function isContiguous(shape: readonly number[], stride: readonly number[]): boolean {
  let expect = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    if (shape[d] !== 1 && stride[d] !== expect) return false;
    expect *= shape[d]!;
  }
  return true;
}

// Typed arrays of every element type, indexed generically (numbers or bigints move unchanged).
type Indexable = { [i: number]: unknown };

/** Copies the strided elements of `span` (element 0 = the tensor's first element) into row-major order. */
function gather(dtype: DType, span: TypedData, shape: readonly number[], stride: readonly number[]): TypedData {
  const n = numel(shape);
  const out = allocate(dtype, n);
  if (n === 0) return out;
  const src = span as unknown as Indexable;
  const dst = out as unknown as Indexable;
  const rank = shape.length;
  if (rank === 0) {
    dst[0] = src[0];
    return out;
  }
  const innerSize = shape[rank - 1]!;
  const innerStride = stride[rank - 1]!;
  const index = new Array<number>(rank).fill(0);
  let base = 0;
  for (let o = 0; o < n; o += innerSize) {
    for (let i = 0, p = base; i < innerSize; i++, p += innerStride) dst[o + i] = src[p];
    // Odometer over the outer dimensions.
    for (let d = rank - 2; d >= 0; d--) {
      index[d]!++;
      base += stride[d]!;
      if (index[d]! < shape[d]!) break;
      base -= stride[d]! * shape[d]!;
      index[d] = 0;
    }
  }
  return out;
}

function toOutput(dtype: DType, data: TypedData, opts: ReadTensorOptions): [DType, TypedData] {
  switch (dtype) {
    case 'float16': return opts.keepF16 ? ['float16', data] : ['float32', halfToFloat32(data as Uint16Array)];
    case 'bfloat16': return ['float32', bfloat16ToFloat32(data as Uint16Array)];
    case 'float64': return ['float32', Float32Array.from(data as Float64Array)];
    default: return [dtype, data];
  }
}

// ---------------------------------------------------------------------------------------------

/** data.pkl of a ViT-B/32 training checkpoint is tens of KB; far beyond this is not a checkpoint. */
const MAX_PICKLE_BYTES = 512 * 1024 * 1024;

class TorchZipCheckpoint implements TorchCheckpoint {
  #bytesRead = 0;
  #closed = false;

  constructor(
    readonly path: string,
    private readonly zip: ZipSource,
    private readonly tensors: ReadonlyMap<string, Planned>,
    readonly skipped: readonly string[],
    readonly strippedPrefix: string,
    private readonly bigEndian: boolean,
  ) {}

  get bytesRead(): number { return this.#bytesRead; }

  list(): TensorInfo[] {
    return [...this.tensors.values()].map((p) => ({ ...p.info, shape: [...p.info.shape] }));
  }

  async read(name: string, opts: ReadTensorOptions = {}): Promise<Tensor> {
    const file = label(this.path);
    if (this.#closed) throw new Error(`${file}: cannot read tensor ${name}, the checkpoint is closed`);
    const p = this.tensors.get(name);
    if (!p) {
      const names = [...this.tensors.keys()];
      throw new Error(`${file}: no tensor named ${name} (it has ${names.length}: ${names.slice(0, 5).join(', ')}${names.length > 5 ? ', …' : ''})`);
    }
    const { dtype, shape, stride } = p.ref;
    const size = bytesPerElement(dtype);
    const span = allocate(dtype, (p.end - p.begin) / size);
    const bytes = new Uint8Array(span.buffer, span.byteOffset, span.byteLength);
    try {
      await this.zip.read(p.entry, p.begin, bytes);
    } catch (e) {
      throw new Error(`${file}: tensor ${p.key}: ${errorText(e)}`);
    }
    this.#bytesRead += bytes.byteLength;
    if (this.bigEndian && size > 1) swapBytes(bytes, size);
    const dense = span.length === numel(shape) && isContiguous(shape, stride) ? span : gather(dtype, span, shape, stride);
    const [outType, data] = toOutput(dtype, dense, opts);
    return new Tensor(outType, [...shape], data);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.zip.close();
  }
}

async function readHead(path: string): Promise<{ head: Uint8Array; size: number }> {
  let fh: fsp.FileHandle;
  try {
    fh = await fsp.open(path, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Refusal(code === 'ENOENT' ? 'no such file' : `cannot be opened (${code ?? errorText(e)})`);
  }
  try {
    const size = (await fh.stat()).size;
    const head = new Uint8Array(Math.min(size, 512));
    await fh.read(head, 0, head.byteLength, 0);
    return { head, size };
  } catch (e) {
    throw new Refusal(`cannot be read (${(e as NodeJS.ErrnoException).code ?? errorText(e)})`);
  } finally {
    await fh.close();
  }
}

/**
 * Opens a torch.save zip checkpoint: reads the zip directory and data.pkl, picks the state dict,
 * checks every state-dict tensor's storage is present and long enough, and reads no tensor bytes.
 * Every problem is an Error whose one-line message starts with the file name.
 */
export async function openTorchCheckpoint(path: string): Promise<TorchCheckpoint> {
  let zip: ZipSource | undefined;
  try {
    const { head, size } = await readHead(path);
    sniff(head, size);
    zip = await ZipSource.open(path, head);
    const entries = await zip.entries();
    const { prefix, dataPkl } = findLayout(entries);
    const bigEndian = await readByteOrder(zip, entries.get(`${prefix}byteorder`));
    const root = unpickle(await zip.readWhole(dataPkl, MAX_PICKLE_BYTES), dataPkl.fileName);
    const { tensors, skipped } = selectStateDict(root);
    const strippedPrefix = sharedPrefix(tensors.map(([k]) => k));
    const planned = new Map<string, Planned>();
    for (const [key, ref] of tensors) {
      const name = key.slice(strippedPrefix.length);
      planned.set(name, plan(key, name, ref, prefix, entries));
    }
    return new TorchZipCheckpoint(path, zip, planned, skipped, strippedPrefix, bigEndian);
  } catch (e) {
    await zip?.close().catch(() => undefined);
    if (e instanceof Refusal) throw new Error(`${label(path)}: ${e.message}`);
    throw e;
  }
}

async function readByteOrder(zip: ZipSource, entry: yauzl.Entry | undefined): Promise<boolean> {
  if (!entry) return false; // torch < 2.1 wrote no byteorder record and was little-endian everywhere it ran
  const text = new TextDecoder().decode(await zip.readWhole(entry, 64)).trim();
  if (text !== 'little' && text !== 'big') throw new Refusal(`byteorder record says ${JSON.stringify(shown(text))}, expected "little" or "big"`);
  return text === 'big';
}
