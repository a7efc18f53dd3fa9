import assert from 'node:assert/strict';
import { test } from 'node:test';
import { median } from './stats.js';

test('median: the middle of an odd count, the mean of the two middle values of an even one, whatever the order', () => {
  assert.equal(median([5, 1, 3]), 3);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.equal(median([7]), 7);
  assert.equal(median([10, -2]), 4);
});

test('median: does not reorder its input; NaN for no values', () => {
  const xs = [3, 1, 2];
  median(xs);
  assert.deepEqual(xs, [3, 1, 2]);
  assert.ok(Number.isNaN(median([])));
});
