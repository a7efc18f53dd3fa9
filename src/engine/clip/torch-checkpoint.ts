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
 *
 * The unpickler lives in torch-unpickle.ts and the zip access in torch-zip.ts; this module recognises
 * the file, picks the state dict and reads tensors.
 */
import { promises as fsp } from 'node:fs';
import * as nodePath from 'node:path';
import type yauzl from 'yauzl';
import { allocate, bytesPerElement, numel, Tensor, type DType, type TypedData } from '../onnx/tensor.js';
import { bfloat16ToFloat32, halfToFloat32 } from './safetensors.js';
import { errorText, Refusal, shown } from './torch-errors.js';
import { TensorRef, unpickle } from './torch-unpickle.js';
import { ZipSource } from './torch-zip.js';
import type { ReadTensorOptions, TensorInfo, WeightReader } from './weights.js';

export interface TorchCheckpoint extends WeightReader {
  /** Top-level entries that were not the state dict (e.g. 'optimizer', 'epoch', 'scaler'), for the import report. */
  readonly skipped: readonly string[];
  /** The prefix removed from every name ('module.' from DataParallel/DDP, '_orig_mod.' from torch.compile), or ''. */
  readonly strippedPrefix: string;
  /** Tensor bytes read so far (lets tests prove optimizer state is never read). */
  readonly bytesRead: number;
}

const label = (p: string): string => nodePath.basename(p);

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
