/**
 * Writes a checkpoint with our own writer (src/engine/clip/testing/torch-zip-writer.ts) and, beside it,
 * the JSON of what torch.load must find in it, so that tools/torch/check_ts_checkpoint.py can prove
 * real torch reads what we write:
 *
 *     node --import tsx tools/torch/write-ts-checkpoint.ts /tmp/ts-ckpt.pt [--zip64]
 *     /usr/bin/python3 tools/torch/check_ts_checkpoint.py /tmp/ts-ckpt.pt /tmp/ts-ckpt.json
 *
 * Expected values are computed here by index arithmetic, not by reading the file back.
 */
import { writeFile } from 'node:fs/promises';
import { Tensor } from '../../src/engine/onnx/tensor.js';
import { rng, randn } from '../../src/engine/random.js';
import { float32ToHalf, halfToFloat32 } from '../../src/engine/clip/safetensors.js';
import {
  lazyTensor, PyFloat, PyOrderedDict, PyTuple, storageOf, tensorOf, TorchParameter, TorchTensor, transposed,
  type PickleValue, writeTorchCheckpoint,
} from '../../src/engine/clip/testing/torch-zip-writer.js';

interface Expected { dtype: string; shape: number[]; stride: number[]; offset: number; values: number[] }

const [out, ...flags] = process.argv.slice(2);
if (!out) throw new Error('usage: write-ts-checkpoint.ts OUT.pt [--zip64]');

const r = rng(11);
const expected: Record<string, Expected> = {};
const tensors = new Map<string, PickleValue>();
const put = (name: string, t: TorchTensor | TorchParameter, e: Expected): void => { tensors.set(name, t); expected[name] = e; };

const w = Float32Array.from(randn(r, 12)); // [3,4]
put('w', tensorOf(new Tensor('float32', [3, 4], w)), { dtype: 'float32', shape: [3, 4], stride: [4, 1], offset: 0, values: [...w] });
const wt: number[] = [];
for (let i = 0; i < 4; i++) for (let j = 0; j < 3; j++) wt.push(w[j * 4 + i]!);
put('w_t', transposed(tensorOf(new Tensor('float32', [3, 4], w))), { dtype: 'float32', shape: [4, 3], stride: [1, 4], offset: 0, values: wt });

const base = Float32Array.from({ length: 24 }, (_, i) => i * 0.25 - 2);
const shared = storageOf(new Tensor('float32', [24], base));
put('base', new TorchTensor(shared, 0, [24]), { dtype: 'float32', shape: [24], stride: [1], offset: 0, values: [...base] });
put('grid', new TorchTensor(shared, 4, [3, 4]), { dtype: 'float32', shape: [3, 4], stride: [4, 1], offset: 4, values: [...base.slice(4, 16)] });
put('column', new TorchTensor(shared, 1, [4], [6]), { dtype: 'float32', shape: [4], stride: [6], offset: 1, values: [1, 7, 13, 19].map((i) => base[i]!) });
put('element', new TorchTensor(shared, 5, [], []), { dtype: 'float32', shape: [], stride: [], offset: 5, values: [base[5]!] });

const h = float32ToHalf(Float32Array.from(randn(r, 6)));
put('half', tensorOf(new Tensor('float16', [2, 3], h)), { dtype: 'float16', shape: [2, 3], stride: [3, 1], offset: 0, values: [...halfToFloat32(h)] });
const bf = Uint16Array.from([0x3f80, 0xc000, 0x4049, 0x0000, 0x7f80]); // 1, -2, 3.140625, 0, inf
put('bf16', tensorOf(new Tensor('bfloat16', [5], bf)), { dtype: 'bfloat16', shape: [5], stride: [1], offset: 0, values: [1, -2, 3.140625, 0, Infinity] });
const d = Float64Array.from([0.1, -1e300, 3]);
put('double', tensorOf(new Tensor('float64', [3], d)), { dtype: 'float64', shape: [3], stride: [1], offset: 0, values: [...d] });
put('long', tensorOf(Tensor.int64([2, 2], [1, -2, 2 ** 40, 7])), { dtype: 'int64', shape: [2, 2], stride: [2, 1], offset: 0, values: [1, -2, 2 ** 40, 7] });
const p = Float32Array.from(randn(r, 3));
put('param', new TorchParameter(tensorOf(new Tensor('float32', [3], p))), { dtype: 'float32', shape: [3], stride: [1], offset: 0, values: [...p] });
put('lazy', lazyTensor('float32', [5, 7], (first, o) => { for (let i = 0; i < o.length; i++) o[i] = (first + i) / 8; }),
  { dtype: 'float32', shape: [5, 7], stride: [7, 1], offset: 0, values: Array.from({ length: 35 }, (_, i) => i / 8) });

const obj = new PyOrderedDict(new Map<string, PickleValue>([
  ['epoch', 5],
  ['lr', new PyFloat(1)],
  ['betas', new PyTuple([new PyFloat(0.9), 0.98])],
  ['big', 2 ** 40],
  ['neg_big', -(2 ** 40)],
  ['none', null],
  ['flag', true],
  ['state_dict', new PyOrderedDict(tensors)],
  ['optimizer', new Map<string | number, PickleValue>([['state', new Map([[0, new Map<string, PickleValue>([['step', 3], ['exp_avg', tensorOf(new Tensor('float32', [3], p))]])]])]])],
]));

await writeTorchCheckpoint(out, obj, { zip64: flags.includes('--zip64') });
await writeFile(out.replace(/\.[^.]*$/, '') + '.json', JSON.stringify({
  tensors: expected,
  shared: ['base', 'grid', 'column', 'element'],
  scalars: { epoch: 5, betas: [0.9, 0.98], big: 2 ** 40, neg_big: -(2 ** 40), none: null, flag: true },
}, (_, v) => (v === Infinity ? 'inf' : v), 1));
console.log(`wrote ${out}`);
