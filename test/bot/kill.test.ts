/**
 * Restart recovery the hard way: the real `clipag bot` process is SIGKILLed mid-job (no shutdown
 * code runs), a new process starts on the same DATA_DIR, and every job comes back: the running one
 * and the one waiting behind it finish, each with a note in its thread, and a finished one is not
 * run again. Then SIGINT stops the second process gracefully while a job runs: that job is kept,
 * queued, for the next start.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { deployCommands } from '../../src/cli/commands-deploy.js';
import { openStore } from '../../src/store/store.js';
import { startFakeDiscord, type FakeDiscord, type MessageView, type Ref } from '../fake-discord/index.js';
import { DEMO_PROMPT, demoPackDir } from '../helpers/demo-pack.js';
import { assertNoPingsSent, jobIdOf, resultIn } from './harness.js';

const ENTRY = fileURLToPath(new URL('../../bin/clipag.js', import.meta.url));
// How long the job that gets killed should run at the measured speed: the kill comes at its first
// progress edit, 2 s in (the bot's edit interval). The speed is measured while other test files may
// share the two cores and can triple by the time this job runs (a 6 s job once finished before its
// kill), so six times the edit interval.
const KILLED_JOB_MS = 12_000;

let fake: FakeDiscord;
let dir: string;
const children: ChildProcess[] = [];

before(async () => {
  fake = await startFakeDiscord();
  dir = await mkdtemp(join(tmpdir(), 'clipag-kill-test-'));
  await deployCommands({ token: fake.token, appId: fake.appId, apiUrl: fake.apiUrl, guild: fake.guild.id });
});
after(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await fake?.close();
  await rm(dir, { recursive: true, force: true });
});

interface BotProcess {
  child: ChildProcess;
  /** stdout and stderr so far (the JSON log). */
  out(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

async function startBotProcess(env: NodeJS.ProcessEnv): Promise<BotProcess> {
  // A clean environment: only what the test passes (and PATH), no .env from the checkout.
  const child = spawn(process.execPath, [ENTRY, 'bot', '--env', join(dir, 'none.env')], { env: { PATH: process.env.PATH, ...env }, cwd: dir });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (b: Buffer) => { out += b; });
  child.stderr!.on('data', (b: Buffer) => { out += b; });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const p: BotProcess = { child, out: () => out, exited };
  await fake.waitFor(() => out.includes('"bot ready"') || child.exitCode !== null, 60_000, 'the bot process to log "bot ready"');
  assert.equal(child.exitCode, null, `the bot exited early:\n${out}`);
  return p;
}

/** /imagine as `user`, resolved once the acknowledgement names the job and its thread exists. */
async function imagine(user: Ref, steps: number): Promise<{ jobId: string; ack: MessageView; threadId: string }> {
  const ix = fake.slash(user, fake.channels.general, 'imagine', { prompt: DEMO_PROMPT, steps });
  const ack = await fake.waitFor(() => ix.original()?.content.includes('job `') && ix.original(), 5000, `the acknowledgement of a ${steps}-step job`);
  const thread = await fake.waitFor(() => fake.threads(fake.channels.general).find((t) => t.starterMessageId === ack.id), 5000, 'its thread');
  return { jobId: jobIdOf(ack), ack, threadId: thread.id };
}

const progressOf = (threadId: string): MessageView[] => fake.messages(threadId).filter((m) => /^(Starting|Step|Finished)/.test(m.content));

test('SIGKILL mid-job: the next process finishes the running and the waiting job with a note; SIGINT keeps a running job', async (t) => {
  const dataDir = join(dir, 'data');
  const env = {
    DISCORD_TOKEN: fake.token, DISCORD_APP_ID: fake.appId, DISCORD_API_URL: fake.apiUrl, MODEL_DIR: await demoPackDir(),
    ENGINE_DEVICE: 'cpu', DATA_DIR: dataDir, LOG_LEVEL: 'info',
  };
  const { member, other, moderator } = fake.users;
  const first = await startBotProcess(env);
  const set = await fake.slash(moderator, fake.channels.general, 'limits set', { max_steps: 1000, cooldown_seconds: 0 }).reply();
  assert.match(String(set.data.content), /Limits updated/);

  // A finished job, and the process's own measure of its speed (/info), to size the job to kill.
  const done = await imagine(other, 10);
  await fake.waitFor(() => resultIn(fake, done.threadId, done.jobId), 30_000, 'the first job to finish');
  const info = String((await fake.slash(member, fake.channels.general, 'info').reply()).data.content);
  const stepsPerSecond = Number(/([\d.]+) steps\/s/.exec(info)?.[1]);
  assert.ok(stepsPerSecond > 0, info);
  const steps = Math.min(1000, Math.max(40, Math.ceil((stepsPerSecond * KILLED_JOB_MS) / 1000)));
  t.diagnostic(`the job to kill: ${steps} steps at ${stepsPerSecond} steps/s`);

  const running = await imagine(member, steps);
  const waiting = await imagine(other, 10);
  assert.match(waiting.ack.content, /number 1 in line/);
  // The first progress edit (a picture, after "Starting…"): the job is well under way and not at its
  // end. A "Finished" or 100 % edit would mean the job was sized too short: fail here, saying so.
  const progress = await fake.waitFor(() => progressOf(running.threadId).find((m) => m.history.length >= 2 && m.attachments.length === 1), 20_000, 'the first progress edit');
  assert.match(progress.content, /^Step \d+\/\d+ · (\d|[1-9]\d)%/, `the first edit came before the end of the ${steps}-step job`);
  first.child.kill('SIGKILL');
  assert.deepEqual(await first.exited, { code: null, signal: 'SIGKILL' });
  assert.equal(resultIn(fake, running.threadId, running.jobId), undefined, `the job was still running when killed (${steps} steps)`);
  const mid = openStore(join(dataDir, 'clipag.db'));
  assert.deepEqual([mid.jobs.get(running.jobId)!.status, mid.jobs.get(waiting.jobId)!.status, mid.jobs.get(done.jobId)!.status], ['running', 'queued', 'done']);
  mid.close();

  const second = await startBotProcess(env);
  // The killed run is tried again; the job that only waited is no new attempt.
  await fake.waitFor(() => fake.messages(running.threadId).find((m) => m.content.startsWith('♻️ The bot restarted') && m.content.includes('attempt 2')), 10_000, `the restart note in ${running.jobId}'s thread`);
  await fake.waitFor(() => fake.messages(waiting.threadId).find((m) => m.content === '♻️ The bot restarted; this image is still on its way.'), 10_000, `the restart note in ${waiting.jobId}'s thread`);
  const result = await fake.waitFor(() => resultIn(fake, running.threadId, running.jobId), 60_000, 'the killed job to finish after the restart');
  assert.match(result.content, new RegExp(`${steps} steps in`));
  await fake.waitFor(() => resultIn(fake, waiting.threadId, waiting.jobId), 30_000, 'the waiting job to finish too');
  assert.deepEqual(progressOf(running.threadId).map((m) => m.id), [progress.id], 'the same progress message carried on');
  assert.match(fake.message(running.ack.id)!.content, /done/);
  assert.equal(fake.messages(done.threadId).filter((m) => m.attachments.length && m.content.includes('CLIP score')).length, 1, 'the finished job did not run again');

  // SIGINT while a job runs: the process stops cleanly and keeps the job queued for the next start.
  const last = await imagine(member, steps);
  await fake.waitFor(() => progressOf(last.threadId).length === 1, 10_000, 'the last job to start');
  second.child.kill('SIGINT');
  const stopped = await second.exited;
  assert.deepEqual(stopped, { code: 0, signal: null }, second.out());
  assert.match(second.out(), /"msg":"stopped"/);
  const end = openStore(join(dataDir, 'clipag.db'));
  const statuses = [running, waiting, done, last].map((j) => end.jobs.get(j.jobId)!.status);
  end.close();
  assert.deepEqual(statuses, ['done', 'done', 'done', 'queued']);

  const token = new RegExp(fake.token.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  assert.doesNotMatch(first.out() + second.out(), token, 'the token never reaches a log');
  assertNoPingsSent(fake);
  assert.deepEqual(fake.bugs, []);
});
