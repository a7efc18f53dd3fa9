/**
 * Where the alignment term's target direction render(t) − x has its energy: on the target's shapes
 * or on its background. A gradient equal to the direction off the shapes (it says nothing about any
 * shape) has cosine √(1 − share on shapes) with it: what alignCos can reach without drawing shapes.
 *
 *   node --import tsx tools/align-energy.ts [--items 2000] [--seed 7] [--size 64]
 */
import { parseArgs } from 'node:util';
import { alignItems, isShapePixel } from '../src/engine/shapes/align-items.js';
import { renderSceneFloat } from '../src/engine/shapes/render.js';

const { values } = parseArgs({ options: { items: { type: 'string', default: '2000' }, seed: { type: 'string', default: '7' }, size: { type: 'string', default: '64' } } });
const A = Number(values.items);
const S = Number(values.size);
if (!Number.isInteger(A) || A < 1 || !Number.isInteger(S) || S < 8) {
  process.stderr.write('align-energy: --items must be a whole number ≥ 1 and --size ≥ 8\n');
  process.exit(2);
}
const P = 3 * S * S;
const it = alignItems(Number(values.seed), A, { size: S });
const shares: number[] = [];
let pixels = 0;
let backgroundOnly = 0;
for (let i = 0; i < A; i++) {
  const t = it.targets[i]!;
  const img = renderSceneFloat(t, S);
  let onShapes = 0;
  let all = 0;
  for (let p = 0; p < S * S; p++) {
    const shape = isShapePixel(t, img, S, p);
    if (shape) pixels++;
    for (let c = 0; c < 3; c++) {
      const d = it.direction[i * P + c * S * S + p]!;
      all += d * d;
      if (shape) onShapes += d * d;
    }
  }
  const share = onShapes / Math.max(1e-12, all);
  shares.push(share);
  backgroundOnly += Math.sqrt(1 - share);
}
shares.sort((a, b) => a - b);
const mean = shares.reduce((a, b) => a + b, 0) / A;
console.log(JSON.stringify({
  items: A, shapePixelShare: +(pixels / (A * S * S)).toFixed(3), energyOnShapes: { mean: +mean.toFixed(3), median: +shares[Math.floor(A / 2)]!.toFixed(3) },
  cosOfBackgroundOnlyGradient: +(backgroundOnly / A).toFixed(3),
}));
