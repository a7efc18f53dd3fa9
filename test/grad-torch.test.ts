/**
 * gradientModel against PyTorch: graphs exported by torch.onnx.export from tiny open_clip-style
 * towers and a ResNet, with torch autograd's float64 gradients of output.sum() as the reference.
 * The fixtures come from tools/torch/make_grad_fixtures.py (see its docstring for the format).
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import '../src/engine/onnx/ops/index.js';
import { gradientModel } from '../src/engine/onnx/autodiff.js';
import type { Model } from '../src/engine/onnx/ir.js';
import { loadModelFile } from '../src/engine/onnx/proto.js';
import { Tensor, fromBytes, type DType } from '../src/engine/onnx/tensor.js';
import { Session } from '../src/engine/runtime.js';

const DIR = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'torch');
const TOL = 1e-3;

interface StoredTensor { dims: number[]; dtype: 'float32' | 'int64'; b64: string }
interface Case { batch: number; input: StoredTensor; output: StoredTensor; grads: Record<string, StoredTensor> }
interface Fixture {
  name: string;
  opset: number;
  torch: string;
  onnx_file: string;
  input: { name: string; dtype: DType };
  output: string;
  wrt: string[];
  wrt_source: Record<string, string>;
  ops: string[];
  cases: Case[];
}

/**
 * Fixtures whose gradient graph cannot keep the dynamic batch axis, with the op that needs a
 * static shape; for these each batch size gets its own gradient model (gradientModel's
 * inputShapes). Empty: every exported graph differentiates with a symbolic batch.
 */
const STATIC_BATCH: Record<string, string> = {};

function decode(t: StoredTensor): Tensor {
  return new Tensor(t.dtype, t.dims, fromBytes(t.dtype, Buffer.from(t.b64, 'base64')));
}

/** max |got − want| / max |want|, with where the worst difference is, for the failure message. */
function relErr(got: Tensor, want: Tensor): { err: number; at: number; got: number; want: number } {
  assert.deepEqual([...got.dims], [...want.dims], 'shape');
  const g = got.toNumbers();
  const w = want.toNumbers();
  let scale = 0;
  for (const v of w) scale = Math.max(scale, Math.abs(v));
  let worst = 0;
  let at = 0;
  for (let i = 0; i < w.length; i++) {
    const d = Math.abs(g[i]! - w[i]!);
    if (!(d <= worst)) { worst = d; at = i; } // NaN counts as worst
  }
  return { err: scale > 0 ? worst / scale : worst, at, got: g[at]!, want: w[at]! };
}

function assertClose(got: Tensor | undefined, want: Tensor, what: string): void {
  assert.ok(got, `${what}: missing from the session's outputs`);
  const r = relErr(got, want);
  assert.ok(
    r.err <= TOL,
    `${what}: relative error ${r.err.toExponential(2)} > ${TOL} (element ${r.at}: got ${r.got}, torch ${r.want})`,
  );
}

function loadFixtures(): Fixture[] {
  return readdirSync(DIR)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => JSON.parse(readFileSync(join(DIR, f), 'utf8')) as Fixture);
}

async function runCase(model: Model, fx: Fixture, c: Case, wrt: string): Promise<void> {
  const session = await Session.create(model, { device: 'cpu', intraOpThreads: 1 });
  try {
    const res = await session.run({ [fx.input.name]: decode(c.input) });
    const tag = `${fx.name}_op${fx.opset} batch ${c.batch}`;
    assertClose(res[fx.output], decode(c.output), `${tag}: output ${fx.output}`);
    const want = c.grads[wrt];
    assert.ok(want, `${tag}: no reference gradient for ${wrt}`);
    assertClose(res[`grad_${wrt}`], decode(want), `${tag}: grad_${wrt} (torch ${fx.wrt_source[wrt]})`);
  } finally {
    await session.release();
  }
}

if (!existsSync(DIR)) {
  test('gradientModel against torch autograd', { skip: `${DIR} is missing: run /usr/bin/python3 tools/torch/make_grad_fixtures.py` }, () => {});
} else {
  for (const fx of loadFixtures()) {
    describe(`torch fixture ${fx.name}_op${fx.opset} (ops: ${fx.ops.join(' ')})`, () => {
      const file = join(DIR, fx.onnx_file);
      const needsStatic = STATIC_BATCH[`${fx.name}_op${fx.opset}`];

      test('the exported graph keeps a symbolic batch axis', () => {
        const model = loadModelFile(file);
        const input = model.graph.inputs.find((i) => i.name === fx.input.name);
        assert.ok(input, `no input ${fx.input.name}`);
        assert.equal(typeof input.shape?.[0], 'string', 'input batch dim should be symbolic');
      });

      test('ONNX Runtime runs the exported graph as torch does (no autodiff involved)', async () => {
        const session = await Session.create(loadModelFile(file), { device: 'cpu', intraOpThreads: 1 });
        try {
          for (const c of fx.cases) {
            const res = await session.run({ [fx.input.name]: decode(c.input) });
            assertClose(res[fx.output], decode(c.output), `batch ${c.batch}: output ${fx.output}`);
          }
        } finally {
          await session.release();
        }
      });

      for (const wrt of fx.wrt) {
        if (needsStatic) {
          for (const c of fx.cases) {
            test(`d sum(${fx.output}) / d ${wrt}, batch ${c.batch} fixed (${needsStatic})`, async () => {
              const model = gradientModel(loadModelFile(file), fx.output, [wrt], { inputShapes: { [fx.input.name]: c.input.dims } });
              await runCase(model, fx, c, wrt);
            });
          }
          continue;
        }
        test(`d sum(${fx.output}) / d ${wrt}, one graph for batches ${fx.cases.map((c) => c.batch).join(' and ')}`, async () => {
          const model = gradientModel(loadModelFile(file), fx.output, [wrt]);
          const input = model.graph.inputs.find((i) => i.name === fx.input.name);
          assert.equal(typeof input?.shape?.[0], 'string', 'the gradient model should keep the symbolic batch');
          for (const c of fx.cases) await runCase(model, fx, c, wrt);
        });
      }
    });
  }
}
