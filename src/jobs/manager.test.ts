/**
 * The job manager on the real engine: a small pack of the demo model's architecture (random
 * weights unless models/shapes exists), 2 views and a few steps per job, so each run is quick.
 * Every test runs twice: on the in-process engine, and through the shared queue (a real
 * redis-server, BullMQ, and a `clipag worker` in this process on the same engine), so the bot sees
 * the same behaviour, fairness included, on both backends.
 */
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import sharp from 'sharp';
import { DEMO_PROMPT, demoPackDir } from '../../test/helpers/demo-pack.js';
import { BENCH_WORDS } from '../engine/bench/random-pack.js';
import { SHAPES_WORDS } from '../engine/shapes/model-config.js';
import { openStore, type Store } from '../store/store.js';
import type { NewJob } from '../store/types.js';
import { JobInputError, openEngine, type Engine } from './engine.js';
import { JobManager, JobManagerClosed, type JobManagerEvents, type JobManagerOptions } from './manager.js';
import { singleEngine, type Engines } from './engine-pool.js';
import { redisSkip, startRedis, type TestRedis } from '../../test/helpers/redis.js';
import { parseQueueUrl, type QueueTarget } from './queue-url.js';
import { openRemotePool } from './remote/open-remote.js';
import { startWorker, type RunningWorker } from './remote/worker.js';

const quiet = pino({ level: 'silent' });
// Words both the demo model's and the random pack's tokenizers know.
const PROMPT = 'a red circle';
const G = '111111111111111111';
const CH = '444444444444444444';
const MOD = '222222222222222222';

let engine: Engine;
before(async () => {
  engine = await openEngine({ modelDir: await demoPackDir(), device: 'cpu', views: 2, logger: quiet });
});
after(async () => engine.close());

interface Backend {
  name: string;
  skip: string | false;
  /** Runs go on outside the bot (remote workers): a bot restart is no new attempt of a job. */
  runsElsewhere: boolean;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Drawings BullMQ has seen completed (the remote backend only): proof the run went through the queue. */
  completedRemotely?(): Promise<number>;
  /** The manager's engines for one rig, and how to let them go. */
  engines(): Promise<{ engines: Engines; close(): Promise<void> }>;
}

let redis: TestRedis | undefined;
let target: QueueTarget | undefined;
let worker: RunningWorker | undefined;
const BACKENDS: Backend[] = [
  {
    name: 'the in-process engine', skip: false, runsElsewhere: false, start: async () => {}, stop: async () => {},
    engines: async () => ({ engines: singleEngine(engine), close: async () => {} }),
  },
  {
    name: 'remote workers (QUEUE_URL)', skip: redisSkip, runsElsewhere: true,
    async start() {
      redis = await startRedis();
      const parsed = parseQueueUrl(redis.url);
      assert.ok(parsed.ok);
      target = parsed.target;
      // Every frame, so progress reads as on the in-process engine (a real worker sends one a second).
      worker = await startWorker({ target, engines: singleEngine(engine), concurrency: 1, name: 'test-worker', logger: quiet, frameIntervalMs: 0 });
    },
    async stop() {
      await worker?.close();
      await redis?.close();
    },
    async completedRemotely() {
      const { engines, remote } = await openRemotePool({ defaultDir: await demoPackDir(), target: target!, logger: quiet });
      try {
        // Screenings of the results travel as jobs too; count the drawings.
        return (await remote.queue(engines.defaultModel).getJobs(['completed'])).filter((j) => j.name === 'run').length;
      } finally {
        await engines.close();
        await remote.close();
      }
    },
    async engines() {
      const { engines, remote } = await openRemotePool({ defaultDir: await demoPackDir(), target: target!, logger: quiet });
      return { engines, close: async () => { await engines.close(); await remote.close(); } };
    },
  },
];
let backend: Backend = BACKENDS[0]!;

interface Rig {
  m: JobManager;
  store: Store;
  dir: string;
  /** Every event in order, as [name, jobId]. */
  events: [keyof JobManagerEvents, string][];
  next<K extends keyof JobManagerEvents>(event: K, jobId?: string): Promise<JobManagerEvents[K][0]>;
  cleanup(): Promise<void>;
}

async function rig(o: Partial<JobManagerOptions> & { dir?: string } = {}): Promise<Rig> {
  const dir = o.dir ?? await mkdtemp(join(tmpdir(), 'clipag-jobs-'));
  const store = o.store ?? openStore(join(dir, 'clipag.db'));
  const engines = await backend.engines();
  const m = new JobManager({ store, engines: engines.engines, concurrency: 1, imagesDir: join(dir, 'images'), logger: quiet, ...o });
  const events: Rig['events'] = [];
  for (const e of ['start', 'progress', 'done', 'failed', 'cancelled', 'resumed'] as const) {
    m.on(e, (ev: { job: { id: string } }) => void events.push([e, ev.job.id]));
  }
  return {
    m, store, dir, events,
    next: (event, jobId) => new Promise((resolve) => {
      const on = (ev: { job: { id: string } }): void => {
        if (jobId !== undefined && ev.job.id !== jobId) return;
        m.off(event, on as never);
        resolve(ev as never);
      };
      m.on(event, on as never);
    }),
    async cleanup() {
      await m.close({ finishRunning: false });
      await engines.close();
      store.close();
      if (!o.dir) await rm(dir, { recursive: true, force: true });
    },
  };
}

const job = (userId: string, request: NewJob['request']): NewJob => ({ guildId: G, channelId: CH, userId, request });

test('test prompts use only words both the demo model and the random pack know', () => {
  // The tests run on whichever pack demoPackDir finds, so a word one of them lacks fails only there.
  for (const prompt of [PROMPT, DEMO_PROMPT]) {
    for (const word of prompt.split(' ')) {
      assert.ok(BENCH_WORDS.includes(word) && SHAPES_WORDS.includes(word), `"${word}" in "${prompt}"`);
    }
  }
});

for (const b of BACKENDS) {
  describe(`the job manager with ${b.name}`, { skip: b.skip }, () => {
  before(async () => {
    backend = b;
    await b.start();
  });
  after(() => b.stop());

  test('a job runs on the real engine: start, a progress event with an image per step, then a PNG and its score', async () => {
    const r = await rig();
    try {
      const { job: j, position } = await r.m.submit(job('u1', { prompt: PROMPT, steps: 3, seed: 42 }));
      assert.equal(position, 0, 'a free slot starts it at once');
      const progress: JobManagerEvents['progress'][0][] = [];
      r.m.on('progress', (p) => progress.push(p));
      const done = await r.next('done', j.id);
      assert.deepEqual(progress.map((p) => [p.step, p.steps]), [[1, 3], [2, 3], [3, 3]]);
      for (const p of progress) {
        assert.ok(p.image && p.image.width === engine.info().imageSize, 'each step carries the canvas');
        assert.ok(p.etaMs >= 0 && Number.isFinite(p.etaMs));
      }
      assert.equal(progress.at(-1)!.etaMs, 0);
      assert.equal(done.result.seed, 42);
      assert.equal(done.result.pngPath, join(r.dir, 'images', `${j.id}.png`));
      const meta = await sharp(done.result.pngPath).metadata();
      assert.deepEqual([meta.format, meta.width, meta.height], ['png', 64, 64]);
      const rec = r.store.jobs.get(j.id)!;
      assert.deepEqual([rec.status, rec.seed, rec.imagePath, rec.score], ['done', 42, done.result.pngPath, done.result.score]);
      assert.ok(rec.startedAt !== null && rec.finishedAt !== null);
      assert.deepEqual(r.events.filter(([e]) => e !== 'progress'), [['start', j.id], ['done', j.id]]);
      assert.ok(r.m.stats().stepsPerSecond! > 0, '/info has a measured speed after a run');
    if (backend.completedRemotely) assert.equal(await backend.completedRemotely(), 1, 'the worker ran it');
    } finally {
      await r.cleanup();
    }
  });

  test('requests the engine cannot run are refused at submit with one line naming the problem, and not recorded', async () => {
    const r = await rig();
    try {
      await assert.rejects(r.m.submit(job('u1', { prompt: PROMPT, steps: 5000 })),
        (e: unknown) => e instanceof JobInputError && e.message === 'steps must be a whole number from 1 to 1000, got 5000');
      await assert.rejects(r.m.submit(job('u1', { prompt: PROMPT, size: 10 })), /^JobInputError: size must be a whole number from 64 to 256, got 10$/);
      await assert.rejects(r.m.submit(job('u1', { prompt: 'a red dragon' })), (e: unknown) => e instanceof JobInputError && /^unknown word "dragon"/.test(e.message));
      await assert.rejects(r.m.submit(job('u1', { prompt: '   ' })), /the prompt is empty/);
      await assert.rejects(r.m.submit(job('u1', { prompt: PROMPT, negative: ' ' })), /the negative prompt is empty/);
      await assert.rejects(r.m.submit(job('u1', { prompt: PROMPT, initJobId: 'nosuchjb' })), /the picture to start from is gone/);
      assert.deepEqual(r.store.jobs.unfinished(), []);
      assert.deepEqual(r.events, []);
    } finally {
      await r.cleanup();
    }
  });

  test('a waiting job is cancelled at once; a running one stops within a step, its signal reaching the engine', async () => {
    const r = await rig();
    try {
      const a = (await r.m.submit(job('u1', { prompt: PROMPT, steps: 500 }))).job;
      const b = await r.m.submit(job('u2', { prompt: PROMPT, steps: 3 }));
      assert.equal(b.position, 1);
      assert.deepEqual(r.m.snapshot().waiting.map((j) => j.id), [b.job.id]);

      const cb = r.m.cancel(b.job.id, 'u2');
      assert.ok(cb.ok && !cb.wasRunning);
      assert.equal(r.store.jobs.get(b.job.id)!.status, 'cancelled');
      assert.equal(r.m.position(b.job.id), undefined);

      await r.next('progress', a.id);
      const cancelled = r.next('cancelled', a.id);
      const ca = r.m.cancel(a.id, MOD);
      assert.ok(ca.ok && ca.wasRunning);
      const ev = await cancelled;
      assert.equal(ev.by, MOD);
      assert.equal(ev.wasRunning, true);
      const rec = r.store.jobs.get(a.id)!;
      assert.deepEqual([rec.status, rec.cancelledBy], ['cancelled', MOD]);
      assert.equal(r.events.filter(([e, id]) => e === 'progress' && id === a.id).length < 500, true, 'it stopped early');
      assert.equal(existsSync(join(r.dir, 'images', `${a.id}.png`)), false, 'no result image for a cancelled job');
      assert.deepEqual(r.m.cancel(a.id, MOD), { ok: false, reason: 'finished', job: r.store.jobs.get(a.id) });
      assert.deepEqual(r.m.cancel('nosuchjb', MOD), { ok: false, reason: 'unknown' });
    } finally {
      await r.cleanup();
    }
  });

  test('jobs run fairly: a second member\'s job goes ahead of the first member\'s backlog', async () => {
    const r = await rig();
    try {
      const a = [];
      for (let i = 0; i < 4; i++) a.push((await r.m.submit(job('u1', { prompt: PROMPT, steps: 2 }))).job.id);
      const b = await r.m.submit(job('u2', { prompt: PROMPT, steps: 2 }));
      assert.equal(b.position, 1);
      assert.deepEqual(r.m.snapshot().waiting.map((j) => j.id), [b.job.id, a[1], a[2], a[3]]);
      await r.next('done', a[3]);
      assert.deepEqual(r.events.filter(([e]) => e === 'start').map(([, id]) => id), [a[0], b.job.id, a[1], a[2], a[3]]);
    } finally {
      await r.cleanup();
    }
  });

  test('a variation starts from the earlier job\'s image; one whose image is gone or unreadable fails with a short message', async () => {
    const r = await rig();
    try {
      const first = (await r.m.submit(job('u1', { prompt: PROMPT, steps: 2, seed: 1 }))).job;
      const done = await r.next('done', first.id);
      const v = (await r.m.submit(job('u1', { prompt: PROMPT, steps: 2, initJobId: first.id }))).job;
      assert.ok((await r.next('done', v.id)).result.pngPath.endsWith(`${v.id}.png`));

      // Broken between submit and run: the slot is busy with a longer job first.
      const blocker = (await r.m.submit(job('u2', { prompt: PROMPT, steps: 400 }))).job;
      const bad = (await r.m.submit(job('u1', { prompt: PROMPT, steps: 2, initJobId: first.id }))).job;
      writeFileSync(done.result.pngPath, 'not a png');
      r.m.cancel(blocker.id, 'u2');
      const failed = await r.next('failed', bad.id);
      assert.equal(failed.message, 'something went wrong while drawing this one: try again, and tell a moderator if it keeps happening');
      assert.equal(r.store.jobs.get(bad.id)!.error, failed.message);

      await rm(done.result.pngPath);
      await assert.rejects(r.m.submit(job('u1', { prompt: PROMPT, initJobId: first.id })), /the picture to start from is gone/);
    } finally {
      await r.cleanup();
    }
  });

  test('a listener that throws does not fail the job', async () => {
    const r = await rig();
    try {
      r.m.on('progress', () => { throw new Error('discord is down'); });
      const j = (await r.m.submit(job('u1', { prompt: PROMPT, steps: 2 }))).job;
      await r.next('done', j.id);
      assert.equal(r.store.jobs.get(j.id)!.status, 'done');
    } finally {
      await r.cleanup();
    }
  });

  test('shutdown without finishing leaves running and waiting jobs queued; the next process resumes and completes them', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'clipag-jobs-'));
    try {
      const first = await rig({ dir });
      const a = (await first.m.submit(job('u1', { prompt: PROMPT, steps: 500 }))).job;
      const b = (await first.m.submit(job('u2', { prompt: PROMPT, steps: 2 }))).job;
      await first.next('progress', a.id);
      await first.m.close({ finishRunning: false });
      await assert.rejects(first.m.submit(job('u1', { prompt: PROMPT })), JobManagerClosed);
      assert.deepEqual(first.store.jobs.unfinished().map((j) => [j.id, j.status, j.attempts]), [[a.id, 'queued', 1], [b.id, 'queued', 1]]);
      assert.ok(!first.events.some(([e]) => e === 'cancelled' || e === 'failed'), 'a shutdown is not a cancel');
      await first.cleanup();

      // The "dead process" case too: a row left 'running' (nobody reset it).
      const s = openStore(join(dir, 'clipag.db'));
      s.jobs.markRunning(a.id);
      s.close();

      const second = await rig({ dir });
      const resumed = second.m.resume();
      const attempt = backend.runsElsewhere ? 1 : 2;
      assert.deepEqual(resumed.map((j) => [j.id, j.status, j.attempts]), [[a.id, 'queued', attempt], [b.id, 'queued', attempt]]);
      assert.deepEqual(second.events.filter(([e]) => e === 'resumed').map(([, id]) => id), [a.id, b.id]);
      second.m.cancel(a.id, 'u1'); // 500 steps: not worth the wait here
      await second.next('done', b.id);
      assert.equal(second.store.jobs.get(b.id)!.status, 'done');
      assert.deepEqual(second.m.resume(), [], 'nothing left to resume');
      await second.cleanup();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('a job the process died under maxAttempts times fails instead of looping; a waiting one resumes regardless', { skip: b.runsElsewhere && 'the run is not in the bot: see the next test' }, async () => {
    const r = await rig({ maxAttempts: 2 });
    try {
      const id = r.store.jobs.create(job('u1', { prompt: PROMPT, steps: 2 })).id;
      r.store.jobs.requeue(id); // attempt 2: the process died under it once already…
      r.store.jobs.markRunning(id); // …and again now
      const waiting = r.store.jobs.create(job('u2', { prompt: PROMPT, steps: 2 })).id;
      r.store.jobs.requeue(waiting); // restarted while it waited: never ran, never suspect
      const failed = r.next('failed', id);
      const done = r.next('done', waiting);
      assert.deepEqual(r.m.resume().map((j) => [j.id, j.attempts]), [[waiting, 3]]);
      assert.equal((await failed).message, 'stopped after 2 tries: the bot restarted each time');
      assert.equal(r.store.jobs.get(id)!.status, 'failed');
      await done;
    } finally {
      await r.cleanup();
    }
  });

  test('a bot that dies again and again under a job running on a worker neither counts nor fails it: each start picks the run up where it is', { skip: !b.runsElsewhere && 'the run is in the bot: see the test before' }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'clipag-jobs-'));
    let r = await rig({ dir });
    try {
      const steps: number[] = [];
      const follow = (x: Rig): void => void x.m.on('progress', (p) => steps.push(p.step));
      follow(r);
      const a = (await r.m.submit(job('u1', { prompt: PROMPT, steps: 600 }))).job;
      await r.next('progress', a.id);
      // More bot deaths than maxAttempts (3): each one leaves the job 'running' in the store.
      for (let death = 1; death <= 4; death++) {
        await r.cleanup();
        const s = openStore(join(dir, 'clipag.db'));
        s.jobs.markRunning(a.id);
        s.close();
        r = await rig({ dir });
        follow(r);
        const picked = Promise.race([r.next('progress', a.id), r.next('done', a.id)]);
        assert.deepEqual(r.m.resume().map((j) => [j.id, j.status, j.attempts]), [[a.id, 'queued', 1]], `after death ${death}`);
        await picked;
      }
      // It may have finished while the last bot was down: then that bot delivered it at once.
      if (r.store.jobs.get(a.id)!.status !== 'done') assert.equal((await r.next('done', a.id)).result.steps, 600);
      assert.equal(r.store.jobs.get(a.id)!.status, 'done');
      assert.ok(!r.events.some(([e]) => e === 'failed'));
      assert.ok(steps.every((s, i) => i === 0 || s >= steps[i - 1]!), 'the worker never started it over');
    } finally {
      await r.cleanup();
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('resume with a filter (a shard\'s servers) queues only those jobs and leaves the others untouched for their own shard', async () => {
    const r = await rig();
    try {
      const mine = r.store.jobs.create(job('u1', { prompt: PROMPT, steps: 2 })).id;
      const theirs = r.store.jobs.create({ ...job('u2', { prompt: PROMPT, steps: 2 }), guildId: '333333333333333333' }).id;
      const before = r.store.jobs.get(theirs)!;
      const done = r.next('done', mine);
      assert.deepEqual(r.m.resume((j) => j.guildId === G).map((j) => j.id), [mine]);
      await done;
      const after = r.store.jobs.get(theirs)!;
      assert.deepEqual([after.status, after.attempts], [before.status, before.attempts]);
      assert.ok(!r.events.some(([, id]) => id === theirs), 'no event for a job another shard owns');
      assert.deepEqual(r.m.resume().map((j) => j.id), [theirs], 'without a filter it is resumed');
    } finally {
      await r.cleanup();
    }
  });

  test('close with finishRunning lets the running job finish and keeps the waiting one for later', async () => {
    const r = await rig();
    try {
      const a = (await r.m.submit(job('u1', { prompt: PROMPT, steps: 3 }))).job;
      const b = (await r.m.submit(job('u2', { prompt: PROMPT, steps: 3 }))).job;
      await r.m.close({ finishRunning: true });
      assert.equal(r.store.jobs.get(a.id)!.status, 'done');
      assert.equal(r.store.jobs.get(b.id)!.status, 'queued');
      assert.deepEqual(r.m.snapshot(), { running: [], waiting: [] });
    } finally {
      await r.cleanup();
    }
  });

  test('inside a done listener the job already has no place and cannot be cancelled', async () => {
    const r = await rig();
    try {
      const j = (await r.m.submit(job('u1', { prompt: PROMPT, steps: 2 }))).job;
      const seen = await new Promise<unknown[]>((resolve) => r.m.on('done', () => resolve([r.m.position(j.id), r.m.cancel(j.id, 'u1').ok, r.m.snapshot().running.length])));
      assert.deepEqual(seen, [undefined, false, 0]);
    } finally {
      await r.cleanup();
    }
  });
  });
}
