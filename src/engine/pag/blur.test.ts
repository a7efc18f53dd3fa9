import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gaussianBlur, gaussianTaps } from './blur.js';

test('gaussianTaps: symmetric, sums to 1, out to 3σ, the centre largest', () => {
  const t = gaussianTaps(1.5);
  assert.equal(t.length, 2 * 5 + 1);
  assert.ok(Math.abs(t.reduce((a, b) => a + b, 0) - 1) < 1e-6);
  for (let k = 0; k < t.length; k++) assert.ok(Math.abs(t[k]! - t[t.length - 1 - k]!) < 1e-7);
  assert.ok(t[5]! > t[4]! && t[4]! > t[0]!);
  // The ratio of neighbouring taps is the Gaussian's: exp(−(2k+1)/(2σ²)).
  assert.ok(Math.abs(t[6]! / t[5]! - Math.exp(-1 / (2 * 1.5 * 1.5))) < 1e-6);
  assert.throws(() => gaussianTaps(0), /sigma must be a number > 0, got 0/);
});

test('gaussianBlur: an impulse far from the edges becomes the outer product of the taps, per channel; sums are kept', () => {
  const C = 2;
  const H = 15;
  const W = 17;
  const x = new Float32Array(C * H * W);
  x[1 * H * W + 7 * W + 8] = 1;
  gaussianBlur(x, C, H, W, 1);
  const t = gaussianTaps(1);
  const r = (t.length - 1) / 2;
  for (let y = 0; y < H; y++) {
    for (let xx = 0; xx < W; xx++) {
      const dy = y - 7;
      const dx = xx - 8;
      const want = Math.abs(dy) <= r && Math.abs(dx) <= r ? t[dy + r]! * t[dx + r]! : 0;
      assert.ok(Math.abs(x[1 * H * W + y * W + xx]! - want) < 1e-7, `(${y}, ${xx})`);
      assert.equal(x[y * W + xx], 0, 'the other channel is untouched');
    }
  }
  assert.ok(Math.abs(x.reduce((a, b) => a + b, 0) - 1) < 1e-6);
});

test('gaussianBlur: a constant stays constant up to the edges (clamped), a checkerboard is flattened', () => {
  const H = 16;
  const flat = new Float32Array(3 * H * H).fill(0.25);
  gaussianBlur(flat, 3, H, H, 2);
  assert.ok(flat.every((v) => Math.abs(v - 0.25) < 1e-6));
  const board = Float32Array.from({ length: H * H }, (_, i) => ((Math.floor(i / H) + (i % H)) % 2 ? 1 : -1));
  gaussianBlur(board, 1, H, H, 1.5);
  // Away from the clamped edges the alternation cancels.
  const inner = [...board].filter((_, i) => Math.floor(i / H) >= 5 && Math.floor(i / H) < H - 5 && i % H >= 5 && i % H < H - 5);
  assert.ok(inner.every((v) => Math.abs(v) < 0.01), `max ${Math.max(...inner.map(Math.abs))}`);
  assert.throws(() => gaussianBlur(new Float32Array(5), 1, 2, 2, 1), /5 values is not 1×2×2/);
});
