import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gradients } from '../onnx/autodiff.js';
import { GraphBuilder, type Value } from '../onnx/builder.js';
import { Tensor, numel } from '../onnx/tensor.js';
import { Session } from '../runtime.js';
import { gradCheck, randn, rng } from '../onnx/testing/gradcheck.js';
import { gaussian, hashName } from '../random.js';
import { resnetTensors } from './tower-resnet.js';
import { bindWeights, isBatchNormGain, visionTower, type ResNetConfig, type TensorSource, type VisionTowerOptions, type Weights } from './towers.js';

/** Every structural part: stem, a strided block with a shortcut conv, an identity block, a 2×2 pool grid. */
const CFG: ResNetConfig = { kind: 'resnet', imageSize: 64, width: 4, layers: [1, 2, 1, 1], heads: 2, outputDim: 6 };
const S = CFG.imageSize;
const N = 2;

/**
 * Random weights at training-init scales (He convolutions, γ ≈ 1, β ≈ 0, the pool at dim^-½) with
 * some spread in everything, so no parameter's derivative is degenerate.
 */
export function testWeights(seed = 5): TensorSource {
  const cache = new Map<string, Tensor>();
  return (name, shape) => {
    const hit = cache.get(name);
    if (hit) return hit;
    const r = rng(seed ^ hashName(name));
    const fanIn = shape.slice(1).reduce((a, c) => a * c, 1);
    const value = (): number => {
      if (name.endsWith('.running_mean')) return 0.1 * gaussian(r);
      if (name.endsWith('.running_var')) return 1 + 0.2 * Math.abs(gaussian(r));
      if (isBatchNormGain(name)) return 1 + 0.1 * gaussian(r);
      if (shape.length === 4) return Math.sqrt(2 / fanIn) * gaussian(r);
      return (shape.length === 2 ? shape[1]! ** -0.5 : 0.1) * gaussian(r);
    };
    const t = Tensor.float32(shape, Array.from({ length: numel(shape) }, value));
    cache.set(name, t);
    return t;
  };
}

/** SiLU: smooth, so second derivatives have finite differences (see VisionTowerOptions.activation). */
const smooth = (x: Value): Value => x.mul(x.sigmoid());

/**
 * `source` with its running statistics replaced by the batch statistics of `pixels` (mean, and the
 * unbiased variance as torch keeps it), as training would leave them: the running-statistics tower
 * then sees activations at the scale it normalises for.
 */
async function calibrated(source: TensorSource, pixels: number[], activation?: (x: Value) => Value): Promise<TensorSource> {
  const b = new GraphBuilder();
  const stats: string[] = [];
  visionTower(b, b.input('pixels', 'float32', [N, 3, S, S]), CFG, bindWeights(b, source), {
    activation,
    batchStats: (name, mean, variance) => {
      stats.push(name);
      b.output(mean, `${name}.running_mean`);
      b.output(variance, `${name}.running_var`);
    },
  });
  const s = await Session.create(b.toModel(), { device: 'cpu', intraOpThreads: 1 });
  const got = await s.run({ pixels: Tensor.float32([N, 3, S, S], pixels) });
  await s.release();
  return (name, shape) => got[name] ?? source(name, shape);
}

/** A few parameters of every kind (conv, BN γ and β, deep and shallow) to differentiate with respect to. */
const WRT = ['visual.conv2.weight', 'visual.bn2.weight', 'visual.layer1.0.bn2.bias', 'visual.layer4.0.bn1.weight'];
const shapeOf = (name: string): number[] => resnetTensors(CFG).find((t) => t.name === name)!.shape;

/** The weights: WRT from graph inputs, the rest from `source` as initializers. */
function weightsFrom(b: GraphBuilder, source: TensorSource, v: Record<string, Value>): Weights {
  const fixed = bindWeights(b, source);
  return (name, shape) => v[name] ?? fixed(name, shape);
}

const wrtInputs = (source: TensorSource) => WRT.map((name) => ({ name, dims: shapeOf(name), values: source(name, shapeOf(name)).toNumbers() }));

const MODES: Array<[string, VisionTowerOptions]> = [
  ['running statistics', { activation: smooth }],
  ['batch statistics', { activation: smooth, batchStats: () => undefined }],
];

// Outputs are scaled so gradients are O(1): gradCheck's error is relative to max(1, largest gradient).
const GAIN = 10;
// Central differences' truncation error grows with ε² (the stem's γ has a 0.7 % error at 1e-2); float32
// rounding shrinks with it. 3e-3 sits between.
const EPS = 3e-3;
const BASE = randn(rng(11), N * 3 * S * S);

for (const [mode, opts] of MODES) {
  test(`ResNet tower (${mode}): first derivatives w.r.t. pixels and parameters match finite differences`, async () => {
    // Pixels = base + z·M: a random projection of the pixel gradient is checked through z's 16
    // entries, instead of finite differences over all 24,576 pixels.
    const k = 8;
    const mix = randn(rng(12), k * 3 * S * S).map((x) => 0.3 * x);
    const source = await calibrated(testWeights(), BASE, smooth);
    await gradCheck({
      dtype: 'float32',
      tol: 5e-3,
      eps: EPS,
      inputs: [{ name: 'z', dims: [N, k] }, ...wrtInputs(source)],
      build: (b, v) => {
        const shift = v.z!.matmul(b.constant(Tensor.float32([k, 3 * S * S], mix))).reshape([N, 3, S, S]);
        const px = b.constant(Tensor.float32([N, 3, S, S], BASE)).add(shift);
        return visionTower(b, px, CFG, weightsFrom(b, source, v), opts).mul(GAIN);
      },
    });
  });

  test(`ResNet tower (${mode}): d/dW of Σ v ⊙ ∂out/∂pixels matches finite differences`, async () => {
    const v = randn(rng(13), N * CFG.outputDim);
    const source = await calibrated(testWeights(), BASE, smooth);
    await gradCheck({
      dtype: 'float32',
      tol: 5e-3,
      eps: EPS,
      inputs: [{ name: 'pixels', dims: [N, 3, S, S], wrt: false, values: BASE }, ...wrtInputs(source)],
      build: (b, x) => {
        const out = visionTower(b, x.pixels!, CFG, weightsFrom(b, source, x), opts);
        const [g] = gradients(b, out.mul(b.constant(Tensor.float32([N, CFG.outputDim], v))).sum(), [x.pixels!]);
        return g!.mul(GAIN * 100);
      },
    });
  });
}

test('batch statistics: one report per BN layer; the running-statistics tower given them computes the same', async () => {
  const source = testWeights(9);
  const names: string[] = [];
  const b = new GraphBuilder();
  visionTower(b, b.input('pixels', 'float32', [N, 3, S, S]), CFG, bindWeights(b, source), { batchStats: (name) => names.push(name) });
  const bnNames = resnetTensors(CFG).filter((t) => t.name.endsWith('.running_mean')).map((t) => t.name.slice(0, -'.running_mean'.length));
  assert.deepEqual([...names].sort(), [...bnNames].sort());

  // torch's running_var is the unbiased variance; normalising uses the biased one, (n−1)/n of it.
  const fromBatch = await calibrated(source, BASE);
  const biased: TensorSource = (name, shape) => {
    const t = fromBatch(name, shape);
    if (!name.endsWith('.running_var')) return t;
    const [n, , h, w] = bnInputShape(name.slice(0, -'.running_var'.length));
    const count = n! * h! * w!;
    return Tensor.float32(shape, t.toNumbers().map((u) => (u * (count - 1)) / count));
  };
  const embed = async (src: TensorSource, opts: VisionTowerOptions): Promise<number[]> => {
    const g = new GraphBuilder();
    g.output(visionTower(g, g.input('pixels', 'float32', [N, 3, S, S]), CFG, bindWeights(g, src), opts), 'y');
    const s = await Session.create(g.toModel(), { device: 'cpu', intraOpThreads: 1 });
    const out = await s.run({ pixels: Tensor.float32([N, 3, S, S], BASE) });
    await s.release();
    return out.y!.toNumbers();
  };
  const a = await embed(source, { batchStats: () => undefined });
  const c = await embed(biased, {});
  const scale = Math.max(...a.map(Math.abs));
  assert.ok(scale > 0.1, 'the output is not trivially small');
  a.forEach((u, i) => assert.ok(Math.abs(u - c[i]!) <= 1e-4 * scale, `y[${i}]: batch ${u} vs running ${c[i]}`));
});

/** [N, C, H, W] entering BN `name` of CFG (C left 0): the stem at S/2, each stage at its grid. */
function bnInputShape(name: string): number[] {
  if (/^visual\.bn\d$/.test(name)) return [N, 0, S / 2, S / 2];
  const m = /^visual\.layer(\d)\.(\d+)\.(bn\d|downsample\.1)$/.exec(name);
  if (!m) throw new Error(`no BN ${name}`);
  const stage = Number(m[1]);
  // Stage 1 runs at S/4 and each later one halves it, but a first block's bn1 and bn2 still see
  // the stage's input size (its pool comes after conv2).
  const out = S / 4 / 2 ** (stage - 1);
  const before = stage > 1 && m[2] === '0' && (m[3] === 'bn1' || m[3] === 'bn2') ? out * 2 : out;
  return [N, 0, before, before];
}

test('act "gelu" (a clipag extension) swaps every ReLU for exact GELU; absent or "relu" is open_clip\'s ReLU', async () => {
  const pixels = randn(rng(31), N * 3 * S * S);
  const embed = async (cfg: ResNetConfig, opts: VisionTowerOptions = {}): Promise<number[]> => {
    const b = new GraphBuilder();
    b.output(visionTower(b, b.input('pixels', 'float32', [N, 3, S, S]), cfg, bindWeights(b, testWeights()), opts), 'y');
    const s = await Session.create(b.toModel(), { device: 'cpu', intraOpThreads: 1 });
    try {
      return (await s.run({ pixels: Tensor.float32([N, 3, S, S], pixels) }))['y']!.toNumbers();
    } finally {
      await s.release();
    }
  };
  const exactGelu = (x: Value): Value => x.mul(x.mul(Math.SQRT1_2).erf().add(1).mul(0.5));
  const gelu = await embed({ ...CFG, act: 'gelu' });
  const byOption = await embed(CFG, { activation: exactGelu });
  const relu = await embed(CFG);
  const reluNamed = await embed({ ...CFG, act: 'relu' });
  gelu.forEach((v, i) => assert.ok(Math.abs(v - byOption[i]!) < 1e-5, `gelu ${v} vs ${byOption[i]}`));
  assert.deepEqual(reluNamed, relu);
  assert.ok(gelu.some((v, i) => Math.abs(v - relu[i]!) > 1e-3), 'GELU and ReLU towers differ');
});
