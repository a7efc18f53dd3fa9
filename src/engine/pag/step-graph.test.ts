import assert from 'node:assert/strict';
import { test } from 'node:test';
import { visionModel } from '../clip/graphs.js';
import type { ClipConfig } from '../clip/config.js';
import { randomTensors } from '../clip/towers.js';
import { Tensor } from '../onnx/tensor.js';
import { gaussian, rng } from '../random.js';
import { Session } from '../runtime.js';
import { buildStepModel, STEP_OUTPUTS, type StepShape } from './step-graph.js';

const S = 16;
const cfg: ClipConfig = {
  arch: 'custom',
  embedDim: 8,
  vision: { imageSize: S, patchSize: 8, width: 16, layers: 1, heads: 2, outputDim: 8, act: 'gelu' },
  text: { contextLength: 8, vocabSize: 10, width: 8, layers: 1, heads: 2, outputDim: 8, act: 'gelu' },
  mean: [0.48, 0.46, 0.41],
  std: [0.27, 0.26, 0.28],
};
const source = randomTensors({ seed: 3, std: 0.2 });

/** Random non-negative [N, a, b] matrices whose entries sum to 1 along `axis` (1: over a, 2: over b). */
function averaging(dims: [number, number, number], axis: 1 | 2, r: () => number): Tensor {
  const [n, a, b] = dims;
  const m = Array.from({ length: n * a * b }, () => r());
  for (let k = 0; k < n; k++) {
    for (let i = 0; i < (axis === 2 ? a : b); i++) {
      const idx = (j: number): number => (axis === 2 ? (k * a + i) * b + j : (k * a + j) * b + i);
      let sum = 0;
      for (let j = 0; j < (axis === 2 ? b : a); j++) sum += m[idx(j)]!;
      for (let j = 0; j < (axis === 2 ? b : a); j++) m[idx(j)]! /= sum;
    }
  }
  return Tensor.float32(dims, m);
}

function randomFeeds(shape: StepShape, seed: number): Record<string, Tensor> {
  const r = rng(seed);
  const g = (dims: number[], scale = 1, offset = 0): Tensor =>
    Tensor.float32(dims, Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => offset + scale * gaussian(r)));
  const H = shape.canvas;
  const V = shape.global + shape.patch;
  const feeds: Record<string, Tensor> = {
    image: Tensor.float32([1, 3, H, H], Array.from({ length: 3 * H * H }, () => 0.2 + 0.6 * r())),
    brightness: g([V, 1, 1, 1], 0.3), saturation: g([V, 1, 1, 1], 0.3, 1), contrast: g([V, 1, 1, 1], 0.2, 1),
    // Dense random matrices: the graph's algebra is what is checked, not DiffAugment's sampling.
    aug_rows: g([V, S, S], 0.2), aug_cols: g([V, S, S], 0.2),
    keep: Tensor.float32([V, 1, S, S], Array.from({ length: V * S * S }, () => (r() < 0.8 ? 1 : 0))),
    target: g([shape.targets, cfg.embedDim]),
    weights: g([V, shape.targets], 0.5),
  };
  if (shape.global > 0) {
    feeds.noise_global = g([shape.global, 3, H, H], 0.01);
    if (H !== S) {
      feeds.global_rows = g([shape.global, S, H], 0.2);
      feeds.global_cols = g([shape.global, H, S], 0.2);
    }
  }
  if (shape.patch > 0) {
    feeds.noise_patch = g([1, 3, H, H], 0.01);
    // Averaging matrices (like interpolation: non-negative, summing to 1) keep crops inside (0, 1), away
    // from the clamp's kinks, where a finite difference would not be meaningful.
    feeds.patch_rows = averaging([shape.patch, S, H], 2, r);
    feeds.patch_cols = averaging([shape.patch, H, S], 1, r);
  }
  return feeds;
}

/** The documented per-view pipeline, written out in plain loops (independent of the graph). */
function viewsByHand(f: Record<string, Tensor>, shape: StepShape): Float32Array {
  const H = shape.canvas;
  const V = shape.global + shape.patch;
  const at = (t: Tensor, ...idx: number[]): number => {
    let o = 0;
    for (let k = 0; k < idx.length; k++) o = o * t.dims[k]! + idx[k]!;
    return Number(t.data[o]);
  };
  const out = new Float32Array(V * 3 * S * S);
  for (let v = 0; v < V; v++) {
    const isGlobal = v < shape.global;
    const p = v - shape.global;
    const a = new Float64Array(3 * S * S);
    for (let c = 0; c < 3; c++) {
      const src = (y: number, x: number): number =>
        at(f.image!, 0, c, y, x) + (isGlobal ? at(f.noise_global!, v, c, y, x) : at(f.noise_patch!, 0, c, y, x));
      const R = isGlobal ? f.global_rows : f.patch_rows;
      const C = isGlobal ? f.global_cols : f.patch_cols;
      const vi = isGlobal ? v : p;
      for (let i = 0; i < S; i++) {
        for (let j = 0; j < S; j++) {
          let s = 0;
          if (R && C) {
            for (let y = 0; y < H; y++) for (let x = 0; x < H; x++) s += at(R, vi, i, y) * src(y, x) * at(C, vi, x, j);
          } else {
            s = src(i, j);
          }
          a[(c * S + i) * S + j] = isGlobal ? s : Math.min(1, Math.max(0, s));
        }
      }
    }
    const br = at(f.brightness!, v, 0, 0, 0);
    for (let k = 0; k < a.length; k++) a[k]! += br;
    const sat = at(f.saturation!, v, 0, 0, 0);
    for (let k = 0; k < S * S; k++) {
      const m = (a[k]! + a[S * S + k]! + a[2 * S * S + k]!) / 3;
      for (let c = 0; c < 3; c++) a[c * S * S + k] = (a[c * S * S + k]! - m) * sat + m;
    }
    const con = at(f.contrast!, v, 0, 0, 0);
    const m = a.reduce((x, y) => x + y, 0) / a.length;
    for (let k = 0; k < a.length; k++) a[k] = (a[k]! - m) * con + m;
    for (let c = 0; c < 3; c++) {
      for (let i = 0; i < S; i++) {
        for (let j = 0; j < S; j++) {
          let s = 0;
          for (let y = 0; y < S; y++) for (let x = 0; x < S; x++) s += at(f.aug_rows!, v, i, y) * a[(c * S + y) * S + x]! * at(f.aug_cols!, v, x, j);
          out[((v * 3 + c) * S + i) * S + j] = ((s * at(f.keep!, v, 0, i, j)) - cfg.mean[c]!) / cfg.std[c]!;
        }
      }
    }
  }
  return out;
}

async function lossByHand(f: Record<string, Tensor>, shape: StepShape): Promise<{ loss: number; cos: number[] }> {
  const V = shape.global + shape.patch;
  const tower = await Session.create(visionModel(cfg, source), { device: 'cpu' });
  const emb = (await tower.run({ pixels: new Tensor('float32', [V, 3, S, S], viewsByHand(f, shape)) })).embedding!;
  await tower.release();
  const E = cfg.embedDim;
  const cos: number[] = [];
  let loss = 0;
  for (let v = 0; v < V; v++) {
    const e = Array.from({ length: E }, (_, k) => Number(emb.data[v * E + k]));
    const ne = Math.hypot(...e);
    for (let t = 0; t < shape.targets; t++) {
      let dot = 0;
      for (let k = 0; k < E; k++) dot += (e[k]! / ne) * Number(f.target!.data[t * E + k]);
      cos.push(dot);
      loss += Number(f.weights!.data[v * shape.targets + t]) * (1 - dot);
    }
  }
  return { loss, cos };
}

for (const shape of [
  { canvas: S, global: 2, patch: 2, targets: 1 },
  { canvas: 24, global: 1, patch: 2, targets: 2 },
  { canvas: S, global: 3, patch: 0, targets: 1 },
  { canvas: 20, global: 0, patch: 2, targets: 1 },
] satisfies StepShape[]) {
  test(`step graph (canvas ${shape.canvas}, ${shape.global}+${shape.patch} views, ${shape.targets} targets): loss and cos as computed by hand; gradient matches a finite difference`, async () => {
    const s = await Session.create(buildStepModel(cfg, shape, source), { device: 'cpu', intraOpThreads: 1 });
    const feeds = randomFeeds(shape, 7 + shape.canvas + shape.global);
    const out = await s.run(feeds);
    const want = await lossByHand(feeds, shape);
    const loss = Number(out[STEP_OUTPUTS.loss]!.data[0]);
    assert.ok(Math.abs(loss - want.loss) <= 1e-4 * Math.max(1, Math.abs(want.loss)), `loss ${loss} vs ${want.loss}`);
    want.cos.forEach((c, i) => assert.ok(Math.abs(Number(out[STEP_OUTPUTS.cos]!.data[i]) - c) < 1e-4, `cos ${i}`));

    // Directional derivative along a random direction d: (L(x+εd) − L(x−εd)) / 2ε ≈ ⟨∇L, d⟩.
    const grad = out[STEP_OUTPUTS.grad]!.data as Float32Array;
    const x = feeds.image!.data as Float32Array;
    const r = rng(99);
    const d = Float32Array.from(x, () => gaussian(r));
    const eps = 1e-2;
    const at = async (sign: number): Promise<number> => {
      const moved = Float32Array.from(x, (v, i) => v + sign * eps * d[i]!);
      return Number((await s.run({ ...feeds, image: new Tensor('float32', feeds.image!.dims, moved) }))[STEP_OUTPUTS.loss]!.data[0]);
    };
    const numeric = ((await at(1)) - (await at(-1))) / (2 * eps);
    let analytic = 0;
    for (let i = 0; i < d.length; i++) analytic += grad[i]! * d[i]!;
    assert.ok(Math.abs(numeric - analytic) <= 2e-2 * Math.max(Math.abs(analytic), 1e-3), `directional derivative ${numeric} vs ${analytic}`);
    await s.release();
  });
}

/** Per-picture feeds stacked along the first axis, as views.ts's gridViewTensors lays them out; target shared. */
function stacked(feeds: Record<string, Tensor>[]): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const name of Object.keys(feeds[0]!)) {
    if (name === 'target') {
      out[name] = feeds[0]![name]!;
      continue;
    }
    const parts = feeds.map((f) => f[name]!);
    const data = new Float32Array(parts.reduce((n, t) => n + t.data.length, 0));
    parts.reduce((o, t) => (data.set(t.data as Float32Array, o), o + t.data.length), 0);
    out[name] = new Tensor('float32', [parts.reduce((n, t) => n + t.dims[0]!, 0), ...parts[0]!.dims.slice(1)], data);
  }
  return out;
}

for (const shape of [
  { canvas: S, global: 2, patch: 1, targets: 2 },
  { canvas: 24, global: 1, patch: 2, targets: 1 },
  { canvas: 20, global: 0, patch: 2, targets: 1 },
] satisfies StepShape[]) {
  test(`a grid's step graph (canvas ${shape.canvas}, ${shape.global}+${shape.patch} views, 3 pictures) gives each picture what its own graph gives it`, async () => {
    const one = await Session.create(buildStepModel(cfg, shape, source), { device: 'cpu', intraOpThreads: 1 });
    const grid = await Session.create(buildStepModel(cfg, { ...shape, pictures: 3 }, source), { device: 'cpu', intraOpThreads: 1 });
    const feeds = [0, 1, 2].map((n) => randomFeeds(shape, 31 + n));
    // One target for all pictures, as a grid's prompt is.
    for (const f of feeds) f.target = feeds[0]!.target!;
    const together = await grid.run(stacked(feeds));
    const losses = together[STEP_OUTPUTS.loss]!;
    assert.deepEqual(losses.dims, [3]);
    const plane = 3 * shape.canvas * shape.canvas;
    const rows = (shape.global + shape.patch) * shape.targets;
    for (let n = 0; n < 3; n++) {
      const alone = await one.run(feeds[n]!);
      const close = (a: number, b: number): boolean => Math.abs(a - b) <= 1e-5 * Math.max(1, Math.abs(b));
      assert.ok(close(Number(losses.data[n]), Number(alone[STEP_OUTPUTS.loss]!.data[0])), `picture ${n} loss`);
      const cos = together[STEP_OUTPUTS.cos]!.data as Float32Array;
      (alone[STEP_OUTPUTS.cos]!.data as Float32Array).forEach((c, i) => assert.ok(close(cos[n * rows + i]!, c), `picture ${n} cos ${i}`));
      const grad = (together[STEP_OUTPUTS.grad]!.data as Float32Array).subarray(n * plane, (n + 1) * plane);
      const want = alone[STEP_OUTPUTS.grad]!.data as Float32Array;
      const scale = Math.max(...want.map(Math.abs));
      want.forEach((g, i) => assert.ok(Math.abs(grad[i]! - g) <= 1e-4 * scale, `picture ${n} grad ${i}: ${grad[i]} vs ${g}`));
    }
    await one.release();
    await grid.release();
  });
}
