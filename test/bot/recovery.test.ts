/**
 * Restart recovery: the bot is stopped mid-job (SIGTERM's path: running jobs are stopped and left
 * queued), a new bot starts on the same DATA_DIR and the same fake Discord, says so in the thread,
 * reuses the job's progress message and finishes the job. Results made before the restart (messages
 * the new process never saw) still answer 🔁 and 🎲.
 */
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import { assertNoPingsSent, DEMO_PROMPT, harness, jobIdOf, resultIn, type Harness } from './harness.js';

let h: Harness;
before(async () => {
  h = await harness();
  h.bot.context.store.limits.set(h.fake.guild.id, { maxSteps: 1000, cooldownSeconds: 0 }, 'test');
});
after(async () => { await h?.close(); });

test('a job stopped by a restart resumes with a note and completes', async () => {
  const { fake } = h;
  // A finished job from before the restart, to react on afterwards.
  const oldIx = fake.slash(fake.users.other, fake.channels.general, 'imagine', { prompt: DEMO_PROMPT, steps: 3 });
  const oldAck = await fake.waitFor(() => oldIx.original()?.content.includes('job `') && oldIx.original(), 5000, 'old ack');
  const oldId = jobIdOf(oldAck);
  const oldThread = await fake.waitFor(() => fake.threads(fake.channels.general).find((t) => t.starterMessageId === oldAck.id), 5000, 'old thread');
  const oldResult = await fake.waitFor(() => resultIn(fake, oldThread.id, oldId), 20_000, 'the old result');

  const ix = fake.slash(fake.users.member, fake.channels.general, 'imagine', { prompt: DEMO_PROMPT, steps: 400 });
  const ack = await fake.waitFor(() => ix.original()?.content.includes('job `') && ix.original(), 5000, 'ack');
  const jobId = jobIdOf(ack);
  const thread = await fake.waitFor(() => fake.threads(fake.channels.general).find((t) => t.starterMessageId === ack.id), 5000, 'thread');
  const progress = await fake.waitFor(() => fake.messages(thread.id).find((m) => m.content.startsWith('Step ') && m.attachments.length === 1), 10_000, 'a progress picture');

  await h.bot.stop();
  // The new bot opens the same database file in the same DATA_DIR.
  const bot2 = await h.restart();
  const job = bot2.context.store.jobs.get(jobId)!;
  assert.equal(job.attempts, 2, 'resumed as the second attempt');

  await fake.waitFor(() => fake.messages(thread.id).some((m) => m.content.includes('The bot restarted') && m.content.includes('attempt 2')), 5000, 'the restart note');
  const result = await fake.waitFor(() => resultIn(fake, thread.id, jobId), 30_000, 'the result after the restart');
  assert.match(result.content, /400 steps/);
  assert.equal(bot2.context.store.jobs.get(jobId)!.status, 'done');
  // The same progress message carried on (edited, not a second one).
  const progressMessages = fake.messages(thread.id).filter((m) => /^(Step|Starting|Finished)/.test(m.content));
  assert.deepEqual(progressMessages.map((m) => m.id), [progress.id]);
  assert.match(fake.message(progress.id)!.content, /^Finished/);
  assert.match(fake.message(ack.id)!.content, /done/);

  // 🔁 on the result from before the restart (not in this process's cache): a new job in its thread.
  fake.react(fake.users.member, oldResult, '🔁');
  const rerunAck = await fake.waitFor(() => fake.messages(oldThread.id).find((m) => m.content.includes(`for <@${fake.users.member.id}>`)), 5000, 'the rerun of the old result');
  await fake.waitFor(() => resultIn(fake, oldThread.id, jobIdOf(rerunAck)), 20_000, 'the rerun result');
  // 🎲 on it once its picture is gone from DATA_DIR: a short note, no job.
  await rm(bot2.context.store.jobs.get(oldId)!.imagePath!);
  fake.react(fake.users.member, oldResult, '🎲');
  await fake.waitFor(() => fake.messages(oldThread.id).find((m) => m.content === `<@${fake.users.member.id}>: the picture to start from is gone: try 🔁 or a new /imagine instead.`), 5000, 'the note that the picture is gone');
  assertNoPingsSent(fake);
  assert.deepEqual(fake.bugs, []);
});
