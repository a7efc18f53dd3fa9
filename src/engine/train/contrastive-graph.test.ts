import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import type { ClipConfig } from '../clip/config.js';
import { farParams, TINY_CONFIG, TINY_SIZE } from './testing-config.js';
import { EMBEDDING, IMAGE_INPUT, TEXT_INPUT, textModel, visionModel } from '../clip/graphs.js';
import { expectedTensors } from '../clip/layout.js';
import type { TensorSource } from '../clip/towers.js';
import { Tensor } from '../onnx/tensor.js';
import { gaussian, rng } from '../random.js';
import { Session } from '../runtime.js';
import { MAX_LOGIT_SCALE, TRAIN_INPUTS, TRAIN_OUTPUTS, buildTrainModel, paramGradName } from './contrastive-graph.js';
import { paramTensors, type Params } from './params.js';

const S = TINY_SIZE;
const CFG: ClipConfig = TINY_CONFIG;
const B = 3;
const CTX = CFG.text.contextLength;
// Start 10, end of text 11 (the largest id, where the tower pools), padding 0. Ids 7, 8, 9 are
// never used, and every row is padded at position 5.
const IDS = [
  10, 1, 2, 11, 0, 0,
  10, 3, 4, 5, 11, 0,
  10, 6, 11, 0, 0, 0,
];
const UNUSED_IDS = [0, 7, 8, 9];
const H = 1e-2; // float32 graphs: central differences need a step this large to beat rounding

const testParams = (seed: number, logitScale = 2): Params => farParams(CFG, seed, logitScale);

function uniformPixels(seed: number): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: B * 3 * S * S }, () => r());
}

const PARAMS = testParams(11);
const PIXELS = uniformPixels(12);

/** Lazily compiled sessions, shared by the tests and released at the end. */
const sessions = new Map<string, Promise<Session>>();
function session(kind: 'params' | 'pixels'): Promise<Session> {
  let s = sessions.get(kind);
  if (!s) {
    s = Session.create(buildTrainModel(CFG, { batch: B, wrt: kind }), { device: 'cpu', intraOpThreads: 1 });
    sessions.set(kind, s);
  }
  return s;
}
after(async () => {
  for (const s of sessions.values()) await (await s).release();
});

function feeds(params: Params, pixels: Float32Array): Record<string, Tensor> {
  return {
    ...paramTensors(CFG, params),
    [TRAIN_INPUTS.pixels]: new Tensor('float32', [B, 3, S, S], pixels),
    [TRAIN_INPUTS.ids]: Tensor.int64([B, CTX], IDS),
  };
}

async function run(kind: 'params' | 'pixels', params: Params, pixels: Float32Array, outputs?: string[]): Promise<Record<string, Tensor>> {
  return (await session(kind)).run(feeds(params, pixels), outputs);
}

async function lossAt(params: Params, pixels: Float32Array): Promise<number> {
  return (await run('params', params, pixels, [TRAIN_OUTPUTS.loss]))[TRAIN_OUTPUTS.loss]!.toNumbers()[0]!;
}

const withParam = (params: Params, name: string, value: Float32Array): Params => new Map([...params, [name, value]]);

/** x + s·d in float32. */
const along = (x: Float32Array, d: Float64Array, s: number): Float32Array => Float32Array.from(x, (v, i) => v + s * d[i]!);

function unitDirection(n: number, seed: number): Float64Array {
  const r = rng(seed);
  const d = Float64Array.from({ length: n }, () => gaussian(r));
  const norm = Math.hypot(...d);
  return d.map((v) => v / norm);
}

const dot = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
};
const norm2 = (a: ArrayLike<number>): number => Math.sqrt(dot(a, a));

/**
 * A directional derivative from central differences against the analytic one. Errors are allowed
 * relative to the derivative itself and, for a direction nearly orthogonal to the gradient, to the
 * gradient's norm (the most any direction can see), so that a sign or scale error cannot hide.
 */
function assertDerivative(analytic: number, numeric: number, gradNorm: number, what: string): void {
  const err = Math.abs(analytic - numeric);
  const allowed = 3e-3 * Math.max(Math.abs(numeric), Math.abs(analytic)) + 3e-4 * gradNorm + 1e-5;
  assert.ok(err <= allowed, `${what}: analytic ${analytic} vs central difference ${numeric} (error ${err.toExponential(2)} > ${allowed.toExponential(2)})`);
}

// ---------------------------------------------------------------------------------------------
// An independent reference: embeddings from the inference towers, the loss in float64 JS.

const sourceOf = (params: Params): TensorSource => (name, shape) => new Tensor('float32', shape, params.get(name)!);

async function embeddings(params: Params, pixels: Float32Array): Promise<{ img: number[][]; txt: number[][] }> {
  const images = pixels.length / (3 * S * S);
  const normalised = new Float32Array(pixels.length);
  const plane = S * S;
  for (let i = 0; i < pixels.length; i++) {
    const c = Math.floor(i / plane) % 3;
    normalised[i] = (pixels[i]! - CFG.mean[c]!) / CFG.std[c]!;
  }
  const vs = await Session.create(visionModel(CFG, sourceOf(params)), { device: 'cpu', intraOpThreads: 1 });
  const ts = await Session.create(textModel(CFG, sourceOf(params)), { device: 'cpu', intraOpThreads: 1 });
  try {
    const img = (await vs.run({ [IMAGE_INPUT]: new Tensor('float32', [images, 3, S, S], normalised) }))[EMBEDDING]!.toNumbers();
    const txt = (await ts.run({ [TEXT_INPUT]: Tensor.int64([B, CTX], IDS) }))[EMBEDDING]!.toNumbers();
    const rows = (flat: number[]) => Array.from({ length: flat.length / CFG.embedDim }, (_, i) => flat.slice(i * CFG.embedDim, (i + 1) * CFG.embedDim));
    return { img: rows(img), txt: rows(txt) };
  } finally {
    await vs.release();
    await ts.release();
  }
}

/**
 * open_clip's ClipLoss: logits = exp(min(s, ln 100))·cos; mean of both cross-entropies, labels on
 * the diagonal. Images after the first B belong to no caption: they only widen each caption's
 * softmax over images.
 */
function clipLoss(img: number[][], txt: number[][], logitScale: number): { loss: number; logits: number[][] } {
  const unit = (v: number[]) => v.map((x) => x / norm2(v));
  const I = img.map(unit);
  const T = txt.map(unit);
  const scale = Math.exp(Math.min(logitScale, Math.log(100)));
  const logits = I.map((a) => T.map((t) => scale * dot(a, t)));
  const lse = (xs: number[]) => {
    const m = Math.max(...xs);
    return m + Math.log(xs.reduce((s, x) => s + Math.exp(x - m), 0));
  };
  let imageToText = 0;
  let textToImage = 0;
  for (let i = 0; i < B; i++) {
    imageToText += lse(logits[i]!) - logits[i]![i]!;
    textToImage += lse(logits.map((row) => row[i]!)) - logits[i]![i]!;
  }
  return { loss: (imageToText / B + textToImage / B) / 2, logits };
}

// ---------------------------------------------------------------------------------------------

test('inputs and outputs: pixels, ids and every parameter in; loss, logits and one gradient per parameter out', async () => {
  const names = expectedTensors(CFG).map((t) => t.name);
  const p = await session('params');
  assert.deepEqual([...p.inputNames].sort(), [TRAIN_INPUTS.pixels, TRAIN_INPUTS.ids, ...names].sort());
  assert.deepEqual([...p.outputNames].sort(), [TRAIN_OUTPUTS.loss, TRAIN_OUTPUTS.logits, ...names.map(paramGradName)].sort());
  const x = await session('pixels');
  assert.deepEqual([...x.inputNames].sort(), [TRAIN_INPUTS.pixels, TRAIN_INPUTS.ids, ...names].sort());
  assert.deepEqual([...x.outputNames].sort(), [TRAIN_OUTPUTS.loss, TRAIN_OUTPUTS.logits, TRAIN_OUTPUTS.pixelGrad].sort());
});

test('loss and logits equal the inference towers followed by CLIP\'s loss in float64', async () => {
  for (const logitScale of [2, Math.log(1 / 0.07)]) {
    const params = withParam(PARAMS, 'logit_scale', Float32Array.of(logitScale));
    const out = await run('params', params, PIXELS);
    const { img, txt } = await embeddings(params, PIXELS);
    const ref = clipLoss(img, txt, params.get('logit_scale')![0]!);
    const loss = out[TRAIN_OUTPUTS.loss]!;
    assert.deepEqual(loss.dims, []);
    const got = loss.toNumbers()[0]!;
    assert.ok(Math.abs(got - ref.loss) <= 1e-5 * Math.max(1, ref.loss), `loss ${got} vs reference ${ref.loss}`);
    const logits = out[TRAIN_OUTPUTS.logits]!;
    assert.deepEqual(logits.dims, [B, B]);
    // logits[i][j]: image i against caption j (not transposed).
    logits.toNumbers().forEach((v, k) => {
      const e = ref.logits[Math.floor(k / B)]![k % B]!;
      assert.ok(Math.abs(v - e) <= 1e-4 * Math.max(1, Math.abs(e)), `logits[${Math.floor(k / B)}][${k % B}]: ${v} vs ${e}`);
    });
    // Not a degenerate case: the captions are told apart, and the two directions differ.
    const flat = ref.logits.flat();
    assert.ok(Math.max(...flat) - Math.min(...flat) > 0.5, 'logits spread');
    assert.ok(ref.logits.some((row, i) => row.some((v, j) => Math.abs(v - ref.logits[j]![i]!) > 0.05)), 'logits are not symmetric');
  }
});

test('the pixel-gradient graph computes the same loss and logits', async () => {
  const a = await run('params', PARAMS, PIXELS, [TRAIN_OUTPUTS.loss, TRAIN_OUTPUTS.logits]);
  const b = await run('pixels', PARAMS, PIXELS, [TRAIN_OUTPUTS.loss, TRAIN_OUTPUTS.logits]);
  for (const k of [TRAIN_OUTPUTS.loss, TRAIN_OUTPUTS.logits]) {
    a[k]!.toNumbers().forEach((v, i) => assert.ok(Math.abs(v - b[k]!.toNumbers()[i]!) <= 1e-6 * Math.max(1, Math.abs(v)), `${k}[${i}]`));
  }
});

test('parameter gradients: shapes, finite, and central differences along random directions', async () => {
  const out = await run('params', PARAMS, PIXELS);
  for (const t of expectedTensors(CFG)) {
    const g = out[paramGradName(t.name)]!;
    assert.deepEqual(g.dims, t.shape, `gradient of ${t.name} has the parameter's shape`);
    assert.ok(g.toNumbers().every(Number.isFinite), `gradient of ${t.name} is finite`);
  }
  const checked = [
    'logit_scale',
    'visual.conv1.weight',
    'visual.class_embedding',
    'visual.transformer.resblocks.0.attn.in_proj_weight',
    'visual.transformer.resblocks.0.mlp.c_fc.bias',
    'visual.ln_post.weight',
    'visual.proj',
    'token_embedding.weight',
    'positional_embedding',
    'transformer.resblocks.0.attn.out_proj.weight',
    'transformer.resblocks.0.mlp.c_proj.weight',
    'ln_final.bias',
    'text_projection',
  ];
  let seed = 100;
  for (const name of checked) {
    const p = PARAMS.get(name)!;
    const g = out[paramGradName(name)]!.data as Float32Array;
    assert.ok(norm2(g) > 1e-3, `${name}: the gradient is not negligible (${norm2(g)})`);
    const d = unitDirection(p.length, seed++);
    const numeric = ((await lossAt(withParam(PARAMS, name, along(p, d, H)), PIXELS)) - (await lossAt(withParam(PARAMS, name, along(p, d, -H)), PIXELS))) / (2 * H);
    assertDerivative(dot(g, d), numeric, norm2(g), `d loss/d ${name} along a random direction`);
  }
});

test('parameter gradients: one random direction through every parameter at once', async () => {
  const out = await run('params', PARAMS, PIXELS);
  const plus: Params = new Map();
  const minus: Params = new Map();
  let analytic = 0;
  let sq = 0;
  let seed = 200;
  for (const [name, p] of PARAMS) {
    // Equal weight per tensor, so the small ones are not drowned by the large.
    const d = unitDirection(p.length, seed++).map((v) => v / Math.sqrt(PARAMS.size));
    const g = out[paramGradName(name)]!.data as Float32Array;
    analytic += dot(g, d);
    sq += dot(g, g);
    plus.set(name, along(p, d, H));
    minus.set(name, along(p, d, -H));
  }
  const numeric = ((await lossAt(plus, PIXELS)) - (await lossAt(minus, PIXELS))) / (2 * H);
  assertDerivative(analytic, numeric, Math.sqrt(sq / PARAMS.size), 'd loss along a direction through all parameters');
});

test('parameter gradients: single entries by central differences', async () => {
  const out = await run('params', PARAMS, PIXELS);
  const entries: Array<[string, number | 'largest']> = [
    ['visual.proj', 'largest'],
    ['visual.proj', 37],
    ['visual.transformer.resblocks.0.attn.in_proj_weight', 'largest'],
    ['visual.positional_embedding', 'largest'],
    ['token_embedding.weight', 'largest'],
    ['transformer.resblocks.0.ln_1.weight', 'largest'],
    ['text_projection', 'largest'],
    ['text_projection', 101],
  ];
  for (const [name, which] of entries) {
    const p = PARAMS.get(name)!;
    const g = out[paramGradName(name)]!.data as Float32Array;
    const k = which === 'largest' ? g.reduce((best, v, i) => (Math.abs(v) > Math.abs(g[best]!) ? i : best), 0) : which;
    const at = (h: number) => {
      const q = p.slice();
      q[k] = q[k]! + h;
      return lossAt(withParam(PARAMS, name, q), PIXELS);
    };
    const numeric = ((await at(H)) - (await at(-H))) / (2 * H);
    const largest = Math.max(...Array.from(g, Math.abs));
    assertDerivative(g[k]!, numeric, largest, `d loss/d ${name}[${k}]`);
  }
});

test('parameter gradients: exactly zero for token rows no caption reads and positions after every end of text', async () => {
  const out = await run('params', PARAMS, PIXELS);
  const w = CFG.text.width;
  const emb = out[paramGradName('token_embedding.weight')]!.toNumbers();
  for (let id = 0; id < CFG.text.vocabSize; id++) {
    const rowNorm = norm2(emb.slice(id * w, (id + 1) * w));
    if (UNUSED_IDS.includes(id)) assert.ok(rowNorm < 1e-9, `token ${id} is never read before an end of text, its gradient has norm ${rowNorm}`);
    else assert.ok(rowNorm > 1e-4, `token ${id} is read, its gradient has norm ${rowNorm}`);
  }
  const pos = out[paramGradName('positional_embedding')]!.toNumbers();
  for (let i = 0; i < CTX; i++) {
    const rowNorm = norm2(pos.slice(i * w, (i + 1) * w));
    if (i === CTX - 1) assert.ok(rowNorm < 1e-9, `position ${i} comes after every end of text (causal mask), gradient norm ${rowNorm}`);
    else assert.ok(rowNorm > 1e-4, `position ${i} gradient norm ${rowNorm}`);
  }
});

test('pixel gradient: shape, and central differences along random directions and at single pixels', async () => {
  const out = await run('pixels', PARAMS, PIXELS);
  const g = out[TRAIN_OUTPUTS.pixelGrad]!;
  assert.deepEqual(g.dims, [B, 3, S, S]);
  const gd = g.data as Float32Array;
  assert.ok(gd.every(Number.isFinite));
  assert.ok(norm2(gd) > 1e-3, `the pixel gradient is not negligible (${norm2(gd)})`);
  const lossOf = async (px: Float32Array) => (await run('pixels', PARAMS, px, [TRAIN_OUTPUTS.loss]))[TRAIN_OUTPUTS.loss]!.toNumbers()[0]!;
  for (const seed of [300, 301, 302]) {
    const d = unitDirection(PIXELS.length, seed);
    const numeric = ((await lossOf(along(PIXELS, d, H))) - (await lossOf(along(PIXELS, d, -H)))) / (2 * H);
    assertDerivative(dot(gd, d), numeric, norm2(gd), `d loss/d pixels along direction ${seed}`);
  }
  // Per-image directions: each image's slice of the gradient is its own (no mix-up across the batch).
  const plane = 3 * S * S;
  for (let n = 0; n < B; n++) {
    const d = new Float64Array(PIXELS.length);
    d.set(unitDirection(plane, 400 + n), n * plane);
    const numeric = ((await lossOf(along(PIXELS, d, H))) - (await lossOf(along(PIXELS, d, -H)))) / (2 * H);
    assertDerivative(dot(gd, d), numeric, norm2(gd.subarray(n * plane, (n + 1) * plane)), `d loss/d pixels of image ${n}`);
  }
  const largest = gd.reduce((best, v, i) => (Math.abs(v) > Math.abs(gd[best]!) ? i : best), 0);
  for (const k of [largest, 5, plane + 2 * S * S + 17, 2 * plane + S * S + 200]) {
    const at = (h: number) => {
      const px = PIXELS.slice();
      px[k] = px[k]! + h;
      return lossOf(px);
    };
    const numeric = ((await at(H)) - (await at(-H))) / (2 * H);
    assertDerivative(gd[k]!, numeric, Math.abs(gd[largest]!), `d loss/d pixels[${k}]`);
  }
});

test('pixel gradient of the cosine objective: −Σ cos(image i, caption i) of the inference towers, by central differences', async () => {
  const cosine = await Session.create(buildTrainModel(CFG, { batch: B, wrt: 'pixels', pixelObjective: 'cosine' }), { device: 'cpu', intraOpThreads: 1 });
  try {
    const gd = (await cosine.run(feeds(PARAMS, PIXELS), [TRAIN_OUTPUTS.pixelGrad]))[TRAIN_OUTPUTS.pixelGrad]!.data as Float32Array;
    assert.ok(norm2(gd) > 1e-4, `the gradient is not negligible (${norm2(gd)})`);
    // Independent: the inference towers' embeddings, the matched cosines summed in float64.
    const objective = async (px: Float32Array): Promise<number> => {
      const { img, txt } = await embeddings(PARAMS, px);
      return -img.reduce((sum, a, i) => sum + dot(a, txt[i]!) / (norm2(a) * norm2(txt[i]!)), 0);
    };
    const plane = 3 * S * S;
    for (let n = 0; n < B; n++) {
      // One picture at a time: its gradient is its own caption's alone, whatever the others are.
      const d = new Float64Array(PIXELS.length);
      d.set(unitDirection(plane, 500 + n), n * plane);
      const numeric = ((await objective(along(PIXELS, d, H))) - (await objective(along(PIXELS, d, -H)))) / (2 * H);
      assertDerivative(dot(gd, d), numeric, norm2(gd.subarray(n * plane, (n + 1) * plane)), `d objective/d pixels of image ${n}`);
    }
    const contrastive = (await run('pixels', PARAMS, PIXELS))[TRAIN_OUTPUTS.pixelGrad]!.data as Float32Array;
    assert.ok(contrastive.some((v, i) => Math.abs(v - gd[i]!) > 1e-6), 'not the contrastive loss\'s gradient');
  } finally {
    await cosine.release();
  }
  assert.throws(() => buildTrainModel(CFG, { batch: B, wrt: 'params', pixelObjective: 'cosine' }), /needs wrt 'pixels'/);
});

test('logit_scale above ln 100 is clamped: logits are 100·cos, its gradient is zero, other gradients as at the cap', async () => {
  const capped = withParam(PARAMS, 'logit_scale', Float32Array.of(MAX_LOGIT_SCALE));
  const above = withParam(PARAMS, 'logit_scale', Float32Array.of(MAX_LOGIT_SCALE + 0.7));
  const a = await run('params', above, PIXELS);
  const c = await run('params', capped, PIXELS);
  assert.equal(a[paramGradName('logit_scale')]!.toNumbers()[0], 0);
  assert.notEqual(c[paramGradName('logit_scale')]!.toNumbers()[0], 0, 'at the cap itself the gradient still flows (clip is inclusive)');
  const { img, txt } = await embeddings(PARAMS, PIXELS);
  const ref = clipLoss(img, txt, MAX_LOGIT_SCALE + 0.7);
  a[TRAIN_OUTPUTS.logits]!.toNumbers().forEach((v, k) => {
    const e = ref.logits[Math.floor(k / B)]![k % B]!;
    assert.ok(Math.abs(v - e) <= 1e-4 * Math.max(1, Math.abs(e)), `logits[${k}] ${v} vs 100·cos ${e}`);
  });
  const loss = a[TRAIN_OUTPUTS.loss]!.toNumbers()[0]!;
  assert.ok(Math.abs(loss - ref.loss) <= 1e-5 * Math.max(1, ref.loss), `loss ${loss} vs ${ref.loss}`);
  for (const t of expectedTensors(CFG)) {
    if (t.name === 'logit_scale') continue;
    const ga = a[paramGradName(t.name)]!.toNumbers();
    const gc = c[paramGradName(t.name)]!.toNumbers();
    ga.forEach((v, i) => assert.ok(Math.abs(v - gc[i]!) <= 1e-5 * Math.max(1, Math.abs(gc[i]!)), `${t.name}[${i}]: ${v} above the cap vs ${gc[i]} at it`));
  }
});

test('a batch of fewer than 2 pairs, or not a whole number, is refused', () => {
  for (const batch of [1, 0, -2, 2.5, Number.NaN]) {
    for (const wrt of ['params', 'pixels'] as const) {
      assert.throws(() => buildTrainModel(CFG, { batch, wrt }), (e: unknown) => e instanceof RangeError && /batch of at least 2/.test(e.message), `batch ${batch}`);
    }
  }
  assert.doesNotThrow(() => buildTrainModel(CFG, { batch: 2, wrt: 'pixels' }));
});

test('extra pictures: negatives of every caption only; loss, both logit blocks and a parameter gradient checked', async () => {
  const E = 2;
  const extra = uniformPixels(13).subarray(0, E * 3 * S * S);
  const all = new Float32Array(PIXELS.length + extra.length);
  all.set(PIXELS);
  all.set(extra, PIXELS.length);
  const s = await Session.create(buildTrainModel(CFG, { batch: B, wrt: 'params', extraImages: E }), { device: 'cpu', intraOpThreads: 1 });
  try {
    assert.ok(s.outputNames.includes(TRAIN_OUTPUTS.extraLogits));
    const feedsAt = (params: Params): Record<string, Tensor> => ({
      ...paramTensors(CFG, params),
      [TRAIN_INPUTS.pixels]: new Tensor('float32', [B + E, 3, S, S], all),
      [TRAIN_INPUTS.ids]: Tensor.int64([B, CTX], IDS),
    });
    const out = await s.run(feedsAt(PARAMS));
    const { img, txt } = await embeddings(PARAMS, all);
    const ref = clipLoss(img, txt, PARAMS.get('logit_scale')![0]!);
    const got = out[TRAIN_OUTPUTS.loss]!.toNumbers()[0]!;
    assert.ok(Math.abs(got - ref.loss) <= 1e-5 * Math.max(1, ref.loss), `loss ${got} vs reference ${ref.loss}`);
    // The extras raise the loss: they only add terms to the text-to-image softmax.
    const without = await lossAt(PARAMS, PIXELS);
    assert.ok(got > without + 1e-3, `with extras ${got} vs without ${without}`);
    assert.deepEqual(out[TRAIN_OUTPUTS.logits]!.dims, [B, B]);
    assert.deepEqual(out[TRAIN_OUTPUTS.extraLogits]!.dims, [E, B]);
    const close = (v: number, e: number, what: string) => assert.ok(Math.abs(v - e) <= 1e-4 * Math.max(1, Math.abs(e)), `${what}: ${v} vs ${e}`);
    out[TRAIN_OUTPUTS.logits]!.toNumbers().forEach((v, k) => close(v, ref.logits[Math.floor(k / B)]![k % B]!, `logits[${k}]`));
    out[TRAIN_OUTPUTS.extraLogits]!.toNumbers().forEach((v, k) => close(v, ref.logits[B + Math.floor(k / B)]![k % B]!, `extra_logits[${k}]`));
    const name = 'visual.conv1.weight';
    const p = PARAMS.get(name)!;
    const g = out[paramGradName(name)]!.data as Float32Array;
    const d = unitDirection(p.length, 300);
    const lossWith = async (q: Float32Array) => (await s.run(feedsAt(withParam(PARAMS, name, q)), [TRAIN_OUTPUTS.loss]))[TRAIN_OUTPUTS.loss]!.toNumbers()[0]!;
    const numeric = ((await lossWith(along(p, d, H))) - (await lossWith(along(p, d, -H)))) / (2 * H);
    assertDerivative(dot(g, d), numeric, norm2(g), `d loss/d ${name} with extra pictures`);
  } finally {
    await s.release();
  }
  for (const extraImages of [-1, 1.5]) {
    assert.throws(() => buildTrainModel(CFG, { batch: B, wrt: 'params', extraImages }), (e: unknown) => e instanceof RangeError && /extra images/.test(e.message));
  }
});
