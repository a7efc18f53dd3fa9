import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decode, fixtures } from '../../../test/fixtures/pag-optim/load.js';
import { gaussian, rng } from '../random.js';
import { initCandidates, LOW_FREQUENCY_DEFAULTS, lowFrequencyNoise, upsampleBilinear } from './init.js';

/** Mean |difference| of horizontally and vertically neighbouring pixels of [3, size, size]. */
function neighbourDiff(x: Float32Array, size: number): number {
  let sum = 0;
  let n = 0;
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < size; y++) {
      for (let i = 0; i < size; i++) {
        const at = (c * size + y) * size + i;
        if (i + 1 < size) {
          sum += Math.abs(x[at + 1]! - x[at]!);
          n++;
        }
        if (y + 1 < size) {
          sum += Math.abs(x[at + size]! - x[at]!);
          n++;
        }
      }
    }
  }
  return sum / n;
}

function meanStd(xs: ArrayLike<number>): [number, number] {
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += xs[i]!;
  const m = s / xs.length;
  let v = 0;
  for (let i = 0; i < xs.length; i++) v += (xs[i]! - m) ** 2;
  return [m, Math.sqrt(v / xs.length)];
}

describe('upsampleBilinear', () => {
  for (const c of fixtures.upsample) {
    test(`${c.name}: F.interpolate(bilinear, align_corners=False)`, () => {
      const out = upsampleBilinear(decode(c.src), c.channels, c.in_size, c.out_size);
      const want = decode(c.out);
      assert.equal(out.length, want.length);
      let worst = 0;
      for (let i = 0; i < out.length; i++) worst = Math.max(worst, Math.abs(out[i]! - want[i]!));
      assert.ok(worst <= 1e-6, `max abs error ${worst}`);
    });
  }

  test('rejects a source of the wrong size', () => {
    assert.throws(() => upsampleBilinear(new Float32Array(10), 3, 2, 4), /10 values is not 3×2×2/);
  });
});

describe('lowFrequencyNoise', () => {
  const size = 64;

  test('is [3, size, size] in [0, 1]', () => {
    const r = rng(1);
    for (let k = 0; k < 8; k++) {
      // Wide spread and a far-off mean push many lattice values past the ends: clamping must hold.
      const x = lowFrequencyNoise(size, r, () => gaussian(r), k % 2 ? { std: 0.8, mean: 0.9 } : {});
      assert.equal(x.length, 3 * size * size);
      for (const v of x) assert.ok(v >= 0 && v <= 1, `value ${v}`);
    }
  });

  test('draws one rand() per channel, then 1 + 3 gaussians per lattice cell', () => {
    let uniforms = 0;
    let normals = 0;
    const r = rng(2);
    lowFrequencyNoise(20, () => (uniforms++, r()), () => (normals++, gaussian(r)), { grid: 5 });
    assert.deepEqual([uniforms, normals], [3, 4 * 25]);
  });

  test('is smooth: neighbouring pixels differ far less than in white noise of the same spread', () => {
    const r = rng(3);
    const x = lowFrequencyNoise(224, r, () => gaussian(r));
    const [, std] = meanStd(x);
    // |a - b| of independent N(·, σ²) pixels averages 2σ/√π.
    const white = (2 * std) / Math.sqrt(Math.PI);
    const smooth = neighbourDiff(x, 224);
    assert.ok(smooth < 0.1 * white, `neighbour difference ${smooth} vs white noise ${white}`);
  });

  test('has natural-image statistics on the lattice: mean ≈ 0.45, std ≈ 0.22, correlated channels', () => {
    // grid = size: the lattice itself, no interpolation.
    const g = 16;
    const r = rng(4);
    const values: number[] = [];
    let red = 0;
    let green = 0;
    let rg = 0;
    let rr = 0;
    let gg = 0;
    let n = 0;
    for (let k = 0; k < 400; k++) {
      const x = lowFrequencyNoise(g, r, () => gaussian(r), { grid: g });
      for (const v of x) values.push(v);
      for (let i = 0; i < g * g; i++) {
        red += x[i]!;
        green += x[g * g + i]!;
        rg += x[i]! * x[g * g + i]!;
        rr += x[i]! ** 2;
        gg += x[g * g + i]! ** 2;
        n++;
      }
    }
    const [mean, std] = meanStd(values);
    const { mean: m0, std: s0, colourOffset } = LOW_FREQUENCY_DEFAULTS;
    // Before clamping: std² = s0² + colourOffset²/3; clamping trims the tails a little.
    const unclamped = Math.sqrt(s0 ** 2 + colourOffset ** 2 / 3);
    assert.ok(Math.abs(mean - m0) < 0.01, `mean ${mean}`);
    assert.ok(std > 0.2 && std <= unclamped, `std ${std} (unclamped ${unclamped})`);
    const corr = (rg / n - (red / n) * (green / n)) /
      Math.sqrt((rr / n - (red / n) ** 2) * (gg / n - (green / n) ** 2));
    // ρ·s0² / (s0² + colourOffset²/3) = 0.67 before clamping.
    assert.ok(corr > 0.55 && corr < 0.8, `red–green correlation ${corr}`);
  });

  test('after upsampling the spread shrinks as interpolation averages, the mean stays', () => {
    const r = rng(5);
    const means: number[] = [];
    const stds: number[] = [];
    for (let k = 0; k < 40; k++) {
      const [m, s] = meanStd(lowFrequencyNoise(112, r, () => gaussian(r)));
      means.push(m);
      stds.push(s);
    }
    const [mean] = meanStd(means);
    const [spread] = meanStd(stds);
    assert.ok(Math.abs(mean - 0.45) < 0.03, `mean ${mean}`);
    // Within one image: the lattice variation (σ 0.2) shrinks by about √(4/9) under bilinear upsampling.
    assert.ok(spread > 0.1 && spread < 0.18, `within-image std ${spread}`);
  });

  test('grid 1 is one flat colour per channel; options change the result', () => {
    const r = rng(6);
    const x = lowFrequencyNoise(8, r, () => gaussian(r), { grid: 1 });
    for (let c = 0; c < 3; c++) assert.ok(x.subarray(c * 64, (c + 1) * 64).every((v) => v === x[c * 64]));
    const flat = lowFrequencyNoise(8, () => 0.5, () => 0, { mean: 0.3 });
    assert.ok(flat.every((v) => Math.abs(v - 0.3) < 1e-7), 'no noise and no cast: the mean everywhere');
  });

  test('rejects bad sizes and options', () => {
    const r = rng(7);
    const gauss = (): number => gaussian(r);
    assert.throws(() => lowFrequencyNoise(0, r, gauss), /size must be a positive integer/);
    assert.throws(() => lowFrequencyNoise(8, r, gauss, { grid: 2.5 }), /grid must be a positive integer/);
    assert.throws(() => lowFrequencyNoise(8, r, gauss, { std: -1 }), /std/);
    assert.throws(() => lowFrequencyNoise(8, r, gauss, { channelCorrelation: 2 }), /channelCorrelation/);
  });
});

describe('initCandidates', () => {
  test('is deterministic per seed, differs across seeds and across candidates', () => {
    const a = initCandidates(3, 32, 42);
    const b = initCandidates(3, 32, 42);
    const c = initCandidates(3, 32, 43);
    assert.equal(a.length, 3);
    assert.deepEqual(a, b);
    for (let i = 0; i < 3; i++) assert.notDeepEqual(a[i], c[i]);
    assert.notDeepEqual(a[0], a[1]);
    // The first candidates do not depend on how many are asked for.
    assert.deepEqual(initCandidates(1, 32, 42)[0], a[0]);
  });

  test('gives canvas-sized images in [0, 1] quickly', () => {
    const t = performance.now();
    const [x] = initCandidates(1, 224, 9);
    assert.ok(performance.now() - t < 1000);
    assert.equal(x!.length, 3 * 224 * 224);
    assert.ok(x!.every((v) => v >= 0 && v <= 1));
  });

  test('rejects a bad count', () => {
    assert.throws(() => initCandidates(0, 32, 1), /count must be a positive integer/);
  });
});
