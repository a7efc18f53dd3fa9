/**
 * 429 and 500 answers on progress edits and on the result: retried, and the job is never lost.
 * The failures start once the progress message shows its first picture, so they land mid-job
 * whatever the machine's speed, and all of them are met (the last edit and the result are retried
 * until they land).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { assertNoPingsSent, DEMO_PROMPT, decodePng, harness, jobIdOf, resultIn, type Harness } from './harness.js';

let h: Harness;
before(async () => { h = await harness({ bot: { progressIntervalMs: 60 } }); });
after(async () => { await h?.close(); });

test('rate limits and server errors on edits and sends do not lose the job', async () => {
  const { fake } = h;
  const ix = fake.slash(fake.users.member, fake.channels.general, 'imagine', { prompt: DEMO_PROMPT, steps: 100 });
  const ack = await fake.waitFor(() => ix.original()?.content.includes('job `') && ix.original(), 5000, 'ack');
  const jobId = jobIdOf(ack);
  const thread = await fake.waitFor(() => fake.threads(fake.channels.general).find((t) => t.starterMessageId === ack.id), 5000, 'thread');
  const progress = await fake.waitFor(() => fake.messages(thread.id).find((m) => m.content.startsWith('Step ') && m.attachments.length === 1), 10_000, 'the first progress picture');
  // Every edit in the thread from now: two 429s, then five 500s (more than discord.js retries on
  // its own); and five 503s for the next message sent there (the result).
  const edits = new RegExp(`^/channels/${thread.id}/messages/\\d+$`);
  const r429 = fake.failNext({ method: 'PATCH', route: edits, status: 429, retryAfter: 0.05, count: 2 });
  const r500 = fake.failNext({ method: 'PATCH', route: edits, status: 500, count: 5 });
  const sends = fake.failNext({ method: 'POST', route: new RegExp(`^/channels/${thread.id}/messages$`), status: 503, count: 5 });

  const result = await fake.waitFor(() => resultIn(fake, thread.id, jobId), 30_000, 'the result despite errors');
  assert.deepEqual([r429.hits, r500.hits, sends.hits], [2, 5, 5], 'every injected failure was met');
  assert.equal((await decodePng(result.attachments[0]!.data)).width, 64);
  const now = fake.message(progress.id)!;
  assert.match(now.content, /^Finished: 100 steps/, 'the last edit landed');
  assert.equal(now.attachments.length, 1);
  assert.equal((await decodePng(now.attachments[0]!.data)).width, 64);
  assert.equal(fake.messages(thread.id).filter((m) => /^(Starting|Step|Finished)/.test(m.content)).length, 1, 'still one progress message');
  assert.equal(h.bot.context.store.jobs.get(jobId)!.status, 'done');
  assertNoPingsSent(fake);
  assert.deepEqual(fake.bugs, []);
});
