import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { rng } from '../random.js';
import { pgdAttack, pgdDescent, type PixelGradient, type PgdOptions } from './pgd.js';

const N = 600;

/** Pixels in [0, 1], a fifth of them within ε of an edge so the [0, 1] clip matters. */
function cleanPixels(seed: number): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: N }, (_, i) => (i % 10 === 0 ? 0.01 * r() : i % 10 === 1 ? 1 - 0.01 * r() : i % 10 === 2 ? (i % 20 === 2 ? 0 : 1) : r()));
}

const CLEAN = cleanPixels(1);
const EPS = 4 / 255;

/** The ball ∩ [0, 1] around `clean`, as PGD projects onto it (bounds rounded to float32, as stored). */
const lo = (c: number, eps: number): number => Math.fround(Math.max(0, c - eps));
const hi = (c: number, eps: number): number => Math.fround(Math.min(1, c + eps));

function assertInBall(adv: Float32Array, clean: Float32Array, eps: number): void {
  assert.equal(adv.length, clean.length);
  for (let i = 0; i < adv.length; i++) {
    const v = adv[i]!;
    assert.ok(v >= 0 && v <= 1, `pixel ${i} = ${v} is outside [0, 1]`);
    assert.ok(v >= lo(clean[i]!, eps) && v <= hi(clean[i]!, eps), `pixel ${i} = ${v} is outside the ε-ball around ${clean[i]}`);
  }
}

/** A gradient that counts its calls and checks it is only ever asked about admissible pixels. */
function counted(g: (x: Float32Array) => Float32Array, eps: number, clean = CLEAN): { grad: PixelGradient; calls: () => number } {
  let calls = 0;
  return {
    grad: async (x) => {
      calls++;
      assertInBall(x, clean, eps);
      return g(x);
    },
    calls: () => calls,
  };
}

const opts = (o: Partial<PgdOptions> = {}): PgdOptions => ({ eps: EPS, alpha: 1 / 255, steps: 10, rand: rng(7), ...o });

test('the result stays in the ε-ball and in [0, 1], whatever the gradient says', async () => {
  for (const seed of [2, 3, 4]) {
    const r = rng(seed);
    // Large, random-signed gradients and a step larger than the ball.
    const { grad, calls } = counted(() => Float32Array.from({ length: N }, () => 100 * (r() - 0.5)), EPS);
    const adv = await pgdAttack(CLEAN, grad, opts({ alpha: 3 * EPS, steps: 7, rand: rng(seed) }));
    assertInBall(adv, CLEAN, EPS);
    assert.equal(calls(), 7, 'one gradient per step');
  }
});

test('a constant gradient sign drives every pixel to the edge of the ball (clipped to [0, 1]) in that direction', async () => {
  const sign = Float32Array.from({ length: N }, (_, i) => (i % 3 === 0 ? -0.002 : 7));
  const { grad } = counted(() => sign, EPS);
  // steps·alpha ≥ 2ε: from anywhere in the ball the edge is reached.
  const adv = await pgdAttack(CLEAN, grad, opts({ alpha: EPS / 2, steps: 5 }));
  for (let i = 0; i < N; i++) {
    const want = sign[i]! > 0 ? hi(CLEAN[i]!, EPS) : lo(CLEAN[i]!, EPS);
    assert.equal(adv[i], want, `pixel ${i} (clean ${CLEAN[i]}, gradient ${sign[i]})`);
  }
});

test('too few steps stop short of the edge: each step moves a pixel by alpha', async () => {
  const clean = new Float32Array(N).fill(0.5);
  const { grad } = counted(() => new Float32Array(N).fill(1), 0.5, clean);
  const start = await pgdAttack(clean, grad, { eps: 0.5, alpha: 0.01, steps: 0, rand: rng(9) });
  const adv = await pgdAttack(clean, grad, { eps: 0.5, alpha: 0.01, steps: 3, rand: rng(9) });
  for (let i = 0; i < N; i++) {
    const want = Math.min(1, start[i]! + 0.03);
    assert.ok(Math.abs(adv[i]! - want) < 1e-6, `pixel ${i}: ${adv[i]} vs start ${start[i]} + 3·alpha`);
  }
});

test('a zero gradient leaves the random start where it is', async () => {
  const { grad } = counted(() => new Float32Array(N), EPS);
  const start = await pgdAttack(CLEAN, grad, opts({ steps: 0 }));
  const adv = await pgdAttack(CLEAN, grad, opts({ steps: 4 }));
  assert.deepEqual(adv, start);
});

test('steps 0: a uniform random start inside the ball, drawn from rand, without asking for a gradient', async () => {
  const clean = Float32Array.from({ length: 4000 }, (_, i) => 0.2 + 0.6 * ((i * 0.618) % 1));
  const { grad, calls } = counted(() => { throw new Error('no gradient should be needed'); }, 0.1, clean);
  const start = await pgdAttack(clean, grad, { eps: 0.1, alpha: 0.01, steps: 0, rand: rng(5) });
  assert.equal(calls(), 0);
  const r = rng(5);
  let sq = 0;
  let sum = 0;
  for (let i = 0; i < clean.length; i++) {
    const want = Math.fround(clean[i]! + 0.1 * (2 * r() - 1));
    assert.ok(Math.abs(start[i]! - want) <= 1e-7, `pixel ${i}: ${start[i]} vs clean + ε·U(-1, 1) = ${want}`);
    const d = start[i]! - clean[i]!;
    sum += d;
    sq += d * d;
  }
  // U(-ε, ε) has mean 0 and standard deviation ε/√3.
  assert.ok(Math.abs(sum / clean.length) < 0.005);
  assert.ok(Math.abs(Math.sqrt(sq / clean.length) - 0.1 / Math.sqrt(3)) < 0.003);
  const other = await pgdAttack(clean, grad, { eps: 0.1, alpha: 0.01, steps: 0, rand: rng(6) });
  assert.notDeepEqual(other, start, 'another random source, another start');
  // Near the edges of [0, 1] the start is clipped too.
  const edges = await pgdAttack(CLEAN, grad, opts({ steps: 0 }));
  assertInBall(edges, CLEAN, EPS);
});

test('eps 0 gives back the clean pixels; the clean input is never modified', async () => {
  const copy = CLEAN.slice();
  const { grad } = counted(() => Float32Array.from({ length: N }, (_, i) => (i % 2 ? 1 : -1)), 0);
  const adv = await pgdAttack(CLEAN, grad, opts({ eps: 0, steps: 3 }));
  assert.deepEqual(adv, CLEAN);
  assert.notEqual(adv, CLEAN, 'a new array');
  await pgdAttack(CLEAN, counted(() => new Float32Array(N).fill(1), EPS).grad, opts());
  assert.deepEqual(CLEAN, copy);
});

test('bad options are refused with a RangeError naming them', async () => {
  const grad: PixelGradient = async () => new Float32Array(N);
  const bad: Array<Partial<PgdOptions>> = [
    { eps: -0.01 }, { eps: Number.NaN }, { alpha: -1 }, { alpha: Number.NaN },
    { steps: -1 }, { steps: 1.5 }, { steps: Number.NaN }, { steps: Infinity },
  ];
  for (const o of bad) {
    await assert.rejects(pgdAttack(CLEAN, grad, opts(o)), (e: unknown) => e instanceof RangeError && /PGD: eps and alpha/.test(e.message), JSON.stringify(o));
  }
});

test('it is an attack: a quadratic loss climbs from the random start to the corner of the ball uphill of it', async () => {
  // L(x) = Σ (x - t)², gradient 2(x - t), with each target t inside the ball: signed ascent pushes
  // every pixel away from its target, to the end of the ball on the side the random start fell.
  const r = rng(11);
  const target = Float32Array.from(CLEAN, (c) => c + (r() - 0.5) * EPS);
  const loss = (x: Float32Array): number => x.reduce((s, v, i) => s + (v - target[i]!) ** 2, 0);
  const { grad } = counted((x) => Float32Array.from(x, (v, i) => 2 * (v - target[i]!)), EPS);
  const start = await pgdAttack(CLEAN, grad, opts({ steps: 0 }));
  const adv = await pgdAttack(CLEAN, grad, opts({ alpha: EPS / 4, steps: 10 }));
  for (let i = 0; i < N; i++) {
    if (start[i] === target[i]) continue;
    const want = start[i]! > target[i]! ? hi(CLEAN[i]!, EPS) : lo(CLEAN[i]!, EPS);
    assert.equal(adv[i], want, `pixel ${i}: start ${start[i]}, target ${target[i]}`);
  }
  assert.ok(loss(adv) > 3 * loss(CLEAN), `attacked loss ${loss(adv)} vs clean ${loss(CLEAN)}`);
  assert.ok(loss(adv) > 1.5 * loss(start), `attacked loss ${loss(adv)} vs the random start's ${loss(start)}`);
});

describe('L2', () => {
  const SIZE = 150; // four pictures of 150 values
  const l2 = (o: Partial<PgdOptions> = {}): PgdOptions => ({ eps: 0.5, alpha: 0.2, steps: 5, rand: rng(3), norm: 'l2', size: SIZE, ...o });
  const norms = (a: Float32Array, b: Float32Array): number[] => Array.from({ length: a.length / SIZE }, (_, p) => {
    let sq = 0;
    for (let i = p * SIZE; i < (p + 1) * SIZE; i++) sq += (a[i]! - b[i]!) ** 2;
    return Math.sqrt(sq);
  });
  const inUnit = (a: Float32Array): void => a.forEach((v, i) => assert.ok(v >= 0 && v <= 1, `pixel ${i} = ${v}`));

  test('every picture stays within ε of its clean self (and in [0, 1]) under large random gradients', async () => {
    const r = rng(4);
    let calls = 0;
    const grad: PixelGradient = async (x) => {
      calls++;
      norms(x, CLEAN).forEach((n, p) => assert.ok(n <= 0.5 + 1e-5, `picture ${p} asked about at distance ${n}`));
      return Float32Array.from({ length: N }, () => 100 * (r() - 0.5));
    };
    const adv = await pgdAttack(CLEAN, grad, l2({ alpha: 2, steps: 6 }));
    assert.equal(calls, 6);
    inUnit(adv);
    for (const n of norms(adv, CLEAN)) assert.ok(n <= 0.5 + 1e-5 && n > 0.3, `distance ${n}`);
  });

  test('a step moves each picture by alpha along its own gradient direction, whatever the gradient\'s scale', async () => {
    const clean = new Float32Array(N).fill(0.5);
    const dir = Float32Array.from({ length: N }, (_, i) => Math.sin(i));
    // Picture p's gradient is the same direction scaled by 10^p: the step must not care.
    const grad: PixelGradient = async () => Float32Array.from(dir, (d, i) => d * 10 ** Math.floor(i / SIZE));
    const start = await pgdAttack(clean, grad, l2({ eps: 1, steps: 0, rand: rng(12) }));
    const adv = await pgdAttack(clean, grad, l2({ eps: 1, alpha: 0.1, steps: 1, rand: rng(12) }));
    // Neither the ball nor [0, 1] binds here: the start is at most 1 − 0.1 from the clean picture (checked).
    for (const n of norms(start, clean)) assert.ok(n < 0.9, `start at ${n}`);
    for (let p = 0; p < N / SIZE; p++) {
      let len = 0;
      for (let i = p * SIZE; i < (p + 1) * SIZE; i++) len += dir[i]! ** 2;
      len = Math.sqrt(len);
      for (let i = p * SIZE; i < (p + 1) * SIZE; i++) {
        assert.ok(Math.abs(adv[i]! - (start[i]! + (0.1 * dir[i]!) / len)) < 1e-5, `picture ${p} value ${i}`);
      }
    }
  });

  test('a constant direction ends on the sphere of radius ε, pointing that way', async () => {
    const clean = new Float32Array(N).fill(0.5);
    const dir = Float32Array.from({ length: N }, (_, i) => ((i * 7) % 5) - 2);
    const adv = await pgdAttack(clean, async () => dir, l2({ eps: 1, alpha: 0.5, steps: 8 }));
    for (let p = 0; p < N / SIZE; p++) {
      let len = 0;
      for (let i = p * SIZE; i < (p + 1) * SIZE; i++) len += dir[i]! ** 2;
      len = Math.sqrt(len);
      // From any start within the ball, 8 steps of 0.5 along d, each projected, end at ε·d/|d| (all within [0, 1] here).
      for (let i = p * SIZE; i < (p + 1) * SIZE; i++) assert.ok(Math.abs(adv[i]! - (0.5 + dir[i]! / len)) < 0.02, `value ${i}: ${adv[i]}`);
    }
    for (const n of norms(adv, clean)) assert.ok(Math.abs(n - 1) < 1e-4);
  });

  test('the random start lies inside the ball, differs per picture and per source, and eps 0 is the clean picture', async () => {
    const never: PixelGradient = async () => { throw new Error('no gradient needed'); };
    const a = await pgdAttack(CLEAN, never, l2({ steps: 0 }));
    const b = await pgdAttack(CLEAN, never, l2({ steps: 0, rand: rng(99) }));
    inUnit(a);
    for (const n of norms(a, CLEAN)) assert.ok(n <= 0.5 + 1e-6);
    assert.notDeepEqual(a, b);
    assert.deepEqual(await pgdAttack(CLEAN, async () => new Float32Array(N).fill(1), l2({ eps: 0 })), CLEAN);
  });

  test('a size that does not divide the pixels into pictures is refused', async () => {
    await assert.rejects(pgdAttack(CLEAN, async () => new Float32Array(N), l2({ size: 7 })), /size must divide/);
  });
});

test('pgdDescent lowers the loss that pgdAttack raises, inside the same ball', async () => {
  const target = Float32Array.from({ length: N }, (_, i) => (i % 3) / 2);
  const loss = (x: Float32Array): number => x.reduce((s, v, i) => s + (v - target[i]!) ** 2, 0);
  const grad: PixelGradient = async (x) => x.map((v, i) => 2 * (v - target[i]!));
  const o: PgdOptions = { eps: EPS, alpha: EPS / 2, steps: 4, rand: rng(3) };
  const down = await pgdDescent(CLEAN, grad, o);
  const up = await pgdAttack(CLEAN, grad, { ...o, rand: rng(3) });
  assertInBall(down, CLEAN, EPS);
  assertInBall(up, CLEAN, EPS);
  assert.ok(loss(down) < loss(CLEAN) && loss(CLEAN) < loss(up), `descent ${loss(down)}, start ${loss(CLEAN)}, ascent ${loss(up)}`);
});
