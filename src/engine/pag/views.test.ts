import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Tensor } from '../onnx/tensor.js';
import { gaussian, rng } from '../random.js';
import {
  normalNoise, resolveViewOptions, sampleStepViews, stepViewTensors,
  type StepViews, type ViewAugment, type ViewOptions,
} from './views.js';

// Matching DiffAugment and torch pixel for pixel: views-augment.test.ts and views-crops.test.ts.

describe('sampling the views', () => {
  const opts: ViewOptions = { canvas: 224, modelSize: 224, counts: { global: 16, patch: 16 } };

  it('draws every parameter from its range and distribution, one zoom per batch', () => {
    const rand = rng(1);
    const all: ViewAugment[] = [];
    const zooms: number[] = [];
    const crops: number[] = [];
    for (let s = 0; s < 400; s++) {
      const v = sampleStepViews(rand, opts);
      assert.equal(v.augment.length, 32);
      assert.equal(v.crops.length, 16);
      assert.notEqual(v.zoom.global, v.zoom.patch);
      zooms.push(v.zoom.global!, v.zoom.patch!);
      all.push(...v.augment);
      for (const c of v.crops) crops.push(c.top, c.left);
    }
    const stats = (xs: number[]): { min: number; max: number; mean: number } =>
      ({ min: Math.min(...xs), max: Math.max(...xs), mean: xs.reduce((a, b) => a + b, 0) / xs.length });
    const within = (xs: number[], lo: number, hi: number, what: string, slack: number): void => {
      const s = stats(xs);
      assert.ok(s.min >= lo && s.max < hi, `${what} in [${lo}, ${hi}): got [${s.min}, ${s.max}]`);
      assert.ok(s.min < lo + slack && s.max > hi - slack, `${what} should fill [${lo}, ${hi}): got [${s.min}, ${s.max}]`);
      assert.ok(Math.abs(s.mean - (lo + hi) / 2) < (hi - lo) * 0.02, `${what}: mean ${s.mean}, uniform's is ${(lo + hi) / 2}`);
    };
    within(all.map((a) => a.brightness), -0.5, 0.5, 'brightness', 0.01);
    within(all.map((a) => a.saturation), 0, 2, 'saturation', 0.01);
    within(all.map((a) => a.contrast), 0.5, 1.5, 'contrast', 0.01);
    within(zooms, 0.8, 1.2, 'zoom', 0.01);

    // Integers, uniform over their whole range including both ends.
    const uniformInts = (xs: number[], lo: number, hi: number, what: string): void => {
      const counts = new Map<number, number>();
      for (const x of xs) {
        assert.ok(Number.isInteger(x) && x >= lo && x <= hi, `${what}: ${x} outside [${lo}, ${hi}]`);
        counts.set(x, (counts.get(x) ?? 0) + 1);
      }
      const expected = xs.length / (hi - lo + 1);
      for (let k = lo; k <= hi; k++) {
        const n = counts.get(k) ?? 0;
        assert.ok(n > expected * 0.5 && n < expected * 1.5, `${what} = ${k} drawn ${n} times, expected about ${expected}`);
      }
    };
    uniformInts(all.flatMap((a) => [a.shiftRows, a.shiftCols]), -28, 28, 'shift');
    uniformInts(all.flatMap((a) => [a.cutoutRow, a.cutoutCol]), 0, 224, 'cutout offset');
    uniformInts(crops, 0, 224 - 128, 'crop corner');
  });

  it('derives the notebook sizes: crop 128, shift 28, cutout 112 at 224; crops scale with a larger canvas', () => {
    const o = resolveViewOptions(opts);
    assert.deepEqual([o.cropSize, o.maxShift, o.cutoutSize], [128, 28, 112]);
    const big = resolveViewOptions({ ...opts, canvas: 448 });
    assert.deepEqual([big.cropSize, big.maxShift, big.cutoutSize], [256, 28, 112]);
    const rand = rng(3);
    for (let s = 0; s < 50; s++) {
      for (const c of sampleStepViews(rand, { ...opts, canvas: 448 }).crops) assert.ok(c.top + 256 <= 448 && c.left + 256 <= 448, `crop at (${c.top}, ${c.left}) leaves the canvas`);
    }
  });

  it('is deterministic for a seed, views and tensors alike, and differs between seeds', () => {
    const small: ViewOptions = { canvas: 40, modelSize: 24, counts: { global: 3, patch: 2 } };
    const run = (seed: number): { views: StepViews; tensors: Record<string, Tensor> } => {
      const rand = rng(seed);
      const views = sampleStepViews(rand, small);
      return { views, tensors: stepViewTensors(views, small, () => gaussian(rand)) };
    };
    const a = run(42);
    const b = run(42);
    const c = run(43);
    assert.deepEqual(a.views, b.views);
    for (const k of Object.keys(a.tensors)) assert.deepEqual(a.tensors[k]!.data, b.tensors[k]!.data, k);
    assert.notDeepEqual(a.views, c.views);
    assert.notDeepEqual(a.tensors.noise_global!.data, c.tensors.noise_global!.data);
  });

  it('leaves the colours alone when colour augmentation is off', () => {
    const v = sampleStepViews(rng(5), { ...opts, color: false });
    assert.ok(v.augment.every((a) => a.brightness === 0 && a.saturation === 1 && a.contrast === 1), 'a colour factor was drawn');
  });

  it('draws no zoom for an empty batch', () => {
    assert.deepEqual(sampleStepViews(rng(1), { ...opts, counts: { global: 2, patch: 0 } }).zoom.patch, null);
    assert.deepEqual(sampleStepViews(rng(1), { ...opts, counts: { global: 0, patch: 2 } }).zoom.global, null);
  });

  it('rejects options that make no views', () => {
    assert.throws(() => sampleStepViews(rng(1), { ...opts, canvas: 200 }), /canvas must be an integer of at least the model size 224, got 200/);
    assert.throws(() => sampleStepViews(rng(1), { ...opts, counts: { global: 0, patch: 0 } }), /at least one view/);
    assert.throws(() => sampleStepViews(rng(1), { ...opts, counts: { global: -1, patch: 2 } }), /global view count/);
    assert.throws(() => sampleStepViews(rng(1), { ...opts, patchFraction: 0 }), /patch fraction/);
    assert.throws(() => sampleStepViews(rng(1), { ...opts, resizeRange: [1.2, 0.8] }), /resize range/);
  });
});

describe('the step graph inputs', () => {
  const shapes = (t: Record<string, Tensor>): Record<string, readonly number[]> =>
    Object.fromEntries(Object.entries(t).map(([k, v]) => [k, v.dims]));
  const tensorsFor = (opts: ViewOptions, gauss: () => number = () => 0): Record<string, Tensor> => {
    const rand = rng(9);
    return stepViewTensors(sampleStepViews(rand, opts), opts, gauss);
  };

  it('has the contract names and shapes when the canvas is the model size', () => {
    assert.deepEqual(shapes(tensorsFor({ canvas: 32, modelSize: 32, counts: { global: 3, patch: 2 } })), {
      noise_global: [3, 3, 32, 32], noise_patch: [1, 3, 32, 32], patch_rows: [2, 32, 32], patch_cols: [2, 32, 32],
      brightness: [5, 1, 1, 1], saturation: [5, 1, 1, 1], contrast: [5, 1, 1, 1],
      aug_rows: [5, 32, 32], aug_cols: [5, 32, 32], keep: [5, 1, 32, 32],
    });
  });

  it('adds the global resize when the canvas is larger', () => {
    assert.deepEqual(shapes(tensorsFor({ canvas: 48, modelSize: 32, counts: { global: 3, patch: 2 } })), {
      noise_global: [3, 3, 48, 48], global_rows: [3, 32, 48], global_cols: [3, 48, 32],
      noise_patch: [1, 3, 48, 48], patch_rows: [2, 32, 48], patch_cols: [2, 48, 32],
      brightness: [5, 1, 1, 1], saturation: [5, 1, 1, 1], contrast: [5, 1, 1, 1],
      aug_rows: [5, 32, 32], aug_cols: [5, 32, 32], keep: [5, 1, 32, 32],
    });
  });

  it('leaves out the inputs of an empty batch', () => {
    assert.deepEqual(Object.keys(tensorsFor({ canvas: 48, modelSize: 32, counts: { global: 2, patch: 0 } })).sort(),
      ['aug_cols', 'aug_rows', 'brightness', 'contrast', 'global_cols', 'global_rows', 'keep', 'noise_global', 'saturation']);
    assert.deepEqual(Object.keys(tensorsFor({ canvas: 48, modelSize: 32, counts: { global: 0, patch: 2 } })).sort(),
      ['aug_cols', 'aug_rows', 'brightness', 'contrast', 'keep', 'noise_patch', 'patch_cols', 'patch_rows', 'saturation']);
  });

  it('fills the noise from the gaussian source times the std, global views first, then the shared patch image', () => {
    let k = 0;
    const counter = (): number => ++k;
    const t = tensorsFor({ canvas: 8, modelSize: 8, counts: { global: 2, patch: 1 }, noiseStd: 0.5 }, counter);
    const g = t.noise_global!.data as Float32Array;
    const p = t.noise_patch!.data as Float32Array;
    assert.deepEqual([g[0], g[1], g.at(-1)], [0.5, 1, 0.5 * 2 * 3 * 64]);
    assert.deepEqual([p[0], p.at(-1)], [0.5 * (2 * 3 * 64 + 1), 0.5 * 3 * 3 * 64]);
    assert.equal(k, 3 * 3 * 64);
  });

  it('passes the colour factors through in view order', () => {
    const opts: ViewOptions = { canvas: 16, modelSize: 16, counts: { global: 2, patch: 1 } };
    const views = sampleStepViews(rng(2), opts);
    const t = stepViewTensors(views, opts, () => 0);
    assert.deepEqual(t.brightness!.data, Float32Array.from(views.augment, (a) => a.brightness));
    assert.deepEqual(t.saturation!.data, Float32Array.from(views.augment, (a) => a.saturation));
    assert.deepEqual(t.contrast!.data, Float32Array.from(views.augment, (a) => a.contrast));
  });

  it('reuses the previous step\'s buffers and writes the same tensors as fresh ones', () => {
    const opts: ViewOptions = { canvas: 40, modelSize: 24, counts: { global: 3, patch: 2 } };
    const rand = rng(8);
    const first = stepViewTensors(sampleStepViews(rand, opts), opts, normalNoise(rand));
    const second = sampleStepViews(rand, opts);
    const fresh = stepViewTensors(second, opts, normalNoise(rng(99)));
    const reused = stepViewTensors(second, opts, normalNoise(rng(99)), first);
    for (const k of Object.keys(fresh)) {
      assert.deepEqual(reused[k]!.dims, fresh[k]!.dims, k);
      assert.deepEqual(reused[k]!.data, fresh[k]!.data, k);
      assert.equal(reused[k]!.data, first[k]!.data, `${k} was not reused`);
    }
    // A different shape gets a new buffer rather than a wrong one.
    const more = { ...opts, counts: { global: 4, patch: 2 } };
    const other = stepViewTensors(sampleStepViews(rand, more), more, normalNoise(rand), first);
    assert.notEqual(other.aug_rows!.data, first.aug_rows!.data);
    assert.equal(other.noise_patch!.data, first.noise_patch!.data);
  });

  it('rejects views that do not fit the options', () => {
    const opts: ViewOptions = { canvas: 16, modelSize: 16, counts: { global: 2, patch: 1 } };
    const views = sampleStepViews(rng(2), opts);
    assert.throws(() => stepViewTensors(views, { ...opts, counts: { global: 1, patch: 1 } }, () => 0), /do not match 1 global \+ 1 patch/);
    const outside = { ...views, crops: [{ top: 9, left: 0 }] };
    assert.throws(() => stepViewTensors(outside, opts, () => 0), /patch crop 0 at \(9, 0\) of side 9 leaves the 16-px canvas/);
  });
});

function normalCdf(x: number): number {
  const z = Math.abs(x) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * z);
  const erf = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-z * z);
  return x >= 0 ? (1 + erf) / 2 : (1 - erf) / 2;
}

describe('normalNoise (the fast pixel noise)', () => {
  it('is standard normal: moments, CDF and both tails', () => {
    const n = 2_000_000;
    const out = new Float32Array(n);
    normalNoise(rng(11)).fill(out, 1);
    let m1 = 0;
    let m2 = 0;
    let m4 = 0;
    for (const x of out) { m1 += x; m2 += x * x; m4 += x ** 4; }
    m1 /= n; m2 /= n; m4 /= n;
    assert.ok(Math.abs(m1) < 0.003, `mean ${m1}`);
    assert.ok(Math.abs(m2 - 1) < 0.005, `variance ${m2}`);
    assert.ok(Math.abs(m4 / (m2 * m2) - 3) < 0.03, `kurtosis ${m4 / (m2 * m2)}`);
    const sorted = Float64Array.from(out).sort();
    for (const x of [-3, -2, -1, -0.5, -0.1, 0, 0.3, 1, 1.7, 2.5, 3]) {
      // Fraction of samples at or below x, by binary search.
      let lo = 0;
      let hi = n;
      while (lo < hi) { const mid = (lo + hi) >> 1; if (sorted[mid]! <= x) lo = mid + 1; else hi = mid; }
      assert.ok(Math.abs(lo / n - normalCdf(x)) < 0.0015, `P(X ≤ ${x}) = ${lo / n}, Φ = ${normalCdf(x)}`);
    }
    // Beyond the ziggurat's base (3.44) the samples come from the separate tail sampler.
    for (const [x, slack] of [[3.44262, 0.15], [4, 0.3]] as const) {
      const want = 2 * (1 - normalCdf(x)) * n;
      const got = out.reduce((c, v) => c + (Math.abs(v) > x ? 1 : 0), 0);
      assert.ok(Math.abs(got - want) < want * slack, `|X| > ${x}: ${got} samples, expected about ${want.toFixed(0)}`);
    }
  });

  it('scales by the std, reproduces from the seed and takes one draw of rand per fill', () => {
    let calls = 0;
    const base = rng(5);
    const counted = (): number => { calls++; return base(); };
    const a = new Float32Array(1000);
    const b = new Float32Array(1000);
    const src = normalNoise(counted);
    src.fill(a, 0.01);
    assert.equal(calls, 1);
    normalNoise(rng(5)).fill(b, 1);
    a.forEach((v, k) => assert.ok(Math.abs(v - b[k]! * 0.01) <= 1e-7 * Math.abs(v), `sample ${k}: ${v} vs ${b[k]! * 0.01}`));
    src.fill(b, 0.01);
    assert.notDeepEqual(a, b);
  });

  it('feeds the step tensors', () => {
    const opts: ViewOptions = { canvas: 32, modelSize: 32, counts: { global: 4, patch: 1 } };
    const rand = rng(3);
    const t = stepViewTensors(sampleStepViews(rand, opts), opts, normalNoise(rand));
    const g = t.noise_global!.data as Float32Array;
    const sd = Math.sqrt(g.reduce((s, v) => s + v * v, 0) / g.length);
    assert.ok(Math.abs(sd - 0.01) < 0.0005, `noise std ${sd}`);
    assert.notDeepEqual(t.noise_patch!.data, g.subarray(0, 3 * 32 * 32));
  });
});
