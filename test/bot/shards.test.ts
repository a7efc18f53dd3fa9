/**
 * SHARDS (issue 19): two gateway shards on one shared queue (a real redis-server, a worker in this
 * process on the real engine) and one DATA_DIR, against a fake Discord with a guild on each shard.
 * First two bots in this process as shards 0 and 1 of 2: each /imagine is answered, followed and
 * posted by the shard owning its server, exactly once, and after a restart each shard resumes only
 * its own servers' jobs. Then `clipag bot` itself with SHARDS=auto under discord.js' ShardingManager:
 * two shard processes, a job drawn for the right one, a clean stop on SIGTERM; a shard that cannot
 * start stops the lot; settings SHARDS refuses.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { startBot, type Bot } from '../../src/bot/app.js';
import type { BotConfig } from '../../src/bot/config.js';
import { deployCommands } from '../../src/cli/commands-deploy.js';
import { singleEngine } from '../../src/jobs/engine-pool.js';
import { parseQueueUrl } from '../../src/jobs/queue-url.js';
import { startWorker, type RunningWorker } from '../../src/jobs/remote/worker.js';
import { shardOfGuild, startFakeDiscord, type FakeDiscord, type GuildHandle, type InteractionHandle, type MessageView } from '../fake-discord/index.js';
import { CLIPAG } from '../helpers/cli.js';
import { demoPackDir } from '../helpers/demo-pack.js';
import { redisSkip, startRedis, type TestRedis } from '../helpers/redis.js';
import { DEMO_PROMPT, jobIdOf, resultIn, testEngine } from './harness.js';

const quiet = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

describe('gateway shards on a shared queue', { skip: redisSkip }, () => {
  let redis: TestRedis;
  let worker: RunningWorker;
  let fake: FakeDiscord;
  /** The guild each shard owns: guilds[0] on shard 0, guilds[1] on shard 1. */
  const guilds: GuildHandle[] = [];
  let dir: string;
  let config: BotConfig;

  before(async () => {
    redis = await startRedis();
    const parsed = parseQueueUrl(redis.url);
    assert.ok(parsed.ok);
    // Every frame, so a job's progress shows at once.
    worker = await startWorker({ target: parsed.target, engines: singleEngine(await testEngine()), concurrency: 1, name: 'test-worker', logger: quiet, frameIntervalMs: 0 });
    // max_concurrency 2: both shards may log in at once, so the ShardingManager does not wait 5.5 s.
    fake = await startFakeDiscord({ shards: 2, maxConcurrency: 2 });
    const first = shardOfGuild(fake.guild.id, 2);
    guilds[first] = fake.guilds[0]!;
    guilds[1 - first] = fake.addGuild('Second Guild', { shard: [1 - first, 2] });
    for (const g of guilds) await deployCommands({ token: fake.token, appId: fake.appId, apiUrl: fake.apiUrl, guild: g.id });
    dir = await mkdtemp(join(tmpdir(), 'clipag-shards-'));
    config = {
      token: fake.token, appId: fake.appId, modelDir: await demoPackDir(), modelMemoryMb: 4096, device: 'cpu', concurrency: 1,
      dataDir: join(dir, 'data'), logLevel: 'silent', apiUrl: fake.apiUrl, queue: parsed.target,
    };
  });
  after(async () => {
    await worker?.close();
    await fake?.close();
    await redis?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
    assert.deepEqual(fake?.bugs ?? [], []);
  });

  const shard = (id: number): Promise<Bot> => startBot(config, {
    logger: quiet.child({ shard: id }), shards: { ids: [id], count: 2 }, progressIntervalMs: 150, stopTimeoutMs: 2000, workerPollMs: 200,
  });
  /** The job ids each bot's manager finished, per shard. */
  const finished = (bots: Bot[]): string[][] => bots.map((b) => {
    const ids: string[] = [];
    b.context.manager.on('done', ({ job }) => void ids.push(job.id));
    return ids;
  });
  async function ack(h: InteractionHandle): Promise<{ jobId: string; message: MessageView }> {
    const message = await fake.waitFor(() => { const m = h.original(); return m?.content.includes('job `') && m; }, 10_000, 'the acknowledgement');
    return { jobId: jobIdOf(message), message };
  }
  const threadOf = (m: MessageView): Promise<{ id: string }> =>
    fake.waitFor(() => fake.threads().find((t) => t.starterMessageId === m.id), 5000, 'a thread on the acknowledgement');
  /** Result messages for a job anywhere in the fake: must be exactly one. */
  const resultsOf = (jobId: string): MessageView[] =>
    fake.threads().flatMap((t) => fake.messages(t.id)).filter((m) => JSON.stringify(m.components).includes(`clipag:rerun:${jobId}`));

  test('each /imagine is answered and posted by the shard owning its server, exactly once; each shard resumes only its own servers\' jobs', { timeout: 120_000 }, async () => {
    const bots = [await shard(0), await shard(1)];
    try {
      assert.deepEqual(fake.gatewayShards.map(String).sort(), ['0,2', '1,2']);
      assert.deepEqual(bots.map((b) => [...b.client.guilds.cache.keys()]), [[guilds[0]!.id], [guilds[1]!.id]]);
      const done = finished(bots);
      const asked = await Promise.all(guilds.map((g) => ack(fake.slash(fake.users.member, g.channels.general, 'imagine', { prompt: DEMO_PROMPT, steps: 8 }))));
      for (const [i, a] of asked.entries()) {
        const thread = await threadOf(a.message);
        await fake.waitFor(() => resultIn(fake, thread.id, a.jobId), 60_000, `the result in guild ${i}`);
      }
      assert.deepEqual(done, [[asked[0]!.jobId], [asked[1]!.jobId]], 'each job ran on the shard owning its server');
      for (const a of asked) assert.equal(resultsOf(a.jobId).length, 1, `one result for ${a.jobId}`);

      // Shard 1 stops mid-job: its job stays queued in the shared store. Shard 0 restarting must leave it alone.
      const long = await ack(fake.slash(fake.users.other, guilds[1]!.channels.general, 'imagine', { prompt: DEMO_PROMPT, steps: 200 }));
      const longThread = await threadOf(long.message);
      await fake.waitFor(() => fake.messages(longThread.id).some((m) => m.content.startsWith('Step')), 30_000, 'the long job drawing on shard 1');
      await bots[1]!.stop();
      const left = bots[0]!.context.store.jobs.get(long.jobId)!;
      assert.equal(left.status, 'queued');
      await bots[0]!.stop();
      bots[0] = await shard(0);
      assert.equal(bots[0].context.manager.position(long.jobId), undefined, 'shard 0 did not take up shard 1\'s job');
      assert.equal(bots[0].context.store.jobs.get(long.jobId)!.attempts, left.attempts);
      bots[1] = await shard(1);
      // Shard 1 took it up again (the note comes with that); the worker drew on meanwhile, so no new attempt.
      await fake.waitFor(() => fake.messages(longThread.id).some((m) => m.content === '♻️ The bot restarted; this image is still on its way.'), 10_000, 'the restart note');
      assert.equal(bots[1].context.store.jobs.get(long.jobId)!.attempts, left.attempts);
      bots[1].context.manager.cancel(long.jobId, fake.users.other.id); // 200 steps: not worth the wait
      await fake.waitFor(() => fake.message(long.message.id)?.content.includes('cancelled'), 10_000, 'the long job cancelled, said in Discord');
    } finally {
      for (const b of bots) await b.stop();
    }
  });

  /** `clipag bot` as a person runs it, in a clean environment; resolves with its exit code and output. */
  function clipagBot(env: NodeJS.ProcessEnv, whileRunning?: (out: () => string, stop: () => void) => Promise<void>): Promise<{ code: number | null; out: string }> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [CLIPAG, 'bot', '--env', join(dir, 'none.env')], {
        env: {
          PATH: process.env.PATH, DISCORD_TOKEN: fake.token, DISCORD_APP_ID: fake.appId, DISCORD_API_URL: fake.apiUrl, MODEL_DIR: config.modelDir,
          ENGINE_DEVICE: 'cpu', DATA_DIR: join(dir, 'cli-data'), LOG_LEVEL: 'info', ...env,
        },
        cwd: dir, timeout: 90_000,
      });
      let out = '';
      child.stdout.on('data', (b: Buffer) => { out += b; });
      child.stderr.on('data', (b: Buffer) => { out += b; });
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, out }));
      whileRunning?.(() => out, () => child.kill('SIGTERM')).catch((e: unknown) => { child.kill('SIGTERM'); reject(e); });
    });
  }
  const lines = (out: string): Record<string, unknown>[] => out.split('\n').flatMap((l) => { try { return [JSON.parse(l) as Record<string, unknown>]; } catch { return []; } });

  test('clipag bot with SHARDS=auto: two shard processes; one killed is started again; a job in its server is drawn for it; SIGTERM stops both', { timeout: 120_000 }, async () => {
    let jobId = '';
    const r = await clipagBot({ SHARDS: 'auto', QUEUE_URL: redis.url }, async (out, stop) => {
      const ready = (): unknown[] => lines(out()).filter((l) => l.msg === 'bot ready').map((l) => l.shard);
      await fake.waitFor(() => ready().length === 2, 60_000, 'two shards ready');
      const first = lines(out()).find((l) => l.msg === 'shard started' && l.shard === 1);
      process.kill(Number(first?.childPid), 'SIGKILL');
      await fake.waitFor(() => ready().length === 3 && fake.gatewayShards.length === 2, 60_000, 'shard 1 back');
      const h = fake.slash(fake.users.member, guilds[1]!.channels.art, 'imagine', { prompt: DEMO_PROMPT, steps: 5 });
      const a = await ack(h);
      jobId = a.jobId;
      const thread = await threadOf(a.message);
      await fake.waitFor(() => resultIn(fake, thread.id, jobId), 60_000, 'the result');
      stop();
    });
    assert.equal(r.code, 0, r.out);
    const log = lines(r.out);
    assert.deepEqual(log.filter((l) => l.msg === 'starting shards').map((l) => l.shards), [2], 'auto: the count from GET /gateway/bot');
    assert.deepEqual(log.filter((l) => l.msg === 'bot ready').map((l) => l.shard).sort(), [0, 1, 1]);
    assert.deepEqual(log.filter((l) => l.msg === 'shard exited; starting it again').map((l) => [l.shard, l.signal]), [[1, 'SIGKILL']]);
    // The shards' log lines in the message, so a failure says which process took the interaction and when.
    const trail = log.filter((l) => l.shard !== undefined).map((l) => `${String(l.time)} shard ${String(l.shard)}: ${String(l.msg)}`).join('\n');
    assert.deepEqual(log.filter((l) => l.msg === 'job queued').map((l) => [l.shard, l.jobId]), [[1, jobId]], `queued by the shard owning the server\n${trail}`);
    assert.equal(resultsOf(jobId).length, 1);
    assert.deepEqual(log.filter((l) => l.msg === 'stopped').map((l) => l.shard).sort(), [0, 1], 'both shards stopped cleanly');
    assert.doesNotMatch(r.out, new RegExp(fake.token.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')), 'the token never reaches the log');
  });

  test('a shard that cannot start (Redis unreachable) stops the others and the command fails with one line', { timeout: 60_000 }, async () => {
    const r = await clipagBot({ SHARDS: '2', QUEUE_URL: 'redis://127.0.0.1:1/0', LOG_LEVEL: 'warn' });
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, /shard \d exited \(code 1\) before it logged in/);
  });

  test('settings: SHARDS must be auto or 1–1000, and more than one shard needs QUEUE_URL', async () => {
    const bad = await clipagBot({ SHARDS: 'two' });
    assert.equal(bad.code, 2);
    assert.match(bad.out, /SHARDS must be auto or a whole number from 1 to 1000/);
    const alone = await clipagBot({ SHARDS: 'auto' });
    assert.equal(alone.code, 2);
    assert.match(alone.out, /SHARDS with more than one shard needs QUEUE_URL/);
  });
});
