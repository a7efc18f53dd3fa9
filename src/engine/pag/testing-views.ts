/** The torch fixtures of the view tests and the dense arithmetic they are checked with. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { Tensor } from '../onnx/tensor.js';
import type { ViewAugment } from './views.js';

// Made by tools/torch/make_view_fixtures.py (torch's F.interpolate; see its docstring for the cases).
export const fixtures = JSON.parse(readFileSync(new URL('../../../test/fixtures/pag/views.json', import.meta.url), 'utf8')) as {
  crops: { canvas: number; size: number; crop: number; top: number; left: number; antialias: boolean; out: string }[];
  globals: { canvas: number; size: number; out: string }[];
  geometry: { size: number; shiftRows: number; shiftCols: number; zoomed: number; out: string }[];
};

export const float32 = (b64: string): Float32Array => {
  const buf = Buffer.from(b64, 'base64');
  return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
};

/** The fixture script's input: x[c, i, j] = ((7919c + 104729i + 1299709j) mod 1009) / 1009, float32. */
export function pattern(side: number): Float32Array {
  const x = new Float32Array(3 * side * side);
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < side; i++) {
      for (let j = 0; j < side; j++) x[(c * side + i) * side + j] = ((7919 * c + 104729 * i + 1299709 * j) % 1009) / 1009;
    }
  }
  return x;
}

/**
 * R · X_c · C for every channel of X [3, H, W], with R [S, H] and C [W, S] read at view v of a
 * batched tensor; float64, skipping zeros (the matrices are sparse).
 */
export function sandwich(rows: Tensor, x: Float32Array, cols: Tensor, v: number): Float64Array {
  const [, S, H] = rows.dims as [number, number, number];
  const W = cols.dims[1]!;
  const R = (rows.data as Float32Array).subarray(v * S * H, (v + 1) * S * H);
  const C = (cols.data as Float32Array).subarray(v * W * S, (v + 1) * W * S);
  const out = new Float64Array(3 * S * S);
  for (let ch = 0; ch < 3; ch++) {
    const rx = new Float64Array(S * W);
    for (let i = 0; i < S; i++) {
      for (let k = 0; k < H; k++) {
        const r = R[i * H + k]!;
        if (r === 0) continue;
        for (let l = 0; l < W; l++) rx[i * W + l]! += r * x[(ch * H + k) * W + l]!;
      }
    }
    for (let l = 0; l < W; l++) {
      for (let j = 0; j < S; j++) {
        const c = C[l * S + j]!;
        if (c === 0) continue;
        for (let i = 0; i < S; i++) out[(ch * S + i) * S + j]! += rx[i * W + l]! * c;
      }
    }
  }
  return out;
}

export function assertClose(got: ArrayLike<number>, want: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  let worst = 0;
  let at = 0;
  for (let k = 0; k < got.length; k++) {
    const d = Math.abs(got[k]! - want[k]!);
    if (!(d <= worst)) { worst = d; at = k; }
  }
  assert.ok(worst <= tol, `${what}: element ${at} is ${got[at]}, expected ${want[at]} (|diff| ${worst} > ${tol})`);
}

export const NEUTRAL: ViewAugment = { brightness: 0, saturation: 1, contrast: 1, shiftRows: 0, shiftCols: 0, cutoutRow: 0, cutoutCol: 0 };
