/**
 * Screening in the job flow, on the real engine (demo pack): the 'done' event carries the verdict
 * and a catch is audited before it; a filter that is off screens nothing; a screening that fails
 * fails the job, so nothing unscreened is posted.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import pino from 'pino';
import { openStore } from '../store/store.js';
import { demoPackDir } from '../../test/helpers/demo-pack.js';
import { openEngine, type Engine } from './engine.js';
import { JobManager, type DoneEvent, type FailedEvent } from './manager.js';

const quiet = pino({ level: 'silent' });
const G = '111111111111111111';
const U = '333333333333333333';
const MOD = '222222222222222222';

let engine: Engine;
let dir: string;
before(async () => {
  engine = await openEngine({ modelDir: await demoPackDir(), device: 'cpu', views: 2, logger: quiet });
  dir = await mkdtemp(join(tmpdir(), 'clipag-jobs-safety-'));
});
after(async () => {
  await engine?.close();
  await rm(dir, { recursive: true, force: true });
});

/** One job through a manager on `e`, to its end. */
async function runOne(e: Engine, setup: (s: ReturnType<typeof openStore>) => void, prompt = 'a yellow star on green') {
  const store = openStore(':memory:');
  setup(store);
  const m = new JobManager({ store, engine: e, concurrency: 1, imagesDir: join(dir, 'images'), logger: quiet });
  const end = new Promise<['done', DoneEvent] | ['failed', FailedEvent]>((resolve) => {
    m.once('done', (d) => resolve(['done', d]));
    m.once('failed', (f) => resolve(['failed', f]));
  });
  await m.submit({ guildId: G, channelId: '444444444444444444', userId: U, request: { prompt, steps: 3 } });
  const out = await end;
  await m.close();
  return { out, store };
}

test('a caught picture: audited, then announced done with the verdict and what to do with it', async () => {
  const { out, store } = await runOne(engine, (s) => s.safety.set(G, { concepts: [{ text: 'green background', image: 0.01, prompt: 0.01 }] }, MOD));
  assert.equal(out[0], 'done');
  const { result, job } = out[1] as DoneEvent;
  assert.equal(result.safety?.action, 'withhold');
  assert.equal(result.safety?.verdict.worst?.text, 'green background');
  const flag = store.audit.list(G).find((e) => e.action === 'safety.withheld')!;
  assert.equal((flag.change.verdict!.to as { jobId: string }).jobId, job.id);
  store.close();
});

test('nothing flagged: posted; filter off: not screened at all', async () => {
  const posted = await runOne(engine, (s) => s.safety.set(G, { concepts: [{ text: 'green background', image: 0.99, prompt: 0.99 }] }, MOD));
  assert.equal((posted.out[1] as DoneEvent).result.safety?.action, 'post');
  posted.store.close();
  let screened = 0;
  const counting: Engine = { ...engine, screen: async (...a) => { screened++; return engine.screen!(...a); } };
  const off = await runOne(counting, (s) => s.safety.set(G, { mode: 'off', concepts: [{ text: 'green background', image: 0.01, prompt: 0.01 }] }, MOD));
  assert.equal((off.out[1] as DoneEvent).result.safety, undefined);
  assert.equal(screened, 0);
  assert.deepEqual(off.store.audit.list(G).map((e) => e.action), ['safety.set']);
  off.store.close();
});

test('a screening that fails fails the job: nothing unscreened reaches Discord', async () => {
  const broken: Engine = { ...engine, screen: async () => { throw new Error('vision session lost'); } };
  const { out, store } = await runOne(broken, () => {});
  assert.equal(out[0], 'failed');
  assert.match((out[1] as FailedEvent).message, /something went wrong/);
  assert.equal(store.jobs.get((out[1] as FailedEvent).job.id)!.status, 'failed');
  store.close();
});
