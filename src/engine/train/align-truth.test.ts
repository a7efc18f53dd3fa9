/**
 * The alignment term's truth ranking: softplus(s · (cos(x, t) − cos(truth, t))) per item, truth = x + d,
 * checked against the inference towers and, for its parameter gradients, central differences.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { EMBEDDING, IMAGE_INPUT, TEXT_INPUT, textModel, visionModel } from '../clip/graphs.js';
import type { TensorSource } from '../clip/towers.js';
import { Tensor } from '../onnx/tensor.js';
import { gaussian, rng } from '../random.js';
import { Session } from '../runtime.js';
import { ALIGN_OUTPUTS } from './align-term.js';
import { TRAIN_OUTPUTS, buildTrainModel, MAX_LOGIT_SCALE, paramGradName } from './contrastive-graph.js';
import type { Params } from './params.js';
import { alignGraphFeeds, cosOf, dot, farParams, TINY_CONFIG as CFG, TINY_SIZE as S, TINY_ALIGN_IDS as ALIGN_IDS, TINY_BATCH_IDS as IDS } from './testing-config.js';

const B = 2;
const A = 2;
const CTX = CFG.text.contextLength;
const P = 3 * S * S;
const ALIGN_WEIGHT = 2;
const TRUTH_WEIGHT = 3;
// A temperature at which the softplus is neither flat nor a hinge for these gaps.
const PARAMS = farParams(CFG, 31, 1.5);
const r = rng(32);
const PIXELS = Float32Array.from({ length: B * P }, () => r());
const X = Float32Array.from({ length: A * P }, () => r());
const DIR = Float32Array.from({ length: A * P }, () => 0.5 * gaussian(r));

const sessions: Session[] = [];
after(async () => { for (const s of sessions) await s.release(); });
const graphs = new Map<number, Promise<Session>>();
const graph = (truth: number): Promise<Session> => {
  if (!graphs.has(truth)) {
    graphs.set(truth, Session.create(buildTrainModel(CFG, { batch: B, wrt: 'params', align: A, alignWeight: ALIGN_WEIGHT, alignTruthWeight: truth }), { device: 'cpu', intraOpThreads: 1 })
      .then((s) => { sessions.push(s); return s; }));
  }
  return graphs.get(truth)!;
};
const run = async (truth: number, params: Params, outputs: string[]): Promise<Record<string, Tensor>> =>
  (await graph(truth)).run(alignGraphFeeds(CFG, params, { pixels: PIXELS, ids: IDS, x: X, alignIds: ALIGN_IDS, direction: DIR }), outputs);

const softplus = (z: number): number => Math.max(z, 0) + Math.log1p(Math.exp(-Math.abs(z)));

test('truth gap is cos(x, t) − cos(x + d, t) by the inference towers, and the loss adds weight × mean softplus(s · gap)', async () => {
  const source: TensorSource = (name, shape) => new Tensor('float32', shape, PARAMS.get(name)!);
  const vs = await Session.create(visionModel(CFG, source), { device: 'cpu', intraOpThreads: 1 });
  const ts = await Session.create(textModel(CFG, source), { device: 'cpu', intraOpThreads: 1 });
  sessions.push(vs, ts);
  const plane = S * S;
  const norm = (px: Float32Array): Tensor => new Tensor('float32', [A, 3, S, S], px.map((v, j) => (v - CFG.mean[Math.floor(j / plane) % 3]!) / CFG.std[Math.floor(j / plane) % 3]!));
  const E = CFG.embedDim;
  const txt = (await ts.run({ [TEXT_INPUT]: Tensor.int64([A, CTX], ALIGN_IDS) }))[EMBEDDING]!.toNumbers();
  const fx = (await vs.run({ [IMAGE_INPUT]: norm(X) }))[EMBEDDING]!.toNumbers();
  const ft = (await vs.run({ [IMAGE_INPUT]: norm(X.map((v, j) => v + DIR[j]!)) }))[EMBEDDING]!.toNumbers();
  const cos = (a: number[], b: number[], i: number): number => cosOf(a.slice(i * E, (i + 1) * E), b.slice(i * E, (i + 1) * E));
  const want = [0, 1].map((i) => cos(fx, txt, i) - cos(ft, txt, i));
  const on = await run(TRUTH_WEIGHT, PARAMS, [ALIGN_OUTPUTS.truthGap, ALIGN_OUTPUTS.loss, TRAIN_OUTPUTS.loss]);
  const gap = on[ALIGN_OUTPUTS.truthGap]!.toNumbers();
  for (let i = 0; i < A; i++) assert.ok(Math.abs(gap[i]! - want[i]!) < 1e-5, `item ${i}: gap ${gap[i]} vs towers ${want[i]}`);
  assert.ok(want.some((g) => Math.abs(g) > 0.01), `gaps ${want.join(', ')} too small to tell a sign error`);
  const off = await run(0, PARAMS, [ALIGN_OUTPUTS.loss, TRAIN_OUTPUTS.loss]);
  const s = Math.exp(Math.min(PARAMS.get('logit_scale')![0]!, MAX_LOGIT_SCALE));
  const term = TRUTH_WEIGHT * (softplus(s * want[0]!) + softplus(s * want[1]!)) / 2;
  const alignOn = on[ALIGN_OUTPUTS.loss]!.toNumbers()[0]!, alignOff = off[ALIGN_OUTPUTS.loss]!.toNumbers()[0]!;
  assert.ok(Math.abs(alignOn - alignOff - term) < 1e-4, `align loss ${alignOn} − ${alignOff} vs ${term}`);
  const lossOn = on[TRAIN_OUTPUTS.loss]!.toNumbers()[0]!, lossOff = off[TRAIN_OUTPUTS.loss]!.toNumbers()[0]!;
  assert.ok(Math.abs(lossOn - lossOff - ALIGN_WEIGHT * term) < 1e-4, `training loss ${lossOn} − ${lossOff} vs ${ALIGN_WEIGHT}·${term}`);
  // No truth ranking asked for: no output for it.
  await assert.rejects(run(0, PARAMS, [ALIGN_OUTPUTS.truthGap]));
});

test('with the truth ranking, parameter gradients match central differences of the loss', async () => {
  const names = ['visual.conv1.weight', 'visual.proj', 'text_projection', 'logit_scale'];
  const out = await run(TRUTH_WEIGHT, PARAMS, names.map(paramGradName));
  const plain = await run(0, PARAMS, names.map(paramGradName));
  const rd = rng(33);
  const h = 1e-2;
  let differs = 0;
  for (const name of names) {
    const g = out[paramGradName(name)]!.data as Float32Array;
    const base = PARAMS.get(name)!;
    const d = Float64Array.from(base, () => gaussian(rd));
    const n = Math.sqrt(dot(d, d));
    const at = async (sign: number): Promise<number> => (await run(TRUTH_WEIGHT, new Map([...PARAMS, [name, Float32Array.from(base, (v, k) => v + (sign * h * d[k]!) / n)]]), [TRAIN_OUTPUTS.loss]))[TRAIN_OUTPUTS.loss]!.toNumbers()[0]!;
    const numeric = ((await at(1)) - (await at(-1))) / (2 * h);
    const analytic = dot(g, d) / n;
    const gn = Math.sqrt(dot(g, g));
    assert.ok(Math.abs(analytic - numeric) <= 1e-2 * Math.max(Math.abs(numeric), Math.abs(analytic)) + 2e-3 * gn + 1e-5,
      `${name}: analytic ${analytic} vs central difference ${numeric}`);
    const p = plain[paramGradName(name)]!.data as Float32Array;
    if (Math.abs(dot(p, d) / n - analytic) > 0.05 * Math.abs(analytic)) differs++;
  }
  // The ranking must change the gradients it is checked on, or this would not test it.
  assert.ok(differs >= names.length - 1, `the truth ranking changed only ${differs} of ${names.length} directional derivatives`);
});

test('a truth ranking with a weight that is not a positive number is refused', () => {
  assert.throws(() => buildTrainModel(CFG, { batch: B, wrt: 'params', align: A, alignTruthWeight: -1 }), /truth ranking's weight must be > 0, got -1/);
  assert.throws(() => buildTrainModel(CFG, { batch: B, wrt: 'params', align: A, alignTruthWeight: Number.NaN }), /truth ranking's weight must be > 0, got NaN/);
});
