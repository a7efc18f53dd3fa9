import assert from 'node:assert/strict';
import { test } from 'node:test';
import { rng } from '../random.js';
import type { AlignItems } from '../shapes/align-items.js';
import { viewItems } from './item-views.js';

const S = 8;
const P = 3 * S * S;

function items(n: number, weighted: boolean): AlignItems {
  const fill = (f: (i: number) => number) => Float32Array.from({ length: n * P }, (_, i) => f(i));
  return {
    pixels: fill((i) => i / (n * P)),
    direction: fill((i) => Math.sin(i)),
    ...(weighted ? { weight: fill((i) => 1 + (i % 7)) } : {}),
    ids: new BigInt64Array(n * 4),
    captions: new Array<string>(n).fill(''),
    targets: [],
  };
}

/** Pixel (c, y, x) of picture k. */
const at = (a: Float32Array, k: number, c: number, y: number, x: number): number => a[k * P + c * S * S + y * S + x]!;
const clamp = (v: number): number => Math.min(S - 1, Math.max(0, v));

test('viewItems: picture, direction and weights of each item move by the same shift, edges repeated', () => {
  const before = items(5, true);
  const after = items(5, true);
  const shifts = viewItems(after, { shift: 2, noise: 0, size: S, rand: rng(3) });
  assert.equal(shifts.length, 5);
  shifts.forEach(([dx, dy], k) => {
    assert.ok(Math.abs(dx) <= 2 && Math.abs(dy) <= 2, `shift ${dx},${dy}`);
    for (const key of ['pixels', 'direction', 'weight'] as const) {
      for (let c = 0; c < 3; c++) for (let y = 0; y < S; y++) for (let x = 0; x < S; x++) {
        assert.equal(at(after[key]!, k, c, y, x), at(before[key]!, k, c, clamp(y + dy), clamp(x + dx)), `${key} item ${k} (${c},${y},${x})`);
      }
    }
  });
  assert.ok(shifts.some(([dx, dy]) => dx !== 0 || dy !== 0), 'some item moved');
});

test('viewItems: every shift from −2 to 2 is drawn, and the same seed draws the same ones', () => {
  const seen = new Set(viewItems(items(200, false), { shift: 2, noise: 0, size: S, rand: rng(1) }).map(([dx, dy]) => `${dx},${dy}`));
  assert.equal(seen.size, 25);
  assert.deepEqual(viewItems(items(4, false), { shift: 2, noise: 0, size: S, rand: rng(9) }), viewItems(items(4, false), { shift: 2, noise: 0, size: S, rand: rng(9) }));
});

test('viewItems: noise goes on the pictures only, with the asked standard deviation', () => {
  const clean = items(40, false);
  const noisy = items(40, false);
  const a = viewItems(clean, { shift: 1, noise: 0, size: S, rand: rng(5) });
  // Same seed: the shifts are drawn first, so both runs shift alike and differ by the noise alone.
  const b = viewItems(noisy, { shift: 1, noise: 0.03, size: S, rand: rng(5) });
  assert.deepEqual(a, b);
  assert.deepEqual(noisy.direction, clean.direction);
  let sum = 0, sq = 0;
  for (let i = 0; i < clean.pixels.length; i++) { const d = noisy.pixels[i]! - clean.pixels[i]!; sum += d; sq += d * d; }
  const n = clean.pixels.length;
  const std = Math.sqrt(sq / n - (sum / n) ** 2);
  assert.ok(Math.abs(std - 0.03) < 0.002 && Math.abs(sum / n) < 0.002, `noise mean ${sum / n}, std ${std}`);
});

test('viewItems: bad settings and ragged items are refused by name', () => {
  assert.throws(() => viewItems(items(1, false), { shift: 1.5, noise: 0, size: S, rand: rng(1) }), /shift must be a whole number ≥ 0/);
  assert.throws(() => viewItems(items(1, false), { shift: 1, noise: -1, size: S, rand: rng(1) }), /noise ≥ 0/);
  const ragged = { ...items(1, false), direction: new Float32Array(P - 1) };
  assert.throws(() => viewItems(ragged, { shift: 1, noise: 0, size: S, rand: rng(1) }), /are not whole 8-px pictures alike/);
});
