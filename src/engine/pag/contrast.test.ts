import assert from 'node:assert/strict';
import { test } from 'node:test';
import { contrastTarget, MAX_NEAR_MISSES, nearMisses } from './contrast.js';

const KINDS = ['circle', 'square', 'star'];

test('near misses swap each group word for every other member, whole words only, case-insensitively', () => {
  assert.deepEqual(nearMisses('a big red circle, top left', [KINDS]), ['a big red square, top left', 'a big red star, top left']);
  // "stars" and "circled" are not group words; "Circle" is.
  assert.deepEqual(nearMisses('Circle stars circled', [KINDS]), ['square stars circled', 'star stars circled']);
  // Two group words: each swapped on its own, in the order they occur; two groups: each group's swaps.
  assert.deepEqual(nearMisses('a circle and a star', [KINDS]), ['a square and a star', 'a star and a star', 'a circle and a circle', 'a circle and a square']);
  assert.deepEqual(nearMisses('a big star', [KINDS, ['big', 'small']]), ['a big circle', 'a big square', 'a small star']);
  assert.deepEqual(nearMisses('a red sky', [KINDS]), [], 'no group word, no near miss');
  assert.deepEqual(nearMisses('a circle', []), []);
  // Hyphens and apostrophes are part of a word, and characters special in a pattern are literal.
  assert.deepEqual(nearMisses("a t-shirt, a shirt and o'clock", [['t-shirt', 'coat'], ["o'clock", 'noon']]), ["a coat, a shirt and o'clock", 'a t-shirt, a shirt and noon']);
  assert.deepEqual(nearMisses('a c++ book', [['c++', 'go']]), ['a go book']);
});

test('near misses are capped, and a member repeated in its group does not swap a word for itself', () => {
  const many = Array.from({ length: 40 }, (_, i) => `w${i}`);
  const got = nearMisses('w0 and w1 and w2', [many]);
  assert.equal(got.length, MAX_NEAR_MISSES);
  assert.deepEqual(nearMisses('a circle', [['circle', 'circle', 'square']]), ['a square']);
  assert.equal(nearMisses('a circle', [KINDS], 1).length, 1);
});

test('the contrast target is the unit direction of the near misses\' mean unit embedding (a naive float64 reference)', async () => {
  // Embeddings of different lengths: each is made unit before the mean, so length does not weigh.
  const table: Record<string, number[]> = { 'a square': [3, 0, 4], 'a star': [0, 2, 0] };
  const embed = async (t: string): Promise<Float32Array> => Float32Array.from(table[t]!);
  const got = await contrastTarget(embed, 'a circle', [KINDS]);
  assert.ok(got);
  assert.deepEqual(got.prompts, ['a square', 'a star']);
  const mean = [(0.6 + 0) / 2, (0 + 1) / 2, (0.8 + 0) / 2];
  const n = Math.hypot(...mean);
  got.row.forEach((v, i) => assert.ok(Math.abs(v - mean[i]! / n) < 1e-12, `row[${i}] ${v} vs ${mean[i]! / n}`));
  assert.equal(await contrastTarget(embed, 'a red sky', [KINDS]), undefined);
});
