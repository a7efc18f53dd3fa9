/**
 * `clipag worker`: takes jobs for the models it serves from the shared queue, runs them on its own
 * engines and hands back only references (blob keys) through BullMQ. One BullMQ Worker per model
 * queue; a semaphore keeps the process at its own concurrency across them. A worker killed mid-job
 * loses its lock, and BullMQ's stalled-job check gives the job to another worker (lock settings
 * below); a job that stalls a second time fails instead of taking down every worker in turn.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { encodePng } from '../../engine/clip/image-write.js';
import { log as defaultLog } from '../../log.js';
import { JobAborted, JobInputError, type EngineProgress } from '../engine.js';
import type { Engines } from '../engine-pool.js';
import type { QueueTarget } from '../queue-url.js';
import { bullConnection, redisOptions } from '../redis-connection.js';
import { Blobs } from './blobs.js';
import { blobKey, CANCEL_CHANNEL, cancelKey, FRAME_TTL_S, queueName, RESULT_TTL_S } from './keys.js';
import { FAILURE, firstProblem, jobData, type ProgressData, type RunData, type RunResult, type ScreenData } from './protocol.js';
import { announce, withdraw } from './registry.js';
import { Semaphore } from './semaphore.js';

/**
 * A job's lock lives this long without renewal (BullMQ renews it every half of it): a dead worker's
 * job is free again within lockDuration + stalledInterval. 20 s is far above any pause of a working
 * process's event loop (a step is milliseconds; graphs are compiled at start), and short enough
 * that a member waits well under a minute for another worker to take over.
 */
export const LOCK_DURATION_MS = 20_000;
/** How often each worker looks for jobs whose lock expired. */
export const STALLED_INTERVAL_MS = 10_000;
/** A job may stall once (a worker was killed under it); the second time it fails: it may be the cause. */
export const MAX_STALLED_COUNT = 1;

export interface WorkerOptions {
  target: QueueTarget;
  engines: Engines;
  /** Jobs this process runs at once, over all its models. */
  concurrency: number;
  /** How the worker is listed in /info (default: host name and process id). */
  name?: string;
  logger?: Logger;
  /** Least time between two progress frames of one job (default 1 s). */
  frameIntervalMs?: number;
  heartbeatMs?: number;
  lockDurationMs?: number;
  stalledIntervalMs?: number;
}

export interface RunningWorker {
  readonly name: string;
  /** Stops taking jobs, lets running ones finish, and withdraws the announcement. */
  close(): Promise<void>;
}

export async function startWorker(o: WorkerOptions): Promise<RunningWorker> {
  const log = o.logger ?? defaultLog;
  const name = o.name ?? `${hostname()}-${process.pid}`;
  const redis = new Redis(redisOptions(o.target));
  const sub = new Redis(redisOptions(o.target));
  redis.on('error', (e: Error) => log.warn({ err: e.message }, 'redis connection'));
  sub.on('error', (e: Error) => log.warn({ err: e.message }, 'redis subscriber connection'));
  const blobs = new Blobs(redis);
  const slots = new Semaphore(o.concurrency);
  const recentMsPerStep: number[] = [];
  const models = o.engines.list().map((p) => p.name);
  const since = Date.now();
  let device = 'not loaded yet';

  const ctx: RunContext = { blobs, redis, engines: o.engines, log, name, frameIntervalMs: o.frameIntervalMs ?? 1000 };
  const processor = async (job: Job, _token?: string, signal?: AbortSignal): Promise<unknown> => {
    const parsed = jobData.safeParse(job.data);
    if (!parsed.success) {
      log.warn({ jobId: job.id, problem: firstProblem(parsed.error) }, 'unreadable job refused');
      throw new UnrecoverableError(FAILURE.unreadable + firstProblem(parsed.error));
    }
    const data = parsed.data;
    if (queueName(data.model) !== job.queueName) throw new UnrecoverableError(`${FAILURE.unreadable}it names the model "${data.model}" but sits in ${job.queueName}`);
    const abort = signal ?? new AbortController().signal;
    await slots.acquire(abort).catch(() => { throw new UnrecoverableError(FAILURE.cancelled); });
    try {
      if (data.kind === 'screen') return await screenJob(ctx, data);
      const r = await runJob(ctx, job, data, abort);
      recentMsPerStep.push(r.msPerStep);
      if (recentMsPerStep.length > 20) recentMsPerStep.shift();
      return r;
    } finally {
      slots.release();
    }
  };

  const workers = models.map((model) => {
    const w = new Worker(queueName(model), processor, {
      connection: bullConnection(o.target),
      concurrency: o.concurrency,
      lockDuration: o.lockDurationMs ?? LOCK_DURATION_MS,
      stalledInterval: o.stalledIntervalMs ?? STALLED_INTERVAL_MS,
      maxStalledCount: MAX_STALLED_COUNT,
      name,
    });
    w.on('error', (e) => log.warn({ err: e.message, model }, 'worker connection'));
    w.on('failed', (job, e) => {
      if (e.message !== FAILURE.cancelled && !e.message.startsWith(FAILURE.input)) log.error({ jobId: job?.id, err: e }, 'job failed on this worker');
    });
    return w;
  });

  // Cancels reach whichever worker holds the job; the others ignore the message.
  await sub.subscribe(CANCEL_CHANNEL);
  sub.on('message', (_channel: string, jobId: string) => {
    for (const w of workers) w.cancelJob(jobId, FAILURE.cancelled);
  });

  const beat = async (): Promise<void> => {
    // The device a warm engine runs on; the last one known while every engine is unloaded.
    device = o.engines.warm()[0]?.device ?? device;
    const n = recentMsPerStep.length;
    const mean = n ? recentMsPerStep.reduce((a, b) => a + b, 0) / n : 0;
    await announce(redis, {
      name, device, models, concurrency: o.concurrency, running: slots.inUse, since,
      ...(mean > 0 ? { stepsPerSecond: 1000 / mean } : {}),
    }).catch((e: unknown) => log.warn({ err: (e as Error).message }, 'heartbeat failed'));
  };
  await beat();
  const heartbeat = setInterval(() => void beat(), o.heartbeatMs ?? 5000);
  log.info({ name, models, concurrency: o.concurrency, device }, 'worker ready');

  let closing: Promise<void> | undefined;
  return {
    name,
    close: () => (closing ??= (async () => {
      clearInterval(heartbeat);
      await Promise.all(workers.map((w) => w.close()));
      await withdraw(redis, name).catch(() => undefined);
      sub.disconnect();
      await redis.quit().catch(() => redis.disconnect());
      log.info({ name }, 'worker stopped');
    })()),
  };
}

interface RunContext {
  blobs: Blobs;
  redis: Redis;
  engines: Engines;
  log: Logger;
  name: string;
  frameIntervalMs: number;
}

/**
 * The engine writes its result files (atomically, with an fsync) only for this process to read them
 * back into Redis: in memory (/dev/shm) that fsync is free, on disk it is a few ms per job.
 */
const SCRATCH = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();

async function runJob(ctx: RunContext, job: Job, data: RunData, signal: AbortSignal): Promise<RunResult> {
  if (await ctx.redis.exists(cancelKey(data.jobId))) throw new UnrecoverableError(FAILURE.cancelled);
  const dir = await mkdtemp(join(SCRATCH, 'clipag-worker-'));
  let release: (() => void) | undefined;
  try {
    let init: string | undefined;
    if (data.init) {
      const bytes = await ctx.blobs.get(data.init);
      if (!bytes) throw new JobInputError('the picture to start from expired before a worker took the job: try again');
      init = join(dir, 'init');
      await writeFile(init, bytes);
    }
    const lease = await ctx.engines.acquire(data.model).catch((e: unknown) => {
      ctx.log.error({ err: e, model: data.model }, 'model could not be loaded');
      throw new JobInputError(`the model "${data.model}" could not be loaded on worker ${ctx.name}: try another one, and tell a moderator`);
    });
    release = () => lease.release();
    const frames = new FrameSender(ctx, job, data.jobId);
    const out = join(dir, 'out.png');
    const r = await lease.engine.run({ ...data.request, ...(init ? { init } : {}) }, {
      signal, out, progressEvery: 1, onProgress: (p) => frames.offer(p),
    });
    await frames.flush();
    const n = r.pictures.length;
    const keys = r.pictures.map((_, i) => blobKey(data.jobId, `picture-${i + 1}`));
    for (const [i, path] of r.pictures.entries()) await ctx.blobs.put(keys[i]!, await readFile(path), RESULT_TTL_S);
    const png = n > 1 ? blobKey(data.jobId, 'grid') : keys[0]!;
    if (n > 1) await ctx.blobs.put(png, await readFile(out), RESULT_TTL_S);
    return { kind: 'run', png, pictures: keys, score: r.score, seed: r.seed, steps: r.steps, ms: r.ms, msPerStep: r.msPerStep, worker: ctx.name };
  } catch (e) {
    if (e instanceof JobAborted || signal.aborted) throw new UnrecoverableError(FAILURE.cancelled);
    if (e instanceof JobInputError) throw new UnrecoverableError(FAILURE.input + e.message);
    throw e;
  } finally {
    release?.();
    await rm(dir, { recursive: true, force: true });
  }
}

async function screenJob(ctx: RunContext, data: ScreenData): Promise<{ kind: 'screen'; verdict: unknown }> {
  const bytes = await ctx.blobs.get(data.picture);
  if (!bytes) throw new UnrecoverableError(`${FAILURE.input}the picture to screen expired before a worker took it: try again`);
  const dir = await mkdtemp(join(SCRATCH, 'clipag-screen-'));
  const lease = await ctx.engines.acquire(data.model);
  try {
    if (!lease.engine.screen) throw new UnrecoverableError(`${FAILURE.unreadable}this worker's engine cannot screen pictures`);
    const path = join(dir, 'picture.png');
    await writeFile(path, bytes);
    return { kind: 'screen', verdict: await lease.engine.screen(path, data.prompt, data.concepts) };
  } finally {
    lease.release();
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Progress for one job at most every frameIntervalMs, with the canvas as a blob (overwritten, so a
 * job keeps one frame in Redis); a frame offered while the last is still being sent is dropped,
 * except the last step's, which waits its turn.
 */
class FrameSender {
  private last = -Infinity;
  private sending: Promise<void> = Promise.resolve();
  private busy = false;

  constructor(private readonly ctx: RunContext, private readonly job: Job, private readonly jobId: string) {}

  offer(p: EngineProgress): void {
    const final = p.step === p.steps;
    const now = performance.now();
    // With no interval (tests) every frame is sent, in order; otherwise a busy sender drops it.
    if (!final && ((this.busy && this.ctx.frameIntervalMs > 0) || now - this.last < this.ctx.frameIntervalMs)) return;
    this.last = now;
    this.busy = true;
    this.sending = this.sending.then(() => this.send(p)).catch((e: unknown) => {
      this.ctx.log.warn({ jobId: this.jobId, err: (e as Error).message }, 'progress not sent');
    }).finally(() => { this.busy = false; });
  }

  flush(): Promise<void> { return this.sending; }

  private async send(p: EngineProgress): Promise<void> {
    const progress: ProgressData = { step: p.step, steps: p.steps, elapsedMs: p.elapsedMs };
    // The last step's canvas is the result, which follows at once; with no interval (tests) it is sent too.
    const last = p.step === p.steps && this.ctx.frameIntervalMs > 0;
    if (p.image && !last) {
      progress.frame = blobKey(this.jobId, 'frame');
      await this.ctx.blobs.put(progress.frame, await encodePng(p.image), FRAME_TTL_S);
    }
    await this.job.updateProgress(progress);
  }
}
