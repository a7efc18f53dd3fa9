/**
 * The shared queue when things go wrong, on a real redis-server (AOF on) and real worker processes:
 * a worker killed with SIGKILL mid-job, a job that kills every worker it lands on, Redis restarted
 * mid-run, the bot stopping and coming back mid-run, a job written into Redis by hand, a model no
 * worker serves, a cancel that reaches a job before its worker does, and a frame that expired.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import sharp from 'sharp';
import { DEMO_PROMPT, demoPackDir } from '../helpers/demo-pack.js';
import { CLIPAG } from '../helpers/cli.js';
import { redisSkip, startRedis, type TestRedis } from '../helpers/redis.js';
import { JobAborted, JobInputError, openEngine, type Engine, type EngineProgress, type EngineResult } from '../../src/jobs/engine.js';
import { singleEngine, type EnginePool } from '../../src/jobs/engine-pool.js';
import { parseQueueUrl, type QueueTarget } from '../../src/jobs/queue-url.js';
import { blobKey } from '../../src/jobs/remote/keys.js';
import { openRemotePool } from '../../src/jobs/remote/open-remote.js';
import { remoteEngine } from '../../src/jobs/remote/remote-engine.js';
import type { RemoteQueue } from '../../src/jobs/remote/remote-queue.js';
import { startWorker, type RunningWorker } from '../../src/jobs/remote/worker.js';

const quiet = pino({ level: 'silent' });
const FAST_LOCK = { lockDurationMs: 1500, stalledIntervalMs: 700 };

describe('the shared queue under faults', { skip: redisSkip }, () => {
  let redis: TestRedis;
  let target: QueueTarget;
  let engine: Engine;
  let pool: EnginePool;
  let remote: RemoteQueue;
  let dir: string;
  let packDir: string;

  before(async () => {
    redis = await startRedis({ appendonly: true });
    const parsed = parseQueueUrl(redis.url);
    assert.ok(parsed.ok);
    target = parsed.target;
    packDir = await demoPackDir();
    engine = await openEngine({ modelDir: packDir, device: 'cpu', views: 2, logger: quiet });
    ({ engines: pool, remote } = await openRemotePool({ defaultDir: packDir, target, logger: quiet, noWorkerTimeoutMs: 60_000, pollMs: 200 }));
    dir = await mkdtemp(join(tmpdir(), 'clipag-remote-'));
  });
  after(async () => {
    await pool.close();
    await remote.close();
    await engine.close();
    await redis.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** Runs one request through the bot's remote engine, recording its progress. */
  async function draw(jobId: string, steps: number, o: { signal?: AbortSignal; onFirstProgress?: () => void; onProgress?: (p: EngineProgress) => void; count?: number; init?: string } = {}): Promise<{ result: EngineResult; progress: EngineProgress[] }> {
    const progress: EngineProgress[] = [];
    const lease = await pool.acquire(pool.defaultModel);
    try {
      const result = await lease.engine.run({ prompt: DEMO_PROMPT, steps, seed: 3, ...(o.count ? { count: o.count } : {}), ...(o.init ? { init: o.init } : {}) }, {
        signal: o.signal ?? new AbortController().signal, out: join(dir, `${jobId}.png`), jobId,
        onProgress: (p) => { progress.push(p); o.onProgress?.(p); if (progress.length === 1) o.onFirstProgress?.(); },
      });
      return { result, progress };
    } finally {
      lease.release();
    }
  }

  function spawnWorker(name: string): ChildProcess {
    return spawn(process.execPath, [CLIPAG, 'worker', '--model', packDir, '--device', 'cpu', '--views', '2', '--name', name, '--lock-ms', String(FAST_LOCK.lockDurationMs), '--stalled-ms', String(FAST_LOCK.stalledIntervalMs)], {
      env: { ...process.env, QUEUE_URL: redis.url, LOG_LEVEL: 'warn' }, stdio: 'ignore',
    });
  }
  const killed = (child: ChildProcess): Promise<void> => new Promise((resolve) => { child.once('exit', () => resolve()); child.kill('SIGKILL'); });
  const inProcess = (name: string): Promise<RunningWorker> => startWorker({ target, engines: singleEngine(engine), concurrency: 1, name, logger: quiet, frameIntervalMs: 0, ...FAST_LOCK });

  test('a worker killed with SIGKILL mid-job: another worker takes the job over and it is delivered once', async () => {
    const first = spawnWorker('doomed');
    let second: RunningWorker | undefined;
    try {
      const { result, progress } = await draw('killed-once', 400, {
        onFirstProgress: () => void killed(first).then(async () => { second = await inProcess('rescuer'); }),
      });
      assert.equal(result.steps, 400);
      const steps = progress.map((p) => p.step);
      assert.ok(steps.some((s, i) => i > 0 && s <= steps[i - 1]!), 'the second worker started the job again from its first step');
      assert.equal(steps.at(-1), 400);
      assert.deepEqual((await sharp(result.pngPath).metadata()).width, 64);
    } finally {
      first.kill('SIGKILL');
      await second?.close();
    }
  });

  test('a job that kills every worker it lands on fails with a message instead of looping', async () => {
    const workers = [spawnWorker('victim-1')];
    let reaper: RunningWorker | undefined;
    try {
      // Each worker dies on the job's first frame; then a healthy worker's stalled check gives up on it.
      let phase: 'first' | 'killing' | 'second' | 'done' = 'first';
      const run = draw('killer', 1000, {
        onProgress: () => {
          if (phase === 'first') {
            phase = 'killing';
            void killed(workers[0]!).then(() => { workers.push(spawnWorker('victim-2')); phase = 'second'; });
          } else if (phase === 'second') {
            phase = 'done';
            void killed(workers[1]!).then(async () => { reaper = await inProcess('reaper'); });
          }
        },
      });
      await assert.rejects(run, (e: unknown) => e instanceof JobInputError && /stopped the worker drawing it twice/.test(e.message));
      assert.equal(phase, 'done', 'both workers took the job and died under it');
    } finally {
      for (const w of workers) w.kill('SIGKILL');
      await reaper?.close();
    }
  });

  test('Redis restarted mid-run (AOF on): the job finishes and is delivered', async () => {
    const worker = await inProcess('steady');
    try {
      const { result } = await draw('across-restart', 300, { onFirstProgress: () => void redis.restart() });
      assert.equal(result.steps, 300);
      assert.ok((await readFile(result.pngPath)).length > 0);
    } finally {
      await worker.close();
    }
  });

  test('the bot stopping mid-run leaves the job running; the next bot finds it by its id and gets its result', async () => {
    const worker = await inProcess('patient');
    try {
      const stop = new AbortController();
      await assert.rejects(draw('outlives-bot', 300, { signal: stop.signal, onFirstProgress: () => stop.abort({ kind: 'shutdown' }) }), JobAborted);
      const again = await draw('outlives-bot', 300);
      assert.equal(again.result.steps, 300);
      assert.ok(again.progress.length > 0 && again.progress.length < 300, 'it picked the run up where it was, not from the start');
    } finally {
      await worker.close();
    }
  });

  test('a grid started from a picture travels as blobs; none are left in Redis after delivery', async () => {
    const worker = await inProcess('grid');
    try {
      const first = await draw('seed-picture', 2);
      const { result } = await draw('grid-of-two', 2, { count: 2, init: first.result.pngPath });
      assert.equal(result.pictures.length, 2);
      for (const p of result.pictures) assert.equal((await sharp(p).metadata()).width, 64);
      assert.equal((await sharp(result.pngPath).metadata()).width! > 64, true, 'the grid');
      assert.deepEqual(await remote.redis.keys('clipag:blob:grid-of-two:*'), []);
    } finally {
      await worker.close();
    }
  });

  test('a job written into Redis by hand is refused with a reason, and the worker goes on serving', async () => {
    const worker = await inProcess('careful');
    try {
      const q = remote.queue(pool.defaultModel);
      await remote.listen(pool.defaultModel);
      const bad = [
        ['not-a-job', { hello: 'world' }, /^unreadable job: kind/],
        ['huge-prompt', { kind: 'run', jobId: 'huge-prompt', model: pool.defaultModel, request: { prompt: 'x'.repeat(5000) } }, /^unreadable job: request\.prompt/],
        ['wrong-model', { kind: 'run', jobId: 'wrong-model', model: 'elsewhere', request: { prompt: 'a red circle' } }, /sits in/],
      ] as const;
      for (const [id, data, reason] of bad) {
        const failed = new Promise<string>((resolve) => remote.watch(id, { failed: resolve }));
        await q.add('run', data, { jobId: id, attempts: 1 });
        assert.match(await failed, reason);
      }
      assert.equal((await draw('after-junk', 2)).result.steps, 2);
    } finally {
      await worker.close();
    }
  });

  test('a cancel that reaches a job before any worker does stops it there', async () => {
    await remote.cancel('cancelled-early');
    const worker = await inProcess('late');
    try {
      await assert.rejects(draw('cancelled-early', 50), JobAborted);
    } finally {
      await worker.close();
    }
  });

  test('jobs handed out by several bot processes are served lowest priority first: a member\'s only job before another\'s third', async () => {
    const finished: string[] = [];
    const runs = [['third-of-many', 3], ['second-of-many', 2], ['only-one', 1]].map(([id, priority]) => (async () => {
      const lease = await pool.acquire(pool.defaultModel);
      try {
        await lease.engine.run({ prompt: DEMO_PROMPT, steps: 2 }, { signal: new AbortController().signal, out: join(dir, `${id}.png`), jobId: id as string, priority: priority as number });
        finished.push(id as string);
      } finally {
        lease.release();
      }
    })());
    // All three wait in the shared queue before any worker is there to take one.
    while ((await remote.queue(pool.defaultModel).getJobCountByTypes('prioritized')) < 3) await new Promise((r) => setTimeout(r, 20));
    const worker = await inProcess('orderly');
    try {
      await Promise.all(runs);
      assert.deepEqual(finished, ['only-one', 'second-of-many', 'third-of-many']);
    } finally {
      await worker.close();
    }
  });

  test('a model no worker serves: the job waits, then fails with a clear line; an expired frame is skipped; a cancel while waiting removes it', async () => {
    const checker = { info: () => ({ model: 'nobody-serves-this', imageSize: 64, defaultSteps: 10, upscaleSteps: 3 }), check: async () => {}, close: async () => {} };
    const orphan = remoteEngine({ remote, checker, logger: quiet, noWorkerTimeoutMs: 800, pollMs: 100 });
    const started = Date.now();
    await assert.rejects(orphan.run({ prompt: 'a red circle' }, { signal: new AbortController().signal, out: join(dir, 'orphan.png'), jobId: 'orphan' }),
      (e: unknown) => e instanceof JobInputError && e.message === 'no worker for the model "nobody-serves-this" has been online for 1 s: try another model, or tell a moderator');
    assert.ok(Date.now() - started >= 800);
    assert.equal(await remote.queue('nobody-serves-this').getJob('orphan'), undefined, 'it left the queue');

    const patient = remoteEngine({ remote, checker, logger: quiet, noWorkerTimeoutMs: 60_000, pollMs: 100 });
    const cancel = new AbortController();
    const seen: EngineProgress[] = [];
    const run = patient.run({ prompt: 'a red circle' }, { signal: cancel.signal, out: join(dir, 'waiting.png'), jobId: 'waiting', onProgress: (p) => seen.push(p) });
    while (!(await remote.queue('nobody-serves-this').getJob('waiting'))) await new Promise((r) => setTimeout(r, 20));
    remote.deliver('waiting', (w) => w.progress?.({ step: 1, steps: 10, elapsedMs: 5, frame: blobKey('waiting', 'frame') }));
    while (!seen.length) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(seen, [{ step: 1, steps: 10, elapsedMs: 5, image: undefined }]);
    cancel.abort({ kind: 'cancel', by: 'u1' });
    await assert.rejects(run, JobAborted);
    assert.equal(await remote.queue('nobody-serves-this').getJob('waiting'), undefined);
  });
});
