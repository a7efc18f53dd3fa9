/**
 * What share of the start's target energy fits in the best k-dimensional subspace: at a fixed canvas a
 * model's input gradient is a linear function of its text embedding, so over all captions it spans at
 * most (embedding width − 1) directions. The target is render(t) − grey less each channel's mean (the
 * background's constant part); the share comes from the top eigenvalues of the captions' Gram matrix.
 *
 *   node --import tsx tools/start-rank.ts [CAPTIONS=800] [K=127]
 */
import { alignItems } from '../src/engine/shapes/align-items.js';
import { renderSceneFloat } from '../src/engine/shapes/render.js';
import { gaussianBlur } from '../src/engine/pag/blur.js';
const S = 64, P = 3 * S * S, N = Number(process.argv[2] ?? 800), K = Number(process.argv[3] ?? 127);
if (!Number.isInteger(N) || !Number.isInteger(K) || K < 1 || N <= K) {
  process.stderr.write('start-rank: CAPTIONS and K must be whole numbers with CAPTIONS > K ≥ 1\n');
  process.exit(2);
}
const it = alignItems(5, N, { size: S, alphaMax: 0, sigmaMax: 0, nearMiss: 0 });
for (const sigma of [0, 2, 4]) {
  const rows: Float64Array[] = [];
  for (let i = 0; i < N; i++) {
    const truth = renderSceneFloat(it.targets[i]!, S);
    const t = Float32Array.from(truth);
    if (sigma) gaussianBlur(t, 3, S, S, sigma);
    // Less each channel's mean: the background's constant part is 3 directions any model expresses.
    const v = new Float64Array(P);
    for (let c = 0; c < 3; c++) { let m = 0; for (let p = 0; p < S * S; p++) m += t[c * S * S + p]!; m /= S * S; for (let p = 0; p < S * S; p++) v[c * S * S + p] = t[c * S * S + p]! - m; }
    rows.push(v);
  }
  const G = new Float64Array(N * N);
  for (let a = 0; a < N; a++) for (let b = a; b < N; b++) { let s = 0; const ra = rows[a]!, rb = rows[b]!; for (let q = 0; q < P; q++) s += ra[q]! * rb[q]!; G[a * N + b] = s; G[b * N + a] = s; }
  let trace = 0; for (let a = 0; a < N; a++) trace += G[a * N + a]!;
  let Q = Array.from({ length: K }, (_, j) => Float64Array.from({ length: N }, (_, i) => Math.sin(i * 12.9898 + j * 78.233) * 43758.5453 % 1));
  const ortho = () => { for (let j = 0; j < K; j++) { const v = Q[j]!; for (let i = 0; i < j; i++) { const q = Q[i]!; let d = 0; for (let n = 0; n < N; n++) d += q[n]! * v[n]!; for (let n = 0; n < N; n++) v[n]! -= d * q[n]!; } let nn = 0; for (let n = 0; n < N; n++) nn += v[n]! ** 2; nn = Math.sqrt(nn) || 1; for (let n = 0; n < N; n++) v[n]! /= nn; } };
  ortho();
  for (let iter = 0; iter < 60; iter++) { Q = Q.map((q) => { const z = new Float64Array(N); for (let a = 0; a < N; a++) { let s = 0; for (let b = 0; b < N; b++) s += G[a * N + b]! * q[b]!; z[a] = s; } return z; }); ortho(); }
  let top = 0; for (const q of Q) { let s = 0; for (let a = 0; a < N; a++) { let r = 0; for (let b = 0; b < N; b++) r += G[a * N + b]! * q[b]!; s += q[a]! * r; } top += s; }
  console.log(`blur σ ${sigma}: top-${K} share of the non-constant target energy ${(100 * top / trace).toFixed(1)} % (best mean cos ≈ ${Math.sqrt(top / trace).toFixed(3)})`);
}
