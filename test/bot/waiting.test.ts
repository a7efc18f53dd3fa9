/**
 * Never refused for no reason, end to end: 🔁 pressed the moment a picture arrives is not held by a
 * cooldown counted from that picture's own request (the server has a 30 s cooldown, so the old rule
 * would refuse it), while the cooldown still counts from the member's other pictures. And the place
 * in line in an acknowledgement follows the queue while the job waits.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { DEMO_PROMPT, harness, jobIdOf, resultIn, type Harness } from './harness.js';
import type { MessageView } from '../fake-discord/index.js';

let h: Harness;
before(async () => { h = await harness({ concurrency: 1 }); });
after(async () => { await h?.close(); });

test('🔁 the moment a result arrives makes a new picture despite a 30 s cooldown; the cooldown counts from the last finish', async () => {
  const { fake } = h;
  await fake.slash(fake.users.moderator, fake.channels.general, 'limits set', { cooldown_seconds: 30 }).reply();
  const cmd = fake.slash(fake.users.member, fake.channels.general, 'imagine', { prompt: DEMO_PROMPT, steps: 4 });
  await cmd.reply();
  const ack = await fake.waitFor(() => { const m = cmd.original(); return m?.content ? m : undefined; }, 5000, 'the acknowledgement');
  const jobId = jobIdOf(ack);
  const thread = await fake.waitFor(() => fake.threads(fake.channels.general).find((t) => t.starterMessageId === ack.id), 5000, 'the thread');
  const result = await fake.waitFor(() => resultIn(fake, thread.id, jobId), 20_000, 'the result');

  fake.react(fake.users.member, result, '🔁');
  const rerunAck = await fake.waitFor(() => fake.messages(thread.id).find((m) => /\(job `/.test(m.content) && m.content.includes(`for <@${fake.users.member.id}>`) && !m.content.includes(jobId)), 5000, 'the rerun, not a refusal');
  const rerunId = jobIdOf(rerunAck);
  await fake.waitFor(() => resultIn(fake, thread.id, rerunId), 20_000, 'the rerun result');
  assert.deepEqual(fake.messages(thread.id).filter((m) => /wait/i.test(m.content)).map((m) => m.content), [], 'no refusal in the thread');

  // The rerun just finished: it is not the picture acted on, so 🔁 on the first one now waits for it.
  const again = fake.click(fake.users.member, result, `clipag:rerun:${jobId}`);
  await again.reply();
  const line = await fake.waitFor(() => again.followups()[0], 5000, 'the refusal');
  assert.equal(line.ephemeral, true);
  assert.match(line.content, /^Please wait (29|30) seconds before your next image \(cooldown_seconds: 30\)\.$/);
  const slash = await fake.slash(fake.users.member, fake.channels.general, 'imagine', { prompt: DEMO_PROMPT, steps: 4 }).reply();
  assert.match(String(slash.data.content), /^Please wait (29|30) seconds/);
  // Another member is not held by this member's pictures.
  const other = fake.slash(fake.users.other, fake.channels.general, 'imagine', { prompt: DEMO_PROMPT, steps: 4 });
  assert.equal((await other.reply()).type, 5);
  const otherAck = await fake.waitFor(() => { const m = other.original(); return m?.content ? m : undefined; }, 5000, 'the other member\'s acknowledgement');
  await fake.waitFor(() => /done/.test(fake.message(otherAck.id)!.content) && h.bot.context.jobs.pending === 0 && h.bot.context.manager.stats().running === 0, 20_000, 'the queue to empty');
  assert.deepEqual(fake.bugs, []);
});

/** The place-in-line part of each version of an acknowledgement, repeats merged. */
function places(m: MessageView | undefined): string[] {
  const out: string[] = [];
  for (const v of m?.history ?? []) {
    const p = /(number \d+ in line|starting now|drawing now|done|failed|cancelled)/.exec(v.content)?.[1];
    if (p && out.at(-1) !== p) out.push(p);
  }
  return out;
}

test('the place in line is kept current: the third job reads 2nd, then 1st, then drawing', async () => {
  const { fake } = h;
  await fake.slash(fake.users.moderator, fake.channels.general, 'limits set', { cooldown_seconds: 0, max_steps: 1000 }).reply();
  const ask = async (user: { id: string }, steps: number): Promise<MessageView> => {
    const cmd = fake.slash(user, fake.channels.general, 'imagine', { prompt: DEMO_PROMPT, steps });
    await cmd.reply();
    return fake.waitFor(() => { const m = cmd.original(); return m?.content ? m : undefined; }, 5000, 'an acknowledgement');
  };
  // Long enough that the first still runs when the third is queued, and the second when the third moves up.
  const first = await ask(fake.users.member, 300);
  const second = await ask(fake.users.other, 150);
  const third = await ask(fake.users.owner, 4);
  const all = (): string => JSON.stringify([first, second, third].map((m) => fake.message(m.id)!.history.map((v) => v.content.slice(0, 60))));
  assert.match(third.content, /number 2 in line/, all());
  await fake.waitFor(() => [first, second, third].every((m) => places(fake.message(m.id)).at(-1) === 'done'), 60_000, 'the three jobs to finish');
  assert.deepEqual(places(fake.message(third.id)), ['number 2 in line', 'number 1 in line', 'drawing now', 'done'], all());
  assert.deepEqual(places(fake.message(second.id)), ['number 1 in line', 'drawing now', 'done'], all());
  assert.deepEqual(places(fake.message(first.id)), ['starting now', 'drawing now', 'done'], all());
  for (const m of [first, second, third]) assert.deepEqual(fake.message(m.id)!.pings, []);
  assert.deepEqual(fake.bugs, []);
});
