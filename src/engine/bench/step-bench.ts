/**
 * `clipag bench`: one synthesis step, measured the way the product runs it (imagine's own loop),
 * split into view preparation, session run, optimizer and PNG encode; FLOPs counted from the step
 * graph; achieved GFLOP/s next to a large ORT MatMul timed in the same process.
 */
import { encodePng } from '../clip/image.js';
import { modelFlops } from '../onnx/flops.js';
import { Tensor } from '../onnx/tensor.js';
import type { ClipModel } from '../pack/model.js';
import { imagine, stepPlan, type StepTimings } from '../pag/imagine.js';
import { buildStepModel, stepGraphKind } from '../pag/step-graph.js';
import { recipeFor, resolveSettings } from '../pag/recipe.js';
import type { RuntimeOptions } from '../runtime.js';
import { matmulCeiling, type MatmulResult } from './matmul.js';

export interface StepBenchOptions {
  prompt: string;
  views?: number;
  size?: number;
  steps: number;
  warmup: number;
  runtime: RuntimeOptions;
}

export interface StepBenchResult {
  model: string;
  provider: string;
  views: { global: number; patch: number };
  size: number;
  steps: number;
  /** Median over the timed steps of views + run + optimizer (what a step costs). */
  msPerStep: number;
  split: StepTimings;
  flopsPerStep: number;
  gflops: number;
  matmul: MatmulResult[];
  /** Achieved GFLOP/s as a fraction of the better of the two MatMul figures. */
  ofMatmul: number;
  peakRssMb: number;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

export async function benchStep(model: ClipModel, o: StepBenchOptions): Promise<StepBenchResult> {
  const s = resolveSettings({ prompt: o.prompt, views: o.views, size: o.size, steps: o.warmup + o.steps, seed: 1 }, recipeFor(model.manifest), model.config.vision.imageSize);
  const per: StepTimings[] = [];
  const encodes: number[] = [];
  await imagine(model, { prompt: o.prompt, views: o.views, size: o.size, steps: s.steps, seed: 1 }, {
    progressEvery: 1,
    onStepTimings: (t) => per.push(t),
    onProgress: async (p) => {
      if (!p.image) return;
      const t = performance.now();
      await encodePng(p.image);
      encodes.push(performance.now() - t);
    },
  });
  const timed = per.slice(o.warmup);
  const split: StepTimings = {
    views: median(timed.map((t) => t.views)),
    run: median(timed.map((t) => t.run)),
    optimizer: median(timed.map((t) => t.optimizer)),
    encode: median(timed.map((t, i) => t.encode + (encodes[o.warmup + i] ?? 0))),
  };
  const msPerStep = median(timed.map((t) => t.views + t.run + t.optimizer));

  // A step runs its views in equal groups through one smaller graph (see Recipe.maxViewsPerRun).
  const { shape, groups } = stepPlan(s, 1);
  // Shapes are all FLOP counting needs: zero weights (never touched, so never really allocated).
  const zeros = (_: string, dims: number[]): Tensor => new Tensor('float32', dims, new Float32Array(dims.reduce((a, b) => a * b, 1)));
  const flops = groups * modelFlops(buildStepModel(model.config, shape, zeros)).total;
  const matmul = await matmulCeiling(o.runtime);
  const ceiling = Math.max(...matmul.map((m) => m.gflops));
  const gflops = flops / 1e6 / msPerStep;
  const session = await model.graphSession(stepGraphKind(shape), ['vision'], () => { throw new Error('internal: the step graph was compiled by the run above'); });
  return {
    model: model.manifest.name,
    provider: session.provider,
    views: { global: s.global, patch: s.patch },
    size: s.canvas,
    steps: o.steps,
    msPerStep,
    split,
    flopsPerStep: flops,
    gflops,
    matmul,
    ofMatmul: gflops / ceiling,
    peakRssMb: process.resourceUsage().maxRSS / 1024,
  };
}
