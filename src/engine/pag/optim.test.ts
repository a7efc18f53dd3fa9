import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { array, decode, fixtures, isSampled, type Sampled, type Stored } from '../../../test/fixtures/pag-optim/load.js';
import { rng } from '../random.js';
import { AdamW, assertFinite, clampUnit, clipGradNorm, dynamicThreshold, gradNorm, normalizedStep, quantile } from './optim.js';

// Expected values: tools/torch/make_optim_fixtures.py, torch 1.13 on the CPU in float32.

/** Largest |a - e| / |e| (|a - e| where e is 0). */
function maxRelative(a: Float32Array, e: Float32Array): number {
  assert.equal(a.length, e.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - e[i]!);
    worst = Math.max(worst, e[i] === 0 ? d : d / Math.abs(e[i]!));
  }
  return worst;
}

/** Compares against a stored array, or against every k-th value and the float64 sum of a sampled one. */
function assertMatches(actual: Float32Array, expected: Stored | Sampled, tol: number, what: string): void {
  if (!isSampled(expected)) {
    const err = maxRelative(actual, decode(expected));
    assert.ok(err <= tol, `${what}: max relative error ${err} > ${tol}`);
    return;
  }
  const e = decode(expected);
  const picked = Float32Array.from(e, (_, k) => actual[k * expected.every]!);
  const err = maxRelative(picked, e);
  assert.ok(err <= tol, `${what}: max relative error ${err} > ${tol} at sampled indices`);
  let sum = 0;
  for (const v of actual) sum += v;
  assert.ok(Math.abs(sum - expected.sum) <= tol * Math.abs(expected.sum) + 1e-9, `${what}: sum ${sum} ≠ ${expected.sum}`);
}

/**
 * Linear-interpolation quantile from a full sort with float64 interpolation (an independent check
 * of selection). The rank stays float32 as torch's: p·(n-1) rounded can land on the next integer.
 */
function sortedQuantile(values: Float32Array, p: number): number {
  const s = Float64Array.from(values).sort();
  const rank = Math.fround(Math.fround(p) * (s.length - 1));
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return s[lo]! + (rank - lo) * (s[hi]! - s[lo]!);
}

describe('AdamW', () => {
  for (const c of fixtures.adamw) {
    test(`${c.name}: 10 steps as torch.optim.AdamW (lr ${c.lr}, wd ${c.weight_decay}, betas ${c.betas}, eps ${c.eps})`, () => {
      const x = decode(c.init);
      const opt = new AdamW(x.length, { lr: c.lr, betas: c.betas, eps: c.eps, weightDecay: c.weight_decay });
      c.grads.forEach((g, k) => {
        const grad = decode(g);
        const before = grad.slice();
        opt.step(x, grad);
        assert.equal(opt.t, k + 1);
        assert.deepEqual(grad, before, 'the gradient is left alone');
        const err = maxRelative(x, decode(c.params[k]!));
        assert.ok(err <= 1e-6, `step ${k + 1}: max relative error ${err}`);
      });
    });
  }

  test('defaults are torch’s: betas (0.9, 0.999), eps 1e-8, weight decay 0.01', () => {
    const c = fixtures.adamw.find((a) => a.name === 'recipe')!;
    assert.deepEqual([c.betas, c.eps, c.weight_decay], [[0.9, 0.999], 1e-8, 0.01]);
    const x = decode(c.init);
    const opt = new AdamW(x.length, { lr: c.lr });
    for (const g of c.grads) opt.step(x, decode(g));
    assert.deepEqual(x, decode(c.params.at(-1)!));
  });

  test('each instance keeps its own moments', () => {
    const c = fixtures.adamw[0]!;
    const a = decode(c.init);
    const b = decode(c.init);
    const oa = new AdamW(a.length, { lr: c.lr });
    const ob = new AdamW(b.length, { lr: c.lr });
    oa.step(a, decode(c.grads[0]!));
    oa.step(a, decode(c.grads[1]!));
    ob.step(b, decode(c.grads[0]!));
    assert.equal(ob.t, 1);
    ob.step(b, decode(c.grads[1]!));
    assert.deepEqual(a, b);
  });

  test('rejects mismatched sizes and bad options', () => {
    const opt = new AdamW(4, { lr: 0.1 });
    assert.throws(() => opt.step(new Float32Array(4), new Float32Array(3)), /expected 4 values/);
    assert.throws(() => opt.step(new Float32Array(5), new Float32Array(5)), /expected 4 values/);
    assert.equal(opt.t, 0);
    assert.throws(() => new AdamW(0, { lr: 0.1 }), /size/);
    assert.throws(() => new AdamW(4, { lr: NaN }), /lr/);
    assert.throws(() => new AdamW(4, { lr: 0.1, betas: [1, 0.999] }), /beta1/);
    assert.throws(() => new AdamW(4, { lr: 0.1, betas: [0.9, -0.1] }), /beta2/);
    assert.throws(() => new AdamW(4, { lr: 0.1, eps: -1 }), /eps/);
    assert.throws(() => new AdamW(4, { lr: 0.1, weightDecay: -1 }), /weightDecay/);
  });
});

describe('normalised gradient step', () => {
  test('moves x against g by lr per pixel in root-mean-square, whatever the gradient\'s scale', () => {
    const r = rng(5);
    const x0 = Float32Array.from({ length: 300 }, () => r());
    const g = Float32Array.from({ length: 300 }, () => r() - 0.5);
    for (const scale of [1e-6, 1, 1e4]) {
      const x = x0.slice();
      normalizedStep(x, g.map((v) => v * scale), 0.02);
      // Independently: the step is −lr·g/‖g‖·√n, so its RMS is lr and it is parallel to −g.
      let ss = 0;
      let dot = 0;
      let gg = 0;
      for (let i = 0; i < x.length; i++) {
        const d = x[i]! - x0[i]!;
        ss += d * d;
        dot += d * g[i]!;
        gg += g[i]! * g[i]!;
      }
      assert.ok(Math.abs(Math.sqrt(ss / x.length) - 0.02) < 1e-6, `scale ${scale}: RMS step ${Math.sqrt(ss / x.length)}`);
      assert.ok(Math.abs(dot / Math.sqrt(ss * gg) + 1) < 1e-5, 'the step is opposite to the gradient');
    }
  });

  test('a zero gradient leaves x alone; mismatched sizes are refused', () => {
    const x = Float32Array.of(0.2, 0.4);
    normalizedStep(x, new Float32Array(2), 0.5);
    assert.deepEqual([...x], [0.2, 0.4].map(Math.fround));
    assert.throws(() => normalizedStep(x, new Float32Array(3), 0.1), /2 pixels, 3 gradient values/);
  });
});

describe('gradient norm clipping', () => {
  test('gradNorm is the float64 2-norm', () => {
    assert.equal(gradNorm(Float32Array.of(3, -4)), 5);
    assert.equal(gradNorm(new Float32Array(7)), 0);
    // 1e-30² underflows float32 but not the float64 accumulator.
    assert.ok(Math.abs(gradNorm(Float32Array.of(1e-30, 1e-30)) / (Math.SQRT2 * Math.fround(1e-30)) - 1) < 1e-12);
  });

  for (const c of fixtures.clip) {
    test(`${c.name}: as torch.nn.utils.clip_grad_norm_(max_norm=${c.max_norm})`, () => {
      const g = array(c.grad);
      const before = g.slice();
      const norm = clipGradNorm(g, c.max_norm);
      // torch sums in float32; ours in float64.
      assert.ok(Math.abs(norm - c.norm) <= 1e-6 * c.norm, `norm ${norm} vs torch ${c.norm}`);
      assertMatches(g, c.clipped, 1e-6, c.name);
      if (c.norm <= c.max_norm) assert.deepEqual(g, before, 'below the threshold nothing changes');
      else {
        const want = (c.max_norm * c.norm) / (c.norm + 1e-6);
        assert.ok(Math.abs(gradNorm(g) - want) <= 1e-6 * want, 'above it the norm becomes max·norm/(norm + 1e-6)');
      }
    });
  }

  test('rejects a non-positive maximum', () => {
    assert.throws(() => clipGradNorm(Float32Array.of(1), 0), /maxNorm/);
  });
});

describe('quantile', () => {
  for (const c of fixtures.quantile) {
    test(`${c.name}: torch.quantile to the float32 bit`, () => {
      const v = array(c.values);
      const copy = v.slice();
      for (const { p, q } of c.cases) assert.equal(quantile(v, p), q, `p = ${p}`);
      assert.deepEqual(v, copy, 'the input is left alone');
    });
  }

  test('selection agrees with a full sort on adversarial orders and many ties', () => {
    const r = rng(5);
    const n = 5001;
    const orders: Record<string, Float32Array> = {
      ascending: Float32Array.from({ length: n }, (_, i) => i),
      descending: Float32Array.from({ length: n }, (_, i) => n - i),
      constant: new Float32Array(n).fill(0.25),
      organPipe: Float32Array.from({ length: n }, (_, i) => Math.min(i, n - i)),
      twoValues: Float32Array.from({ length: n }, () => (r() < 0.97 ? 1 : 0)),
      sawtooth: Float32Array.from({ length: n }, (_, i) => i % 17),
      outliers: Float32Array.from({ length: n }, (_, i) => (i % 100 === 0 ? (i % 200 ? 3e38 : -3e38) : r())),
    };
    for (const [name, v] of Object.entries(orders)) {
      for (const p of [0, 0.001, 0.3, 0.5, 0.95, 0.995, 1]) {
        const want = sortedQuantile(v, p);
        const got = quantile(v, p);
        assert.ok(got === want || Math.abs(got - want) <= 1e-6 * Math.abs(want), `${name} p=${p}: ${got} vs ${want}`);
      }
    }
    for (let trial = 0; trial < 300; trial++) {
      const len = 1 + Math.floor(r() * 200);
      const levels = 1 + Math.floor(r() * 20);
      const v = Float32Array.from({ length: len }, () => Math.floor(r() * levels) - levels / 2);
      const p = r();
      const want = sortedQuantile(v, p);
      const got = quantile(v, p);
      assert.ok(Math.abs(got - want) <= 1e-6 * Math.max(1, Math.abs(want)), `n=${len} p=${p}: ${got} vs ${want}`);
    }
  });

  test('NaN anywhere gives NaN, and so does an infinite end, as torch.quantile does', () => {
    assert.ok(Number.isNaN(quantile(Float32Array.of(1, NaN, 3), 0)));
    // torch 1.13: quantile([-inf, 1, 2, inf], p) = [nan, 1.5, 1.2000000476837158, nan] for p = 0, 0.5, 0.4, 1
    // (lerp(-inf, -inf, 0) is -inf + 0·NaN).
    const t = Float32Array.of(-Infinity, 1, 2, Infinity);
    assert.deepEqual([0, 0.5, 0.4, 1].map((p) => quantile(t, p)), [NaN, 1.5, 1.2000000476837158, NaN]);
  });

  test('rejects an empty input and p outside [0, 1]', () => {
    assert.throws(() => quantile(new Float32Array(0), 0.5), /empty/);
    assert.throws(() => quantile(Float32Array.of(1), 1.5), /p must be in \[0, 1\]/);
    assert.throws(() => quantile(Float32Array.of(1), -0.1), /p must be/);
    assert.throws(() => quantile(Float32Array.of(1), NaN), /p must be/);
  });
});

describe('dynamicThreshold', () => {
  for (const c of fixtures.dynamic) {
    test(`${c.name} (s = ${c.s.toFixed(4)}, p = ${c.p}): the notebook's dynamic_thresh`, () => {
      const x = array(c.image);
      dynamicThreshold(x, c.p);
      assertMatches(x, c.out, 1e-6, c.name);
      let lo = Infinity;
      let hi = -Infinity;
      for (const v of x) {
        lo = Math.min(lo, v);
        hi = Math.max(hi, v);
      }
      assert.ok(lo >= 0 && hi <= 1, `range [${lo}, ${hi}]`);
    });
  }

  test('covers both branches: s = 1 (a clamp) and s > 1 (a squash)', () => {
    const s = fixtures.dynamic.map((c) => c.s);
    assert.ok(s.includes(1) && s.some((v) => v > 1));
  });

  test('with s = 1 it is a clamp to [0, 1]', () => {
    const x = Float32Array.of(-0.2, 0, 0.3, 0.5, 1, 1.2, ...new Array<number>(40).fill(0.5));
    const y = x.slice();
    dynamicThreshold(x, 0.95);
    clampUnit(y);
    assert.ok(maxRelative(x, y) <= 1e-7);
  });

  test('with s > 1 it maps o = 2x - 1 to o / s: pixels inside [-s, s] keep their order and mid-grey stays', () => {
    // |2x - 1| of the 11 values is 0, 0.2, …, 2.0, so p = 0.9 picks s = 1.8 (rank 9).
    const x = Float32Array.from({ length: 11 }, (_, i) => 0.5 + i * 0.1);
    dynamicThreshold(x, 0.9);
    const s = Math.fround(1.8);
    for (let i = 0; i < 11; i++) {
      const o = Math.min(Math.fround(2 * Math.fround(0.5 + i * 0.1) - 1), s);
      assert.ok(Math.abs(x[i]! - (o / s + 1) / 2) < 1e-6, `pixel ${i}: ${x[i]}`);
    }
    assert.equal(x[0], 0.5);
    assert.equal(x[10], 1);
  });
});

describe('clampUnit', () => {
  test('clamps to [0, 1] in place and leaves NaN for assertFinite to catch', () => {
    const x = Float32Array.of(-1, -0, 0.25, 1, 7, NaN, -Infinity, Infinity);
    clampUnit(x);
    assert.deepEqual(Array.from(x.subarray(0, 5)), [0, -0, 0.25, 1, 1]);
    assert.ok(Number.isNaN(x[5]!));
    assert.deepEqual(Array.from(x.subarray(6)), [0, 1]);
  });
});

describe('assertFinite', () => {
  test('passes finite values, including the extremes of float32', () => {
    assertFinite(Float32Array.of(0, -0, 3.4028234663852886e38, -3.4028234663852886e38, 1e-45), 'g');
    assertFinite(new Float32Array(0), 'g');
  });

  test('names what and the first bad index', () => {
    const g = new Float32Array(10);
    g[7] = NaN;
    g[9] = Infinity;
    assert.throws(() => assertFinite(g, 'the image gradient at step 3'), {
      message: /^the image gradient at step 3 is NaN at index 7 of 10: .*lower learning rate/,
    });
    g[7] = 0;
    assert.throws(() => assertFinite(g, 'the gradient'), { message: /^the gradient is \+Infinity at index 9 of 10/ });
    g[2] = -Infinity;
    assert.throws(() => assertFinite(g, 'the gradient'), { message: /^the gradient is -Infinity at index 2 of 10/ });
  });

  test('a single value (the loss) is reported without an index, on one line', () => {
    assert.throws(() => assertFinite(Float32Array.of(NaN), 'the loss at step 12'), (e: Error) => {
      assert.match(e.message, /^the loss at step 12 is NaN: /);
      assert.ok(!e.message.includes('\n'));
      return true;
    });
  });
});

test('fixtures were made by torch 1.13', () => {
  assert.match(fixtures.torch, /^1\.13/);
});
