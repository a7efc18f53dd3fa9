import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import type { Tensor } from '../onnx/tensor.js';
import { gaussian, rng } from '../random.js';
import {
  normalNoise, resolveViewOptions, sampleStepViews, stepViewTensors, zoomedSize,
  type StepViews, type ViewAugment, type ViewOptions,
} from './views.js';

// Made by tools/torch/make_view_fixtures.py (torch's F.interpolate; see its docstring for the cases).
const fixtures = JSON.parse(readFileSync(new URL('../../../test/fixtures/pag/views.json', import.meta.url), 'utf8')) as {
  crops: { canvas: number; size: number; crop: number; top: number; left: number; antialias: boolean; out: string }[];
  globals: { canvas: number; size: number; out: string }[];
  geometry: { size: number; shiftRows: number; shiftCols: number; zoomed: number; out: string }[];
};

const float32 = (b64: string): Float32Array => {
  const buf = Buffer.from(b64, 'base64');
  return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
};

/** The fixture script's input: x[c, i, j] = ((7919c + 104729i + 1299709j) mod 1009) / 1009, float32. */
function pattern(side: number): Float32Array {
  const x = new Float32Array(3 * side * side);
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < side; i++) {
      for (let j = 0; j < side; j++) x[(c * side + i) * side + j] = ((7919 * c + 104729 * i + 1299709 * j) % 1009) / 1009;
    }
  }
  return x;
}

/**
 * R · X_c · C for every channel of X [3, H, W], with R [S, H] and C [W, S] read at view v of a
 * batched tensor; float64, skipping zeros (the matrices are sparse).
 */
function sandwich(rows: Tensor, x: Float32Array, cols: Tensor, v: number): Float64Array {
  const [, S, H] = rows.dims as [number, number, number];
  const W = cols.dims[1]!;
  const R = (rows.data as Float32Array).subarray(v * S * H, (v + 1) * S * H);
  const C = (cols.data as Float32Array).subarray(v * W * S, (v + 1) * W * S);
  const out = new Float64Array(3 * S * S);
  for (let ch = 0; ch < 3; ch++) {
    const rx = new Float64Array(S * W);
    for (let i = 0; i < S; i++) {
      for (let k = 0; k < H; k++) {
        const r = R[i * H + k]!;
        if (r === 0) continue;
        for (let l = 0; l < W; l++) rx[i * W + l]! += r * x[(ch * H + k) * W + l]!;
      }
    }
    for (let l = 0; l < W; l++) {
      for (let j = 0; j < S; j++) {
        const c = C[l * S + j]!;
        if (c === 0) continue;
        for (let i = 0; i < S; i++) out[(ch * S + i) * S + j]! += rx[i * W + l]! * c;
      }
    }
  }
  return out;
}

function assertClose(got: ArrayLike<number>, want: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  let worst = 0;
  let at = 0;
  for (let k = 0; k < got.length; k++) {
    const d = Math.abs(got[k]! - want[k]!);
    if (!(d <= worst)) { worst = d; at = k; }
  }
  assert.ok(worst <= tol, `${what}: element ${at} is ${got[at]}, expected ${want[at]} (|diff| ${worst} > ${tol})`);
}

const NEUTRAL: ViewAugment = { brightness: 0, saturation: 1, contrast: 1, shiftRows: 0, shiftCols: 0, cutoutRow: 0, cutoutCol: 0 };

/** A zoom ratio r with int(r·S) = n. */
const ratioFor = (n: number, S: number): number => (n + 0.5) / S;

/**
 * DiffAugment's translation, resize and pad/crop written out pixel by pixel from the recipe:
 * t[i, j] = x[i + tx, j + ty] (0 outside); y = bilinear resize of t to n × n (align_corners=False:
 * source = (k + ½)·S/n − ½ clamped at 0, neighbours clamped to the image); then zero-pad with
 * int((S − n)/2) before, or crop from int((n − S)/2).
 */
function referenceGeometry(x: Float32Array, S: number, tx: number, ty: number, n: number): Float64Array {
  const t = new Float64Array(3 * S * S);
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < S; i++) {
      for (let j = 0; j < S; j++) {
        const si = i + tx;
        const sj = j + ty;
        t[(c * S + i) * S + j] = si >= 0 && si < S && sj >= 0 && sj < S ? x[(c * S + si) * S + sj]! : 0;
      }
    }
  }
  const source = (k: number): [number, number, number] => {
    const s = Math.max((k + 0.5) * (S / n) - 0.5, 0);
    const a = Math.floor(s);
    return [a, Math.min(a + 1, S - 1), s - a];
  };
  const y = new Float64Array(3 * n * n);
  for (let c = 0; c < 3; c++) {
    for (let k = 0; k < n; k++) {
      const [r0, r1, lr] = source(k);
      for (let l = 0; l < n; l++) {
        const [c0, c1, lc] = source(l);
        const at = (r: number, q: number): number => t[(c * S + r) * S + q]!;
        y[(c * n + k) * n + l] = (1 - lr) * ((1 - lc) * at(r0, c0) + lc * at(r0, c1)) + lr * ((1 - lc) * at(r1, c0) + lc * at(r1, c1));
      }
    }
  }
  const out = new Float64Array(3 * S * S);
  const shift = n < S ? -Math.trunc((S - n) / 2) : Math.trunc((n - S) / 2);
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < S; i++) {
      for (let j = 0; j < S; j++) {
        const k = i + shift;
        const l = j + shift;
        if (k >= 0 && k < n && l >= 0 && l < n) out[(c * S + i) * S + j] = y[(c * n + k) * n + l]!;
      }
    }
  }
  return out;
}

/** DiffAugment's cutout mask, literally: grid rows/cols offset + k − ⌊c/2⌋ for k < c, clamped into the image, set to 0. */
function referenceKeep(S: number, c: number, row: number, col: number): Float32Array {
  const keep = new Float32Array(S * S).fill(1);
  const clamp = (v: number): number => Math.min(Math.max(v, 0), S - 1);
  for (let k = 0; k < c; k++) {
    for (let l = 0; l < c; l++) keep[clamp(row + k - Math.floor(c / 2)) * S + clamp(col + l - Math.floor(c / 2))] = 0;
  }
  return keep;
}

describe('DiffAugment geometry as aug_rows · x · aug_cols', () => {
  for (const g of fixtures.geometry) {
    it(`matches torch for S=${g.size}, shift (${g.shiftRows}, ${g.shiftCols}), zoom to ${g.zoomed}`, () => {
      const S = g.size;
      const opts: ViewOptions = { canvas: S, modelSize: S, counts: { global: 1, patch: 0 } };
      const zoom = ratioFor(g.zoomed, S);
      assert.equal(zoomedSize(zoom, S), g.zoomed);
      const views: StepViews = { augment: [{ ...NEUTRAL, shiftRows: g.shiftRows, shiftCols: g.shiftCols }], crops: [], zoom: { global: zoom, patch: null } };
      const t = stepViewTensors(views, opts, () => 0);
      assertClose(sandwich(t.aug_rows!, pattern(S), t.aug_cols!, 0), float32(g.out), 1e-6, 'augmented view');
    });
  }

  it('matches a pixel-by-pixel DiffAugment for random and extreme shifts and zooms', () => {
    const rand = rng(7);
    for (const [S, G, P] of [[20, 5, 4], [33, 4, 3], [224, 2, 2]] as const) {
      const o = resolveViewOptions({ canvas: S, modelSize: S, counts: { global: G, patch: P } });
      const m = o.maxShift;
      const x = Float32Array.from({ length: 3 * S * S }, () => rand());
      // The two batches' zooms are the range's ends (int(0.8·S) and the largest int(r·S) with r < 1.2).
      const zoom = { global: 0.8, patch: 1.2 - 1e-9 };
      const shifts: [number, number][] = [[m, -m], [-m, m], [m, m], [-m, -m], [0, 0], [S - 1, 2 - S]];
      const augment = Array.from({ length: G + P }, (_, v): ViewAugment => {
        const [r, c] = shifts[v] ?? [Math.floor(rand() * (2 * m + 1)) - m, Math.floor(rand() * (2 * m + 1)) - m];
        return { ...NEUTRAL, shiftRows: r, shiftCols: c };
      });
      const views: StepViews = { augment, crops: Array.from({ length: P }, () => ({ top: 0, left: 0 })), zoom };
      const t = stepViewTensors(views, { canvas: S, modelSize: S, counts: { global: G, patch: P } }, () => 0);
      for (let v = 0; v < G + P; v++) {
        const n = zoomedSize(v < G ? zoom.global : zoom.patch, S);
        const want = referenceGeometry(x, S, augment[v]!.shiftRows, augment[v]!.shiftCols, n);
        // Torch (and so aug_rows/cols) rounds the scale S/n to float32, which moves a source position by up to
        // ~S·6e-8 px; on this noise image that is the whole difference from exact arithmetic.
        assertClose(sandwich(t.aug_rows!, x, t.aug_cols!, v), want, 1e-7 * S, `S=${S} view ${v} (zoom to ${n})`);
      }
    }
  });
});

describe('cutout as keep', () => {
  const cases: [number, number | undefined, [number, number][]][] = [
    // S, cutout ratio, offsets (row, col): the edges, the centre, just inside.
    [224, undefined, [[0, 0], [224, 224], [0, 224], [112, 5], [223, 1], [56, 168]]],
    [21, 0.5, [[0, 20], [20, 0], [10, 10], [5, 15]]], // c = 11, odd: offsets 0 … 20
    [20, 0.3, [[0, 0], [20, 20], [3, 17], [10, 1]]], // c = 6
  ];
  for (const [S, ratio, offsets] of cases) {
    it(`equals DiffAugment's clamped grid (S=${S}, ratio ${ratio ?? 0.5})`, () => {
      const opts: ViewOptions = { canvas: S, modelSize: S, counts: { global: offsets.length, patch: 0 }, ...(ratio === undefined ? {} : { cutoutRatio: ratio }) };
      const c = resolveViewOptions(opts).cutoutSize;
      const augment = offsets.map(([r, q]) => ({ ...NEUTRAL, cutoutRow: r, cutoutCol: q }));
      const keep = stepViewTensors({ augment, crops: [], zoom: { global: 1, patch: null } }, opts, () => 0).keep!;
      assert.deepEqual(keep.dims, [offsets.length, 1, S, S]);
      offsets.forEach(([r, q], v) => {
        const got = (keep.data as Float32Array).subarray(v * S * S, (v + 1) * S * S);
        assert.deepEqual(got, referenceKeep(S, c, r, q), `offsets (${r}, ${q})`);
      });
    });
  }

  it('zeroes a 112-px square at 224 when inside, and only its inside part at the edges', () => {
    const opts: ViewOptions = { canvas: 224, modelSize: 224, counts: { global: 2, patch: 0 } };
    const augment = [{ ...NEUTRAL, cutoutRow: 112, cutoutCol: 112 }, { ...NEUTRAL, cutoutRow: 0, cutoutCol: 224 }];
    const keep = stepViewTensors({ augment, crops: [], zoom: { global: 1, patch: null } }, opts, () => 0).keep!.data as Float32Array;
    const zeros = (v: number): number => keep.subarray(v * 224 * 224, (v + 1) * 224 * 224).reduce((s, k) => s + (k === 0 ? 1 : 0), 0);
    assert.equal(zeros(0), 112 * 112);
    assert.equal(zeros(1), 56 * 56);
  });

  it('keeps everything when the cutout ratio is 0', () => {
    const opts: ViewOptions = { canvas: 16, modelSize: 16, counts: { global: 1, patch: 0 }, cutoutRatio: 0 };
    const keep = stepViewTensors({ augment: [{ ...NEUTRAL, cutoutRow: 8, cutoutCol: 8 }], crops: [], zoom: { global: 1, patch: null } }, opts, () => 0).keep!;
    assert.ok((keep.data as Float32Array).every((k) => k === 1), 'some pixel was cut out');
  });
});

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

describe('patch crops and the global resize match torch', () => {
  for (const f of fixtures.crops) {
    it(`crop ${f.crop} px at (${f.top}, ${f.left}) of a ${f.canvas}-px canvas, resized to ${f.size}${f.antialias ? ' (antialiased)' : ''}`, () => {
      const opts: ViewOptions = { canvas: f.canvas, modelSize: f.size, counts: { global: 0, patch: 1 }, patchFraction: f.crop / f.canvas };
      assert.equal(resolveViewOptions(opts).cropSize, f.crop);
      const views: StepViews = { augment: [NEUTRAL], crops: [{ top: f.top, left: f.left }], zoom: { global: null, patch: 1 } };
      const t = stepViewTensors(views, opts, () => 0);
      assertClose(sandwich(t.patch_rows!, pattern(f.canvas), t.patch_cols!, 0), float32(f.out), 1e-6, 'patch view');
    });
  }

  it('crops 128 of 224 and resizes to 224 as the notebook does (one crop reproduced by hand)', () => {
    const opts: ViewOptions = { canvas: 224, modelSize: 224, counts: { global: 0, patch: 1 } };
    const views: StepViews = { augment: [NEUTRAL], crops: [{ top: 96, left: 13 }], zoom: { global: null, patch: 1 } };
    const t = stepViewTensors(views, opts, () => 0);
    const R = t.patch_rows!.data as Float32Array;
    // Output row 0 reads crop row 0 (source −0.21 clamps to 0): canvas row 96, weight 1.
    assert.equal(R[96], 1);
    // Output row 100: source 100.5·128/224 − ½ = 56.93 → rows 96 + 56 and 96 + 57 with 0.07 / 0.93
    // (to 1e-5: torch, and so we, round the scale 128/224 to float32, which moves the source by 2e-6).
    const lambda = 100.5 * 128 / 224 - 0.5 - 56;
    assertClose([R[100 * 224 + 152]!, R[100 * 224 + 153]!], [1 - lambda, lambda], 1e-5, 'row 100');
    const C = t.patch_cols!.data as Float32Array;
    // The first output column reads crop column 0; the last one lies past the crop's last centre and reads it alone.
    assertClose([C[13 * 224 + 0]!, C[(13 + 127) * 224 + 223]!], [1, 1], 1e-7, 'edge columns');
  });

  for (const f of fixtures.globals) {
    it(`global views see the whole ${f.canvas}-px canvas resized to ${f.size} (antialiased)`, () => {
      const opts: ViewOptions = { canvas: f.canvas, modelSize: f.size, counts: { global: 2, patch: 0 } };
      const t = stepViewTensors(sampleStepViews(rng(4), opts), opts, () => 0);
      if (f.canvas === f.size) {
        assert.equal(t.global_rows, undefined);
        assertClose(pattern(f.canvas), float32(f.out), 0, 'torch leaves a same-size image alone');
        return;
      }
      for (const v of [0, 1]) assertClose(sandwich(t.global_rows!, pattern(f.canvas), t.global_cols!, v), float32(f.out), 1e-6, `global view ${v}`);
    });
  }
});

/** Φ, the standard normal CDF, from Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7). */
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
