/**
 * clipag's conv tower against torch (tools/torch/make_conv_fixtures.py: the same layers as issue
 * 17's probe, float64): embeddings, the input gradient synthesis follows, and the second derivative
 * the alignment term trains through (torch double backprop); and against central differences of
 * the gradient for the parameters of every layer kind.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { gradients } from '../onnx/autodiff.js';
import { GraphBuilder, type Value } from '../onnx/builder.js';
import { Tensor } from '../onnx/tensor.js';
import { Session } from '../runtime.js';
import { gradCheck, randn, rng } from '../onnx/testing/gradcheck.js';
import { openSafetensors } from './safetensors.js';
import { convFeatureDim, convShapeError, convSides, convTensors } from './tower-conv.js';
import { bindWeights, visionTower, type ConvConfig, type TensorSource, type Weights } from './towers.js';

const DIR = fileURLToPath(new URL('../../../test/fixtures/clip-conv/', import.meta.url));

interface Expected {
  config: ConvConfig;
  n: number;
  pixels: number[];
  embeddings: number[];
  v: number[];
  pixelGrad: number[];
  u: number[];
  secondOrder: Record<string, number[]>;
}
const E = JSON.parse(readFileSync(`${DIR}expected.json`, 'utf8')) as Expected;
const CFG = E.config;
const S = CFG.imageSize;
const N = E.n;
const shapeOf = (name: string): number[] => convTensors(CFG).find((t) => t.name === name)!.shape;

async function fixtureWeights(): Promise<TensorSource> {
  const f = await openSafetensors(`${DIR}weights.safetensors`);
  const all = new Map<string, Tensor>();
  try {
    for (const t of convTensors(CFG)) all.set(t.name, await f.read(t.name));
  } finally {
    await f.close();
  }
  return (name) => {
    const t = all.get(name);
    if (!t) throw new Error(`no fixture tensor ${name}`);
    return t;
  };
}

/** Relative to the largest reference value, as the ViT and ResNet references are checked. */
function assertClose(got: ArrayLike<number>, want: number[], tol: number, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  const scale = Math.max(...want.map(Math.abs));
  assert.ok(scale > 1e-3, `${what}: the reference is not trivially small`);
  for (let i = 0; i < want.length; i++) {
    assert.ok(Math.abs(got[i]! - want[i]!) <= tol * scale, `${what}[${i}]: ${got[i]} vs torch ${want[i]}`);
  }
}

async function run(b: GraphBuilder, feeds: Record<string, Tensor>): Promise<Record<string, Tensor>> {
  const s = await Session.create(b.toModel(), { device: 'cpu', intraOpThreads: 1 });
  try {
    return await s.run(feeds);
  } finally {
    await s.release();
  }
}

test('the fixture config: its shapes, tensors and read-out length', () => {
  assert.equal(convShapeError(CFG), null);
  assert.deepEqual(convSides(CFG), [8, 8, 4]);
  assert.equal(convFeatureDim(CFG), 4 * 4 * 4);
  assert.deepEqual(convTensors(CFG).map((t) => t.name).slice(0, 6), ['visual.body.0.weight', 'visual.body.0.bias', 'visual.body.1.weight', 'visual.body.1.bias', 'visual.body.3.weight', 'visual.body.3.bias']);
});

test('embeddings, the pixel gradient and d/dW of a pixel-gradient sum equal torch (float64) to 1e-4', async () => {
  const source = await fixtureWeights();
  const b = new GraphBuilder();
  const pixels = b.input('pixels', 'float32', [N, 3, S, S]);
  const wrt = Object.keys(E.secondOrder);
  const params: Record<string, Value> = {};
  for (const name of wrt) params[name] = b.input(name, 'float32', shapeOf(name));
  const fixed = bindWeights(b, source);
  const w: Weights = (name, shape) => params[name] ?? fixed(name, shape);
  const out = visionTower(b, pixels, CFG, w);
  b.output(out, 'embeddings');
  const [g] = gradients(b, out.mul(b.constant(Tensor.float32([N, CFG.outputDim], E.v))).sum(), [pixels]);
  b.output(g!, 'pixelGrad');
  const second = gradients(b, g!.mul(b.constant(Tensor.float32([N, 3, S, S], E.u))).sum(), wrt.map((n) => params[n]!));
  second.forEach((d, i) => b.output(d!, `d_${i}`));
  const feeds: Record<string, Tensor> = { pixels: Tensor.float32([N, 3, S, S], E.pixels) };
  for (const name of wrt) feeds[name] = source(name, []);
  const got = await run(b, feeds);
  assertClose(got.embeddings!.toNumbers(), E.embeddings, 1e-4, 'embeddings');
  assertClose(got.pixelGrad!.toNumbers(), E.pixelGrad, 1e-4, 'pixel gradient');
  wrt.forEach((name, i) => assertClose(got[`d_${i}`]!.toNumbers(), E.secondOrder[name]!, 1e-4, `d/d ${name}`));
});

// Every layer kind's parameters: a stack conv and its bias, a GroupNorm gain and shift, the head, the read-out.
const WRT = ['visual.body.3.weight', 'visual.body.3.bias', 'visual.body.1.weight', 'visual.body.7.bias', 'visual.head.weight', 'visual.proj.weight'];
const GAIN = 10;

test('d/dW of Σ v ⊙ ∂out/∂pixels matches central differences for every layer kind', async () => {
  const source = await fixtureWeights();
  const v = randn(rng(3), N * CFG.outputDim);
  await gradCheck({
    dtype: 'float32',
    tol: 5e-3,
    eps: 3e-3,
    inputs: [{ name: 'pixels', dims: [N, 3, S, S], wrt: false, values: E.pixels }, ...WRT.map((name) => ({ name, dims: shapeOf(name), values: source(name, []).toNumbers() }))],
    build: (b, x) => {
      const fixed = bindWeights(b, source);
      const out = visionTower(b, x.pixels!, CFG, (name, shape) => x[name] ?? fixed(name, shape));
      const [g] = gradients(b, out.mul(b.constant(Tensor.float32([N, CFG.outputDim], v))).sum(), [x.pixels!]);
      return g!.mul(GAIN);
    },
  });
});

test('configs the tower cannot build are named', () => {
  assert.match(String(convShapeError({ ...CFG, groups: 5 })), /convs\[0\]: 8 channels do not split into 5 groups/);
  assert.match(String(convShapeError({ ...CFG, convs: [] })), /at least one layer/);
  assert.match(String(convShapeError({ ...CFG, imageSize: 1, convs: [{ channels: 8, kernel: 4, stride: 1 }] })), /convs\[0\] leaves no map of a 1-px picture/);
  assert.match(String(convShapeError({ ...CFG, convs: [{ channels: 8, kernel: 0, stride: 1 }] })), /positive whole channels, kernel and stride/);
  const b = new GraphBuilder();
  assert.throws(() => visionTower(b, b.input('p', 'float32', [1, 3, S, S]), { ...CFG, groups: 3 }, bindWeights(b, () => Tensor.float32([1], [0]))), /vision tower: convs\[0\]: 8 channels do not split into 3 groups/);
});
