import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tensor, type DType } from '../onnx/tensor.js';
import { openTorchCheckpoint, type TorchCheckpoint } from './torch-checkpoint.js';
import {
  lazyStorage, lazyTensor, PyCall, PyFloat, PyOrderedDict, PyTuple, storageOf, tensorOf, TorchParameter, TorchStorage,
  TorchTensor, transposed, writeTorchCheckpoint, type PickleValue, type WriteTorchOptions,
} from './testing/torch-zip-writer.js';

const FIXTURES = join(import.meta.dirname, '../../../test/fixtures/torch-ckpt');
const fixture = (name: string): string => join(FIXTURES, name);

const dir = mkdtempSync(join(tmpdir(), 'torch-ckpt-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

interface ExpectedTensor {
  name: string; dtype: DType; shape: number[]; values: (number | string)[]; span_bytes: number; f16_bits?: number[];
}
interface ExpectedFile {
  tensors: ExpectedTensor[]; skipped: string[]; stripped_prefix: string;
  state_dict_span_bytes: number; storage_bytes: number; optimizer_bytes?: number;
}
const expected = JSON.parse(readFileSync(fixture('expected.json'), 'utf8')) as { files: Record<string, ExpectedFile> };

/** The JSON's numbers, with the infinities it spells as strings. */
const num = (v: number | string): number => (typeof v === 'number' ? v : v === 'inf' ? Infinity : v === '-inf' ? -Infinity : NaN);

/** Float types come out as float32, integers and bools keep their type. */
const OUT: Partial<Record<DType, DType>> = { float16: 'float32', bfloat16: 'float32', float64: 'float32' };

/** Element-wise and exact, -0 included: every value here is a float32 (or an integer) on both sides. */
function assertValues(got: Tensor, want: readonly number[], what: string): void {
  assert.equal(got.size, want.length, `${what}: element count`);
  const values = Array.from(got.data as ArrayLike<number | bigint>, Number);
  for (let i = 0; i < want.length; i++) {
    assert.ok(Object.is(values[i], want[i]), `${what}[${i}]: got ${values[i]}, want ${want[i]}`);
  }
}

async function withCheckpoint<T>(path: string, f: (c: TorchCheckpoint) => Promise<T>): Promise<T> {
  const c = await openTorchCheckpoint(path);
  try {
    return await f(c);
  } finally {
    await c.close();
  }
}

async function openError(path: string): Promise<string> {
  try {
    const c = await openTorchCheckpoint(path);
    await c.close();
  } catch (e) {
    const message = (e as Error).message;
    assert.ok(!message.includes('\n'), `one line: ${message}`);
    return message;
  }
  assert.fail(`${path} opened without error`);
}

// ---------------------------------------------------------------------------------------------
// Files torch 1.13 wrote (tools/torch/make_checkpoint_fixtures.py), compared element by element.

for (const [file, want] of Object.entries(expected.files)) {
  test(`${file}: every tensor equals what torch saved`, async () => {
    await withCheckpoint(fixture(file), async (c) => {
      assert.equal(c.bytesRead, 0, 'opening reads no tensor bytes');
      assert.deepEqual(c.list(), want.tensors.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape })));
      assert.deepEqual(c.skipped, want.skipped);
      assert.equal(c.strippedPrefix, want.stripped_prefix);
      for (const t of want.tensors) {
        const before: number = c.bytesRead;
        const got = await c.read(t.name);
        assert.equal(c.bytesRead - before, t.span_bytes, `${t.name}: reads exactly the bytes its view covers`);
        assert.equal(got.dtype, OUT[t.dtype] ?? t.dtype, `${t.name}: dtype`);
        assert.deepEqual(got.dims, t.shape, `${t.name}: shape`);
        assertValues(got, t.values.map(num), t.name);
        if (t.f16_bits) {
          const raw = await c.read(t.name, { keepF16: true });
          assert.equal(raw.dtype, 'float16');
          assert.deepEqual(Array.from(raw.data as Uint16Array), t.f16_bits, `${t.name}: raw float16 bits`);
        }
      }
    });
  });
}

test('a training checkpoint: the state dict is read, the optimizer state never is', async () => {
  const want = expected.files['training_checkpoint.pt']!;
  assert.ok(want.optimizer_bytes! > want.state_dict_span_bytes, 'fixture has more optimizer bytes than weights');
  await withCheckpoint(fixture('training_checkpoint.pt'), async (c) => {
    assert.deepEqual(c.skipped, ['epoch', 'name', 'optimizer', 'scaler']);
    assert.equal(c.strippedPrefix, 'module.');
    assert.ok(c.list().every((t) => !t.name.startsWith('module.')));
    await Promise.all(c.list().map((t) => c.read(t.name)));
    assert.equal(c.bytesRead, want.state_dict_span_bytes);
    assert.ok(c.bytesRead <= want.storage_bytes - want.optimizer_bytes!, 'no optimizer byte was read');
  });
});

test('views of one storage are read independently and concurrently', async () => {
  const want = expected.files['views.pt']!;
  await withCheckpoint(fixture('views.pt'), async (c) => {
    const all = await Promise.all(want.tensors.map((t) => c.read(t.name)));
    want.tensors.forEach((t, i) => assertValues(all[i]!, t.values.map(num), t.name));
  });
});

// ---------------------------------------------------------------------------------------------
// Our writer → our reader. Expected values come from index arithmetic on the source arrays.

/** Element (i0, i1, …) of a strided view is source[offset + Σ i_d·stride_d]; listed row-major. */
function denseValues(source: ArrayLike<number>, offset: number, shape: number[], stride: number[]): number[] {
  if (shape.length === 0) return [source[offset]!];
  const out: number[] = [];
  for (let i = 0; i < shape[0]!; i++) out.push(...denseValues(source, offset + i * stride[0]!, shape.slice(1), stride.slice(1)));
  return out;
}

interface Want { dtype: DType; shape: number[]; values: number[]; spanBytes: number; f16?: number[] }

function sample(): { obj: PickleValue; want: Map<string, Want> } {
  const want = new Map<string, Want>();
  const tensors = new Map<string, PickleValue>();
  const view = (name: string, source: ArrayLike<number>, s: TorchStorage, offset: number, shape: number[], stride: number[], elemBytes: number, out: DType, values?: number[]): void => {
    const t = new TorchTensor(s, offset, shape, stride);
    tensors.set(name, t);
    const count = shape.reduce((a, b) => a * b, 1);
    const span = count === 0 ? 0 : shape.reduce((a, n, d) => a + (n - 1) * stride[d]!, 0) + 1;
    want.set(name, { dtype: out, shape, values: values ?? denseValues(source, offset, shape, stride), spanBytes: span * elemBytes });
  };

  const src = Float32Array.from({ length: 30 }, (_, i) => i * 0.5 - 7);
  const s = storageOf(new Tensor('float32', [30], src));
  view('base', src, s, 0, [30], [1], 4, 'float32');
  view('grid', src, s, 3, [4, 5], [5, 1], 4, 'float32');
  view('grid_t', src, s, 3, [5, 4], [1, 5], 4, 'float32');
  view('column', src, s, 2, [5], [6], 4, 'float32');
  view('element', src, s, 7, [], [], 4, 'float32');
  view('strided3d', src, s, 1, [2, 3, 2], [12, 1, 5], 4, 'float32');
  view('expanded', src, s, 4, [3, 4], [1, 0], 4, 'float32');
  view('empty', src, s, 0, [0, 4], [4, 1], 4, 'float32');

  // float16 bit patterns and their values: 1, -2, 0.333251953125, 65504, smallest subnormal, -0, inf.
  const hBits = [0x3c00, 0xc000, 0x3555, 0x7bff, 0x0001, 0x8000, 0x7c00];
  const hVals = [1, -2, 0.333251953125, 65504, 2 ** -24, -0, Infinity];
  const h = storageOf(new Tensor('float16', [7], Uint16Array.from(hBits)));
  view('half', hVals, h, 0, [7], [1], 2, 'float32');
  want.get('half')!.f16 = hBits;
  view('half_t', hVals, h, 1, [3, 2], [1, 3], 2, 'float32');
  want.get('half_t')!.f16 = denseValues(hBits, 1, [3, 2], [1, 3]);
  // bfloat16: 1, -3, 3.140625, a subnormal, -inf.
  const bf = storageOf(new Tensor('bfloat16', [5], Uint16Array.from([0x3f80, 0xc040, 0x4049, 0x0001, 0xff80])));
  view('bf16', [1, -3, 3.140625, 2 ** -133, -Infinity], bf, 0, [5], [1], 2, 'float32');
  const d = [0.1, -1e300, 3.5];
  view('double', d.map(Math.fround), storageOf(new Tensor('float64', [3], Float64Array.from(d))), 0, [3], [1], 8, 'float32');
  const longs = [1, -2, 2 ** 40, -(2 ** 40), 5, 6];
  view('long_t', longs, storageOf(Tensor.int64([6], longs)), 0, [3, 2], [1, 3], 8, 'int64');
  view('int32', [7, -8, 2 ** 31 - 1], storageOf(new Tensor('int32', [3], Int32Array.from([7, -8, 2 ** 31 - 1]))), 0, [3], [1], 4, 'int32');
  view('int16', [-300, 300], storageOf(new Tensor('int16', [2], Int16Array.from([-300, 300]))), 0, [2], [1], 2, 'int16');
  view('int8', [-128, 127], storageOf(new Tensor('int8', [2], Int8Array.from([-128, 127]))), 0, [2], [1], 1, 'int8');
  view('uint8', [0, 255], storageOf(new Tensor('uint8', [2], Uint8Array.from([0, 255]))), 0, [2], [1], 1, 'uint8');
  view('bool', [1, 0, 1], storageOf(new Tensor('bool', [3], Uint8Array.from([1, 0, 1]))), 0, [3], [1], 1, 'bool');

  const p = Float32Array.from([0.25, -0.5]);
  tensors.set('param', new TorchParameter(tensorOf(new Tensor('float32', [2], p))));
  want.set('param', { dtype: 'float32', shape: [2], values: [...p], spanBytes: 8 });
  const lazyValue = (i: number): number => (i % 97) - 48;
  tensors.set('lazy', lazyTensor('float32', [64, 33], (first, out) => { for (let i = 0; i < out.length; i++) out[i] = lazyValue(first + i); }));
  want.set('lazy', { dtype: 'float32', shape: [64, 33], values: Array.from({ length: 64 * 33 }, (_, i) => lazyValue(i)), spanBytes: 64 * 33 * 4 });

  const obj = new PyOrderedDict(new Map<string, PickleValue>([
    ['epoch', 2],
    ['name', 'run'],
    ['state_dict', new PyOrderedDict(tensors)],
    ['optimizer', new Map<string, PickleValue>([
      ['state', new Map([[0, new Map<string, PickleValue>([['step', 3], ['exp_avg', tensorOf(Tensor.float32([1000], new Float32Array(1000)))]])]])],
      ['param_groups', [new Map<string, PickleValue>([['lr', new PyFloat(1)], ['betas', new PyTuple([0.9, 0.98])], ['params', [0]], ['foreach', null]])]],
    ])],
  ]));
  return { obj, want };
}

const variants: [string, WriteTorchOptions][] = [
  ['defaults', {}],
  ['big-endian storages', { byteOrder: 'big' }],
  ['_rebuild_tensor_v3 over UntypedStorage', { rebuild: 'v3' }],
  ['zip64 records', { zip64: true }],
  ['deflated storage entries', { compress: true }],
  ['archive folder two levels deep', { archiveName: 'outer/inner' }],
  ['archive folder named code (as TorchScript names its source folder)', { archiveName: 'code' }],
];

for (const [what, opts] of variants) {
  test(`writer round trip: ${what}`, async () => {
    const { obj, want } = sample();
    const path = join(dir, `round-${what.replace(/\W+/g, '-')}.pt`);
    await writeTorchCheckpoint(path, obj, opts);
    await withCheckpoint(path, async (c) => {
      assert.deepEqual(c.list().map((t) => t.name), [...want.keys()]);
      assert.deepEqual(c.skipped, ['epoch', 'name', 'optimizer']);
      let spans = 0;
      for (const [name, w] of want) {
        const got = await c.read(name);
        assert.equal(got.dtype, w.dtype, `${name}: dtype`);
        assert.deepEqual(got.dims, w.shape, `${name}: shape`);
        assertValues(got, w.values, name);
        spans += w.spanBytes;
        if (w.f16) {
          assertValues(await c.read(name, { keepF16: true }), w.f16, `${name} (raw bits)`);
          spans += w.spanBytes;
        }
      }
      assert.equal(c.bytesRead, spans, 'each read covers only its view\'s span');
    });
  });
}

test('writer options leave the marks they claim in the file', async () => {
  const t = { x: tensorOf(Tensor.float32([2], [1.5, -2])) };
  const write = async (name: string, opts: WriteTorchOptions, obj: PickleValue = new Map(Object.entries(t))): Promise<Buffer> => {
    await writeTorchCheckpoint(join(dir, name), obj, opts);
    return readFileSync(join(dir, name));
  };
  const le = Buffer.from('0000c03f000000c0', 'hex');
  const be = Buffer.from('3fc00000c0000000', 'hex');
  const little = await write('le.pt', {});
  assert.ok(little.includes(le) && !little.includes(be));
  const big = await write('be.pt', { byteOrder: 'big' });
  assert.ok(big.includes(be) && !big.includes(le), 'big-endian bytes on disk');
  assert.ok(big.includes(Buffer.from('be/byteorder')) && big.includes(Buffer.from('big')));
  assert.ok((await write('v3.pt', { rebuild: 'v3' })).includes(Buffer.from('torch\nUntypedStorage\n')));
  assert.ok((await write('z64.pt', { zip64: true })).includes(Buffer.from('PK\x06\x06', 'latin1')), 'zip64 end of central directory');
  const constant = new Map([['x', lazyTensor('float32', [100_000], (_, out) => (out as Float32Array).fill(0.5))]]);
  assert.ok((await write('deflated.pt', { compress: true }, constant)).byteLength < 100_000, 'storage deflated');
  await withCheckpoint(join(dir, 'deflated.pt'), async (c) => assertValues(await c.read('x'), new Array(100_000).fill(0.5), 'x'));
});

test('lazy storages are produced chunk by chunk, in order', async () => {
  const calls: [number, number][] = [];
  const s = lazyStorage('int32', 2500, (first, out) => {
    calls.push([first, out.length]);
    for (let i = 0; i < out.length; i++) out[i] = first + i;
  }, 1000);
  const path = join(dir, 'lazy.pt');
  await writeTorchCheckpoint(path, new Map([['w', new TorchTensor(s, 0, [50, 50])], ['w_t', transposed(new TorchTensor(s, 0, [50, 50]))]]));
  assert.deepEqual(calls, [[0, 1000], [1000, 1000], [2000, 500]], 'storage written once, in chunks');
  await withCheckpoint(path, async (c) => {
    assertValues(await c.read('w'), Array.from({ length: 2500 }, (_, i) => i), 'w');
    assertValues(await c.read('w_t'), Array.from({ length: 2500 }, (_, k) => (k % 50) * 50 + Math.floor(k / 50)), 'w_t');
  });
});

test('a writer failure leaves no file behind', async () => {
  const sub = mkdtempSync(join(dir, 'fail-'));
  const bad = lazyTensor('float32', [10], () => { throw new Error('generator broke'); });
  await assert.rejects(writeTorchCheckpoint(join(sub, 'x.pt'), new Map([['w', bad]])), /generator broke/);
  const short = new TorchTensor(new TorchStorage('float32', 4, () => [new Uint8Array(8)]), 0, [4]);
  await assert.rejects(writeTorchCheckpoint(join(sub, 'y.pt'), new Map([['w', short]])), /produced 8 bytes, not 16/);
  assert.deepEqual(readdirSync(sub), []);
});

// ---------------------------------------------------------------------------------------------
// State dict selection and names.

async function written(name: string, obj: PickleValue, opts: WriteTorchOptions = {}): Promise<string> {
  const path = join(dir, name);
  await writeTorchCheckpoint(path, obj, opts);
  return path;
}
const tiny = (): TorchTensor => tensorOf(Tensor.float32([2], [1, 2]));

test('prefixes shared by every name are stripped, others are not', async () => {
  const cases: [string[], string, string[]][] = [
    [['_orig_mod.visual.proj', '_orig_mod.logit_scale'], '_orig_mod.', ['visual.proj', 'logit_scale']],
    [['module._orig_mod.a', 'module._orig_mod.b'], 'module._orig_mod.', ['a', 'b']],
    [['module.a', 'b'], '', ['module.a', 'b']],
    [['module.a'], 'module.', ['a']],
    [['modules.a', 'modules.b'], '', ['modules.a', 'modules.b']],
  ];
  for (const [i, [keys, prefix, names]] of cases.entries()) {
    const path = await written(`prefix-${i}.pt`, new PyOrderedDict(new Map(keys.map((k) => [k, tiny()]))));
    await withCheckpoint(path, async (c) => {
      assert.equal(c.strippedPrefix, prefix, keys.join(' '));
      assert.deepEqual(c.list().map((t) => t.name), names);
      assertValues(await c.read(names[0]!), [1, 2], names[0]!);
    });
  }
});

test('non-tensor values in the state dict are skipped and listed', async () => {
  const sd = new PyOrderedDict(new Map<string, PickleValue>([['module.w', tiny()], ['module.n_averaged', 3], ['module.extra', null]]));
  await withCheckpoint(await written('mixed.pt', new Map<string, PickleValue>([['state_dict', sd], ['epoch', 1]])), async (c) => {
    assert.deepEqual(c.list().map((t) => t.name), ['w']);
    assert.deepEqual(c.skipped, ['epoch', 'state_dict.module.n_averaged', 'state_dict.module.extra']);
  });
  await withCheckpoint(await written('mixed-top.pt', new Map<string, PickleValue>([['w', tiny()], ['step', 3]])), async (c) => {
    assert.deepEqual(c.skipped, ['step']);
  });
});

test('no state dict: one line listing the top-level keys', async () => {
  const model = new Map<string, PickleValue>([['w', tiny()]]);
  assert.equal(await openError(await written('nostate.pt', new Map<string, PickleValue>([['epoch', 1], ['model', model]]))),
    'nostate.pt: has no state dict: its top-level keys are epoch, model (expected a dict of tensors or a "state_dict" entry)');
  assert.equal(await openError(await written('list.pt', [tiny()])), 'list.pt: holds a list or tuple, not a state dict (a dict of tensors)');
  assert.equal(await openError(await written('empty-sd.pt', new Map([['state_dict', new Map()]]))), 'empty-sd.pt: its state_dict holds no tensors');
});

test('parameters rebuilt with state, and plain containers, are accepted', async () => {
  const withState = new PyCall('torch._utils', '_rebuild_parameter_with_state', [tiny(), true, new PyOrderedDict(new Map()), new Map([['note', 'x']])]);
  const path = await written('with-state.pt', new Map<string, PickleValue>([
    ['p', withState],
    ['size', new PyCall('torch', 'Size', [new PyTuple([2, 3])])],
    ['od', new PyCall('collections', 'OrderedDict', [[new PyTuple(['a', 1])]])],
    ['set', new PyCall('__builtin__', 'set', [[1, 2]])],
    ['bytes', new PyCall('_codecs', 'encode', ['\u00ff\u0000', 'latin1'])],
  ]));
  await withCheckpoint(path, async (c) => {
    assert.deepEqual(c.list(), [{ name: 'p', dtype: 'float32', shape: [2] }]);
    assert.deepEqual(c.skipped, ['size', 'od', 'set', 'bytes']);
    assertValues(await c.read('p'), [1, 2], 'p');
  });
});

test('__proto__ keys stay data: no prototype pollution', async () => {
  const path = await written('proto.pt', new Map<string, PickleValue>([
    ['__proto__', tiny()],
    ['constructor', new Map<string, PickleValue>([['__proto__', new Map([['polluted', 1]])]])],
  ]));
  await withCheckpoint(path, async (c) => {
    assert.deepEqual(c.list().map((t) => t.name), ['__proto__']);
    assertValues(await c.read('__proto__'), [1, 2], '__proto__');
  });
  assert.equal((Object.prototype as Record<string, unknown>).polluted, undefined);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});

// ---------------------------------------------------------------------------------------------
// Bad input: each a single line naming the file.

const FORBIDDEN = '(only tensors, storages and plain containers are allowed)';

test('forbidden globals are refused, naming the global', async () => {
  assert.equal(await openError(fixture('forbidden_os_system.pt')), `forbidden_os_system.pt: refuses to unpickle forbidden global posix.system ${FORBIDDEN}`);
  assert.equal(await openError(fixture('forbidden_eval.pt')), `forbidden_eval.pt: refuses to unpickle forbidden global __builtin__.eval ${FORBIDDEN}`);
  assert.equal(await openError(fixture('forbidden_namespace.pt')), `forbidden_namespace.pt: refuses to unpickle forbidden global argparse.Namespace ${FORBIDDEN}`);
  for (const [module, name] of [['os', 'system'], ['builtins', 'exec'], ['subprocess', 'Popen'], ['torch', 'load'], ['torch._utils', '_rebuild_device_tensor_from_numpy']]) {
    // Hidden deep in the optimizer state, which is otherwise never looked at.
    const optimizer = new Map<string, PickleValue>([['state', new Map([[0, [new PyCall(module!, name!, ['true'])]]])]]);
    const path = await written(`evil-${name}.pt`, new Map<string, PickleValue>([['state_dict', new Map([['w', tiny()]])], ['optimizer', optimizer]]));
    assert.equal(await openError(path), `evil-${name}.pt: refuses to unpickle forbidden global ${module}.${name} ${FORBIDDEN}`);
  }
});

test('whitelisted names are stand-ins that cannot be called or constructed', async () => {
  // A storage type called as a function (REDUCE), as a hostile file might try.
  const called = await written('call-storage.pt', new Map<string, PickleValue>([['w', tiny()], ['x', new PyCall('torch', 'FloatStorage', [3])]]));
  assert.match(await openError(called), /^call-storage\.pt: call-storage\/data\.pkl is not a readable pickle \(.*\); the checkpoint is truncated or corrupt$/);
  // NEWOBJ on a whitelisted function: GLOBAL collections OrderedDict, empty tuple, NEWOBJ (0x81).
  const newobj = await written('newobj.pt', new Map([['w', tiny()]]), {
    editPickle: (p) => Buffer.concat([p.subarray(0, 2), Buffer.from('ccollections\nOrderedDict\n)\x810', 'latin1'), p.subarray(2)]),
  });
  assert.match(await openError(newobj), /^newobj\.pt: .* is not a readable pickle/);
});

test('bad files: one line naming the file and the problem', async () => {
  const cases: [string, string][] = [
    ['legacy.pt', 'legacy.pt: is in PyTorch\'s legacy (pre-1.6, non-zip) serialization format, which clipag does not read; load and re-save it with a current torch: torch.save(torch.load(src, map_location="cpu"), "converted.pt")'],
    ['torchscript.pt', 'torchscript.pt: is a TorchScript archive (torch.jit.save), not a state dict; in Python run torch.save(torch.jit.load(src, map_location="cpu").state_dict(), "state_dict.pt") and import that'],
    ['bare_pickle.pkl', 'bare_pickle.pkl: is a bare pickle, not a torch.save zip checkpoint; save the state dict with torch.save from torch 1.6 or later'],
    ['no_data_pkl.pt', 'no_data_pkl.pt: zip archive has no data.pkl, so it is not a torch.save checkpoint (entries: plain_state_dict/data/0, plain_state_dict/data/1, plain_state_dict/data/2, plain_state_dict/data/3, plain_state_dict/data/4, …)'],
    ['missing_storage.pt', 'missing_storage.pt: tensor text_projection refers to storage plain_state_dict/data/0, which the archive does not contain; the file is truncated or corrupt'],
    ['short_storage.pt', 'short_storage.pt: storage plain_state_dict/data/1 has 2 bytes but tensor logit_scale needs bytes 0..4; the file is truncated or corrupt'],
  ];
  for (const [name, message] of cases) assert.equal(await openError(fixture(name)), message);
  assert.match(await openError(fixture('truncated_pickle.pt')),
    /^truncated_pickle\.pt: plain_state_dict\/data\.pkl is not a readable pickle \(.*end of file.*\); the checkpoint is truncated or corrupt$/);

  writeFileSync(join(dir, 'notes.txt'), 'hello, not a checkpoint\n');
  assert.equal(await openError(join(dir, 'notes.txt')), 'notes.txt: is not a PyTorch checkpoint: not a zip archive (torch.save\'s format since 1.6) nor a legacy torch file');
  writeFileSync(join(dir, 'empty.pt'), '');
  assert.equal(await openError(join(dir, 'empty.pt')), 'empty.pt: is empty');
  assert.equal(await openError(join(dir, 'absent.pt')), 'absent.pt: no such file');
  assert.equal(await openError(await written('odd-order.pt', new Map([['w', tiny()]]), { records: { byteorder: 'middle' } })),
    'odd-order.pt: byteorder record says "middle", expected "little" or "big"');
  assert.match(await openError(await written('ts-like.pt', new Map([['w', tiny()]]), { records: { 'constants.pkl': '' } })), /^ts-like\.pt: is a TorchScript archive/);
});

test('a storage declared shorter than its tensor is refused', async () => {
  // Rewrites the storage numel in the persistent id: ('storage', FloatStorage, '0', 'cpu', 2) → 1.
  const path = await written('declared.pt', new Map([['w', tiny()]]), {
    editPickle: (p) => {
      const b = Buffer.from(p);
      const at = b.indexOf(Buffer.from('cpuK\x02', 'latin1'));
      b[at + 4] = 1;
      return b;
    },
  });
  assert.equal(await openError(path), 'declared.pt: tensor w reaches byte 8 of storage declared/data/0, which data.pkl declares as 4 bytes; the file is corrupt');
});

test('a zip cut short anywhere fails with one clear line, never a crash or hang', { timeout: 20_000 }, async () => {
  const whole = readFileSync(fixture('training_checkpoint.pt'));
  const cuts = [1, 4, 30, 200, Math.floor(whole.length / 3), Math.floor(whole.length / 2), whole.length - 200, whole.length - 40, whole.length - 22, whole.length - 1];
  for (const cut of cuts) {
    const name = `cut-${cut}.pt`;
    writeFileSync(join(dir, name), whole.subarray(0, cut));
    const message = await openError(join(dir, name));
    assert.match(message, new RegExp(`^${name.replace('.', '\\.')}: (is not a readable zip archive|is a corrupt zip archive|is not a PyTorch checkpoint)`), message);
  }
});

test('corrupt zip structures: central directory at open, local header at read', { timeout: 20_000 }, async () => {
  const whole = readFileSync(fixture('plain_state_dict.pt'));
  const central = Buffer.from(whole);
  central[central.indexOf(Buffer.from('PK\x01\x02', 'latin1')) + 2] = 0x09;
  writeFileSync(join(dir, 'bad-central.pt'), central);
  assert.match(await openError(join(dir, 'bad-central.pt')), /^bad-central\.pt: is a corrupt zip archive \(.*\); the file is truncated or damaged, download it again$/);

  const local = Buffer.from(whole);
  const name = local.indexOf(Buffer.from('plain_state_dict/data/0'));
  local[local.lastIndexOf(Buffer.from('PK\x03\x04', 'latin1'), name) + 3] = 0x09;
  writeFileSync(join(dir, 'bad-local.pt'), local);
  await withCheckpoint(join(dir, 'bad-local.pt'), async (c) => {
    await assert.rejects(c.read('text_projection'), (e: Error) => {
      assert.match(e.message, /^bad-local\.pt: tensor text_projection: zip entry plain_state_dict\/data\/0 cannot be read \(.*\); the file is truncated or corrupt$/);
      return true;
    });
    assertValues(await c.read('logit_scale'), expected.files['plain_state_dict.pt']!.tensors[1]!.values.map(num), 'other tensors still read');
  });
});

test('reading an unknown name, or after close, says so', async () => {
  const c = await openTorchCheckpoint(fixture('plain_state_dict.pt'));
  await assert.rejects(c.read('visual.proj'), { message: 'plain_state_dict.pt: no tensor named visual.proj (it has 8: text_projection, logit_scale, position_ids, counts, attn_mask, …)' });
  await c.close();
  await assert.rejects(c.read('logit_scale'), { message: 'plain_state_dict.pt: cannot read tensor logit_scale, the checkpoint is closed' });
});

test('element types we cannot read fail only when the state dict holds them', async () => {
  const asComplex = (from: string) => (p: Uint8Array): Uint8Array =>
    Buffer.from(Buffer.from(p).toString('latin1').replaceAll(`torch\n${from}\n`, 'torch\nComplexFloatStorage\n'), 'latin1');
  const obj = new Map<string, PickleValue>([
    ['state_dict', new Map([['w', tiny()]])],
    ['optimizer', new Map([['q', tensorOf(new Tensor('int16', [4], new Int16Array(4)))]])],
  ]);
  await withCheckpoint(await written('complex-opt.pt', obj, { editPickle: asComplex('ShortStorage') }), async (c) => {
    assertValues(await c.read('w'), [1, 2], 'w');
  });
  assert.equal(await openError(await written('complex-sd.pt', obj, { editPickle: asComplex('FloatStorage') })),
    'complex-sd.pt: tensor w has element type complex64, which clipag cannot read');
});

test('an expanded view claiming too many elements is refused before anything is allocated', async () => {
  const huge = new TorchTensor(storageOf(Tensor.float32([1], [1])), 0, [2 ** 16, 2 ** 16], [0, 0]);
  assert.equal(await openError(await written('huge.pt', new Map([['w', huge]]))),
    `huge.pt: tensor w has ${2 ** 32} elements, more than the ${2 ** 31} clipag reads in one tensor`);
});
