import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CONTINUOUS_LOOKS_MS, WorkerWatch } from './worker-watch.js';

test('the time without a worker counts from the first look that saw none; a worker seen restarts it; a gap between looks starts it again', async () => {
  let now = 1000;
  let online = false;
  const w = new WorkerWatch(async () => online, () => now);
  assert.equal(await w.absentFor(), 0, 'the first look starts the count');
  now += 5000;
  assert.equal(await w.absentFor(), 5000);
  now += 5000;
  assert.equal(await w.absentFor(), 10_000, 'every waiting job reads the same count');
  online = true;
  now += 1000;
  assert.equal(await w.absentFor(), 0);
  online = false;
  now += 1000;
  assert.equal(await w.absentFor(), 0, 'a worker seen a moment ago: the count starts again');
  now += 4000;
  assert.equal(await w.absentFor(), 4000);
  // Nobody looked for longer than an announcement lives: a worker may have come and gone unseen.
  now += CONTINUOUS_LOOKS_MS + 1;
  assert.equal(await w.absentFor(), 0);
  now += CONTINUOUS_LOOKS_MS;
  assert.equal(await w.absentFor(), CONTINUOUS_LOOKS_MS);
});

test('looks asked for while one is under way share it: one read of the workers', async () => {
  let reads = 0;
  let answer: (online: boolean) => void = () => {};
  const w = new WorkerWatch(() => { reads++; return new Promise<boolean>((resolve) => { answer = resolve; }); }, () => 0);
  const a = w.absentFor();
  const b = w.absentFor();
  answer(true);
  assert.deepEqual(await Promise.all([a, b]), [0, 0]);
  assert.equal(reads, 1);
  const c = w.absentFor();
  answer(false);
  await c;
  assert.equal(reads, 2, 'a later look reads again');
});
