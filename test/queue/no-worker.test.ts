/**
 * A model no worker serves, on a real redis-server: when a job gives up, and when it keeps waiting.
 * Workers here are announcements only (no BullMQ worker takes the jobs), so a job waits for as long
 * as the bot's rule says and no longer; short timeouts keep it quick.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Worker } from 'bullmq';
import pino from 'pino';
import { redisSkip, startRedis, type TestRedis } from '../helpers/redis.js';
import { JobInputError, type Engine } from '../../src/jobs/engine.js';
import { parseQueueUrl } from '../../src/jobs/queue-url.js';
import { queueName } from '../../src/jobs/remote/keys.js';
import { announce, withdraw } from '../../src/jobs/remote/registry.js';
import { bullConnection } from '../../src/jobs/redis-connection.js';
import { remoteEngine } from '../../src/jobs/remote/remote-engine.js';
import { RemoteQueue } from '../../src/jobs/remote/remote-queue.js';

const quiet = pino({ level: 'silent' });
const TIMEOUT_MS = 600;
const POLL_MS = 50;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('a job waiting for a worker', { skip: redisSkip }, () => {
  let redis: TestRedis;
  let remote: RemoteQueue;

  before(async () => {
    redis = await startRedis();
    const parsed = parseQueueUrl(redis.url);
    assert.ok(parsed.ok);
    remote = new RemoteQueue(parsed.target, quiet);
  });
  after(async () => {
    await remote.close();
    await redis.close();
  });

  /** An engine for a model of its own, so no test sees another's workers or clock. */
  const engineFor = (model: string): Engine => remoteEngine({
    remote, logger: quiet, noWorkerTimeoutMs: TIMEOUT_MS, pollMs: POLL_MS,
    checker: { info: () => ({ model, imageSize: 64, defaultSteps: 10, upscaleSteps: 3 }), check: async () => {}, close: async () => {} },
  });
  /** Runs one job; resolves with when it settled and how (it never succeeds: nobody draws here). */
  const run = (e: Engine, jobId: string): Promise<{ at: number; error: unknown }> =>
    e.run({ prompt: 'a red circle' }, { signal: new AbortController().signal, out: `/nonexistent/${jobId}.png`, jobId })
      .then(() => ({ at: Date.now(), error: undefined }), (error: unknown) => ({ at: Date.now(), error }));
  const worker = (name: string, model: string) => ({ name, device: 'cpu', models: [model], concurrency: 1, running: 0, since: Date.now() });
  const noWorker = (model: string) => (e: unknown): boolean => e instanceof JobInputError
    && e.message === `no worker for the model "${model}" has been online for 1 s: try another model, or tell a moderator`;

  test('with no worker, the jobs queued behind the first fail with it, not one timeout after another', async () => {
    const e = engineFor('unserved');
    const started = Date.now();
    const first = await run(e, 'first-in-line');
    assert.ok(noWorker('unserved')(first.error), String(first.error));
    assert.ok(first.at - started >= TIMEOUT_MS, 'the first waited the whole timeout');
    // The bot hands out the next one as the first fails (with no worker it hands out one at a time).
    const second = await run(e, 'next-in-line');
    assert.ok(noWorker('unserved')(second.error), String(second.error));
    assert.ok(second.at - first.at < TIMEOUT_MS / 2, `the next failed at once, ${second.at - first.at} ms after the first`);
    assert.equal(await remote.queue('unserved').getJob('next-in-line'), undefined, 'it left the queue');
  });

  test('while a worker serving the model is online the job waits; it fails only a whole timeout after the worker went', async () => {
    const e = engineFor('briefly-served');
    const settled = run(e, 'patient');
    let done: { at: number; error: unknown } | undefined;
    void settled.then((r) => { done = r; });
    await sleep(TIMEOUT_MS / 2);
    await announce(remote.redis, worker('visitor', 'briefly-served'));
    await sleep(3 * TIMEOUT_MS);
    assert.equal(done, undefined, 'it is still waiting past the timeout: a worker is online');
    await withdraw(remote.redis, 'visitor');
    const gone = Date.now();
    const r = await settled;
    assert.ok(noWorker('briefly-served')(r.error), String(r.error));
    assert.ok(r.at - gone >= TIMEOUT_MS, `it waited a whole timeout after the worker went (${r.at - gone} ms)`);
  });

  test('a worker that came online for a moment, even before the timeout, restarts the count', async () => {
    const e = engineFor('visited');
    const started = Date.now();
    const settled = run(e, 'visited-job');
    await sleep(TIMEOUT_MS / 2);
    await announce(remote.redis, worker('passing', 'visited'));
    await sleep(4 * POLL_MS);
    await withdraw(remote.redis, 'passing');
    const gone = Date.now();
    const r = await settled;
    assert.ok(noWorker('visited')(r.error), String(r.error));
    assert.ok(r.at - gone >= TIMEOUT_MS, `counted from when the worker went (${r.at - gone} ms after), not from the start (${r.at - started} ms)`);
  });

  test('a started job whose worker died, with no other worker for its model, fails once the timeout is up instead of waiting for ever', async () => {
    const model = 'orphaned';
    const e = engineFor(model);
    const settled = run(e, 'orphan');
    // A worker takes the job, announced while it lives, and dies without a word: its lock runs out
    // and nobody is left to find the job stalled, so BullMQ alone would leave it active for ever.
    await announce(remote.redis, worker('doomed', model));
    const taker = new Worker(queueName(model), null, { connection: bullConnection(remote.target), lockDuration: 300, autorun: false });
    let job = await taker.getNextJob('doomed-token');
    for (let i = 0; !job && i < 100; i++) {
      await sleep(POLL_MS);
      job = await taker.getNextJob('doomed-token');
    }
    assert.ok(job, 'the worker took the job');
    await taker.close();
    await withdraw(remote.redis, 'doomed');
    const gone = Date.now();
    let giveUp: NodeJS.Timeout | undefined;
    const r = await Promise.race([settled, new Promise<{ at: number; error: unknown }>((resolve) => {
      giveUp = setTimeout(() => resolve({ at: Date.now(), error: 'still waiting' }), 10 * TIMEOUT_MS);
    })]);
    // Cleared, or the file would stay alive for the rest of those 6 s after its last test.
    clearTimeout(giveUp);
    assert.ok(r.error instanceof JobInputError && r.error.message
      === `the worker drawing this picture went offline and none for the model "${model}" has been online for 1 s since: try again later, or tell a moderator`, String(r.error));
    assert.ok(r.at - gone >= TIMEOUT_MS, `given up a whole timeout after the worker went (${r.at - gone} ms)`);
    assert.equal(await remote.queue(model).getJob('orphan'), undefined, 'it left the queue');
  });
});
