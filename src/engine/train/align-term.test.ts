import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { EMBEDDING, IMAGE_INPUT, TEXT_INPUT, textModel, visionModel } from '../clip/graphs.js';
import type { TensorSource } from '../clip/towers.js';
import { Tensor } from '../onnx/tensor.js';
import { gaussian, rng } from '../random.js';
import { Session } from '../runtime.js';
import { ALIGN_INPUTS, ALIGN_OUTPUTS } from './align-term.js';
import { TRAIN_INPUTS, TRAIN_OUTPUTS, buildTrainModel, paramGradName } from './contrastive-graph.js';
import { paramTensors, type Params } from './params.js';
import type { ClipConfig } from '../clip/config.js';
import { alignGraphFeeds, cosOf, dot, farParams, TINY_CONFIG as CFG, TINY_RESNET_CONFIG, TINY_SIZE as S, TINY_ALIGN_IDS as ALIGN_IDS, TINY_BATCH_IDS as IDS } from './testing-config.js';

const B = 2;
const A = 2;
const CTX = CFG.text.contextLength;
const P = 3 * S * S;
// Large, so that the alignment term, not the contrastive loss, carries most of each derivative checked.
const WEIGHT = 20;
const PARAMS = farParams(CFG, 21);

const r = rng(22);
const PIXELS = Float32Array.from({ length: B * P }, () => r());
const X = Float32Array.from({ length: A * P }, () => r());
const DIR = Float32Array.from({ length: A * P }, () => gaussian(r));

let session: Promise<Session> | undefined;
const trainSession = (): Promise<Session> =>
  (session ??= Session.create(buildTrainModel(CFG, { batch: B, wrt: 'params', align: A, alignWeight: WEIGHT }), { device: 'cpu', intraOpThreads: 1 }));
after(async () => { if (session) await (await session).release(); });

async function run(params: Params, outputs: string[]): Promise<Record<string, Tensor>> {
  return (await trainSession()).run(alignGraphFeeds(CFG, params, { pixels: PIXELS, ids: IDS, x: X, alignIds: ALIGN_IDS, direction: DIR }), outputs);
}


/** The inference towers' cos(f(x), g(t)) by central differences in every pixel, against the graph's align_cos. */
async function checkAlignCos(cfg: ClipConfig, weighted = false, paired = false): Promise<void> {
  const S = cfg.vision.imageSize;
  const P = 3 * S * S;
  const r = rng(24);
  const params = farParams(cfg, 25);
  const x = Float32Array.from({ length: A * P }, () => r());
  // A pair shares its picture (shapes/align-pairs.ts).
  if (paired) x.copyWithin(P, 0, P);
  const dir = Float32Array.from({ length: A * P }, () => gaussian(r));
  // √w: a few pixels weighted heavily, as shape pixels are (align-items.ts shapeWeights).
  const w = weighted ? Float32Array.from({ length: A * P }, () => (r() < 0.1 ? Math.sqrt(10) : 1)) : undefined;
  const graph = await Session.create(buildTrainModel(cfg, { batch: B, wrt: 'params', align: A, alignWeighted: weighted, alignPaired: paired }), { device: 'cpu', intraOpThreads: 1 });
  const outs = await graph.run({
    ...paramTensors(cfg, params),
    [TRAIN_INPUTS.pixels]: new Tensor('float32', [B, 3, S, S], Float32Array.from({ length: B * P }, () => r())),
    [TRAIN_INPUTS.ids]: Tensor.int64([B, CTX], IDS),
    [ALIGN_INPUTS.pixels]: new Tensor('float32', [A, 3, S, S], x),
    [ALIGN_INPUTS.ids]: Tensor.int64([A, CTX], ALIGN_IDS),
    [ALIGN_INPUTS.direction]: new Tensor('float32', [A, 3, S, S], dir),
    ...(w ? { [ALIGN_INPUTS.weight]: new Tensor('float32', [A, 3, S, S], w) } : {}),
  }, [ALIGN_OUTPUTS.cos, ALIGN_OUTPUTS.loss, ...(paired ? [ALIGN_OUTPUTS.pairCos] : [])]);
  const got = outs[ALIGN_OUTPUTS.cos]!.toNumbers();
  await graph.release();
  const grads: number[][] = [];
  const source: TensorSource = (name, shape) => new Tensor('float32', shape, params.get(name)!);
  const vs = await Session.create(visionModel(cfg, source), { device: 'cpu', intraOpThreads: 1 });
  const ts = await Session.create(textModel(cfg, source), { device: 'cpu', intraOpThreads: 1 });
  try {
    const txt = (await ts.run({ [TEXT_INPUT]: Tensor.int64([A, CTX], ALIGN_IDS) }))[EMBEDDING]!.toNumbers();
    // Float32 towers: smaller steps drown the per-pixel differences in rounding (the tiny ResNet disagreed in sign at 3e-3).
    const h = 3e-2;
    for (let i = 0; i < A; i++) {
      // Every pixel nudged both ways, all in one batch through the inference tower.
      const batch = new Float32Array(2 * P * P);
      for (let k = 0; k < P; k++) {
        for (const [s, sign] of [[0, 1], [1, -1]] as const) {
          const o = (2 * k + s) * P;
          batch.set(x.subarray(i * P, (i + 1) * P), o);
          batch[o + k] = batch[o + k]! + sign * h;
        }
      }
      const plane = S * S;
      for (let j = 0; j < batch.length; j++) batch[j] = (batch[j]! - cfg.mean[Math.floor(j / plane) % 3]!) / cfg.std[Math.floor(j / plane) % 3]!;
      const img = (await vs.run({ [IMAGE_INPUT]: new Tensor('float32', [2 * P, 3, S, S], batch) }))[EMBEDDING]!.toNumbers();
      const t = txt.slice(i * cfg.embedDim, (i + 1) * cfg.embedDim);
      const score = (n: number): number => cosOf(img.slice(n * cfg.embedDim, (n + 1) * cfg.embedDim), t);
      const grad = Array.from({ length: P }, (_, k) => (score(2 * k) - score(2 * k + 1)) / (2 * h));
      grads.push(grad);
      const di = dir.subarray(i * P, (i + 1) * P);
      const wi = w?.subarray(i * P, (i + 1) * P);
      const want = wi ? cosOf(grad.map((g, k) => g * wi[k]!), di.map((d, k) => d * wi[k]!)) : cosOf(grad, di);
      assert.ok(Math.abs(got[i]! - want) < 2e-3, `item ${i}: align_cos ${got[i]} vs central differences ${want}`);
      // The weights must matter at that tolerance, or this would not tell a weighted cosine from a plain one.
      if (wi) assert.ok(Math.abs(want - cosOf(grad, di)) > 4e-3, `item ${i}: weighted ${want} vs plain ${cosOf(grad, di)}`);
    }
    // The directions are random, so the cosines are small but not zero: a sign error would show.
    assert.ok(got.some((c) => Math.abs(c) > 0.01), `cosines ${got.join(', ')}`);
    if (paired) {
      const pairCos = outs[ALIGN_OUTPUTS.pairCos]!.toNumbers()[0]!;
      const want = cosOf(grads[0]!.map((g, k) => g - grads[1]![k]!), Array.from({ length: P }, (_, k) => dir[k]! - dir[P + k]!));
      assert.ok(Math.abs(pairCos - want) < 2e-3 && Math.abs(want) > 0.01, `pair cosine ${pairCos} vs central differences ${want}`);
      const loss = outs[ALIGN_OUTPUTS.loss]!.toNumbers()[0]!;
      assert.ok(Math.abs(loss - (1 - (got[0]! + got[1]!) / 2 + 1 - pairCos)) < 1e-5, `term ${loss}: items' and pair's parts`);
    }
  } finally {
    await vs.release();
    await ts.release();
  }
}

test('align_cos is the cosine between a central-difference input gradient of cos(f(x), g(t)) and the direction (ViT)', async () => {
  await checkAlignCos(CFG);
});

test('weighted: align_cos is the cosine of the weighted gradient and direction (√w on both), by central differences', async () => {
  await checkAlignCos(CFG, true);
});

test('paired: the difference of two captions\' gradients at one picture against the difference of their directions, by central differences', async () => {
  await checkAlignCos(CFG, false, true);
  assert.throws(() => buildTrainModel(CFG, { batch: B, wrt: 'params', align: 3, alignPaired: true }), /come in pairs/);
});

test('a ResNet\'s align_cos is the gradient of the inference tower (BatchNorm on running statistics), as synthesis sees it', async () => {
  await checkAlignCos(TINY_RESNET_CONFIG);
});

test('loss is the contrastive loss plus the weighted alignment term', async () => {
  const out = await run(PARAMS, [TRAIN_OUTPUTS.loss, TRAIN_OUTPUTS.contrastive, ALIGN_OUTPUTS.loss, ALIGN_OUTPUTS.cos]);
  const [loss, contrastive, align] = [TRAIN_OUTPUTS.loss, TRAIN_OUTPUTS.contrastive, ALIGN_OUTPUTS.loss].map((k) => out[k]!.toNumbers()[0]!);
  const cos = out[ALIGN_OUTPUTS.cos]!.toNumbers();
  assert.ok(Math.abs(align! - (1 - (cos[0]! + cos[1]!) / 2)) < 1e-6);
  assert.ok(Math.abs(loss! - (contrastive! + WEIGHT * align!)) < 1e-5, `${loss} vs ${contrastive} + ${WEIGHT}·${align}`);
});

test('parameter gradients through the input gradient (second order) match central differences of the loss', async () => {
  const names = ['visual.conv1.weight', 'visual.transformer.resblocks.0.mlp.c_fc.weight', 'visual.ln_post.weight', 'visual.proj', 'text_projection', 'token_embedding.weight'];
  const out = await run(PARAMS, [TRAIN_OUTPUTS.loss, ...names.map(paramGradName)]);
  const h = 1e-2;
  const at = async (p: Params): Promise<[number, number]> => {
    const o = await run(p, [TRAIN_OUTPUTS.loss, ALIGN_OUTPUTS.loss]);
    return [o[TRAIN_OUTPUTS.loss]!.toNumbers()[0]!, o[ALIGN_OUTPUTS.loss]!.toNumbers()[0]!];
  };
  const rd = rng(23);
  let termCarries = 0;
  for (const name of names) {
    const g = out[paramGradName(name)]!.data as Float32Array;
    const base = PARAMS.get(name)!;
    // One random unit direction per parameter: its derivative from the graph and from differences.
    const d = Float64Array.from(base, () => gaussian(rd));
    const n = Math.sqrt(dot(d, d));
    const shifted = (s: number): Params => new Map([...PARAMS, [name, Float32Array.from(base, (v, k) => v + (s * d[k]!) / n)]]);
    const [plus, minus] = [await at(shifted(h)), await at(shifted(-h))];
    const numeric = (plus[0] - minus[0]) / (2 * h);
    // How much of the derivative the alignment term carries: the check must see second-order paths.
    if (WEIGHT * Math.abs(plus[1] - minus[1]) / (2 * h) > 0.2 * Math.abs(numeric)) termCarries++;
    const analytic = dot(g, d) / n;
    const gn = Math.sqrt(dot(g, g));
    assert.ok(Math.abs(analytic - numeric) <= 1e-2 * Math.max(Math.abs(numeric), Math.abs(analytic)) + 2e-3 * gn + 1e-5,
      `${name}: analytic ${analytic} vs central difference ${numeric} (|g| ${gn})`);
  }
  assert.ok(termCarries >= names.length / 2, `the alignment term carries a fifth of the derivative for only ${termCarries} of ${names.length} parameters`);
});

test('the same graph without the alignment term has the plain contrastive loss (the term is additive)', async () => {
  const plain = await Session.create(buildTrainModel(CFG, { batch: B, wrt: 'params' }), { device: 'cpu', intraOpThreads: 1 });
  try {
    const p = (await plain.run({
      ...paramTensors(CFG, PARAMS),
      [TRAIN_INPUTS.pixels]: new Tensor('float32', [B, 3, S, S], PIXELS),
      [TRAIN_INPUTS.ids]: Tensor.int64([B, CTX], IDS),
    }, [TRAIN_OUTPUTS.loss]))[TRAIN_OUTPUTS.loss]!.toNumbers()[0]!;
    const c = (await run(PARAMS, [TRAIN_OUTPUTS.contrastive]))[TRAIN_OUTPUTS.contrastive]!.toNumbers()[0]!;
    assert.ok(Math.abs(p - c) < 1e-6, `${p} vs ${c}`);
  }
  finally {
    await plain.release();
  }
});

test('a term with no items is refused by name', () => {
  assert.throws(() => buildTrainModel(CFG, { batch: B, wrt: 'params', align: 0.5 }), /at least 1 item/);
});
