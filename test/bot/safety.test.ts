/**
 * The safety filter end to end against the fake Discord, on the real demo engine: moderators edit
 * the concept list with /safety (members cannot), words the demo model does not know are refused
 * when added, bad lists get one clear ephemeral line, every change is audited; then pictures
 * flagged by the model's own CLIP are withheld or spoilered, audited, and unflagged ones posted.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { WITHHELD_TEXT } from '../../src/bot/safety-post.js';
import { loadDefaultConcepts } from '../../src/engine/safety/defaults.js';
import type { InteractionHandle, MessageView } from '../fake-discord/index.js';
import { assertNoPingsSent, DEMO_PROMPT, harness, jobIdOf, resultIn, type Harness } from './harness.js';

let h: Harness;
before(async () => { h = await harness(); });
after(async () => { await h?.close(); });

/** The ephemeral line a command got back. */
async function line(ix: InteractionHandle): Promise<string> {
  const r = await ix.reply();
  assert.equal(r.type, 4);
  assert.equal(r.ephemeral, true, `ephemeral: ${String(r.data.content)}`);
  return String(r.data.content);
}

const safety = (sub: string, options: Record<string, string | number> = {}, user = h.fake.users.moderator): Promise<string> =>
  line(h.fake.slash(user, h.fake.channels.general, `safety ${sub}`, options));

test('members cannot use /safety; moderators see the mode and an empty list on the demo model', async () => {
  const { fake } = h;
  for (const [sub, options] of [['list', {}], ['add', { concepts: 'red star' }], ['mode', { mode: 'off' }], ['reset', {}]] as const) {
    assert.match(await safety(sub, options, fake.users.member), /needs the Manage Server permission/, sub);
  }
  const list = await safety('list');
  assert.match(list, /\*\*Mode:\*\* block/);
  assert.match(list, /\*\*Default concepts:\*\* none \(this bot's models have closed vocabularies/);
  assert.match(list, /\*\*This server's concepts \(0\):\*\* none/);
  assert.deepEqual(h.bot.context.store.audit.list(fake.guild.id), [], 'nothing changed, nothing audited');
});

test('moderators edit the list: add, threshold, remove, mode, reset, each audited', async () => {
  const { fake } = h;
  const store = h.bot.context.store;
  const added = await safety('add', { concepts: 'Red  star, green background', image_threshold: 0.7 });
  assert.equal(added, 'Added to the safety filter: "Red star" (picture > 0.7 · prompt default), "green background" (picture > 0.7 · prompt default).');
  assert.deepEqual(store.safety.get(fake.guild.id).concepts, [{ text: 'Red star', image: 0.7 }, { text: 'green background', image: 0.7 }]);
  assert.match(await safety('threshold', { concept: 'red STAR', prompt_threshold: 0.95 }), /Thresholds set: "Red star" \(picture > 0\.7 · prompt > 0\.95\)/);
  assert.match(await safety('list'), /This server's concepts \(2\):\*\* "Red star" \(picture > 0\.7 · prompt > 0\.95\), "green background"/);
  assert.equal(await safety('remove', { concepts: 'red star' }), 'Removed from the safety filter: "red star".');
  assert.match(await safety('mode', { mode: 'spoiler' }), /^Mode: spoiler/);
  assert.match(await safety('mode', { mode: 'spoiler' }), /^The mode already is spoiler/);
  assert.match(await safety('reset'), /back to the defaults \(the mode stays spoiler\)/);
  assert.deepEqual(store.safety.get(fake.guild.id), { mode: 'spoiler', concepts: [], removed: [] });

  const log = store.audit.list(fake.guild.id).reverse();
  assert.deepEqual(log.map((e) => [e.action, e.actorId]), Array(5).fill(['safety.set', fake.users.moderator.id]));
  assert.deepEqual(log.map((e) => Object.keys(e.change)), [['concepts'], ['concepts'], ['concepts'], ['mode'], ['concepts']]);
  assert.deepEqual(log[0]!.change.concepts, { from: [], to: [{ text: 'Red star', image: 0.7 }, { text: 'green background', image: 0.7 }] });
  assert.deepEqual(log[3]!.change.mode, { from: 'block', to: 'spoiler' });
  await safety('mode', { mode: 'block' });
});

test('bad concept lists get one clear line and change nothing', async () => {
  const { fake } = h;
  const store = h.bot.context.store;
  const before = store.audit.list(fake.guild.id).length;
  const cases: [string, Record<string, string | number>, RegExp][] = [
    ['add', { concepts: 'nudity' }, /^Nothing changed: the model shapes cannot read "nudity": unknown word "nudity"; known words: a, an, and/],
    ['add', { concepts: 'red star, graphic violence' }, /cannot read "graphic violence": unknown word "graphic"/],
    ['add', { concepts: Array(3000).fill('red star').join(',') }, /^Nothing changed: at most 100 concepts, got 3,000\.$/],
    ['add', { concepts: ' , ,, ' }, /^Nothing changed: name at least one concept/],
    ['add', { concepts: `red ${'star '.repeat(30)}` }, /is 153 characters; the most is 100/],
    ['add', { concepts: 'red star', image_threshold: 5 }, /the image threshold of "red star" must be a number from 0\.01 to 0\.99, got 5/],
    ['threshold', { concept: 'red star', image_threshold: 0.5 }, /"red star" is not on this server's list: add it with \/safety add/],
    ['threshold', { concept: 'red star' }, /give image\\_threshold, prompt\\_threshold or both/],
    ['remove', { concepts: 'blue star' }, /"blue star" is not on this server's list/],
    // The moderator's own text comes back with its markdown escaped.
    ['remove', { concepts: '**red** star' }, /"\\\*\\\*red\\\*\\\* star" is not on this server's list/],
  ];
  for (const [sub, options, expected] of cases) {
    const msg = await safety(sub, options);
    assert.match(msg, expected, `${sub} ${JSON.stringify(options).slice(0, 80)}`);
    assert.ok(!msg.includes('\n'), `one line: ${msg}`);
  }
  // 100 fit; the 101st does not.
  const hundred = Array.from({ length: 100 }, (_, i) => ['red', 'blue', 'green', 'pink', 'white'][i % 5] + ' ' + ['star', 'circle', 'ring', 'cross'][Math.floor(i / 5) % 4] + ' ' + ['top', 'bottom', 'left', 'right', 'center'][Math.floor(i / 20)]);
  assert.match(await safety('add', { concepts: hundred.join(', ') }), /^Added to the safety filter/);
  const full = await safety('list');
  assert.ok(full.length <= 2000, `${full.length} characters`);
  assert.match(full, /This server's concepts \(100\):\*\* "red star top".* … and \d+ more/);
  assert.match(await safety('add', { concepts: 'black square' }), /^Nothing changed: at most 100 concepts, got 101\.$/);
  await safety('reset');
  assert.equal(store.audit.list(fake.guild.id).length, before + 2, 'only the accepted add and the reset were audited');
  assert.deepEqual(fake.bugs, []);
  assertNoPingsSent(fake);
});

/** A member's /imagine, run to its end: the job id, its thread's messages, and its result message if one was posted. */
async function draw(prompt: string): Promise<{ jobId: string; thread: string; result: MessageView | undefined; withheld: MessageView | undefined }> {
  const { fake } = h;
  const cmd = fake.slash(fake.users.member, fake.channels.general, 'imagine', { prompt, steps: 8 });
  await cmd.reply();
  const ack = await fake.waitFor(() => { const m = cmd.original(); return m?.content.includes('job `') ? m : undefined; }, 5000, 'the acknowledgement');
  const jobId = jobIdOf(ack);
  const thread = await fake.waitFor(() => fake.threads(fake.channels.general).find((t) => t.starterMessageId === ack.id), 5000, 'the thread');
  await fake.waitFor(() => h.bot.context.store.jobs.get(jobId)?.status === 'done' && h.bot.context.jobs.pending === 0, 20_000, 'the job and its messages');
  const withheld = fake.messages(thread.id).find((m) => m.content === WITHHELD_TEXT);
  return { jobId, thread: thread.id, result: resultIn(fake, thread.id, jobId), withheld };
}

/** The progress message of a job's thread, as it ended. */
const progressOf = (thread: string): MessageView => h.fake.messages(thread).find((m) => /^(Finished|Step|Starting)/.test(m.content))!;

const FLAGGED = 'a yellow star on green';

test('block: a picture caught by a concept added with /safety is not posted, and the catch is audited', async () => {
  const { fake } = h;
  const store = h.bot.context.store;
  await fake.slash(fake.users.moderator, fake.channels.general, 'limits set', { cooldown_seconds: 0 }).reply();
  // Thresholds left to the model: the demo's calibrated defaults.
  assert.match(await safety('add', { concepts: 'green background' }), /^Added/);
  const demo = (await loadDefaultConcepts()).closedVocabulary.threshold;

  const caught = await draw(FLAGGED);
  assert.ok(caught.withheld, 'the thread says the picture was withheld');
  assert.equal(caught.result, undefined, 'no result message, no buttons');
  const all = fake.messages(caught.thread);
  assert.ok(all.every((m) => m.attachments.every((a) => !a.filename.startsWith('clipag-'))), 'the picture was never posted');
  assert.doesNotMatch(caught.withheld.content, /green|yellow|star|background|concept/, 'the line names nothing that would show the picture again');
  const progress = progressOf(caught.thread);
  assert.match(progress.content, /^Finished: 8 steps/);
  assert.deepEqual(progress.attachments, [], 'the progress message lost its picture');
  assert.equal(store.jobs.get(caught.jobId)!.resultMessageId, null);

  const entry = store.audit.list(fake.guild.id).find((e) => e.action === 'safety.withheld')!;
  assert.equal(entry.actorId, fake.users.member.id);
  const v = entry.change.verdict!.to as { jobId: string; concept: string; model: string; image: { score: number; threshold: number }; prompt: { score: number; threshold: number } };
  assert.deepEqual([v.jobId, v.concept, v.model], [caught.jobId, 'green background', 'shapes']);
  assert.deepEqual([v.image.threshold, v.prompt.threshold], [demo.image, demo.prompt]);
  assert.ok(v.image.score > v.image.threshold || v.prompt.score > v.prompt.threshold, JSON.stringify(v));

  // The same list lets an unrelated picture through, with its buttons, unaudited.
  const before = store.audit.list(fake.guild.id).length;
  const fine = await draw(DEMO_PROMPT);
  assert.equal(fine.withheld, undefined);
  assert.ok(fine.result, 'posted as usual');
  assert.equal(fine.result.attachments[0]!.filename, `clipag-${fine.jobId}.png`);
  assert.equal(store.audit.list(fake.guild.id).length, before);
});

test('spoiler: the caught picture is posted behind a spoiler cover, audited; off: not screened; removed concept: posted', async () => {
  const { fake } = h;
  const store = h.bot.context.store;
  assert.match(await safety('mode', { mode: 'spoiler' }), /^Mode: spoiler/);
  const spoiled = await draw(FLAGGED);
  assert.equal(spoiled.withheld, undefined);
  assert.ok(spoiled.result, 'posted, with its buttons and reactions');
  assert.equal(spoiled.result.attachments[0]!.filename, `SPOILER_clipag-${spoiled.jobId}.png`);
  assert.deepEqual(progressOf(spoiled.thread).attachments, [], 'no uncovered copy in the progress message');
  const entry = store.audit.list(fake.guild.id)[0]!;
  assert.deepEqual([entry.action, entry.actorId, (entry.change.verdict!.to as { jobId: string }).jobId], ['safety.spoilered', fake.users.member.id, spoiled.jobId]);

  await safety('mode', { mode: 'off' });
  const n = store.audit.list(fake.guild.id).length;
  const off = await draw(FLAGGED);
  assert.equal(off.result?.attachments[0]!.filename, `clipag-${off.jobId}.png`);
  assert.ok(progressOf(off.thread).attachments.length > 0, 'an unscreened picture keeps its progress picture');
  assert.equal(store.audit.list(fake.guild.id).length, n, 'nothing screened, nothing audited');

  await safety('mode', { mode: 'block' });
  assert.match(await safety('remove', { concepts: 'green background' }), /^Removed/);
  const removed = await draw(FLAGGED);
  assert.equal(removed.result?.attachments[0]!.filename, `clipag-${removed.jobId}.png`, 'an edited list is in force at once');
  assert.deepEqual(fake.bugs, []);
  assertNoPingsSent(fake);
});
