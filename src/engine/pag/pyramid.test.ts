import assert from 'node:assert/strict';
import { test } from 'node:test';
import { rng } from '../random.js';
import { CanvasPyramid } from './pyramid.js';

const randoms = (n: number, seed: number): Float32Array => {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => r() * 2 - 1);
};
const dot = (a: Float32Array, b: Float32Array): number => a.reduce((s, v, i) => s + v * b[i]!, 0);

test('one coarse level upsamples bilinearly as torch does (align_corners false): a known 2×2 → 4×4', () => {
  const p = new CanvasPyramid(4, 1);
  assert.equal(p.size, 3 * 16 + 3 * 4);
  const coef = new Float32Array(p.size);
  coef.set([1, 2, 3, 4], 3 * 16); // red channel of level 1
  const canvas = new Float32Array(3 * 16);
  p.compose(coef, canvas);
  // torch.nn.functional.interpolate(tensor([[[[1., 2.], [3., 4.]]]]), scale_factor=2, mode='bilinear')
  const want = [1, 1.25, 1.75, 2, 1.5, 1.75, 2.25, 2.5, 2.5, 2.75, 3.25, 3.5, 3, 3.25, 3.75, 4];
  assert.deepEqual(Array.from(canvas.subarray(0, 16)), want);
  assert.ok(canvas.subarray(16).every((v) => v === 0), 'other channels untouched');
});

test('the pull-back is the adjoint of compose: <compose(c), g> = <c, pullBack(g)> for random c, g', () => {
  for (const [side, levels] of [[16, 3], [24, 2], [64, 4]] as const) {
    const p = new CanvasPyramid(side, levels);
    const c = randoms(p.size, side);
    const g = randoms(3 * side * side, side + 1);
    const canvas = new Float32Array(g.length);
    p.compose(c, canvas);
    const back = new Float32Array(p.size);
    p.pullBack(g, back);
    const lhs = dot(canvas, g);
    assert.ok(Math.abs(lhs - dot(c, back)) < 1e-3 * Math.max(1, Math.abs(lhs)), `${side}/${levels}: ${lhs} vs ${dot(c, back)}`);
  }
});

test('a constant coarse level adds a constant; fromCanvas composes back; settle makes the coefficients compose to the kept canvas', () => {
  const p = new CanvasPyramid(8, 3);
  const start = randoms(3 * 64, 5).map((v) => 0.5 + 0.4 * v);
  const coef = p.fromCanvas(start);
  const canvas = new Float32Array(start.length);
  p.compose(coef, canvas);
  assert.deepEqual(canvas, start);
  // Level 3 of an 8-px canvas is one value a channel.
  coef[p.size - 3] = 0.25;
  p.compose(coef, canvas);
  for (let i = 0; i < 64; i++) assert.ok(Math.abs(canvas[i]! - start[i]! - 0.25) < 1e-6);
  const kept = canvas.map((v) => Math.min(1, Math.max(0, v)));
  p.settle(coef, canvas, kept);
  p.compose(coef, canvas);
  for (let i = 0; i < kept.length; i++) assert.ok(Math.abs(canvas[i]! - kept[i]!) < 1e-6);
});

test('bad levels or a side the levels do not divide are refused, naming them', () => {
  assert.throws(() => new CanvasPyramid(64, 7), /pyramidLevels must be a whole number from 0 to 6, got 7/);
  assert.throws(() => new CanvasPyramid(64, 1.5), /pyramidLevels must be a whole number/);
  assert.throws(() => new CanvasPyramid(48, 5), /pyramidLevels 5 needs a canvas side divisible by 32, got 48/);
  assert.throws(() => new CanvasPyramid(8, 1).compose(new Float32Array(3), new Float32Array(192)), /coefficients has 3 values, expected 240/);
});
