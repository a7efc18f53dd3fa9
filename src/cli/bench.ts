import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { benchStep } from '../engine/bench/step-bench.js';
import { writeRandomPack } from '../engine/bench/random-pack.js';
import { BUILTIN_ARCHS } from '../engine/clip/config.js';
import { ClipModel } from '../engine/pack/model.js';
import { DEVICES } from '../engine/runtime.js';
import { deviceOf } from './device.js';
import { UsageError, fail } from './errors.js';
import { resolveModelDir } from './model-dir.js';

interface BenchArgs {
  model?: string; arch?: string; views?: string; size?: string; steps: string; warmup: string;
  threads?: string; device?: string; prompt?: string; json?: boolean;
}

function count(name: string, v: string | undefined, min: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} ${v}: expected a whole number of at least ${min}`);
  return n;
}

async function runBench(o: BenchArgs): Promise<void> {
  if (o.model && o.arch) throw new UsageError('give --model or --arch, not both');
  let tmp: string | undefined;
  let dir: string;
  if (o.arch) {
    if (!BUILTIN_ARCHS.includes(o.arch)) throw new UsageError(`--arch ${o.arch}: known architectures are ${BUILTIN_ARCHS.join(', ')}`);
    tmp = await mkdtemp(join(tmpdir(), 'clipag-bench-'));
    dir = tmp;
    process.stderr.write(`bench: random ${o.arch} weights in ${tmp}\n`);
    await writeRandomPack(dir, o.arch);
  } else {
    dir = resolveModelDir(o.model);
  }
  try {
    const threads = count('threads', o.threads, 1);
    const runtime = { device: deviceOf(o.device), intraOpThreads: threads };
    const model = await ClipModel.open(dir, runtime);
    try {
      const r = await benchStep(model, {
        prompt: o.prompt ?? (o.arch ? 'a lighthouse at dusk' : 'a red circle'),
        views: count('views', o.views, 1), size: count('size', o.size, 1),
        steps: count('steps', o.steps, 1)!, warmup: count('warmup', o.warmup, 0)!, runtime,
      });
      if (o.json) {
        process.stdout.write(`${JSON.stringify({ ...r, threads: threads ?? null })}\n`);
      } else {
        const f = (x: number): string => x.toFixed(1);
        process.stdout.write(
          `${r.model} on ${r.provider}: ${r.views.global}+${r.views.patch} views at ${r.size} px\n` +
          `  step ${f(r.msPerStep)} ms (views ${f(r.split.views)}, run ${f(r.split.run)}, optimizer ${f(r.split.optimizer)}; encode ${f(r.split.encode)})\n` +
          `  ${(r.flopsPerStep / 1e9).toFixed(1)} GFLOP/step → ${f(r.gflops)} GFLOP/s; ORT MatMul ${r.matmul.map((m) => f(m.gflops)).join(' / ')} GFLOP/s → ${(100 * r.ofMatmul).toFixed(0)} %\n` +
          `  peak RSS ${r.peakRssMb.toFixed(0)} MB\n`,
        );
      }
    } finally {
      await model.close();
    }
  } finally {
    if (tmp) await rm(tmp, { recursive: true, force: true });
  }
}

export function registerBench(program: Command): void {
  program
    .command('bench')
    .description('time synthesis steps: split, FLOP/s next to a large MatMul, peak memory')
    .option('--model <dir>', 'model pack (default: $MODEL_DIR, else the bundled demo model)')
    .option('--arch <name>', `random weights of a built-in architecture instead: ${BUILTIN_ARCHS.join(', ')}`)
    .option('--views <n>', 'views per step (default: the recipe\'s)')
    .option('--size <px>', 'canvas side (default: the model\'s input size)')
    .option('--steps <n>', 'timed steps', '5')
    .option('--warmup <n>', 'untimed steps first', '2')
    .option('--threads <n>', 'CPU threads for ONNX Runtime (default: one per core)')
    .option('--device <name>', `where to run: ${DEVICES.join(', ')}`)
    .option('--prompt <text>', 'the prompt to optimise for')
    .option('--json', 'print one JSON object on stdout')
    .action(async (o: BenchArgs) => {
      try {
        await runBench(o);
      } catch (e) {
        fail('bench', e);
      }
    });
}
