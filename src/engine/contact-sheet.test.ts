import assert from 'node:assert/strict';
import { test } from 'node:test';
import sharp from 'sharp';
import { contactSheet, wrapText } from './contact-sheet.js';

const solid = (w: number, rgb: [number, number, number]) => ({
  width: w, height: w, data: Uint8Array.from({ length: w * w * 3 }, (_, i) => rgb[i % 3]!),
});

test('tiles land in a grid, enlarged without blending', async () => {
  const png = await contactSheet([[{ image: solid(4, [255, 0, 0]) }, { image: solid(4, [0, 255, 0]) }], [{ image: solid(4, [0, 0, 255]) }]], { tile: 12 });
  const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  // Cells are tile + 2·6 px of padding wide, tile + 12 tall without captions.
  assert.deepEqual([info.width, info.height], [2 * 24, 2 * 24]);
  const at = (x: number, y: number): number[] => [...data.subarray((y * info.width + x) * info.channels, (y * info.width + x) * info.channels + 3)];
  assert.deepEqual(at(6, 6), [255, 0, 0]);
  assert.deepEqual(at(6 + 11, 6 + 11), [255, 0, 0]);
  assert.deepEqual(at(24 + 6, 6), [0, 255, 0]);
  assert.deepEqual(at(6, 24 + 6), [0, 0, 255]);
  assert.deepEqual(at(24 + 6, 24 + 6), [250, 250, 250], 'the short row leaves the rest blank');
});

test('captions add room under each tile; an empty sheet is refused', async () => {
  const png = await contactSheet([[{ image: solid(4, [0, 0, 0]), caption: 'a big red circle' }]], { tile: 12, lines: 2 });
  const meta = await sharp(png).metadata();
  assert.equal(meta.height, 12 + 6 + 2 * 13 + 6);
  await assert.rejects(contactSheet([]), /at least one image/);
});

test('wrapText breaks at spaces and keeps at most the asked lines', () => {
  assert.deepEqual(wrapText('a big red circle in the top left', 60, 5), ['a big red', 'circle in', 'the top', 'left']);
  assert.equal(wrapText('one two three four five six', 48, 2).length, 2);
});
