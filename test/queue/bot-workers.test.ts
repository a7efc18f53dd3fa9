/**
 * Issue 19 end to end: the bot (fake Discord) with QUEUE_URL and two `clipag worker` processes on a
 * real redis-server (AOF on). 100 /imagine from 30 members; mid-run one worker is killed with SIGKILL
 * while it draws (a replacement starts after) and Redis is restarted. Every job must be delivered
 * exactly once: one result message per job id, every record done, nothing failed in the bot or in
 * BullMQ, and the killed worker's job finished by another worker.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { describe, test } from 'node:test';
import pino from 'pino';
import { parseQueueUrl } from '../../src/jobs/queue-url.js';
import { RemoteQueue } from '../../src/jobs/remote/remote-queue.js';
import type { JobRecord } from '../../src/store/types.js';
import { harness, jobIdOf, DEMO_PROMPT, type Harness } from '../bot/harness.js';
import type { InteractionHandle, MessageView } from '../fake-discord/index.js';
import { CLIPAG } from '../helpers/cli.js';
import { demoPackDir } from '../helpers/demo-pack.js';
import { redisSkip, startRedis } from '../helpers/redis.js';

const REQUESTS = 100;
const MEMBERS = 30;
const STEPS = 3;
/** Short locks, so the killed worker's job is taken over within about 2 s instead of 30. */
const LOCK_MS = 1500;
const STALLED_MS = 700;

const quiet = pino({ level: 'silent' });
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `check` (sync or async) until it returns something truthy; fails naming `what` after `timeoutMs`. */
async function until<T>(check: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

/** A `clipag worker` process; its stderr is kept (the tail) for the failure message. */
interface WorkerProcess { name: string; child: ChildProcess; log(): string }

describe('the bot with two clipag workers on a shared queue', { skip: redisSkip }, () => {
  test('100 /imagine from 30 members, a worker killed mid-job and Redis restarted: every job delivered exactly once', { timeout: 240_000 }, async (t) => {
    const redis = await startRedis({ appendonly: true });
    const parsed = parseQueueUrl(redis.url);
    assert.ok(parsed.ok);
    const target = parsed.target;
    const modelDir = await demoPackDir();
    const workers: WorkerProcess[] = [];
    let h: Harness | undefined;
    let watcher: RemoteQueue | undefined;
    const spawnWorker = (name: string): WorkerProcess => {
      const child = spawn(process.execPath, [CLIPAG, 'worker', '--model', modelDir, '--device', 'cpu', '--views', '2', '--threads', '1', '--name', name,
        '--lock-ms', String(LOCK_MS), '--stalled-ms', String(STALLED_MS), '--env', '/dev/null'], {
        env: { ...process.env, QUEUE_URL: redis.url, LOG_LEVEL: 'warn' }, stdio: ['ignore', 'ignore', 'pipe'],
      });
      let err = '';
      child.stderr?.setEncoding('utf8').on('data', (s: string) => { err = (err + s).slice(-4000); });
      const w = { name, child, log: () => err };
      workers.push(w);
      return w;
    };
    const exited = (child: ChildProcess): Promise<void> => new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
    });
    try {
      const [first] = [spawnWorker('worker-a'), spawnWorker('worker-b')];
      watcher = new RemoteQueue(target, quiet);
      const w = watcher;
      h = await harness({ config: { queue: target }, bot: { workerPollMs: 200, progressIntervalMs: 500 }, fake: { ackDeadlineMs: 10_000 } });
      const { fake, bot } = h;
      const ctx = bot.context;
      const queue = w.queue(ctx.engines.defaultModel);
      // Both workers announced (their engines are ready) and the bot hands out two jobs at once.
      await until(async () => (await w.workers()).length === 2 && ctx.concurrency() === 2, 60_000, 'two workers online and two slots in the bot');

      // /info lists the workers online, their device and models, and the shared queue's depth.
      const info = String((await fake.slash(fake.users.moderator, fake.channels.general, 'info', {}).reply(10_000)).data.content);
      assert.match(info, /\*\*Running:\*\* 2 at a time/);
      assert.match(info, /\*\*Workers online:\*\*/);
      for (const name of ['worker-a', 'worker-b']) assert.match(info, new RegExp(`• ${name} on cpu: 0/1 busy, no job yet; ${ctx.engines.defaultModel}`));
      assert.match(info, /\*\*Shared queue:\*\* 0 waiting for a worker/);

      // Four requests for some members: more than the default queued_per_user (3) allows at once.
      const set = await fake.slash(fake.users.moderator, fake.channels.general, 'limits set', { queued_per_user: 10 }).reply(10_000);
      assert.match(String(set.data.content), /queued_per_user/);
      assert.equal(ctx.store.limits.get(fake.guild.id).queuedPerUser, 10);
      const members = Array.from({ length: MEMBERS }, (_, i) => fake.addMember(`member${i}`));
      await sleep(300); // GUILD_MEMBER_ADDs reach the client

      const started = Date.now();
      const handles: InteractionHandle[] = [];
      for (let i = 0; i < REQUESTS; i++) {
        handles.push(fake.slash(members[i % MEMBERS]!, i % 2 ? fake.channels.general : fake.channels.art, 'imagine', { prompt: DEMO_PROMPT, steps: STEPS, seed: i + 1 }));
        await sleep(10);
      }
      const replies = await Promise.all(handles.map((x) => x.reply(20_000)));
      assert.deepEqual(replies.filter((r) => r.ephemeral).map((r) => String(r.data.content)), [], 'no request refused');
      const ids = await Promise.all(handles.map((x) => until(() => /job `/.test(x.original()?.content ?? '') && jobIdOf(x.original()), 20_000, 'an acknowledgement with a job id')));
      assert.equal(new Set(ids).size, REQUESTS, 'one job per request');
      const record = (id: string): JobRecord => ctx.store.jobs.get(id)!;
      const done = (): number => ids.filter((id) => record(id).status === 'done').length;

      // SIGKILL worker-a while it draws: a run job it holds whose last step has not been reported yet.
      await until(() => done() >= 15, 60_000, '15 jobs done');
      const victim = await until(async () => (await queue.getActive()).find((j) => {
        const p = j.progress as { step?: number; steps?: number } | number;
        return j.name === 'run' && j.processedBy === first.name && (typeof p !== 'object' || (p.step ?? 0) < (p.steps ?? STEPS));
      }), 30_000, 'worker-a drawing a job');
      first.child.kill('SIGKILL');
      const doneAtKill = done();
      await exited(first.child);
      spawnWorker('worker-c');

      // Restart Redis (SIGTERM: the AOF is flushed) while jobs are still waiting and running.
      await until(() => done() >= 55, 90_000, '55 jobs done');
      await redis.restart();
      const doneAtRestart = done();

      const finished = await until(() => ids.every((id) => ['done', 'failed', 'cancelled'].includes(record(id).status)) && ctx.jobs.pending === 0, 150_000, 'every job finished and its messages sent')
        .then(() => Date.now() - started, (e: Error) => {
          const open = ids.filter((id) => record(id).status !== 'done').map((id) => `${id}:${record(id).status}`);
          throw new Error(`${e.message}; not done: ${open.join(' ')}\n${workers.map((x) => `${x.name}: ${x.log()}`).join('\n')}`);
        });
      assert.ok(doneAtKill < REQUESTS && doneAtRestart < REQUESTS, `faults came mid-run (done at kill ${doneAtKill}, at restart ${doneAtRestart})`);

      // Every record done, none failed.
      const notDone = ids.map(record).filter((r) => r.status !== 'done').map((r) => `${r.id}: ${r.status} ${r.error ?? ''}`);
      assert.deepEqual(notDone, [], 'every job done');

      // Exactly one result message per job id, anywhere the bot posted, and it is the one the record names.
      const everywhere: MessageView[] = [fake.channels.general, fake.channels.art, ...fake.threads().map((t) => t.id)].flatMap((c) => fake.messages(c));
      const results = new Map<string, MessageView[]>();
      for (const m of everywhere) {
        const id = /clipag:rerun:([a-z0-9]+)/.exec(JSON.stringify(m.components))?.[1];
        if (id) results.set(id, [...(results.get(id) ?? []), m]);
      }
      const wrongCount = ids.filter((id) => results.get(id)?.length !== 1).map((id) => `${id}: ${results.get(id)?.length ?? 0}`);
      assert.deepEqual(wrongCount, [], 'one result message per job');
      assert.deepEqual([...results.keys()].filter((id) => !ids.includes(id)), [], 'no result for a job nobody asked for');
      for (const id of ids) {
        const [m] = results.get(id)!;
        assert.equal(m!.id, record(id).resultMessageId);
        assert.equal(m!.attachments.length, 1, `job ${id}: one picture`);
        assert.match(m!.content, new RegExp(`${STEPS} steps in`));
      }

      // BullMQ agrees: each job id completed once as a run, nothing failed, nothing left over.
      const completedRuns = (await queue.getJobs(['completed'])).filter((j) => j.name === 'run');
      assert.deepEqual(completedRuns.map((j) => j.id).sort(), [...ids].sort(), 'each job id completed once in the shared queue');
      assert.deepEqual(await queue.getJobCounts('failed', 'active', 'waiting', 'delayed', 'prioritized'), { failed: 0, active: 0, waiting: 0, delayed: 0, prioritized: 0 });
      // The job worker-a died under went back to the queue and another worker finished it.
      const taken = completedRuns.find((j) => j.id === victim.id)!;
      assert.ok(taken.stalledCounter >= 1, `job ${victim.id} was taken over after the kill`);
      assert.notEqual((taken.returnvalue as { worker?: string }).worker, first.name);
      t.diagnostic(`${REQUESTS} jobs in ${finished} ms; ${doneAtKill} done at the kill, ${doneAtRestart} at the Redis restart`);
    } finally {
      await h?.close();
      for (const x of workers) {
        x.child.kill('SIGKILL');
        await exited(x.child);
      }
      await watcher?.close();
      await redis.close();
    }
  });
});
