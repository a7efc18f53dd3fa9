/**
 * The job manager across shutdowns and restarts of the bot, on both backends
 * (testing/manager-rig.ts): what is resumed, how attempts are counted, and what close keeps.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { openStore } from '../store/store.js';
import { JobManagerClosed } from './manager.js';
import { describeOnEachBackend, G, job, PROMPT, rig, type Rig } from './testing/manager-rig.js';

describeOnEachBackend('the job manager across restarts', (backend) => {
  test('shutdown without finishing leaves running and waiting jobs queued; the next process resumes and completes them', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'clipag-jobs-'));
    try {
      const first = await rig({ dir });
      const a = (await first.m.submit(job('u1', { prompt: PROMPT, steps: 500 }))).job;
      const b = (await first.m.submit(job('u2', { prompt: PROMPT, steps: 2 }))).job;
      await first.next('progress', a.id);
      await first.m.close({ finishRunning: false });
      await assert.rejects(first.m.submit(job('u1', { prompt: PROMPT })), JobManagerClosed);
      // a's run in the bot was stopped part way: its next run is attempt 2. b only waited.
      const stopped = backend.runsElsewhere ? 1 : 2;
      assert.deepEqual(first.store.jobs.unfinished().map((j) => [j.id, j.status, j.attempts]), [[a.id, 'queued', stopped], [b.id, 'queued', 1]]);
      assert.ok(!first.events.some(([e]) => e === 'cancelled' || e === 'failed'), 'a shutdown is not a cancel');
      await first.cleanup();

      // The "dead process" case too: a row left 'running' (nobody reset it).
      const s = openStore(join(dir, 'clipag.db'));
      s.jobs.markRunning(a.id);
      s.close();

      const second = await rig({ dir });
      const resumed = second.m.resume();
      // a was running again when the process died: in the bot, that is a third run. b only waited.
      const attempt = backend.runsElsewhere ? 1 : 3;
      assert.deepEqual(resumed.map((j) => [j.id, j.status, j.attempts]), [[a.id, 'queued', attempt], [b.id, 'queued', 1]]);
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

  test('a job the process died under maxAttempts times fails instead of looping; a waiting one resumes regardless', { skip: backend.runsElsewhere && 'the run is not in the bot: see the next test' }, async () => {
    const r = await rig({ maxAttempts: 2 });
    try {
      const id = r.store.jobs.create(job('u1', { prompt: PROMPT, steps: 2 })).id;
      r.store.jobs.requeue(id); // attempt 2: the process died under it once already…
      r.store.jobs.markRunning(id); // …and again now
      const waiting = r.store.jobs.create(job('u2', { prompt: PROMPT, steps: 2 })).id;
      r.store.jobs.requeue(waiting); // a run of it the process died under once: attempt 2, and since then it only waited
      const failed = r.next('failed', id);
      const done = r.next('done', waiting);
      assert.deepEqual(r.m.resume().map((j) => [j.id, j.attempts]), [[waiting, 2]], 'waiting is no new attempt');
      assert.equal((await failed).message, 'stopped after 2 tries: the bot restarted each time');
      assert.equal(r.store.jobs.get(id)!.status, 'failed');
      await done;
    } finally {
      await r.cleanup();
    }
  });

  test('a bot that dies again and again under a job running on a worker neither counts nor fails it: each start picks the run up where it is', { skip: !backend.runsElsewhere && 'the run is in the bot: see the test before' }, async () => {
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

});
