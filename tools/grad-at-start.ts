/**
 * Where a Shapes pack's input gradient points at synthesis's start: for held-out-style captions,
 * the gradient of cos(image, caption) at a flat grey or a smooth-noise canvas, against the exact
 * direction to the caption's picture (render(t) − x). Cosines over the whole picture, over the
 * shapes' pixels only and over the background only: a model whose gradient draws shapes has a high
 * cosine on the shapes, not just overall.
 *
 * With --blur σ the canvas is instead the caption's own picture blurred (Gaussian, σ px): a coarse
 * blob of the right colour in the right cell, where synthesis is after its first steps, so the
 * gradient there must add the outline.
 *
 *   node --import tsx tools/grad-at-start.ts [--items 48] [--seed 77] [--blur σ] PACK...
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { GraphBuilder, type Value } from '../src/engine/onnx/builder.js';
import { gradients } from '../src/engine/onnx/autodiff.js';
import { Tensor } from '../src/engine/onnx/tensor.js';
import { Session } from '../src/engine/runtime.js';
import { visionTower, textTower } from '../src/engine/clip/towers.js';
import { expectedTensors } from '../src/engine/clip/layout.js';
import type { ClipConfig } from '../src/engine/clip/config.js';
import { alignItems, isShapePixel } from '../src/engine/shapes/align-items.js';
import { gaussianBlur } from '../src/engine/pag/blur.js';
import { SHAPES_VIT_CONFIG } from '../src/engine/shapes/model-config.js';
import { renderSceneFloat } from '../src/engine/shapes/render.js';
import { packParams, paramTensors } from '../src/engine/train/params.js';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { items: { type: 'string', default: '48' }, seed: { type: 'string', default: '77' }, blur: { type: 'string' } } });
const A = Number(values.items);
if (!Number.isInteger(A) || A < 1 || !positionals.length) {
  process.stderr.write('usage: grad-at-start.ts [--items N] [--seed N] PACK...\n');
  process.exit(2);
}
const S = 64;
const P = 3 * S * S;
// Starts only (α 0, no noise), never a near-miss picture: what synthesis begins from; targets are
// fresh random scenes (another seed than training's).
const items = alignItems(Number(values.seed), A, { size: S, alphaMax: 0, sigmaMax: 0, nearMiss: 0 });
const blurSigma = values.blur === undefined ? undefined : Number(values.blur);
if (blurSigma !== undefined && !(blurSigma > 0)) {
  process.stderr.write('grad-at-start: --blur must be a positive number of pixels\n');
  process.exit(2);
}
if (blurSigma !== undefined) {
  for (let i = 0; i < A; i++) {
    const truth = renderSceneFloat(items.targets[i]!, S);
    const x = Float32Array.from(truth);
    gaussianBlur(x, 3, S, S, blurSigma);
    items.pixels.set(x, i * P);
    for (let k = 0; k < P; k++) items.direction[i * P + k] = truth[k]! - x[k]!;
  }
}
const onShape = new Uint8Array(A * S * S);
for (let i = 0; i < A; i++) {
  const t = items.targets[i]!;
  const img = renderSceneFloat(t, S);
  for (let p = 0; p < S * S; p++) onShape[i * S * S + p] = isShapePixel(t, img, S, p) ? 1 : 0;
}

async function configOf(dir: string): Promise<ClipConfig> {
  const m = JSON.parse(await readFile(join(dir, 'clipag.json'), 'utf8')) as { config: { vision: { patchSize?: number } } };
  if (m.config.vision.patchSize === undefined) throw new Error(`${dir}: grad-at-start reads ViT packs only`);
  return { ...SHAPES_VIT_CONFIG, vision: { ...SHAPES_VIT_CONFIG.vision, patchSize: m.config.vision.patchSize } };
}

for (const dir of positionals) {
  const cfg = await configOf(dir);
  const ctx = cfg.text.contextLength;
  const b = new GraphBuilder(17);
  const x = b.input('x', 'float32', [A, 3, S, S]);
  const ids = b.input('ids', 'int64', [A, ctx]);
  const ps = new Map(expectedTensors(cfg).map((t) => [t.name, b.input(t.name, 'float32', [...t.shape])]));
  const w = (n: string): Value => ps.get(n)!;
  const mean = b.constant(Tensor.float32([1, 3, 1, 1], cfg.mean));
  const std = b.constant(Tensor.float32([1, 3, 1, 1], cfg.std));
  const unit = (v: Value): Value => v.div(b.reduce('ReduceSumSquare', v, [1], true).sqrt());
  const score = b.reduce('ReduceSum', unit(visionTower(b, x.sub(mean).div(std), cfg.vision, w)).mul(unit(textTower(b, ids, cfg.text, w))), [0, 1], false);
  b.output(gradients(b, score, [x])[0]!, 'g');
  const session = await Session.create(b.toModel(), { device: 'cpu' });
  const out = await session.run({ ...paramTensors(cfg, await packParams(dir, cfg)), x: new Tensor('float32', [A, 3, S, S], items.pixels), ids: new Tensor('int64', [A, ctx], items.ids) });
  const g = out.g!.data as Float32Array;
  const cos = { whole: [] as number[], shapes: [] as number[], background: [] as number[] };
  for (let i = 0; i < A; i++) {
    const acc = { whole: [0, 0, 0], shapes: [0, 0, 0], background: [0, 0, 0] };
    for (let c = 0; c < 3; c++) {
      for (let p = 0; p < S * S; p++) {
        const k = i * P + c * S * S + p;
        const [gv, dv] = [g[k]!, items.direction[k]!];
        for (const part of ['whole', onShape[i * S * S + p] ? 'shapes' : 'background'] as const) {
          acc[part][0]! += gv * dv;
          acc[part][1]! += gv * gv;
          acc[part][2]! += dv * dv;
        }
      }
    }
    for (const part of ['whole', 'shapes', 'background'] as const) cos[part].push(acc[part][0]! / Math.sqrt(acc[part][1]! * acc[part][2]! + 1e-30));
  }
  const mean2 = (xs: number[]): string => (xs.reduce((a, v) => a + v, 0) / xs.length).toFixed(3);
  console.log(JSON.stringify({ pack: dir, items: A, cosWhole: mean2(cos.whole), cosOnShapes: mean2(cos.shapes), cosOnBackground: mean2(cos.background) }));
}
