/**
 * /imagine image: end to end: the member's picture, attached to the command, is downloaded from
 * (fake) Discord, checked, saved under DATA_DIR/uploads and used as the starting canvas; 🎲 on that
 * result varies the result, 🔁 starts from the upload again. Bad uploads get one private line each
 * and nothing is queued or kept; a slow download defers the reply instead of missing Discord's 3 s.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import type { InteractionHandle } from '../fake-discord/index.js';
import { animated, busy, pngBomb, solid } from '../helpers/pictures.js';
import { assertNoPingsSent, DEMO_PROMPT, harness, jobIdOf, resultIn, type Harness } from './harness.js';

let h: Harness;
before(async () => { h = await harness({ bot: { progressIntervalMs: 60 } }); });
after(async () => { await h?.close(); });

const uploads = async (): Promise<string[]> => (await readdir(join(h.dataDir, 'uploads')).catch(() => [])).sort();

/** Mean red, green and blue of a PNG (0–255). */
async function meanColour(data: Buffer | string): Promise<[number, number, number]> {
  const { channels } = await sharp(data).stats();
  return [channels[0]!.mean, channels[1]!.mean, channels[2]!.mean];
}

test('/imagine with an image starts from it; 🎲 varies the result; 🔁 starts from the upload again', async () => {
  const { fake, bot } = h;
  // A green photo, sideways in its EXIF: the prompt asks for red on blue, and a few steps cannot get far from green.
  const photo = await solid(96, 64, '#10c020').jpeg().withMetadata({ orientation: 6 }).toBuffer();
  const cmd = fake.slash(fake.users.member, fake.channels.general, 'imagine', { prompt: DEMO_PROMPT, steps: 4, image: fake.attachment('garden.jpg', photo) });
  const reply = await cmd.reply();
  assert.equal(reply.type, 5, 'deferred, public');
  const ack = await fake.waitFor(() => { const m = cmd.original(); return m?.content ? m : undefined; }, 5000, 'the acknowledgement');
  assert.match(ack.content, /^🖼️ From a picture, \*\*a red circle on blue\*\*: (starting now|number \d+ in line)/);
  const jobId = jobIdOf(ack);
  const job = bot.context.store.jobs.get(jobId)!;
  assert.equal(job.request.initImage, join(h.dataDir, 'uploads', (await uploads())[0]!));
  const saved = await sharp(job.request.initImage!).metadata();
  assert.deepEqual([saved.format, saved.width, saved.height, saved.space], ['png', 64, 96, 'srgb'], 'upright, sRGB PNG');

  const thread = await fake.waitFor(() => fake.threads(fake.channels.general).find((t) => t.starterMessageId === ack.id), 5000, 'the thread');
  const result = await fake.waitFor(() => resultIn(fake, thread.id, jobId), 20_000, 'the result');
  const [r, g, b] = await meanColour(result.attachments[0]!.data);
  assert.ok(g > r && g > b, `the result is still mostly the green it started from (mean RGB ${r.toFixed(0)}, ${g.toFixed(0)}, ${b.toFixed(0)})`);

  // 🎲: from this job's result, not from the upload.
  fake.react(fake.users.member, result, '🎲');
  const varyAck = await fake.waitFor(() => fake.messages(thread.id).find((m) => m.content.startsWith('🎲 Variation of')), 5000, 'the variation');
  const vary = bot.context.store.jobs.get(jobIdOf(varyAck))!;
  assert.equal(vary.request.initJobId, jobId);
  assert.equal(vary.request.initImage, undefined);
  await fake.waitFor(() => resultIn(fake, thread.id, vary.id), 20_000, 'the variation result');

  // 🔁: the same request again, so from the same upload, with a new seed.
  fake.click(fake.users.member, result, `clipag:rerun:${jobId}`);
  const rerunAck = await fake.waitFor(() => fake.messages(thread.id).find((m) => m.content.startsWith('🖼️') && /\(job `/.test(m.content) && !m.content.includes(jobId)), 5000, 'the rerun');
  const rerun = bot.context.store.jobs.get(jobIdOf(rerunAck))!;
  assert.equal(rerun.request.initImage, job.request.initImage);
  await fake.waitFor(() => resultIn(fake, thread.id, rerun.id), 20_000, 'the rerun result');
  assert.equal((await uploads()).length, 1, 'one upload, shared by the job and its rerun');
  assert.deepEqual(fake.bugs, []);
  assertNoPingsSent(fake);
});

/** The ephemeral line a command got back at once. */
async function refusal(ix: InteractionHandle): Promise<string> {
  const r = await ix.reply();
  assert.equal(r.type, 4, `answered at once: ${String(r.data.content)}`);
  assert.equal(r.ephemeral, true, `ephemeral: ${String(r.data.content)}`);
  return String(r.data.content);
}

test('bad uploads: one private line each, nothing queued, nothing kept', async () => {
  const { fake, bot } = h;
  const user = fake.users.other;
  const jobsBefore = bot.context.store.jobs.countsFor(fake.guild.id, user.id).lastDay;
  const filesBefore = await uploads();
  const channelBefore = fake.messages(fake.channels.general).length;
  const cases: [string, Buffer, RegExp, { size?: number }?][] = [
    ['notes.png', Buffer.from('shopping: eggs, milk, a red circle\n'), /^That file is not a picture: send a PNG, JPEG, WebP or still GIF\.$/],
    ['party.gif', await animated('gif'), /^The image is animated \(3 frames\)/],
    ['party.webp', await animated('webp'), /^The image is animated \(3 frames\)/],
    ['bomb.png', pngBomb(), /^The image is 20,000×20,000 pixels; the limit is 40 megapixels\.$/],
    ['cut.jpg', (await busy('jpeg')).subarray(0, 4000), /^The JPEG file is damaged or cut short/],
    ['poster.png', await solid(8, 8, '#000').png().toBuffer(), /^The image is 25 MiB; the limit is 10 MiB\.$/, { size: 25 * 1024 * 1024 }],
  ];
  for (const [name, data, expected, opts] of cases) {
    const msg = await refusal(fake.slash(user, fake.channels.general, 'imagine', { prompt: DEMO_PROMPT, image: fake.attachment(name, data, opts) }));
    assert.match(msg, expected, name);
    assert.ok(!msg.includes('\n'), `one line: ${msg}`);
  }
  // Limits come first: a request refused by them downloads nothing.
  const fine = await solid(8, 8, '#fff').png().toBuffer();
  let downloads = 0;
  const counting = createServer((_req, res) => { downloads++; res.writeHead(200).end(fine); });
  await new Promise<void>((r) => counting.listen(0, '127.0.0.1', r));
  try {
    const url = `http://127.0.0.1:${(counting.address() as AddressInfo).port}/fine.png`;
    assert.match(await refusal(fake.slash(user, fake.channels.general, 'imagine', { prompt: DEMO_PROMPT, steps: 201, image: fake.attachment('fine.png', fine, { url }) })), /max_steps/);
    assert.equal(downloads, 0, 'nothing downloaded for a request over the limits');
  } finally {
    counting.closeAllConnections();
    await new Promise((r) => counting.close(r));
  }

  assert.equal(bot.context.store.jobs.countsFor(fake.guild.id, user.id).lastDay, jobsBefore, 'no job was made');
  assert.deepEqual(await uploads(), filesBefore, 'no file was kept');
  assert.equal(fake.messages(fake.channels.general).length, channelBefore, 'nothing public');
  assert.deepEqual(fake.bugs, []);
});

test('a download slower than 2 s defers the reply; its refusal then replaces it with a private line', async () => {
  const { fake } = h;
  const slow = createServer((_req, res) => { setTimeout(() => res.writeHead(200).end('not a picture at all'), 2600); });
  await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r));
  try {
    const url = `http://127.0.0.1:${(slow.address() as AddressInfo).port}/slow.png`;
    const cmd = fake.slash(fake.users.other, fake.channels.general, 'imagine', { prompt: DEMO_PROMPT, image: fake.attachment('slow.png', Buffer.alloc(20), { url }) });
    const reply = await cmd.reply();
    assert.equal(reply.type, 5, 'deferred before the 3 s deadline');
    assert.ok(reply.ackMs < 3000, `${reply.ackMs} ms`);
    const line = await fake.waitFor(() => cmd.followups().find((m) => m.ephemeral), 10_000, 'the private refusal');
    assert.match(line.content, /^That file is not a picture/);
    await fake.waitFor(() => fake.message(reply.messageId!)?.deleted, 5000, 'the public "thinking" reply removed');
  } finally {
    slow.closeAllConnections();
    await new Promise((r) => slow.close(r));
  }
});
