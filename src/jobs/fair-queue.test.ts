/**
 * Ordering and fairness of the queue alone. The runs here are a controllable double (a promise the
 * test settles), not the engine: what is tested is which item starts when, which needs runs that
 * finish exactly when the test says. The engine's behaviour is tested in manager.test.ts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FairQueue, type FairItem } from './fair-queue.js';

interface Harness {
  q: FairQueue<FairItem>;
  started: string[];
  /** Finishes a running item. */
  finish(id: string): Promise<void>;
  aborted: Map<string, unknown>;
}

function harness(concurrency: number): Harness {
  const started: string[] = [];
  const aborted = new Map<string, unknown>();
  const finishers = new Map<string, () => void>();
  const q = new FairQueue<FairItem>({
    concurrency,
    run: (item, signal) => new Promise<void>((resolve) => {
      started.push(item.id);
      finishers.set(item.id, resolve);
      signal.addEventListener('abort', () => {
        aborted.set(item.id, signal.reason);
        resolve();
      });
    }),
  });
  return {
    q, started, aborted,
    async finish(id) {
      const f = finishers.get(id);
      assert.ok(f, `${id} is not running`);
      f();
      // Let p-queue hand the freed slot to the next item.
      await new Promise((r) => setImmediate(r));
    },
  };
}

const item = (user: string, n: number): FairItem => ({ id: `${user}${n}`, userId: user });

async function drain(h: Harness): Promise<void> {
  for (let guard = 0; guard < 1000 && h.q.runningItems().length > 0; guard++) await h.finish(h.q.runningItems()[0]!.id);
}

for (const concurrency of [1, 3]) {
  test(`one member's 50 jobs do not starve another's single job (concurrency ${concurrency})`, async () => {
    const h = harness(concurrency);
    for (let i = 1; i <= 50; i++) h.q.add(item('a', i));
    const place = h.q.add(item('b', 1));
    assert.deepEqual(place, { state: 'waiting', position: 1 }, 'b goes next, ahead of a\'s 47 waiting');
    await drain(h);
    assert.equal(h.started.indexOf('b1'), concurrency, `b1 starts in the first free slot, after the ${concurrency} already running`);
    assert.equal(h.started.length, 51);
  });
}

test('members take turns in the order they were last served; the waiting order predicts the start order', async () => {
  const h = harness(1);
  for (const id of ['a1', 'a2', 'a3', 'b1', 'b2', 'b3', 'c1']) h.q.add({ id, userId: id[0]! });
  const predicted = h.q.waiting().map((i) => i.id);
  assert.deepEqual(predicted, ['b1', 'c1', 'a2', 'b2', 'a3', 'b3']);
  assert.deepEqual(h.q.place('a1'), { state: 'running' });
  assert.deepEqual(h.q.place('a3'), { state: 'waiting', position: 5 });
  await drain(h);
  assert.deepEqual(h.started, ['a1', ...predicted]);
});

test('positions move up as jobs finish, and an unknown or finished job has no place', async () => {
  const h = harness(1);
  for (let i = 1; i <= 3; i++) h.q.add(item('a', i));
  assert.deepEqual(h.q.place('a3'), { state: 'waiting', position: 2 });
  await h.finish('a1');
  assert.deepEqual(h.q.place('a3'), { state: 'waiting', position: 1 });
  assert.deepEqual(h.q.place('a2'), { state: 'running' });
  assert.equal(h.q.place('a1'), undefined);
  assert.equal(h.q.place('zz'), undefined);
});

test('a member who comes back after their jobs finished goes ahead of a backlog', async () => {
  const h = harness(1);
  h.q.add(item('b', 1));
  await h.finish('b1');
  for (let i = 1; i <= 5; i++) h.q.add(item('a', i));
  await h.finish('a1');
  await h.finish('a2');
  h.q.add(item('b', 2));
  assert.deepEqual(h.q.place('b2'), { state: 'waiting', position: 1 });
});

test('cancelling a waiting job removes it without wasting a slot; cancelling a running one fires its signal', async () => {
  const h = harness(1);
  for (let i = 1; i <= 4; i++) h.q.add(item('a', i));
  assert.equal(h.q.cancel('a2'), 'waiting');
  assert.deepEqual(h.q.waiting().map((i) => i.id), ['a3', 'a4']);
  assert.equal(h.q.cancel('a2'), undefined, 'already gone');
  assert.equal(h.q.cancel('a1', 'stop it'), 'running');
  await new Promise((r) => setImmediate(r));
  assert.equal(h.aborted.get('a1'), 'stop it');
  assert.deepEqual(h.q.place('a3'), { state: 'running' }, 'the freed slot goes to the next job');
  await drain(h);
  assert.deepEqual(h.started, ['a1', 'a3', 'a4']);
  assert.equal(h.q.size, 0);
});

test('pause keeps the waiting jobs; abortRunning stops the running ones; clearWaiting hands back the rest in order', async () => {
  const h = harness(2);
  for (const id of ['a1', 'b1', 'a2', 'b2', 'c1']) h.q.add({ id, userId: id[0]! });
  h.q.pause();
  h.q.abortRunning('shutdown');
  await h.q.whenRunningDone();
  assert.deepEqual([...h.aborted], [['a1', 'shutdown'], ['b1', 'shutdown']]);
  assert.deepEqual(h.started, ['a1', 'b1'], 'nothing new starts while paused');
  assert.deepEqual(h.q.clearWaiting().map((i) => i.id), ['c1', 'a2', 'b2']);
  assert.equal(h.q.size, 0);
  await h.q.whenRunningDone();
});

test('a job id can be queued only once at a time, and concurrency must be at least 1', () => {
  const h = harness(1);
  h.q.add(item('a', 1));
  assert.throws(() => h.q.add(item('a', 1)), /already queued/);
  assert.throws(() => new FairQueue({ concurrency: 0, run: async () => {} }), /concurrency must be a whole number ≥ 1/);
});

test('the predicted order is the start order, for random mixes of members, arrivals and cancels', async () => {
  let seed = 12345;
  // A small LCG: the mixes are random but the same every run.
  const rand = (n: number): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % n);
  for (let trial = 0; trial < 30; trial++) {
    const h = harness(1 + rand(3));
    let n = 0;
    for (let step = 0; step < 40; step++) {
      const r = rand(10);
      if (r < 6) h.q.add({ id: `j${n++}`, userId: `u${rand(5)}` });
      else if (r < 8 && h.q.runningItems().length) await h.finish(h.q.runningItems()[0]!.id);
      else if (n > 0) h.q.cancel(`j${rand(n)}`);
    }
    const predicted = h.q.waiting().map((i) => i.id);
    const before = h.started.length;
    await drain(h);
    assert.deepEqual(h.started.slice(before), predicted, `trial ${trial}`);
  }
});
