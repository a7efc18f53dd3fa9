/**
 * The whitelist unpickler for a torch.save checkpoint's data.pkl. Nothing in the pickle is ever
 * executed: globals resolve through a whitelist to inert stand-ins (tensor/parameter rebuild
 * functions that only record geometry, storage types, OrderedDict, a few data-only helpers); any
 * other global fails the whole file with one line naming it.
 */
import pickleparser from 'pickleparser';
import type { DType } from '../onnx/tensor.js';
import { errorText, Refusal, shown } from './torch-errors.js';

// ---------------------------------------------------------------------------------------------
// What the unpickler builds: inert records, never live objects.

/** One `<archive>/data/<key>` entry as the pickle declares it. */
export class StorageRef {
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
export class TensorRef {
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

/** Decodes `<archive>/data.pkl` into Maps, arrays, primitives and the inert records above. */
export function unpickle(bytes: Uint8Array, entryName: string): unknown {
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
