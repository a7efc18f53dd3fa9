/**
 * ResNet CLIPs (open_clip ModifiedResNet image tower) end to end against an independent reference:
 * a tiny checkpoint saved as open_clip saves it and as OpenAI's RN50.pt holds it (float16 where
 * their releases have it, TorchScript's size entries), imported through `clipag model import`'s
 * code path and embedded, compared with tools/torch/resnet_reference.py's float64 results; and the
 * tower in training mode (batch statistics) with the running statistics torch's update leaves.
 * Fixtures: tools/torch/make_resnet_fixtures.py.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { configFromOpenClip } from '../../src/engine/clip/config.js';
import { openClipView } from '../../src/engine/clip/layout.js';
import { openTorchCheckpoint } from '../../src/engine/clip/torch-checkpoint.js';
import { bindWeights, visionTower, type Weights } from '../../src/engine/clip/towers.js';
import { GraphBuilder, type Value } from '../../src/engine/onnx/builder.js';
import { Tensor } from '../../src/engine/onnx/tensor.js';
import { importModel } from '../../src/engine/pack/import.js';
import { ClipModel } from '../../src/engine/pack/model.js';
import { Session } from '../../src/engine/runtime.js';

const FIX = fileURLToPath(new URL('../fixtures/clip-resnet/', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'pack-resnet-'));
after(() => rmSync(work, { recursive: true, force: true }));

interface Checkpoint { path: string; config: string | null; image_embeddings: number[][]; text_embeddings: number[][]; logit_scale: number }
interface Expected {
  relative_tolerance: number;
  text: { ids: number[][] };
  pixels: { dims: number[]; b64: string };
  checkpoints: Record<string, Checkpoint>;
  train_mode: { checkpoint: string; momentum: number; image_embeddings: number[][]; running_after_one_step: Record<string, { mean: number[]; var: number[] }> };
}
const expected = JSON.parse(readFileSync(join(FIX, 'expected.json'), 'utf8')) as Expected;
const TOL = expected.relative_tolerance;
const openClipJson = JSON.parse(readFileSync(join(FIX, 'openclip-rn.json'), 'utf8')) as unknown;

function pixels(): Tensor {
  const buf = Buffer.from(expected.pixels.b64, 'base64');
  return new Tensor('float32', expected.pixels.dims, new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength)));
}

/** max|actual − expected| / max|expected| over a whole matrix, the fixtures' measure. */
function relErr(actual: ArrayLike<number>, want: number[][] | number[]): number {
  const flat = want.flat();
  assert.equal(actual.length, flat.length, 'size');
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < flat.length; i++) {
    diff = Math.max(diff, Math.abs(Number(actual[i]) - flat[i]!));
    scale = Math.max(scale, Math.abs(flat[i]!));
  }
  return diff / scale;
}

for (const name of Object.keys(expected.checkpoints)) {
  test(`${name}: imported, the pack embeds pixels and text as the float64 reference does`, async (t) => {
    const c = expected.checkpoints[name]!;
    const notes: string[] = [];
    const dir = join(work, name);
    // The open_clip file comes with its config, as users pass it; OpenAI's has none: shapes decide.
    const r = await importModel(join(FIX, c.path), dir, { configFile: c.config ? join(FIX, c.config) : undefined, onNote: (m) => notes.push(m) });
    assert.deepEqual(r.manifest.config, configFromOpenClip(openClipJson, 'x'), 'the same architecture either way');
    if (!c.config) assert.match(notes.join('\n'), /built the config from the tensor shapes/);
    const model = await ClipModel.open(dir, { device: 'cpu' });
    const img = relErr((await model.embedPixels(pixels())).data as Float32Array, c.image_embeddings);
    const ids = Tensor.int64([expected.text.ids.length, 77], expected.text.ids.flat());
    const txt = relErr((await model.embedIds(ids)).data as Float32Array, c.text_embeddings);
    await model.close();
    t.diagnostic(`relative error: image ${img.toExponential(2)}, text ${txt.toExponential(2)}`);
    assert.ok(img <= TOL, `${name}: image embeddings, relative error ${img}`);
    assert.ok(txt <= TOL, `${name}: text embeddings, relative error ${txt}`);
    assert.ok(Math.abs(model.logitScale - Math.exp(c.logit_scale)) <= 1e-5 * Math.exp(c.logit_scale));
  });
}

test('training mode: batch-statistics embeddings, and running statistics after one momentum-0.1 update, as torch', async (t) => {
  const m = expected.train_mode;
  const cfg = configFromOpenClip(openClipJson, 'openclip-rn.json');
  const view = openClipView(await openTorchCheckpoint(join(FIX, m.checkpoint)), cfg);
  const tensors = new Map<string, Tensor>();
  for (const info of view.list()) tensors.set(info.name, await view.read(info.name));
  await view.close();

  const px = pixels();
  const b = new GraphBuilder();
  const w: Weights = bindWeights(b, (name) => tensors.get(name)!);
  const stats = new Map<string, [Value, Value]>();
  b.output(visionTower(b, b.input('pixels', 'float32', [...px.dims]), cfg.vision, w, { batchStats: (bn, mean, variance) => stats.set(bn, [mean, variance]) }), 'y');
  for (const bn of Object.keys(m.running_after_one_step)) {
    const [mean, variance] = stats.get(bn)!;
    b.output(mean, `${bn}:mean`);
    b.output(variance, `${bn}:var`);
  }
  const s = await Session.create(b.toModel(), { device: 'cpu', intraOpThreads: 1 });
  const out = await s.run({ pixels: px });
  await s.release();

  const err = relErr(out.y!.data as Float32Array, m.image_embeddings);
  t.diagnostic(`relative error: training-mode image ${err.toExponential(2)}`);
  assert.ok(err <= TOL, `training-mode embeddings, relative error ${err}`);
  for (const [bn, after] of Object.entries(m.running_after_one_step)) {
    for (const stat of ['mean', 'var'] as const) {
      const before = tensors.get(`${bn}.running_${stat}`)!.toNumbers();
      const batch = out[`${bn}:${stat}`]!.toNumbers();
      const updated = before.map((x, i) => (1 - m.momentum) * x + m.momentum * batch[i]!);
      const e = relErr(updated, after[stat]);
      assert.ok(e <= TOL, `${bn}.running_${stat} after one step: relative error ${e}`);
    }
  }
});
