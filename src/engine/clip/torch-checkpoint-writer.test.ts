import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tensor, type DType } from '../onnx/tensor.js';
import {
  lazyStorage, lazyTensor, PyFloat, PyOrderedDict, PyTuple, storageOf, tensorOf, TorchParameter, TorchStorage,
  TorchTensor, transposed, writeTorchCheckpoint, type PickleValue, type WriteTorchOptions,
} from './testing/torch-zip-writer.js';
import { assertValues, scratchDir, withCheckpoint } from './testing/torch-checkpoint-checks.js';

const dir = scratchDir();

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
