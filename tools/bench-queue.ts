/**
 * The shared queue's figures (issue 19), side by side in one run on the demo model:
 * 1. throughput: the same batch of jobs through one `clipag worker --threads 1` process, then two;
 *    jobs per minute and the ratio (median over --reps alternating rounds);
 * 2. overhead: one short job on the engine in this process vs the same job through Redis and a
 *    worker in this process on the same engine; the median extra wall time per job.
 * Needs redis-server (it starts its own on a free port, as the tests do).
 *
 *   node --expose-gc --import tsx tools/bench-queue.ts [--jobs 12] [--steps 20] [--reps 3] [--overhead-jobs 20] [--json]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { CLIPAG } from '../test/helpers/cli.js';
import { demoPackDir, DEMO_PROMPT } from '../test/helpers/demo-pack.js';
import { startRedis } from '../test/helpers/redis.js';
import { openEngine } from '../src/jobs/engine.js';
import { singleEngine } from '../src/jobs/engine-pool.js';
import { parseQueueUrl } from '../src/jobs/queue-url.js';
import { openRemotePool } from '../src/jobs/remote/open-remote.js';
import { startWorker } from '../src/jobs/remote/worker.js';
import { median } from '../src/engine/stats.js';

const { values: v } = parseArgs({ options: {
  jobs: { type: 'string', default: '12' }, steps: { type: 'string', default: '20' }, reps: { type: 'string', default: '3' },
  'overhead-jobs': { type: 'string', default: '20' }, json: { type: 'boolean', default: false },
} });
const int = (name: keyof typeof v, min: number): number => {
  const n = Number(v[name]);
  if (!Number.isInteger(n) || n < min) {
    process.stderr.write(`bench-queue: --${name} must be a whole number ≥ ${min}, got ${String(v[name])}\n`);
    process.exit(2);
  }
  return n;
};
const JOBS = int('jobs', 2);
const STEPS = int('steps', 1);
const REPS = int('reps', 1);
const OVERHEAD_JOBS = int('overhead-jobs', 3);

const quiet = pino({ level: 'silent' });
const redis = await startRedis();
const parsed = parseQueueUrl(redis.url);
if (!parsed.ok) throw new Error(parsed.problem);
const target = parsed.target;
const packDir = await demoPackDir();
const dir = await mkdtemp(join(tmpdir(), 'clipag-bench-queue-'));
const { engines, remote } = await openRemotePool({ defaultDir: packDir, target, logger: quiet });
let seq = 0;

async function runJobs(n: number, steps: number): Promise<number> {
  const lease = await engines.acquire(engines.defaultModel);
  const started = performance.now();
  try {
    await Promise.all(Array.from({ length: n }, () => {
      const id = `bench-${seq++}`;
      return lease.engine.run({ prompt: DEMO_PROMPT, steps, seed: seq }, { signal: new AbortController().signal, out: join(dir, `${id}.png`), jobId: id });
    }));
  } finally {
    lease.release();
  }
  return performance.now() - started;
}

async function withWorkers<T>(n: number, body: () => Promise<T>): Promise<T> {
  const children: ChildProcess[] = [];
  for (let i = 0; i < n; i++) {
    children.push(spawn(process.execPath, [CLIPAG, 'worker', '--model', packDir, '--device', 'cpu', '--threads', '1', '--name', `bench-${n}-${i}`], {
      env: { ...process.env, QUEUE_URL: redis.url, LOG_LEVEL: 'warn' }, stdio: 'ignore',
    }));
  }
  try {
    while ((await remote.workers()).length < n) await new Promise((r) => setTimeout(r, 100));
    await runJobs(n, 2); // each worker compiles its graphs once before the clock starts
    return await body();
  } finally {
    for (const c of children) {
      const exited = new Promise((r) => c.once('exit', r));
      c.kill('SIGTERM');
      await exited;
    }
    while ((await remote.workers()).length) await new Promise((r) => setTimeout(r, 100));
  }
}

const perMinute = (ms: number): number => (JOBS * 60_000) / ms;
/** Heap after a full collection where node runs with --expose-gc, so growth means kept garbage. */
const heapMb = (): number => {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().heapUsed / 2 ** 20;
};
let heapAfterFirstRound: number | undefined;
const one: number[] = [];
const two: number[] = [];
for (let r = 0; r < REPS; r++) {
  // Alternating which goes first, so a drift in the machine's load falls on both.
  const order = r % 2 ? [2, 1] : [1, 2];
  for (const n of order) {
    const ms = await withWorkers(n, () => runJobs(JOBS, STEPS));
    (n === 1 ? one : two).push(perMinute(ms));
  }
  heapAfterFirstRound ??= heapMb();
}
const heapAfterAllRounds = heapMb();
const blobsLeft = (await remote.redis.keys('clipag:blob:*')).length;

// Overhead: the same short job in this process and through the queue, interleaved.
const engine = await openEngine({ modelDir: packDir, device: 'cpu', threads: 1, logger: quiet });
const worker = await startWorker({ target, engines: singleEngine(engine), concurrency: 1, name: 'bench-overhead', logger: quiet });
const local: number[] = [];
const queued: number[] = [];
await runJobs(1, 2);
for (let i = 0; i < OVERHEAD_JOBS; i++) {
  const t = performance.now();
  await engine.run({ prompt: DEMO_PROMPT, steps: 2, seed: i }, { signal: new AbortController().signal, out: join(dir, `local-${i}.png`) });
  local.push(performance.now() - t);
  queued.push(await runJobs(1, 2));
}
await worker.close();
await engine.close();
await engines.close();
await remote.close();
await redis.close();
await rm(dir, { recursive: true, force: true });

const result = {
  jobs: JOBS, steps: STEPS, reps: REPS,
  jobsPerMinute: { oneWorker: +median(one).toFixed(1), twoWorkers: +median(two).toFixed(1) },
  twoOverOne: +(median(two) / median(one)).toFixed(2),
  botHeapMb: { afterFirstRound: +heapAfterFirstRound!.toFixed(1), afterAllRounds: +heapAfterAllRounds.toFixed(1), jobsBetween: (REPS * 2 - 1) * (JOBS + 2) },
  blobsLeftInRedis: blobsLeft,
  overhead: { jobs: OVERHEAD_JOBS, inProcessMs: +median(local).toFixed(1), throughQueueMs: +median(queued).toFixed(1), extraMs: +(median(queued) - median(local)).toFixed(1) },
};
if (v.json) console.log(JSON.stringify(result));
else {
  console.log(`throughput (${JOBS} jobs × ${STEPS} steps, median of ${REPS}): one worker ${result.jobsPerMinute.oneWorker} jobs/min, two ${result.jobsPerMinute.twoWorkers}: ×${result.twoOverOne}`);
  console.log(`bot heap ${result.botHeapMb.afterFirstRound} MB after the first round, ${result.botHeapMb.afterAllRounds} MB after ${result.botHeapMb.jobsBetween} more jobs; blobs left in Redis: ${blobsLeft}`);
  console.log(`overhead (2-step job, median of ${OVERHEAD_JOBS}): in process ${result.overhead.inProcessMs} ms, through the queue ${result.overhead.throughQueueMs} ms: +${result.overhead.extraMs} ms a job`);
}
