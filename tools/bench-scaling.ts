/**
 * What this machine allows two single-thread engines, with no queue at all: the ceiling for issue
 * 19's "two workers ≥ 1.7× one". The same jobs as tools/bench-queue.ts (the demo model, --steps
 * steps each, one ONNX Runtime thread) run in one child process, then split between two children
 * running at once; jobs per minute and the ratio, median over --reps alternating rounds.
 *
 *   node --import tsx tools/bench-scaling.ts [--jobs 24] [--steps 30] [--reps 3]
 */
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import { ClipModel } from '../src/engine/pack/model.js';
import { imagine } from '../src/engine/pag/imagine.js';
import { demoPackDir, DEMO_PROMPT } from '../test/helpers/demo-pack.js';
import { median } from '../src/engine/stats.js';

const { values: v } = parseArgs({ options: {
  jobs: { type: 'string', default: '24' }, steps: { type: 'string', default: '30' }, reps: { type: 'string', default: '3' },
  child: { type: 'string' },
} });
const int = (name: 'jobs' | 'steps' | 'reps'): number => {
  const n = Number(v[name]);
  if (!Number.isInteger(n) || n < 1) {
    process.stderr.write(`bench-scaling: --${name} must be a whole number ≥ 1, got ${String(v[name])}\n`);
    process.exit(2);
  }
  return n;
};
const STEPS = int('steps');

/** Child: loads the model, runs one warm-up job, says "ready", waits for "go", runs its jobs, prints their seconds. */
async function child(jobs: number): Promise<void> {
  const model = await ClipModel.open(await demoPackDir(), { device: 'cpu', intraOpThreads: 1 });
  await imagine(model, { prompt: DEMO_PROMPT, steps: 2, seed: 1 });
  process.stdout.write('ready\n');
  await new Promise<void>((resolve) => process.stdin.once('data', () => resolve()));
  const t0 = performance.now();
  for (let i = 0; i < jobs; i++) await imagine(model, { prompt: DEMO_PROMPT, steps: STEPS, seed: 100 + i });
  process.stdout.write(`${(performance.now() - t0) / 1000}\n`);
}

function startChild(jobs: number): { ready: Promise<void>; done: Promise<number>; go: () => void } {
  const p = spawn(process.execPath, ['--import', 'tsx', new URL(import.meta.url).pathname, '--child', String(jobs), '--steps', String(STEPS)], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  let readyResolve!: () => void;
  const ready = new Promise<void>((r) => { readyResolve = r; });
  const done = new Promise<number>((resolve, reject) => {
    p.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      if (out.includes('ready\n')) readyResolve();
    });
    p.on('exit', (code) => (code === 0 ? resolve(Number(out.trim().split('\n').pop())) : reject(new Error(`child exited ${code}`))));
  });
  return { ready, done, go: () => p.stdin.end('go\n') };
}

/** Jobs per minute of `procs` children sharing `jobs` jobs, timed from "go" to the last one done. */
async function round(jobs: number, procs: number): Promise<number> {
  const share = Array.from({ length: procs }, (_, i) => Math.floor(jobs / procs) + (i < jobs % procs ? 1 : 0));
  const kids = share.map(startChild);
  await Promise.all(kids.map((k) => k.ready));
  const t0 = performance.now();
  kids.forEach((k) => k.go());
  await Promise.all(kids.map((k) => k.done));
  return jobs / ((performance.now() - t0) / 60_000);
}

async function main(): Promise<void> {
  if (v.child) return child(Number(v.child));
  const jobs = int('jobs');
  const one: number[] = [];
  const two: number[] = [];
  for (let r = 0; r < int('reps'); r++) {
    one.push(await round(jobs, 1));
    two.push(await round(jobs, 2));
  }
  const ratios = one.map((o, i) => two[i]! / o);
  process.stdout.write(`no queue (${jobs} jobs × ${STEPS} steps, median of ${one.length}): one process ${median(one).toFixed(1)} jobs/min, two ${median(two).toFixed(1)}: ×${median(ratios).toFixed(2)} (rounds ${ratios.map((x) => x.toFixed(2)).join(', ')})\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`bench-scaling: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
