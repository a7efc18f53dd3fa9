import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GraphBuilder } from '../onnx/builder.js';
import { Tensor } from '../onnx/tensor.js';
import { Session } from '../runtime.js';
import { gradCheck, randn, rng } from '../onnx/testing/gradcheck.js';
import {
  VIT_B_32, bindWeights, randomTensors, randomWeights, textEncode, textTower, visionTower,
  type Activation, type TensorSource, type TextConfig, type VitConfig, type Weights,
} from './towers.js';

const vision: VitConfig = { imageSize: 32, patchSize: 8, width: 16, layers: 2, heads: 2, outputDim: 8, act: 'gelu' };
const text: TextConfig = { contextLength: 6, vocabSize: 20, width: 16, layers: 2, heads: 2, outputDim: 8, act: 'quick_gelu' };
// Larger than CLIP's 0.02 so that attention is far from uniform and the activations are not linear.
const WEIGHTS = { seed: 7, std: 0.3 };
// Each row ends at its end-of-text token, the largest id (vocab − 1), at different positions.
const IDS = [18, 3, 7, 19, 0, 0, 18, 5, 19, 0, 0, 0];

async function run(b: GraphBuilder, feeds: Record<string, Tensor>): Promise<number[]> {
  const s = await Session.create(b.toModel(), { device: 'cpu', intraOpThreads: 1 });
  const out = await s.run(feeds);
  await s.release();
  return out.y!.toNumbers();
}

// ---------------------------------------------------------------------------------------------
// An independent reference: the same math with plain loops over number[][] in float64.

type Mat = number[][];
const param = (src: TensorSource, name: string, shape: number[]) => src(name, shape).toNumbers();
const rows = (flat: number[], cols: number): Mat => Array.from({ length: flat.length / cols }, (_, i) => flat.slice(i * cols, (i + 1) * cols));

/** y = x·Wᵀ + b with W [out, in] flat. */
function linearRef(x: Mat, w: number[], bias: number[]): Mat {
  const out = bias.length;
  const inn = w.length / out;
  return x.map((r) => bias.map((bo, o) => { let s = bo; for (let i = 0; i < inn; i++) s += r[i]! * w[o * inn + i]!; return s; }));
}

function lnRef(x: Mat, g: number[], bias: number[]): Mat {
  return x.map((r) => {
    const mu = r.reduce((a, c) => a + c, 0) / r.length;
    const v = r.reduce((a, c) => a + (c - mu) ** 2, 0) / r.length;
    return r.map((c, k) => ((c - mu) / Math.sqrt(v + 1e-5)) * g[k]! + bias[k]!);
  });
}

/** erf by Abramowitz–Stegun 7.1.26 is too coarse for 1e-4; this series/continued-fraction pair is exact to ~1e-12. */
function erf(x: number): number {
  const ax = Math.abs(x);
  if (ax < 2.5) {
    let term = ax, sum = ax;
    for (let n = 1; n < 60; n++) { term *= (-ax * ax) / n; sum += term / (2 * n + 1); }
    return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * sum;
  }
  let f = 0;
  for (let n = 60; n >= 1; n--) f = (n / 2) / (ax + f);
  return Math.sign(x) * (1 - Math.exp(-ax * ax) / Math.sqrt(Math.PI) / (ax + f));
}

const actRef = (act: Activation) => (v: number) => (act === 'gelu' ? 0.5 * v * (1 + erf(v / Math.SQRT2)) : v / (1 + Math.exp(-1.702 * v)));

function attentionRef(x: Mat, src: TensorSource, name: string, width: number, heads: number, causal: boolean): Mat {
  const qkv = linearRef(x, param(src, `${name}.in_proj_weight`, [3 * width, width]), param(src, `${name}.in_proj_bias`, [3 * width]));
  const d = width / heads;
  const out: Mat = x.map(() => new Array<number>(width).fill(0));
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < x.length; i++) {
      const s = x.map((_, j) => {
        if (causal && j > i) return -Infinity;
        let dot = 0;
        for (let k = 0; k < d; k++) dot += qkv[i]![h * d + k]! * qkv[j]![width + h * d + k]!;
        return dot / Math.sqrt(d);
      });
      const m = Math.max(...s);
      const e = s.map((v) => Math.exp(v - m));
      const z = e.reduce((a, c) => a + c, 0);
      for (let j = 0; j < x.length; j++) for (let k = 0; k < d; k++) out[i]![h * d + k]! += (e[j]! / z) * qkv[j]![2 * width + h * d + k]!;
    }
  }
  return linearRef(out, param(src, `${name}.out_proj.weight`, [width, width]), param(src, `${name}.out_proj.bias`, [width]));
}

function transformerRef(x: Mat, src: TensorSource, name: string, cfg: { width: number; heads: number; layers: number; act: Activation }, causal: boolean): Mat {
  const w = cfg.width;
  const add = (a: Mat, b: Mat) => a.map((r, i) => r.map((v, k) => v + b[i]![k]!));
  for (let l = 0; l < cfg.layers; l++) {
    const p = `${name}.resblocks.${l}`;
    const ln = (t: Mat, which: string) => lnRef(t, param(src, `${p}.${which}.weight`, [w]), param(src, `${p}.${which}.bias`, [w]));
    x = add(x, attentionRef(ln(x, 'ln_1'), src, `${p}.attn`, w, cfg.heads, causal));
    const hidden = linearRef(ln(x, 'ln_2'), param(src, `${p}.mlp.c_fc.weight`, [4 * w, w]), param(src, `${p}.mlp.c_fc.bias`, [4 * w])).map((r) => r.map(actRef(cfg.act)));
    x = add(x, linearRef(hidden, param(src, `${p}.mlp.c_proj.weight`, [w, 4 * w]), param(src, `${p}.mlp.c_proj.bias`, [w])));
  }
  return x;
}

/** v·P with P [w, out] flat. */
const project = (v: number[], p: number[], out: number) => Array.from({ length: out }, (_, o) => v.reduce((a, c, k) => a + c * p[k * out + o]!, 0));

function visionRef(pixels: number[], n: number, cfg: VitConfig, src: TensorSource): number[] {
  const { imageSize: S, patchSize: P, width: w } = cfg;
  const g = S / P;
  const conv = param(src, 'visual.conv1.weight', [w, 3, P, P]);
  const pos = rows(param(src, 'visual.positional_embedding', [g * g + 1, w]), w);
  const out: number[] = [];
  for (let b = 0; b < n; b++) {
    let x: Mat = [param(src, 'visual.class_embedding', [w])];
    for (let gy = 0; gy < g; gy++) for (let gx = 0; gx < g; gx++) {
      x.push(Array.from({ length: w }, (_, c) => {
        let s = 0;
        for (let ci = 0; ci < 3; ci++) for (let ky = 0; ky < P; ky++) for (let kx = 0; kx < P; kx++) {
          s += conv[((c * 3 + ci) * P + ky) * P + kx]! * pixels[((b * 3 + ci) * S + gy * P + ky) * S + gx * P + kx]!;
        }
        return s;
      }));
    }
    x = x.map((r, i) => r.map((v, k) => v + pos[i]![k]!));
    x = lnRef(x, param(src, 'visual.ln_pre.weight', [w]), param(src, 'visual.ln_pre.bias', [w]));
    x = transformerRef(x, src, 'visual.transformer', cfg, false);
    const cls = lnRef([x[0]!], param(src, 'visual.ln_post.weight', [w]), param(src, 'visual.ln_post.bias', [w]))[0]!;
    out.push(...project(cls, param(src, 'visual.proj', [w, cfg.outputDim]), cfg.outputDim));
  }
  return out;
}

function textRef(ids: number[], n: number, cfg: TextConfig, src: TensorSource): number[] {
  const { contextLength: L, width: w } = cfg;
  const emb = rows(param(src, 'token_embedding.weight', [cfg.vocabSize, w]), w);
  const pos = rows(param(src, 'positional_embedding', [L, w]), w);
  const out: number[] = [];
  for (let b = 0; b < n; b++) {
    const row = ids.slice(b * L, (b + 1) * L);
    let x: Mat = row.map((id, i) => emb[id]!.map((v, k) => v + pos[i]![k]!));
    x = transformerRef(x, src, 'transformer', cfg, true);
    x = lnRef(x, param(src, 'ln_final.weight', [w]), param(src, 'ln_final.bias', [w]));
    const eot = row.indexOf(Math.max(...row));
    out.push(...project(x[eot]!, param(src, 'text_projection', [w, cfg.outputDim]), cfg.outputDim));
  }
  return out;
}

function assertClose(actual: number[], expected: number[], tol: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    assert.ok(Math.abs(actual[i]! - expected[i]!) <= tol, `${what}[${i}]: graph ${actual[i]} vs reference ${expected[i]}`);
  }
}

// ---------------------------------------------------------------------------------------------

test('vision tower: output shape and values match a plain-loop reference', async () => {
  const n = 2;
  const b = new GraphBuilder();
  const pixels = b.input('pixels', 'float32', [n, 3, 32, 32]);
  const y = visionTower(b, pixels, vision, randomWeights(b, WEIGHTS));
  assert.deepEqual(y.shape, [n, vision.outputDim]);
  b.output(y, 'y');
  const px = randn(rng(3), n * 3 * 32 * 32);
  const got = await run(b, { pixels: Tensor.float32([n, 3, 32, 32], px) });
  // Compare against the float32-rounded pixels and weights the graph saw.
  const expected = visionRef(Array.from(Float32Array.from(px)), n, vision, randomTensors(WEIGHTS));
  assertClose(got, expected, 1e-4, 'vision');
  assert.ok(Math.max(...expected.map(Math.abs)) > 0.05, 'the reference output is not trivially small');
});

test('vision tower: quick_gelu and a dynamic batch', async () => {
  const cfg = { ...vision, act: 'quick_gelu' as const };
  const b = new GraphBuilder();
  const pixels = b.input('pixels', 'float32', ['batch', 3, 32, 32]);
  const y = visionTower(b, pixels, cfg, randomWeights(b, WEIGHTS));
  assert.equal(y.shape[1], cfg.outputDim);
  b.output(y, 'y');
  const px = randn(rng(4), 3 * 3 * 32 * 32);
  const got = await run(b, { pixels: Tensor.float32([3, 3, 32, 32], px) });
  assertClose(got, visionRef(Array.from(Float32Array.from(px)), 3, cfg, randomTensors(WEIGHTS)), 1e-4, 'vision quick_gelu');
});

test('text tower: output shape, causal mask and EOT pooling match a plain-loop reference', async () => {
  const b = new GraphBuilder();
  const ids = b.input('ids', 'int64', [2, text.contextLength]);
  const y = textTower(b, ids, text, randomWeights(b, WEIGHTS));
  assert.deepEqual(y.shape, [2, text.outputDim]);
  b.output(y, 'y');
  const got = await run(b, { ids: Tensor.int64([2, text.contextLength], IDS) });
  assertClose(got, textRef(IDS, 2, text, randomTensors(WEIGHTS)), 1e-4, 'text');
});

test('text tower: tokens after the end-of-text token do not change the result (causal mask)', async () => {
  const b = new GraphBuilder();
  const ids = b.input('ids', 'int64', [2, text.contextLength]);
  b.output(textTower(b, ids, text, randomWeights(b, WEIGHTS)), 'y');
  const other = [...IDS];
  other[4] = 11; other[5] = 2; other[9] = 4;
  const a = await run(b, { ids: Tensor.int64([2, text.contextLength], IDS) });
  const c = await run(b, { ids: Tensor.int64([2, text.contextLength], other) });
  assertClose(c, a, 1e-6, 'masked');
});

test('parameters: open_clip names and shapes; ViT-B/32 has 151,277,313 parameters with logit_scale', () => {
  const b = new GraphBuilder();
  const shapes = new Map<string, number[]>();
  // Parameters as graph inputs: nothing is allocated, only names and shapes are recorded.
  const w: Weights = (name, shape) => {
    if (!shapes.has(name)) { shapes.set(name, shape); return b.input(name, 'float32', shape); }
    return b.value(name);
  };
  visionTower(b, b.input('pixels', 'float32', [1, 3, 224, 224]), VIT_B_32.vision, w);
  textTower(b, b.input('ids', 'int64', [1, 77]), VIT_B_32.text, w);
  const count = [...shapes.values()].reduce((a, s) => a + s.reduce((x, y) => x * y, 1), 0);
  assert.equal(count + 1, 151_277_313);
  assert.deepEqual(shapes.get('visual.conv1.weight'), [768, 3, 32, 32]);
  assert.deepEqual(shapes.get('visual.transformer.resblocks.11.attn.in_proj_weight'), [2304, 768]);
  assert.deepEqual(shapes.get('visual.transformer.resblocks.0.mlp.c_fc.weight'), [3072, 768]);
  assert.deepEqual(shapes.get('visual.proj'), [768, 512]);
  assert.deepEqual(shapes.get('token_embedding.weight'), [49408, 512]);
  assert.deepEqual(shapes.get('transformer.resblocks.11.attn.out_proj.weight'), [512, 512]);
  assert.deepEqual(shapes.get('text_projection'), [512, 512]);
  // vision: conv1, class, positions, ln_pre ×2, ln_post ×2, proj; text: embedding, positions, ln_final ×2,
  // projection; 12 tensors per block.
  assert.equal(shapes.size, 8 + 5 + 2 * 12 * 12);
});

test('bindWeights: a checkpoint tensor of the wrong shape is refused with both shapes named', () => {
  const b = new GraphBuilder();
  const w = bindWeights(b, () => Tensor.float32([512, 768], new Float32Array(512 * 768)));
  assert.throws(() => w('visual.proj', [768, 512]), /visual\.proj has shape \[512,768\], the config expects \[768,512\]/);
});

test('randomTensors: a function of seed and name only', () => {
  const a = randomTensors({ seed: 1 })('x.weight', [5]).toNumbers();
  const src = randomTensors({ seed: 1 });
  src('other', [3]);
  assert.deepEqual(src('x.weight', [5]).toNumbers(), a);
  assert.notDeepEqual(randomTensors({ seed: 2 })('x.weight', [5]).toNumbers(), a);
  assert.ok(randomTensors()('visual.ln_pre.weight', [4]).toNumbers().every((v) => Math.abs(v - 1) < 0.2));
});

// Float32: ORT's CPU Conv and Erf have no float64 kernels. gradCheck measures errors relative to
// max(1, largest gradient); the towers' input gradients are ~0.1, so the outputs are scaled by
// GAIN to make that a relative check, with a tolerance tighter than float32's default.
const GAIN = 20;

test('vision tower: input gradient matches finite differences', () =>
  gradCheck({
    dtype: 'float32',
    tol: 5e-3,
    inputs: [{ name: 'pixels', dims: [1, 3, 16, 16] }],
    build: (b, v) => visionTower(b, v.pixels!, { ...vision, imageSize: 16 }, randomWeights(b, WEIGHTS)).mul(GAIN),
  }));

test('text tower: gradient with respect to the token embeddings matches finite differences', () =>
  gradCheck({
    dtype: 'float32',
    inputs: [
      { name: 'embedded', dims: [2, text.contextLength, text.width] },
      { name: 'ids', dims: [2, text.contextLength], dtype: 'int64', values: IDS, wrt: false },
    ],
    tol: 5e-3,
    build: (b, v) => textEncode(b, v.embedded!, v.ids!, text, randomWeights(b, WEIGHTS)).mul(GAIN),
  }));
