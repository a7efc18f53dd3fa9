/**
 * A grid's throughput: `count` pictures optimised together (one batch through the step graph) against
 * the same pictures made one after another (the seeds a grid gives them, so the work is the same),
 * timed alternately in one process so both see the same machine. Also checks that each grid picture
 * is the lone run's picture.
 *
 *   node --import tsx tools/bench-grid.ts [--model DIR] [--count 4] [--steps N] [--views N] [--size PX]
 *        [--reps 5] [--device cpu|cuda|auto] [--threads N] [--prompt TEXT] [--json]
 *
 * Prints the median wall time of each (whole imagine() calls: start canvases, steps, final score),
 * their ratio (together / in turn), and each one's median ms per step.
 */
import { parseArgs } from 'node:util';
import { ClipModel } from '../src/engine/pack/model.js';
import { imagine, pictureSeed, type ImagineRequest } from '../src/engine/pag/imagine.js';
import type { Device } from '../src/engine/runtime.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'models/shapes' },
    count: { type: 'string', default: '4' },
    steps: { type: 'string' },
    views: { type: 'string' },
    size: { type: 'string' },
    reps: { type: 'string', default: '5' },
    device: { type: 'string', default: 'cpu' },
    threads: { type: 'string' },
    prompt: { type: 'string', default: 'a big red circle in the center on a blue background' },
    json: { type: 'boolean', default: false },
  },
});
const int = (v: string | undefined): number | undefined => (v === undefined ? undefined : Number(v));
const count = int(values.count)!;
const reps = int(values.reps)!;
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const model = await ClipModel.open(values.model!, { device: values.device as Device, intraOpThreads: int(values.threads) });
const base: ImagineRequest = { prompt: values.prompt!, steps: int(values.steps), views: int(values.views), size: int(values.size), seed: 1 };

async function together(seed: number): Promise<{ ms: number; msPerStep: number; images: Uint8Array[] }> {
  const t = performance.now();
  const r = await imagine(model, { ...base, seed, count });
  return { ms: performance.now() - t, msPerStep: r.msPerStep, images: r.pictures.map((p) => p.image.data) };
}

async function inTurn(seed: number): Promise<{ ms: number; msPerStep: number; images: Uint8Array[] }> {
  const t = performance.now();
  const runs = [];
  for (let i = 0; i < count; i++) runs.push(await imagine(model, { ...base, seed: pictureSeed(seed, i) }));
  return { ms: performance.now() - t, msPerStep: runs.reduce((a, r) => a + r.msPerStep, 0), images: runs.map((r) => r.image.data) };
}

/** Largest 8-bit difference between the grid's pictures and the lone runs'. */
function maxDiff(a: Uint8Array[], b: Uint8Array[]): number {
  let m = 0;
  a.forEach((x, i) => x.forEach((v, k) => { m = Math.max(m, Math.abs(v - b[i]![k]!)); }));
  return m;
}

// Compiles both step graphs and warms the caches before anything is timed.
await together(1000);
await inTurn(1000);
const t: number[] = [];
const s: number[] = [];
const tStep: number[] = [];
const sStep: number[] = [];
let diff = 0;
for (let r = 0; r < reps; r++) {
  // Alternating which goes first spreads a drift of the machine's load over both.
  const seed = 1 + r * count;
  const order = r % 2 === 0 ? [together, inTurn] : [inTurn, together];
  const [a, b] = [await order[0]!(seed), await order[1]!(seed)];
  const [g, one] = r % 2 === 0 ? [a, b] : [b, a];
  t.push(g.ms);
  s.push(one.ms);
  tStep.push(g.msPerStep);
  sStep.push(one.msPerStep);
  diff = Math.max(diff, maxDiff(g.images, one.images));
}
const result = {
  model: model.manifest.name, count, reps,
  togetherMs: median(t), inTurnMs: median(s), ratio: median(t) / median(s),
  togetherMsPerStep: median(tStep), inTurnMsPerStep: median(sStep),
  maxPixelDiff: diff,
};
await model.close();
if (values.json) {
  process.stdout.write(`${JSON.stringify(result)}\n`);
} else {
  process.stdout.write(
    `${result.model}: ${count} pictures together ${(result.togetherMs / 1000).toFixed(2)} s, in turn ${(result.inTurnMs / 1000).toFixed(2)} s ` +
    `(ratio ${result.ratio.toFixed(2)}; medians of ${reps}); per step ${result.togetherMsPerStep.toFixed(1)} vs ${result.inTurnMsPerStep.toFixed(1)} ms; ` +
    `grid pictures vs lone runs: max 8-bit difference ${diff}\n`,
  );
}
