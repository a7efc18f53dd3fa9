/**
 * The job manager tests' rig, on the real engine: a small pack of the demo model's architecture
 * (random weights unless models/shapes exists), 2 views and a few steps per job, so each run is
 * quick. Every test declared through describeOnEachBackend runs twice: on the in-process engine,
 * and through the shared queue (a real redis-server, BullMQ, and a `clipag worker` in this process
 * on the same engine), so the bot sees the same behaviour, fairness included, on both backends.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe } from 'node:test';
import pino from 'pino';
import { demoPackDir } from '../../../test/helpers/demo-pack.js';
import { redisSkip, startRedis, type TestRedis } from '../../../test/helpers/redis.js';
import { openStore, type Store } from '../../store/store.js';
import type { NewJob } from '../../store/types.js';
import { openEngine, type Engine } from '../engine.js';
import { singleEngine, type Engines } from '../engine-pool.js';
import { JobManager, type JobManagerEvents, type JobManagerOptions } from '../manager.js';
import { parseQueueUrl, type QueueTarget } from '../queue-url.js';
import { openRemotePool } from '../remote/open-remote.js';
import { startWorker, type RunningWorker } from '../remote/worker.js';

export const quiet = pino({ level: 'silent' });
// Words both the demo model's and the random pack's tokenizers know.
export const PROMPT = 'a red circle';
export const G = '111111111111111111';
export const CH = '444444444444444444';
export const MOD = '222222222222222222';

let engine: Engine;

/** The engine every backend draws on, open while the calling file's tests run. */
export function currentEngine(): Engine {
  return engine;
}

export interface Backend {
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

export interface Rig {
  m: JobManager;
  store: Store;
  dir: string;
  /** Every event in order, as [name, jobId]. */
  events: [keyof JobManagerEvents, string][];
  next<K extends keyof JobManagerEvents>(event: K, jobId?: string): Promise<JobManagerEvents[K][0]>;
  cleanup(): Promise<void>;
}

export async function rig(o: Partial<JobManagerOptions> & { dir?: string } = {}): Promise<Rig> {
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

export const job = (userId: string, request: NewJob['request']): NewJob => ({ guildId: G, channelId: CH, userId, request });

/**
 * Declares the calling file's tests once per backend (`define` gets the backend its tests run on),
 * with the engine open around all of them and each backend started around its own.
 */
export function describeOnEachBackend(what: string, define: (b: Backend) => void): void {
  before(async () => {
    engine = await openEngine({ modelDir: await demoPackDir(), device: 'cpu', views: 2, logger: quiet });
  });
  after(async () => engine.close());
  for (const b of BACKENDS) {
    describe(`${what} with ${b.name}`, { skip: b.skip }, () => {
      before(async () => {
        backend = b;
        await b.start();
      });
      after(() => b.stop());
      define(b);
    });
  }
}
