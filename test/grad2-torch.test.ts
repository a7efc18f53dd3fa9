/**
 * Second-order autodiff against PyTorch's double backprop: graphs exported by torch.onnx.export,
 * differentiated twice by `gradients` (D = Σ v ⊙ ∂L/∂x, then ∂D/∂θ), against torch autograd's
 * float64 create_graph=True reference. Fixtures come from tools/torch/make_grad2_fixtures.py
 * (see its docstring for the format).
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import '../src/engine/onnx/ops/index.js';
import { GraphBuilder } from '../src/engine/onnx/builder.js';
import { gradients } from '../src/engine/onnx/autodiff.js';
import { loadModelFile } from '../src/engine/onnx/proto.js';
import { Tensor, fromBytes, type DType } from '../src/engine/onnx/tensor.js';
import { Session } from '../src/engine/runtime.js';

export const TORCH2_DIR = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'torch2');
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

if (!existsSync(TORCH2_DIR)) {
  test('double backprop against torch', { skip: `${TORCH2_DIR} is missing: run /usr/bin/python3 tools/torch/make_grad2_fixtures.py` }, () => {});
} else {
  for (const fx of loadFixtures2()) {
    describe(`torch double backprop: ${fx.name} (ops: ${fx.ops.join(' ')})`, () => {
      test(`d/dθ Σ v ⊙ ∂ sum(${fx.output})/∂ ${fx.first}, θ = ${fx.second.join(', ')}`, async (t) => {
        const b = GraphBuilder.fromModel(loadModelFile(join(TORCH2_DIR, fx.onnx_file)));
        const first = b.value(fx.first);
        const [g] = gradients(b, b.value(fx.output), [first]);
        b.output(g!, 'grad_first');
        const v = b.constant(decode(fx.v), 'v');
        const d = g!.mul(v).sum();
        const second = gradients(b, d, fx.second.map((n) => b.value(n)));
        second.forEach((h, k) => b.output(h, `grad2_${k}`));
        const session = await Session.create(b.toModel(), { device: 'cpu', intraOpThreads: 1 });
        try {
          const res = await session.run({ [fx.input.name]: decode(fx.input.value) });
          assertClose(res[fx.output], decode(fx.output_value), `${fx.name}: output`);
          assertClose(res.grad_first, decode(fx.grad), `${fx.name}: ∂L/∂${fx.first}`);
          fx.second.forEach((name, k) => {
            const err = assertClose(res[`grad2_${k}`], decode(fx.grad2[name]!), `${fx.name}: ∂D/∂${name} (torch ${fx.second_source[name]})`);
            t.diagnostic(`${fx.name} ∂D/∂${fx.second_source[name]}: relative error ${err.toExponential(2)}`);
          });
        } finally {
          await session.release();
        }
      });
    });
  }
}
