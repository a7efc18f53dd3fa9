/**
 * The job manager running, refusing, cancelling and ordering jobs, on both backends
 * (testing/manager-rig.ts); restarts and shutdowns are in manager-restart.test.ts.
 */
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { DEMO_PROMPT } from '../../test/helpers/demo-pack.js';
import { BENCH_WORDS } from '../engine/bench/random-pack.js';
import { SHAPES_WORDS } from '../engine/shapes/model-config.js';
import { JobInputError } from './engine.js';
import type { JobManagerEvents } from './manager.js';
import { currentEngine, describeOnEachBackend, job, MOD, PROMPT, rig } from './testing/manager-rig.js';

test('test prompts use only words both the demo model and the random pack know', () => {
  // The tests run on whichever pack demoPackDir finds, so a word one of them lacks fails only there.
  for (const prompt of [PROMPT, DEMO_PROMPT]) {
    for (const word of prompt.split(' ')) {
      assert.ok(BENCH_WORDS.includes(word) && SHAPES_WORDS.includes(word), `"${word}" in "${prompt}"`);
    }
  }
});

describeOnEachBackend('the job manager', (backend) => {
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
        assert.ok(p.image && p.image.width === currentEngine().info().imageSize, 'each step carries the canvas');
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
