/**
 * How much of the alignment term's target direction render(t) − x a ViT can express at all.
 * A ViT's input gradient on one patch is Wᵀδ (scaled by 1/std per channel): a combination of its
 * `width` patch-embedding filters, whatever δ the layers above send down. So the best cosine any
 * such gradient reaches with the target is the target's projection onto that span, patch by patch.
 * Reported for the target as a whole and for its part on the shapes (the pixels that differ from
 * the target's background), for each pack given and for the best possible span of the same size
 * (the target patches' top principal components) at each patch size.
 *
 *   node --import tsx tools/align-span.ts [--items 1500] [--pack DIR ...] [--patch 16,8] [--rank 128]
 */
import { parseArgs } from 'node:util';
import { join } from 'node:path';
import { readFile } from 'node:fs/promises';
import { openSafetensors } from '../src/engine/clip/safetensors.js';
import { alignItems, isShapePixel } from '../src/engine/shapes/align-items.js';
import { renderSceneFloat } from '../src/engine/shapes/render.js';

const { values } = parseArgs({
  options: {
    items: { type: 'string', default: '1500' }, seed: { type: 'string', default: '7' },
    pack: { type: 'string', multiple: true, default: [] }, patch: { type: 'string', default: '16,8' }, rank: { type: 'string', default: '128' },
  },
});
const S = 64;
const A = Number(values.items);
const K = Number(values.rank);
const patchSizes = values.patch.split(',').map(Number);
if (!Number.isInteger(A) || A < 1 || !Number.isInteger(K) || K < 1 || patchSizes.some((p) => !Number.isInteger(p) || p < 1 || S % p !== 0)) {
  process.stderr.write('align-span: --items and --rank must be whole numbers ≥ 1, and each --patch must divide 64\n');
  process.exit(2);
}

const it = alignItems(Number(values.seed), A, { size: S });
/** The direction, and the same direction zeroed off the target's shapes. */
const full = it.direction;
const onShapes = new Float32Array(full.length);
for (let i = 0; i < A; i++) {
  const t = it.targets[i]!;
  const img = renderSceneFloat(t, S);
  for (let p = 0; p < S * S; p++) {
    if (!isShapePixel(t, img, S, p)) continue;
    for (let c = 0; c < 3; c++) onShapes[i * 3 * S * S + c * S * S + p] = full[i * 3 * S * S + c * S * S + p]!;
  }
}

/** Every p×p patch of every item as a row of length 3p², in conv-weight order [c][ky][kx]. */
function patches(src: Float32Array, p: number): Float64Array[] {
  const rows: Float64Array[] = [];
  for (let i = 0; i < A; i++) {
    for (let py = 0; py < S; py += p) {
      for (let px = 0; px < S; px += p) {
        const v = new Float64Array(3 * p * p);
        for (let c = 0; c < 3; c++) for (let y = 0; y < p; y++) for (let x = 0; x < p; x++) v[(c * p + y) * p + x] = src[i * 3 * S * S + c * S * S + (py + y) * S + px + x]!;
        rows.push(v);
      }
    }
  }
  return rows;
}

const dot = (a: Float64Array, b: Float64Array): number => { let s = 0; for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!; return s; };

/** Orthonormalises the columns in place (modified Gram–Schmidt); drops none, so callers keep k ≤ D. */
function orthonormalise(cols: Float64Array[]): void {
  for (let j = 0; j < cols.length; j++) {
    const v = cols[j]!;
    for (let i = 0; i < j; i++) { const q = cols[i]!; const d = dot(q, v); for (let n = 0; n < v.length; n++) v[n]! -= d * q[n]!; }
    const norm = Math.sqrt(dot(v, v)) || 1;
    for (let n = 0; n < v.length; n++) v[n]! /= norm;
  }
}

/** Share of the rows' energy inside span(basis), basis orthonormal. */
function captured(rows: Float64Array[], basis: Float64Array[]): number {
  let inside = 0;
  let all = 0;
  for (const r of rows) {
    all += dot(r, r);
    for (const q of basis) { const d = dot(q, r); inside += d * d; }
  }
  return inside / Math.max(1e-30, all);
}

/** The top-k principal directions of the rows (uncentred), by subspace iteration. */
function topSpan(rows: Float64Array[], k: number): Float64Array[] {
  const D = rows[0]!.length;
  const C = new Float64Array(D * D);
  for (const r of rows) for (let a = 0; a < D; a++) { const ra = r[a]!; if (ra === 0) continue; for (let b = 0; b < D; b++) C[a * D + b]! += ra * r[b]!; }
  let seed = 1;
  const rand = (): number => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648 - 0.5; };
  let Q = Array.from({ length: Math.min(k, D) }, () => Float64Array.from({ length: D }, rand));
  orthonormalise(Q);
  for (let iter = 0; iter < 40; iter++) {
    Q = Q.map((q) => { const z = new Float64Array(D); for (let a = 0; a < D; a++) { let s = 0; for (let b = 0; b < D; b++) s += C[a * D + b]! * q[b]!; z[a] = s; } return z; });
    orthonormalise(Q);
  }
  return Q;
}

const fmt = (share: number): string => `${(100 * share).toFixed(1)} % (best cos ${Math.sqrt(share).toFixed(3)})`;
const report: Record<string, unknown> = { items: A, rank: K };

for (const p of patchSizes) {
  const rowsFull = patches(full, p);
  const rowsShape = patches(onShapes, p);
  const best = topSpan(rowsShape, K);
  report[`best ${K}-span, ${p}-px patches (fitted to the shapes)`] = { whole: fmt(captured(rowsFull, best)), shapes: fmt(captured(rowsShape, best)) };
}

for (const dir of values.pack) {
  const manifest = JSON.parse(await readFile(join(dir, 'clipag.json'), 'utf8')) as { config: { vision: { patchSize?: number }; std: number[] } };
  const st = await openSafetensors(join(dir, 'weights.safetensors'));
  const w = await st.read('visual.conv1.weight');
  const [out, , p] = w.dims as number[];
  if (manifest.config.vision.patchSize !== p) { process.stderr.write(`align-span: ${dir} is not a ViT with square patches\n`); process.exit(2); }
  const D = 3 * p! * p!;
  const basis: Float64Array[] = [];
  for (let o = 0; o < out!; o++) {
    const v = new Float64Array(D);
    for (let n = 0; n < D; n++) v[n] = Number(w.data[o * D + n]) / manifest.config.std[Math.floor(n / (p! * p!))]!;
    basis.push(v);
  }
  orthonormalise(basis);
  report[`${dir} (${out} filters, ${p}-px patches)`] = { whole: fmt(captured(patches(full, p!), basis)), shapes: fmt(captured(patches(onShapes, p!), basis)) };
}
console.log(JSON.stringify(report, null, 1));
