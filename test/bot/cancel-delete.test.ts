/**
 * Cancel (button and /cancel, while running and while waiting) and ❌ delete (reaction and button):
 * the requester or a moderator may, other members are told no, privately where Discord allows.
 * Messages deleted by people, and reactions on messages that are not results, do no harm.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { assertNoPingsSent, DEMO_PROMPT, harness, jobIdOf, resultIn, type Harness } from './harness.js';

let h: Harness;
before(async () => {
  h = await harness();
  h.bot.context.store.limits.set(h.fake.guild.id, { cooldownSeconds: 0, maxSteps: 1000 }, 'test');
});
after(async () => { await h?.close(); });

const ephemeralText = async (r: Promise<{ ephemeral: boolean; data: Record<string, unknown> }>): Promise<string> => {
  const x = await r;
  assert.equal(x.ephemeral, true);
  return String(x.data.content);
};

test('cancel: others are refused, the requester stops a running job, a moderator cancels a waiting one', async () => {
  const { fake } = h;
  const { store } = h.bot.context;
  const running = fake.slash(fake.users.member, fake.channels.general, 'imagine', { prompt: DEMO_PROMPT, steps: 1000 });
  const queued = fake.slash(fake.users.other, fake.channels.general, 'imagine', { prompt: DEMO_PROMPT, steps: 5 });
  const runAck = await fake.waitFor(() => running.original()?.content.includes('job `') && running.original(), 5000, 'first ack');
  const waitAck = await fake.waitFor(() => queued.original()?.content.includes('number 1 in line') && queued.original(), 5000, 'second ack, waiting');
  const runId = jobIdOf(runAck);
  const waitId = jobIdOf(waitAck);
  await fake.waitFor(() => store.jobs.get(runId)?.status === 'running', 5000, 'the first job running');
  const queue = await ephemeralText(fake.slash(fake.users.other, fake.channels.general, 'queue').reply());
  assert.match(queue, /Drawing:\*\* 1 · \*\*Waiting:\*\* 1/);
  assert.match(queue, new RegExp(`Yours:\\*\\* \`${waitId}\` number 1`));

  assert.match(await ephemeralText(fake.click(fake.users.other, runAck, `clipag:cancel:${runId}`).reply()), /Only the member who asked/);
  assert.match(await ephemeralText(fake.slash(fake.users.other, fake.channels.general, 'cancel', { job: runId }).reply()), /Only the member who asked/);
  // The moderator cancels the waiting job of `other` by id; it never runs.
  assert.match(await ephemeralText(fake.slash(fake.users.moderator, fake.channels.general, 'cancel', { job: waitId }).reply()), /Cancelled/);
  assert.equal(store.jobs.get(waitId)!.status, 'cancelled');
  assert.equal(store.jobs.get(waitId)!.startedAt, null);
  // The requester's click stops the running one within a step.
  assert.match(await ephemeralText(fake.click(fake.users.member, runAck, `clipag:cancel:${runId}`).reply()), /Stopping/);
  await fake.waitFor(() => store.jobs.get(runId)?.status === 'cancelled', 5000, 'the running job cancelled');
  const thread = fake.threads(fake.channels.general).find((t) => t.starterMessageId === runAck.id)!;
  await fake.waitFor(() => fake.messages(thread.id).some((m) => m.content === `Cancelled by <@${fake.users.member.id}>.`), 5000, 'the cancel note in the progress message');
  const ackNow = await fake.waitFor(() => { const m = fake.message(runAck.id)!; return m.content.includes('cancelled') && m; }, 5000, 'ack marked cancelled');
  assert.equal(JSON.stringify(ackNow.components).includes('cancel:'), false, 'no Cancel button any more');
  assert.match(await ephemeralText(fake.slash(fake.users.member, fake.channels.general, 'cancel').reply()), /no image waiting/);
  assert.match(await ephemeralText(fake.slash(fake.users.member, fake.channels.general, 'cancel', { job: 'zzzz9999' }).reply()), /no job `zzzz9999`/);
});

test('❌: another member is refused in the thread, the requester deletes by reaction, a moderator by button', async () => {
  const { fake } = h;
  const make = async (user = fake.users.member): Promise<{ threadId: string; jobId: string; resultId: string }> => {
    const ix = fake.slash(user, fake.channels.general, 'imagine', { prompt: DEMO_PROMPT, steps: 3 });
    const ack = await fake.waitFor(() => ix.original()?.content.includes('job `') && ix.original(), 5000, 'ack');
    const jobId = jobIdOf(ack);
    const thread = await fake.waitFor(() => fake.threads(fake.channels.general).find((t) => t.starterMessageId === ack.id), 5000, 'thread');
    const result = await fake.waitFor(() => resultIn(fake, thread.id, jobId), 20_000, 'result');
    return { threadId: thread.id, jobId, resultId: result.id };
  };
  const a = await make();
  fake.react(fake.users.other, a.resultId, '❌');
  await fake.waitFor(() => fake.messages(a.threadId).some((m) => m.content.startsWith(`<@${fake.users.other.id}>: only the member who asked`)), 5000, 'refusal note');
  assert.equal(fake.message(a.resultId)!.deleted, false);
  await fake.waitFor(() => fake.message(a.resultId)!.reactions.find((r) => r.emoji === '❌')!.users.length === 1, 5000, 'their ❌ removed');
  fake.react(fake.users.member, a.resultId, '❌');
  await fake.waitFor(() => fake.message(a.resultId)!.deleted, 5000, 'deleted by the requester');
  await fake.waitFor(() => h.bot.context.store.jobs.get(a.jobId)!.resultMessageId === null, 5000, 'the store forgets the result message');

  const b = await make();
  assert.match(await ephemeralText(fake.click(fake.users.other, b.resultId, `clipag:delete:${b.jobId}`).reply()), /Only the member who asked/);
  assert.match(await ephemeralText(fake.click(fake.users.moderator, b.resultId, `clipag:delete:${b.jobId}`).reply()), /Deleted/);
  assert.equal(fake.message(b.resultId)!.deleted, true);
  // ❌ on a result someone deletes by hand before the bot gets to it: already gone is fine.
  const c = await make();
  fake.react(fake.users.member, c.resultId, '❌');
  fake.deleteMessage(c.resultId);
  await fake.waitFor(() => h.bot.context.store.jobs.get(c.jobId)!.resultMessageId === null, 5000, 'the store forgets the deleted result');
  assert.deepEqual(fake.messages(c.threadId).filter((m) => m.content.startsWith('<@')).map((m) => m.content), [], 'no refusal note');
  // A reaction on a message the bot does not know is ignored (no reply, no crash).
  const other = fake.post(fake.users.member, fake.channels.general, 'hello');
  fake.react(fake.users.member, other, '🔁');
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(fake.messages(fake.channels.general).length, fake.messages(fake.channels.general).length);
  for (const t of fake.threads()) for (const m of fake.messages(t.id)) assert.deepEqual(m.pings, [], m.content);
  assert.deepEqual(fake.bugs, []);
});

test('the progress message and the acknowledgement deleted mid-job: the job completes; reactions off results are ignored', async () => {
  const { fake } = h;
  const { store } = h.bot.context;
  const othersJobs = store.jobs.countsFor(fake.guild.id, fake.users.other.id).lastDay;
  const ix = fake.slash(fake.users.member, fake.channels.general, 'imagine', { prompt: DEMO_PROMPT, steps: 80 });
  const ack = await fake.waitFor(() => ix.original()?.content.includes('job `') && ix.original(), 5000, 'ack');
  const jobId = jobIdOf(ack);
  const thread = await fake.waitFor(() => fake.threads(fake.channels.general).find((t) => t.starterMessageId === ack.id), 5000, 'thread');
  const progress = await fake.waitFor(() => fake.messages(thread.id).find((m) => m.content.startsWith('Step ') && m.attachments.length === 1), 10_000, 'a progress picture');
  // 🔁 on the acknowledgement and on the progress message: neither is a result, so nothing happens.
  fake.react(fake.users.other, ack, '🔁');
  fake.react(fake.users.other, progress, '🔁');
  fake.deleteMessage(progress);
  fake.deleteMessage(ack);

  const result = await fake.waitFor(() => resultIn(fake, thread.id, jobId), 20_000, 'the result, with its three reactions');
  const live = fake.messages(thread.id).filter((m) => /^(Step|Starting|Finished)/.test(m.content));
  assert.equal(live.length, 1, 'one progress message again');
  assert.notEqual(live[0]!.id, progress.id, 'a new one in place of the deleted one');
  assert.match(live[0]!.content, /^Finished: 80 steps/);
  assert.equal(store.jobs.get(jobId)!.progressMessageId, live[0]!.id, 'the store follows the new message');
  assert.equal(store.jobs.get(jobId)!.status, 'done');
  assert.equal(store.jobs.countsFor(fake.guild.id, fake.users.other.id).lastDay, othersJobs, 'no job from the ignored reactions');
  assert.deepEqual(fake.messages(thread.id).filter((m) => m.id !== result.id && m.content.includes(fake.users.other.id)).map((m) => m.content), []);
  assertNoPingsSent(fake);
  assert.deepEqual(fake.bugs, []);
});
