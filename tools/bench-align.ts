/**
 * What does the gradient-alignment term cost a training step? Times the demo model's contrastive
 * training step (batch B, gradients for every parameter) against the same step with the alignment
 * term on A more items (their input gradient, then the parameter gradients through it: second
 * order), interleaved so that both see the same machine load: warm-up, then the median of --reps
 * pairs, and the median of the per-pair ratios.
 *
 *   node --import tsx tools/bench-align.ts [--tower resnet|vit] [--width N] [--patch-size P] [--batch 128] [--items 32] [--reps 7] [--threads 2] [--json]
 *
 * --width sizes the ResNet (its stem has width/2 channels; heads follow open_clip's width·32/64).
 */
import { parseArgs } from 'node:util';
import { Tensor } from '../src/engine/onnx/tensor.js';
import { Session } from '../src/engine/runtime.js';
import { alignItems } from '../src/engine/shapes/align-items.js';
import { makeHardBatch } from '../src/engine/shapes/batches.js';
import { SHAPES_CONV_CONFIG, SHAPES_RESNET_CONFIG, SHAPES_VIT_CONFIG } from '../src/engine/shapes/model-config.js';
import { ALIGN_INPUTS } from '../src/engine/train/align-term.js';
import type { ClipConfig } from '../src/engine/clip/config.js';
import { isResNet } from '../src/engine/clip/towers.js';
import { resnetShapeError } from '../src/engine/clip/tower-resnet.js';
import { buildTrainModel, paramGradName, TRAIN_INPUTS, TRAIN_OUTPUTS } from '../src/engine/train/contrastive-graph.js';
import { initParams, isBuffer, paramTensors } from '../src/engine/train/params.js';
import { median } from '../src/engine/stats.js';

const { values: v } = parseArgs({
  options: {
    tower: { type: 'string', default: 'resnet' },
    width: { type: 'string' },
    'patch-size': { type: 'string' },
    batch: { type: 'string', default: '128' },
    items: { type: 'string', default: '32' },
    reps: { type: 'string', default: '7' },
    threads: { type: 'string', default: '2' },
    json: { type: 'boolean', default: false },
  },
});

function fail(message: string): never {
  process.stderr.write(`bench-align: ${message}\n`);
  process.exit(2);
}
const int = (name: string, min: number): number => {
  const n = Number(v[name as keyof typeof v]);
  if (!Number.isInteger(n) || n < min) fail(`--${name} must be a whole number ≥ ${min}, got ${String(v[name as keyof typeof v])}`);
  return n;
};
if (v.tower !== 'resnet' && v.tower !== 'vit' && v.tower !== 'conv') fail(`--tower must be resnet, vit or conv, got ${v.tower}`);
const cfg: ClipConfig = ((): ClipConfig => {
  if (v.tower === 'conv') {
    if (v.width !== undefined || v['patch-size'] !== undefined) fail('--width and --patch-size are for --tower resnet and vit');
    return SHAPES_CONV_CONFIG;
  }
  if (v.tower === 'vit') {
    if (v.width !== undefined) fail('--width is for --tower resnet');
    if (v['patch-size'] === undefined) return SHAPES_VIT_CONFIG;
    const patchSize = int('patch-size', 1);
    if (SHAPES_VIT_CONFIG.vision.imageSize % patchSize !== 0) fail(`--patch-size must divide ${SHAPES_VIT_CONFIG.vision.imageSize}`);
    return { ...SHAPES_VIT_CONFIG, vision: { ...SHAPES_VIT_CONFIG.vision, patchSize } };
  }
  const base = SHAPES_RESNET_CONFIG;
  if (v.width === undefined || !isResNet(base.vision)) return base;
  const width = int('width', 2);
  const vision = { ...base.vision, width, heads: Math.max(1, Math.floor((width * 32) / 64)) };
  const problem = resnetShapeError(vision);
  if (problem) fail(`--width: ${problem}`);
  return { ...base, vision };
})();
const B = int('batch', 2);
const A = int('items', 1);
const reps = int('reps', 1);
const threads = int('threads', 1);
const S = cfg.vision.imageSize;
const ctx = cfg.text.contextLength;

async function main(): Promise<void> {
  const opts = { device: 'cpu' as const, intraOpThreads: threads };
  const plain = await Session.create(buildTrainModel(cfg, { batch: B, wrt: 'params' }), opts);
  const aligned = await Session.create(buildTrainModel(cfg, { batch: B, wrt: 'params', align: A }), opts);
  const params = initParams(cfg, 1);
  const batch = makeHardBatch(1, B, { size: S });
  const items = alignItems(2, A, { size: S });
  const feeds: Record<string, Tensor> = {
    ...paramTensors(cfg, params),
    [TRAIN_INPUTS.pixels]: new Tensor('float32', [B, 3, S, S], batch.pixels),
    [TRAIN_INPUTS.ids]: new Tensor('int64', [B, ctx], batch.ids),
  };
  const withItems = {
    ...feeds,
    [ALIGN_INPUTS.pixels]: new Tensor('float32', [A, 3, S, S], items.pixels),
    [ALIGN_INPUTS.ids]: new Tensor('int64', [A, ctx], items.ids),
    [ALIGN_INPUTS.direction]: new Tensor('float32', [A, 3, S, S], items.direction),
  };
  const outputs = [TRAIN_OUTPUTS.loss, ...[...params.keys()].filter((n) => !isBuffer(n)).map(paramGradName)];
  const time = async (s: Session, f: Record<string, Tensor>): Promise<number> => {
    const t = performance.now();
    await s.run(f, outputs);
    return performance.now() - t;
  };
  await time(plain, feeds);
  await time(aligned, withItems);
  const p: number[] = [];
  const a: number[] = [];
  for (let i = 0; i < reps; i++) {
    p.push(await time(plain, feeds));
    a.push(await time(aligned, withItems));
  }
  await plain.release();
  await aligned.release();
  const report = {
    tower: v.tower, width: 'width' in cfg.vision ? cfg.vision.width : null, batch: B, items: A, threads, reps,
    contrastiveMs: median(p), alignedMs: median(a), ratio: median(p.map((x, i) => a[i]! / x)),
  };
  if (v.json) process.stdout.write(`${JSON.stringify(report)}\n`);
  else {
    process.stdout.write(`${v.tower}${report.width === null ? '' : ` width ${report.width}`}, batch ${B} + ${A} alignment items, ${threads} threads, median of ${reps}: `
      + `contrastive step ${report.contrastiveMs.toFixed(0)} ms, with the alignment term ${report.alignedMs.toFixed(0)} ms, ratio ${report.ratio.toFixed(2)}\n`);
  }
}

main().catch((e: unknown) => fail(e instanceof Error ? e.message : String(e)));
