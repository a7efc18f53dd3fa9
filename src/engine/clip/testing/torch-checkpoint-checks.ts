/** What the torch checkpoint tests share: torch's own fixture files and their expected values, and checks of what the reader returns. */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { Tensor, type DType } from '../../onnx/tensor.js';
import { openTorchCheckpoint, type TorchCheckpoint } from '../torch-checkpoint.js';
import { tensorOf, TorchTensor, writeTorchCheckpoint, type PickleValue, type WriteTorchOptions } from './torch-zip-writer.js';

const FIXTURES = join(import.meta.dirname, '../../../../test/fixtures/torch-ckpt');
export const fixture = (name: string): string => join(FIXTURES, name);

interface ExpectedTensor {
  name: string; dtype: DType; shape: number[]; values: (number | string)[]; span_bytes: number; f16_bits?: number[];
}
interface ExpectedFile {
  tensors: ExpectedTensor[]; skipped: string[]; stripped_prefix: string;
  state_dict_span_bytes: number; storage_bytes: number; optimizer_bytes?: number;
}
export const expected = JSON.parse(readFileSync(fixture('expected.json'), 'utf8')) as { files: Record<string, ExpectedFile> };

/** The JSON's numbers, with the infinities it spells as strings. */
export const num = (v: number | string): number => (typeof v === 'number' ? v : v === 'inf' ? Infinity : v === '-inf' ? -Infinity : NaN);

/** Float types come out as float32, integers and bools keep their type. */
export const OUT: Partial<Record<DType, DType>> = { float16: 'float32', bfloat16: 'float32', float64: 'float32' };

/** Element-wise and exact, -0 included: every value here is a float32 (or an integer) on both sides. */
export function assertValues(got: Tensor, want: readonly number[], what: string): void {
  assert.equal(got.size, want.length, `${what}: element count`);
  const values = Array.from(got.data as ArrayLike<number | bigint>, Number);
  for (let i = 0; i < want.length; i++) {
    assert.ok(Object.is(values[i], want[i]), `${what}[${i}]: got ${values[i]}, want ${want[i]}`);
  }
}

export async function withCheckpoint<T>(path: string, f: (c: TorchCheckpoint) => Promise<T>): Promise<T> {
  const c = await openTorchCheckpoint(path);
  try {
    return await f(c);
  } finally {
    await c.close();
  }
}

export async function openError(path: string): Promise<string> {
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

/** A folder for the calling test file's checkpoints, removed when its tests are done. */
export function scratchDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'torch-ckpt-test-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Writes a checkpoint of `obj` under `dir` and returns its path. */
export function checkpointWriter(dir: string) {
  return async function written(name: string, obj: PickleValue, opts: WriteTorchOptions = {}): Promise<string> {
    const path = join(dir, name);
    await writeTorchCheckpoint(path, obj, opts);
    return path;
  };
}
export const tiny = (): TorchTensor => tensorOf(Tensor.float32([2], [1, 2]));
