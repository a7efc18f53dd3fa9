import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cycleOf, lrAt } from './schedule.js';

test('lrAt: linear warm-up to the peak, then cosine to 0 at the last step', () => {
  assert.equal(lrAt(1, 5, 100, 10), 0.5);
  assert.equal(lrAt(1, 10, 100, 10), 1);
  assert.ok(Math.abs(lrAt(1, 55, 100, 10) - 0.5) < 1e-12);
  assert.ok(Math.abs(lrAt(1, 100, 100, 10)) < 1e-12);
});

test('cycleOf: a phase in equal cycles restarts the schedule at each cycle\'s first step', () => {
  const got = [1, 2, 800, 801, 802, 1600, 1601, 3200].map((s) => cycleOf(s, 3200, 4));
  assert.deepEqual(got.map((c) => c.step), [1, 2, 800, 1, 2, 800, 1, 800]);
  assert.deepEqual(got.map((c) => c.restart), [false, false, false, true, false, false, true, false]);
  assert.ok(got.every((c) => c.length === 800));
  // One cycle is the plain schedule.
  assert.deepEqual(cycleOf(37, 100, 1), { step: 37, length: 100, restart: false });
});

test('cycleOf: a phase that does not split evenly is refused with both numbers', () => {
  assert.throws(() => cycleOf(1, 1000, 3), /1000 steps does not split into 3 equal cycles/);
  assert.throws(() => cycleOf(1, 1000, 0), /into 0 equal/);
});
