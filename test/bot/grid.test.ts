/**
 * Grids end to end: /imagine count:4 draws four pictures together, its progress and its result are
 * one 2×2 grid image, and the result's U1–U4 / V1–V4 buttons upscale or vary one picture of it, each
 * as its own job with its own progress in the same thread.
 */
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import { picturePath } from '../../src/jobs/pictures.js';
import type { MessageView } from '../fake-discord/index.js';
import { assertNoPingsSent, decodePng, harness, jobIdOf, type Harness } from './harness.js';

let h: Harness;
before(async () => {
  h = await harness({ bot: { progressIntervalMs: 60 } });
  await h.fake.slash(h.fake.users.moderator, h.fake.channels.general, 'limits set', { queued_per_user: 10 }).reply();
});
after(async () => { await h?.close(); });

const S = 64;
const GRID = 2 * S + 4;

/** A job's result message in a thread: the one carrying buttons naming it. */
const resultOf = (threadId: string, jobId: string): MessageView | undefined =>
  h.fake.messages(threadId).find((m) => JSON.stringify(m.components).includes(`:${jobId}`) && m.attachments.length === 1 && !m.content.startsWith('Step'));
const labels = (m: MessageView): string[] => (m.components as { components: { label?: string }[] }[]).flatMap((r) => r.components.map((c) => c.label ?? ''));

let thread = '';
let gridJob = '';
let grid: MessageView;

test('/imagine count:4 → progress as a 2×2 grid → one grid image with U1–U4, V1–V4, 🔁, ❌', async () => {
  const { fake } = h;
  const cmd = fake.slash(fake.users.member, fake.channels.general, 'imagine', { prompt: 'a red circle on blue', count: 4, steps: 12 });
  await cmd.reply();
  const ack = await fake.waitFor(() => { const m = cmd.original(); return m?.content ? m : undefined; }, 10_000, 'the acknowledgement');
  assert.match(ack.content, /^🖌️ 4 takes on \*\*a red circle on blue\*\*/);
  gridJob = jobIdOf(ack);
  thread = (await fake.waitFor(() => fake.threads(fake.channels.general).find((t) => t.starterMessageId === ack.id), 10_000, 'its thread')).id;
  grid = await fake.waitFor(() => resultOf(thread, gridJob), 30_000, 'the grid result');
  const png = await decodePng(grid.attachments[0]!.data);
  assert.deepEqual([png.width, png.height], [GRID, GRID]);
  assert.deepEqual(labels(grid), ['U1', 'U2', 'U3', 'U4', 'V1', 'V2', 'V3', 'V4', 'New seeds', 'Delete']);
  assert.match(grid.content, /U1–U4 upscale · V1–V4 variations/);
  const progress = fake.messages(thread).find((m) => m.content.startsWith('Finished'))!;
  const frames = progress.history.filter((v) => v.attachments.length === 1);
  assert.ok(frames.length >= 2, 'progress frames were posted');
  for (const v of frames) assert.equal((await decodePng(v.attachments[0]!.data)).width, GRID, 'each frame is the whole grid');
  assert.equal(fake.messages(thread).filter((m) => m.content.startsWith('Finished')).length, 1, 'one progress message for the four');
});

test('U2 upscales picture 2 (twice its side, its own progress); V3 makes a new grid from picture 3', async () => {
  const { fake } = h;
  const up = fake.click(fake.users.other, grid, `clipag:upscale:${gridJob}:2`);
  assert.equal((await up.reply()).type, 6, 'the click is acknowledged without a message');
  const upAck = await fake.waitFor(() => fake.messages(thread).find((m) => m.content.startsWith('⬆️ Upscale of picture 2,')), 10_000, 'the upscale acknowledgement');
  const upId = jobIdOf(upAck);
  const upJob = h.bot.context.store.jobs.get(upId)!;
  assert.deepEqual([upJob.request.kind, upJob.request.initJobId, upJob.request.initIndex, upJob.request.size, upJob.userId], ['upscale', gridJob, 2, 2 * S, fake.users.other.id]);
  const upResult = await fake.waitFor(() => resultOf(thread, upId), 30_000, 'the upscale result');
  assert.equal((await decodePng(upResult.attachments[0]!.data)).width, 2 * S);
  assert.deepEqual(labels(upResult), ['Upscale', 'New seed', 'Variation', 'Delete']);
  const progressMessages = fake.messages(thread).filter((m) => m.content.startsWith('Finished'));
  assert.equal(progressMessages.length, 2, 'the upscale had a progress message of its own');
  assert.equal((await decodePng(progressMessages[1]!.history.find((v) => v.attachments.length)!.attachments[0]!.data)).width, 2 * S);

  await fake.click(fake.users.member, grid, `clipag:vary:${gridJob}:3`).reply();
  const varyAck = await fake.waitFor(() => fake.messages(thread).find((m) => m.content.startsWith('🎲 Variation of picture 3,')), 10_000, 'the variation acknowledgement');
  const varyJob = h.bot.context.store.jobs.get(jobIdOf(varyAck))!;
  assert.deepEqual([varyJob.request.initJobId, varyJob.request.initIndex, varyJob.request.count], [gridJob, 3, 4]);
  const vary = await fake.waitFor(() => resultOf(thread, varyJob.id), 30_000, 'the variation grid');
  assert.equal((await decodePng(vary.attachments[0]!.data)).width, GRID);
  assert.ok(assertNoPingsSent(fake) > 0);
});

test('refusals in one private line: an upscale past the model\'s largest canvas, a picture whose file is gone', async () => {
  const { fake } = h;
  const say = async (message: MessageView, id: string): Promise<string> => {
    const click = fake.click(fake.users.member, message, id);
    await click.reply();
    const f = await fake.waitFor(() => click.followups()[0], 10_000, 'the refusal');
    assert.equal(f.ephemeral, true);
    return f.content;
  };
  // 64 → 128 → 256 is this model's largest canvas: the third upscale is refused before anything runs.
  let from = grid;
  let fromId = gridJob;
  for (const index of [1, undefined]) {
    const acks = (): MessageView[] => fake.messages(thread).filter((m) => m.content.startsWith('⬆️') && m.content.includes('(job `'));
    const seen = acks().length;
    await fake.click(fake.users.member, from, `clipag:upscale:${fromId}:${index ?? 1}`).reply();
    const ack = await fake.waitFor(() => acks()[seen], 10_000, 'an upscale');
    fromId = jobIdOf(ack);
    from = await fake.waitFor(() => resultOf(thread, fromId), 30_000, 'its result');
  }
  assert.equal((await decodePng(from.attachments[0]!.data)).width, 4 * S);
  assert.equal(await say(from, `clipag:upscale:${fromId}:1`), 'This picture is 256 px and this model draws at most 256 px: it cannot be upscaled again.');
  // The grid's picture 4 removed from disk (a cleanup, a lost volume): V4 says so instead of failing later.
  const job = h.bot.context.store.jobs.get(gridJob)!;
  await rm(picturePath(job.imagePath!, 4, 4));
  assert.match(await say(grid, `clipag:vary:${gridJob}:4`), /^The picture to start from is gone: try 🔁 or a new \/imagine instead\.$/);
});
