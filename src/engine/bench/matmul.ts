/**
 * The machine's practical dense-math ceiling: a large square MatMul in ONNX Runtime on the same
 * device and threads, timed in the same run as whatever it is compared with (shared machines drift).
 */
import { GraphBuilder } from '../onnx/builder.js';
import { Tensor } from '../onnx/tensor.js';
import { gaussian, rng } from '../random.js';
import { Session, type RuntimeOptions } from '../runtime.js';

export interface MatmulResult {
  n: number;
  /** True when B is a weight (an initializer ORT may prepack), as CLIP's projections are. */
  weightB: boolean;
  ms: number;
  gflops: number;
}

function randomSquare(seed: number, n: number): Tensor {
  const r = rng(seed);
  return Tensor.float32([n, n], Array.from({ length: n * n }, () => gaussian(r)));
}

/** Median time of `reps` runs after one warm-up. */
export async function medianRunMs(s: Session, feeds: Record<string, Tensor>, reps: number): Promise<number> {
  await s.run(feeds);
  const ts: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t = performance.now();
    await s.run(feeds);
    ts.push(performance.now() - t);
  }
  return ts.sort((a, b) => a - b)[Math.floor(ts.length / 2)]!;
}

export async function matmulCeiling(opts: RuntimeOptions, reps = 5, n = 2048): Promise<MatmulResult[]> {
  const out: MatmulResult[] = [];
  const a = randomSquare(1, n);
  const bt = randomSquare(2, n);
  for (const weightB of [false, true]) {
    const b = new GraphBuilder(17, 'matmul');
    const rhs = weightB ? b.initializer('b', bt) : b.input('b', 'float32', [n, n]);
    b.output(b.input('a', 'float32', [n, n]).matmul(rhs), 'c');
    const s = await Session.create(b.toModel(), opts);
    const ms = await medianRunMs(s, weightB ? { a } : { a, b: bt }, reps);
    await s.release();
    out.push({ n, weightB, ms, gflops: (2 * n ** 3) / 1e6 / ms });
  }
  return out;
}
