/**
 * Several pictures of one request shown as one image: two columns, as many rows as needed (1: the
 * picture itself; 2: side by side; 3–4: 2×2), cells separated by a thin dark line, the cells
 * numbered left to right, top to bottom from 1 (what U1–U4 / V1–V4 name). gridCell cuts a picture
 * back out of a grid image, so a grid posted as one file is enough to upscale or vary one of it.
 */
import type { RgbImage } from '../clip/image.js';

/** Pixels between cells: visible between two pictures of the same colour field, small beside a 64-px picture. */
export const GRID_GAP = 4;
/** The separator's colour: Discord's dark theme, so a grid reads as pictures, not one picture. */
const GAP_RGB = [0x2b, 0x2d, 0x31] as const;
export const MAX_GRID = 4;

export interface GridLayout {
  columns: number;
  rows: number;
}

export function gridLayout(count: number): GridLayout {
  if (!Number.isInteger(count) || count < 1 || count > MAX_GRID) throw new RangeError(`a grid holds 1 to ${MAX_GRID} pictures, got ${count}`);
  const columns = count === 1 ? 1 : 2;
  return { columns, rows: Math.ceil(count / columns) };
}

/** Top-left corner of cell `index` (1-based) for pictures of side `side`. */
function cellOrigin(layout: GridLayout, side: number, index: number): { x: number; y: number } {
  const i = index - 1;
  return { x: (i % layout.columns) * (side + GRID_GAP), y: Math.floor(i / layout.columns) * (side + GRID_GAP) };
}

/** The pictures (equal squares) in one image; a cell without a picture (3 of 4) is the separator's colour. */
export function gridImage(pictures: readonly RgbImage[]): RgbImage {
  const layout = gridLayout(pictures.length);
  const side = pictures[0]!.width;
  for (const [i, p] of pictures.entries()) {
    if (p.width !== side || p.height !== side) throw new RangeError(`grid picture ${i + 1} is ${p.width}×${p.height}, picture 1 is ${side}×${side}`);
  }
  if (pictures.length === 1) return pictures[0]!;
  const width = layout.columns * side + (layout.columns - 1) * GRID_GAP;
  const height = layout.rows * side + (layout.rows - 1) * GRID_GAP;
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) data.set(GAP_RGB, i * 3);
  pictures.forEach((p, i) => {
    const { x, y } = cellOrigin(layout, side, i + 1);
    for (let r = 0; r < side; r++) data.set(p.data.subarray(r * side * 3, (r + 1) * side * 3), ((y + r) * width + x) * 3);
  });
  return { width, height, data };
}

/** Picture `index` (1-based) of a grid image of `count` pictures. */
export function gridCell(grid: RgbImage, count: number, index: number): RgbImage {
  const layout = gridLayout(count);
  if (!Number.isInteger(index) || index < 1 || index > count) throw new RangeError(`picture ${index} of a grid of ${count}: pick 1 to ${count}`);
  const side = (grid.width - (layout.columns - 1) * GRID_GAP) / layout.columns;
  if (!Number.isInteger(side) || side < 1 || grid.height !== layout.rows * side + (layout.rows - 1) * GRID_GAP) {
    throw new RangeError(`a ${grid.width}×${grid.height} image is not a grid of ${count} square pictures`);
  }
  if (count === 1) return grid;
  const { x, y } = cellOrigin(layout, side, index);
  const data = new Uint8Array(side * side * 3);
  for (let r = 0; r < side; r++) data.set(grid.data.subarray(((y + r) * grid.width + x) * 3, ((y + r) * grid.width + x + side) * 3), r * side * 3);
  return { width: side, height: side, data };
}
