import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OPENAI_MEAN, OPENAI_STD, type ClipConfig } from '../clip/config.js';
import { expectedTensors } from '../clip/layout.js';
import { decays, initParams, paramCount, paramTensors } from './params.js';

// Towers of different widths and depths, so a scale taken from the wrong tower shows.
const CFG: ClipConfig = {
  arch: 'custom',
  embedDim: 24,
  vision: { imageSize: 32, patchSize: 8, width: 64, layers: 3, heads: 4, outputDim: 24, act: 'gelu' },
  text: { contextLength: 16, vocabSize: 100, width: 32, layers: 2, heads: 2, outputDim: 24, act: 'gelu' },
  mean: [...OPENAI_MEAN],
  std: [...OPENAI_STD],
};

const isGain = (name: string): boolean => /(^|\.)ln_(1|2|pre|post|final)\.weight$/.test(name);
const isBias = (name: string): boolean => name.endsWith('.bias') || name.endsWith('in_proj_bias');

/**
 * open_clip's init scales (TextTransformer.init_parameters, and the same rules for the vision
 * tower), written out per name from the config rather than from the code under test.
 */
function expectedStd(name: string): number {
  const visual = name.startsWith('visual.');
  const w = visual ? 64 : 32;
  const layers = visual ? 3 : 2;
  if (name === 'token_embedding.weight') return 0.02;
  if (name === 'positional_embedding') return 0.01;
  if (name === 'visual.conv1.weight') return 1 / Math.sqrt(3 * (3 * 8 * 8)); // kaiming-uniform(a=√5): U(±1/√fan_in)
  if (['visual.class_embedding', 'visual.positional_embedding', 'visual.proj', 'text_projection'].includes(name)) return w ** -0.5;
  if (name.endsWith('.attn.in_proj_weight')) return w ** -0.5;
  if (name.endsWith('.attn.out_proj.weight') || name.endsWith('.mlp.c_proj.weight')) return w ** -0.5 * (2 * layers) ** -0.5;
  if (name.endsWith('.mlp.c_fc.weight')) return (2 * w) ** -0.5;
  throw new Error(`test: no expected scale for ${name}`);
}

const SEEDS = [1, 2, 3, 4, 5, 6, 7, 8];
const RUNS = SEEDS.map((s) => initParams(CFG, s));

test('one Float32Array per expected tensor, in the layout\'s order, with its number of elements', () => {
  const p = RUNS[0]!;
  const infos = expectedTensors(CFG);
  assert.deepEqual([...p.keys()], infos.map((t) => t.name));
  for (const t of infos) {
    const data = p.get(t.name)!;
    assert.ok(data instanceof Float32Array, `${t.name} is a Float32Array`);
    assert.equal(data.length, t.shape.reduce((a, b) => a * b, 1), `${t.name} has [${t.shape}] elements`);
  }
});

test('LayerNorm gains are 1, every bias 0, logit_scale ln(1/0.07)', () => {
  const p = RUNS[0]!;
  let gains = 0;
  let biases = 0;
  for (const [name, data] of p) {
    if (isGain(name)) {
      gains++;
      assert.ok(data.every((v) => v === 1), `${name} is all ones`);
    } else if (isBias(name)) {
      biases++;
      assert.ok(data.every((v) => v === 0), `${name} is all zeros`);
    }
  }
  // ln_pre, ln_post, ln_final and two per block; per block: ln_1, ln_2, in_proj, out_proj, c_fc, c_proj.
  assert.equal(gains, 3 + 2 * (3 + 2));
  assert.equal(biases, 3 + 6 * (3 + 2));
  assert.deepEqual([...p.get('logit_scale')!], [Math.fround(Math.log(1 / 0.07))]);
});

test('random tensors have mean 0 and open_clip\'s standard deviation (pooled over 8 seeds)', () => {
  const names = expectedTensors(CFG).map((t) => t.name).filter((n) => !isGain(n) && !isBias(n) && n !== 'logit_scale');
  assert.equal(names.length, 7 + 4 * 3 + 4 * 2, 'every other tensor is drawn at random');
  for (const name of names) {
    const want = expectedStd(name);
    let n = 0;
    let sum = 0;
    let sq = 0;
    for (const p of RUNS) for (const v of p.get(name)!) { n++; sum += v; sq += v * v; }
    const mean = sum / n;
    const std = Math.sqrt(sq / n - mean * mean);
    // Five standard errors: a sample std's relative error is about 1/√(2n).
    assert.ok(Math.abs(mean) <= (5 * want) / Math.sqrt(n), `${name}: mean ${mean} (std ${want}, ${n} samples)`);
    assert.ok(Math.abs(std / want - 1) <= 5 / Math.sqrt(2 * n), `${name}: std ${std}, open_clip's ${want} (${n} samples)`);
  }
});

test('deterministic by seed; another seed, and every tensor, draws its own numbers', () => {
  const again = initParams(CFG, 1);
  for (const [name, data] of RUNS[0]!) assert.deepEqual(again.get(name), data, `${name} is reproduced by the same seed`);
  const random = [...RUNS[0]!.keys()].filter((n) => !isGain(n) && !isBias(n) && n !== 'logit_scale');
  for (const name of random) {
    const a = RUNS[0]!.get(name)!;
    const b = RUNS[1]!.get(name)!;
    assert.ok(a.every((v, i) => v !== b[i]), `${name}: seeds 1 and 2 give different values`);
  }
  // No two tensors repeat one stream (in units of their own scale): the generator runs on across tensors.
  const heads = new Set(random.map((n) => Array.from(RUNS[0]!.get(n)!.subarray(0, 4), (v) => (v / expectedStd(n)).toFixed(5)).join(',')));
  assert.equal(heads.size, random.length);
});

test('decays: weight matrices and the patch convolution only, not gains, biases, embeddings or the temperature', () => {
  const decayed = new Set([
    'visual.conv1.weight', 'visual.proj', 'text_projection',
    ...[0, 1, 2].flatMap((i) => ['attn.in_proj_weight', 'attn.out_proj.weight', 'mlp.c_fc.weight', 'mlp.c_proj.weight'].map((s) => `visual.transformer.resblocks.${i}.${s}`)),
    ...[0, 1].flatMap((i) => ['attn.in_proj_weight', 'attn.out_proj.weight', 'mlp.c_fc.weight', 'mlp.c_proj.weight'].map((s) => `transformer.resblocks.${i}.${s}`)),
  ]);
  for (const t of expectedTensors(CFG)) assert.equal(decays(t.name, t.shape), decayed.has(t.name), t.name);
  assert.equal(decays('token_embedding.weight', [100, 32]), false);
  assert.equal(decays('visual.positional_embedding', [17, 64]), false);
  assert.equal(decays('logit_scale', []), false);
  assert.equal(decays('some.matrix', [3, 3]), true);
  assert.equal(decays('some.vector', [9]), false);
});

test('paramTensors: one float32 tensor per expected name, shaped as the layout says, holding the values', () => {
  const p = RUNS[0]!;
  const feeds = paramTensors(CFG, p);
  const infos = expectedTensors(CFG);
  assert.deepEqual(Object.keys(feeds), infos.map((t) => t.name));
  for (const t of infos) {
    const f = feeds[t.name]!;
    assert.equal(f.dtype, 'float32');
    assert.deepEqual(f.dims, t.shape, t.name);
    assert.deepEqual(f.data, p.get(t.name), t.name);
  }
  assert.deepEqual(feeds.logit_scale!.dims, []);
});

test('paramCount: the number of trainable values, as the architecture\'s formula gives', () => {
  const block = (w: number): number => 12 * w * w + 13 * w; // ln_1, in_proj, out_proj, ln_2, c_fc, c_proj
  const vision = 64 * 3 * 8 * 8 + 64 + 17 * 64 + 2 * 64 + 3 * block(64) + 2 * 64 + 64 * 24;
  const text = 100 * 32 + 16 * 32 + 2 * block(32) + 2 * 32 + 32 * 24;
  assert.equal(paramCount(RUNS[0]!), vision + text + 1);
});

test('a ResNet image tower: He convolutions, BN γ 1 (0 on each block\'s bn3), β 0, buffers 0 and 1, never decayed', async () => {
  const rn: ClipConfig = { ...CFG, vision: { kind: 'resnet', imageSize: 64, width: 16, layers: [1, 1, 1, 1], heads: 8, outputDim: 24 } };
  const p = initParams(rn, 3);
  const infos = expectedTensors(rn);
  assert.deepEqual([...p.keys()], infos.map((t) => t.name));
  const values = (name: string) => [...p.get(name)!];
  const std = (xs: number[]) => Math.sqrt(xs.reduce((a, x) => a + x * x, 0) / xs.length);
  for (const t of infos) {
    const v = values(t.name);
    if (t.buffer) {
      assert.ok(v.every((x) => x === (t.name.endsWith('running_var') ? 1 : 0)), t.name);
      assert.equal(decays(t.name, t.shape), false, t.name);
    } else if (/\.(bn\d|downsample\.1)\.weight$/.test(t.name)) {
      assert.ok(v.every((x) => x === (/^visual\.layer\d\.\d+\.bn3\./.test(t.name) ? 0 : 1)), t.name);
      assert.equal(decays(t.name, t.shape), false, t.name);
    } else if (t.shape.length === 4) {
      const fanIn = t.shape.slice(1).reduce((a, b) => a * b, 1);
      assert.ok(Math.abs(std(v) / Math.sqrt(2 / fanIn) - 1) < (v.length > 500 ? 0.1 : 0.35), `${t.name}: std ${std(v)}`);
      assert.equal(decays(t.name, t.shape), true, t.name);
    }
  }
  // The pool's projections at open_clip's std (32·width)^-½.
  assert.ok(Math.abs(std(values('visual.attnpool.q_proj.weight')) * Math.sqrt(512) - 1) < 0.05);
  assert.ok(values('visual.attnpool.q_proj.bias').every((x) => x === 0));
  assert.equal(paramTensors(rn, p)['visual.layer4.0.bn3.running_var']!.dims.join(), '512');
});

test('the conv tower: torch\'s defaults (weights at 1/√(3·fan_in), biases 0), GroupNorm γ 1 and β 0 never decayed; the text tower as before', () => {
  const conv: ClipConfig = { ...CFG, vision: { kind: 'conv', imageSize: 32, convs: [{ channels: 16, kernel: 4, stride: 2 }, { channels: 32, kernel: 3, stride: 2 }], groups: 8, headChannels: 8, outputDim: 24, act: 'gelu' } };
  const p = initParams(conv, 3);
  const infos = expectedTensors(conv);
  assert.deepEqual([...p.keys()], infos.map((t) => t.name));
  const std = (xs: Float32Array) => Math.sqrt(xs.reduce((a, x) => a + x * x, 0) / xs.length);
  const norms = ['visual.body.1', 'visual.body.4'];
  for (const t of infos.filter((i) => i.name.startsWith('visual.'))) {
    const v = p.get(t.name)!;
    if (norms.some((n) => t.name.startsWith(`${n}.`))) {
      assert.ok(v.every((x) => x === (t.name.endsWith('.weight') ? 1 : 0)), t.name);
      assert.equal(decays(t.name, t.shape), false, t.name);
    } else if (t.name.endsWith('.bias')) {
      assert.ok(v.every((x) => x === 0), t.name);
    } else {
      const fanIn = t.shape.slice(1).reduce((a, b) => a * b, 1);
      assert.ok(Math.abs(std(v) * Math.sqrt(3 * fanIn) - 1) < 0.1, `${t.name}: std ${std(v)}`);
      assert.equal(decays(t.name, t.shape), true, t.name);
    }
  }
  assert.deepEqual(infos.filter((t) => norms.some((n) => t.name.startsWith(`${n}.`))).length, 4, 'two GroupNorms, weight and bias each');
  assert.ok(Math.abs(std(p.get('text_projection')!) * Math.sqrt(32) - 1) < 0.1, 'the text projection keeps its open_clip scale');
});
