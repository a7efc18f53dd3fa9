import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RgbImage } from '../clip/image.js';
import { GRID_GAP, gridCell, gridImage, gridLayout } from './grid.js';

/** A square picture whose every byte says which picture and where it is. */
const picture = (side: number, tag: number): RgbImage => ({
  width: side, height: side, data: Uint8Array.from({ length: side * side * 3 }, (_, i) => (tag * 50 + i) % 251),
});

test('layout: one picture alone, two side by side, three and four in two rows', () => {
  assert.deepEqual([1, 2, 3, 4].map(gridLayout), [
    { columns: 1, rows: 1 }, { columns: 2, rows: 1 }, { columns: 2, rows: 2 }, { columns: 2, rows: 2 },
  ]);
  for (const bad of [0, 5, 2.5]) assert.throws(() => gridLayout(bad), /a grid holds 1 to 4 pictures/);
});

test('a grid image holds each picture in its cell, and gridCell cuts each one back out exactly', () => {
  for (const count of [1, 2, 3, 4]) {
    const pics = Array.from({ length: count }, (_, i) => picture(6, i + 1));
    const grid = gridImage(pics);
    const { columns, rows } = gridLayout(count);
    assert.equal(grid.width, columns * 6 + (columns - 1) * GRID_GAP);
    assert.equal(grid.height, rows * 6 + (rows - 1) * GRID_GAP);
    pics.forEach((p, i) => assert.deepEqual(gridCell(grid, count, i + 1), p, `picture ${i + 1} of ${count}`));
  }
  // Picture 2 of 4 sits right of picture 1, past the gap; picture 3 starts the second row.
  const grid = gridImage([picture(6, 1), picture(6, 2), picture(6, 3), picture(6, 4)]);
  const px = (x: number, y: number): number[] => [...grid.data.subarray((y * grid.width + x) * 3, (y * grid.width + x) * 3 + 3)];
  assert.deepEqual(px(6 + GRID_GAP, 0), [...picture(6, 2).data.subarray(0, 3)]);
  assert.deepEqual(px(0, 6 + GRID_GAP), [...picture(6, 3).data.subarray(0, 3)]);
  assert.notDeepEqual(px(6, 0), px(0, 0), 'a separator between the cells');
});

test('an empty cell of a grid of three is the separator colour', () => {
  const grid = gridImage([picture(4, 1), picture(4, 2), picture(4, 3)]);
  const at = ((4 + GRID_GAP + 1) * grid.width + 4 + GRID_GAP + 1) * 3;
  assert.deepEqual([...grid.data.subarray(at, at + 3)], [...grid.data.subarray(4 * 3, 4 * 3 + 3)], 'cell 4 looks like the gap');
});

test('bad grids and cells are refused with what is wrong', () => {
  assert.throws(() => gridImage([picture(4, 1), picture(5, 2)]), /grid picture 2 is 5×5, picture 1 is 4×4/);
  assert.throws(() => gridImage([]), /a grid holds 1 to 4 pictures, got 0/);
  const grid = gridImage([picture(4, 1), picture(4, 2)]);
  assert.throws(() => gridCell(grid, 2, 3), /picture 3 of a grid of 2: pick 1 to 2/);
  assert.throws(() => gridCell(grid, 2, 0), /pick 1 to 2/);
  assert.throws(() => gridCell(grid, 4, 1), /a 12×4 image is not a grid of 4 square pictures/);
  assert.throws(() => gridCell(picture(7, 1), 2, 1), /is not a grid of 2/);
});
