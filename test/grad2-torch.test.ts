/**
 * Second-order autodiff against PyTorch's double backprop: graphs exported by torch.onnx.export,
 * differentiated twice by `gradients` (D = Σ v ⊙ ∂L/∂x, then ∂D/∂θ), against torch autograd's
 * float64 create_graph=True reference. Fixtures come from tools/torch/make_grad2_fixtures.py
 * (see its docstring for the format).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import '../src/engine/onnx/ops/index.js';
import { GraphBuilder } from '../src/engine/onnx/builder.js';
import { gradients } from '../src/engine/onnx/autodiff.js';
import { loadModelFile } from '../src/engine/onnx/proto.js';
import { Session } from '../src/engine/runtime.js';
import { TORCH2_DIR, assertClose, decode, loadFixtures2 } from './helpers/torch2.js';

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
