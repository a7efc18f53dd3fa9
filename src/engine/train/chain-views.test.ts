import assert from 'node:assert/strict';
import { test } from 'node:test';
import { rng } from '../random.js';
import { withViews } from './chain-views.js';

const S = 5;
const P = 3 * S * S;
const CTX = 2;

/** Picture p's view at shift (dx, dy), written out plainly: pixel (y, x) reads (y + dy, x + dx), edges repeated. */
function shifted(x: Float32Array, p: number, dx: number, dy: number): Float32Array {
  const out = new Float32Array(P);
  const at = (v: number) => Math.min(S - 1, Math.max(0, v));
  for (let c = 0; c < 3; c++) for (let y = 0; y < S; y++) for (let i = 0; i < S; i++) out[c * S * S + y * S + i] = x[p * P + c * S * S + at(y + dy) * S + at(i + dx)]!;
  return out;
}

test('each view is every picture shifted by one of the allowed shifts; the gradient is the mean of the views\' gradients taken back to the pictures', async () => {
  const r = rng(3);
  const n = 2;
  const x = Float32Array.from({ length: n * P }, () => r());
  const ids = BigInt64Array.from([1n, 2n, 3n, 4n]);
  const V = 3;
  // A linear objective of the views: its gradient is a fixed weight per view pixel.
  const w = Float32Array.from({ length: V * n * P }, () => r() - 0.5);
  let seenViews: Float32Array | undefined;
  let seenIds: BigInt64Array | undefined;
  const g = await withViews(async (views, viewIds) => {
    seenViews = views;
    seenIds = viewIds;
    return w;
  }, { views: V, shift: 2, noise: 0, size: S, rand: rng(9) })(x, ids);
  assert.deepEqual([...seenIds!], [...ids, ...ids, ...ids], 'every view carries the captions, views-major');
  const shifts: [number, number][] = [];
  for (let v = 0; v < V; v++) {
    const view = (p: number) => [...seenViews!.subarray((v * n + p) * P, (v * n + p + 1) * P)];
    const found: [number, number][] = [];
    for (let dy = -2; dy <= 2; dy++) for (let dx = -2; dx <= 2; dx++) if ([0, 1].every((p) => view(p).every((val, k) => val === shifted(x, p, dx, dy)[k]))) found.push([dx, dy]);
    assert.ok(found.length >= 1, `view ${v} is a shift within ±2 px of both pictures`);
    shifts.push(found[0]!);
  }
  // f(x) = mean over views of <w_v, view_v(x)>, linear in x: its change for a unit step at a pixel is the gradient there.
  const f = (px: Float32Array): number => {
    let s = 0;
    shifts.forEach(([dx, dy], v) => { for (let p = 0; p < n; p++) shifted(px, p, dx, dy).forEach((val, k) => { s += w[(v * n + p) * P + k]! * val; }); });
    return s / V;
  };
  const base = f(x);
  for (const k of [0, 7, P - 1, P + 12, 2 * P - 1]) {
    const bumped = x.slice();
    bumped[k] = bumped[k]! + 1;
    assert.ok(Math.abs(f(bumped) - base - g[k]!) < 1e-5, `pixel ${k}: ${g[k]} vs ${f(bumped) - base}`);
  }
});

test('views carry pixel noise of the asked size, and bad options are refused', async () => {
  const x = new Float32Array(4 * P).fill(0.5);
  let views: Float32Array | undefined;
  await withViews(async (v) => { views = v; return new Float32Array(v.length); }, { views: 4, shift: 0, noise: 0.03, size: S, rand: rng(1) })(x, new BigInt64Array(4 * CTX));
  const sd = Math.sqrt(views!.reduce((a, v) => a + (v - 0.5) ** 2, 0) / views!.length);
  assert.ok(sd > 0.025 && sd < 0.035, `noise sd ${sd}`);
  assert.throws(() => withViews(async (v) => v, { views: 0, shift: 2, noise: 0, size: S, rand: rng(1) }), /views ≥ 1/);
  await assert.rejects(withViews(async () => new Float32Array(1), { views: 2, shift: 1, noise: 0, size: S, rand: rng(1) })(x, new BigInt64Array(4 * CTX)), /the gradient has 1 values/);
});
