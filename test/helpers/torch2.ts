/** Loading and comparing the double-backprop fixtures of tools/torch/make_grad2_fixtures.py. */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tensor, fromBytes, type DType } from '../../src/engine/onnx/tensor.js';

export const TORCH2_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'torch2');
/** The ONNX graphs run in float32 against a float64 reference. */
const TOL = 1e-4;

export interface StoredTensor { dims: number[]; dtype: DType; b64: string }
export interface Fixture2 {
  name: string;
  onnx_file: string;
  ops: string[];
  input: { name: string; dtype: DType; value: StoredTensor };
  output: string;
  first: string;
  second: string[];
  second_source: Record<string, string>;
  v: StoredTensor;
  output_value: StoredTensor;
  grad: StoredTensor;
  grad2: Record<string, StoredTensor>;
  grad2_ones: Record<string, StoredTensor>;
}

export function decode(t: StoredTensor): Tensor {
  return new Tensor(t.dtype, t.dims, fromBytes(t.dtype, Buffer.from(t.b64, 'base64')));
}

/** max |got − want| / max |want|; throws with the worst element when over TOL. */
export function assertClose(got: Tensor | undefined, want: Tensor, what: string): number {
  assert.ok(got, `${what}: missing from the session's outputs`);
  assert.deepEqual([...got.dims], [...want.dims], `${what}: shape`);
  const g = got.toNumbers();
  const w = want.toNumbers();
  const scale = Math.max(...w.map(Math.abs));
  assert.ok(scale > 0, `${what}: the reference is all zeros, a useless check`);
  let worst = 0;
  let at = 0;
  for (let i = 0; i < w.length; i++) {
    const d = Math.abs(g[i]! - w[i]!);
    if (!(d <= worst)) { worst = d; at = i; } // NaN counts as worst
  }
  const err = worst / scale;
  assert.ok(err <= TOL, `${what}: relative error ${err.toExponential(2)} > ${TOL} (element ${at}: got ${g[at]}, torch ${w[at]})`);
  return err;
}

export function loadFixtures2(): Fixture2[] {
  return readdirSync(TORCH2_DIR)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => JSON.parse(readFileSync(join(TORCH2_DIR, f), 'utf8')) as Fixture2);
}
