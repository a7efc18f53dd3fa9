/**
 * /imagine end to end: the real discord.js Client against the fake Discord, the real engine on the
 * demo pack. Acknowledgement in time with the place in line and a Cancel button, a thread on it,
 * one progress message edited in place with decodable PNGs, then the result with 🔁 🎲 ❌ (as
 * reactions and buttons); 🔁 and 🎲 start new jobs in the same thread. The interaction token is
 * expired right after the acknowledgement: nothing after it may need the token.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { MessagePayload, REST, Routes } from 'discord.js';
import { framePayload } from '../../src/bot/progress.js';
import type { RgbImage } from '../../src/engine/clip/image.js';
import { assertNoPingsSent, decodePng, harness, jobIdOf, resultIn, type Harness } from './harness.js';

let h: Harness;
before(async () => { h = await harness({ bot: { progressIntervalMs: 60 } }); });
after(async () => { await h?.close(); });

test('imagine → ack → thread → progress edits with PNGs → result → 🔁 reaction → second job → 🎲 button → variation', async () => {
  const { fake } = h;
  // No cooldown, so the same member can ask for a variation right after.
  await fake.slash(fake.users.moderator, fake.channels.general, 'limits set', { cooldown_seconds: 0 }).reply();
  // Markdown, a zero-width space and a right-to-left override in an otherwise good prompt.
  const cmd = fake.slash(fake.users.member, fake.channels.general, 'imagine', { prompt: '**a red\u200B circle on\u202E blue**', steps: 60 });
  const reply = await cmd.reply();
  assert.equal(reply.type, 5, 'deferred at once, then edited with the place in line');
  assert.ok(reply.ackMs < 3000, `acknowledged in ${reply.ackMs} ms`);
  assert.equal(reply.ephemeral, false);
  const ack = await fake.waitFor(() => { const m = cmd.original(); return m?.content ? m : undefined; }, 5000, 'the acknowledgement text');
  assert.match(ack.content, /starting now|number \d+ in line/);
  assert.match(ack.content, /\\\*\\\*a red circle on blue\\\*\\\*/, 'markdown in the prompt is escaped, invisible characters gone');
  assert.doesNotMatch(ack.content, INVISIBLE);
  assert.ok(JSON.stringify(ack.components).includes('clipag:cancel:'), 'Cancel button');
  const jobId = jobIdOf(ack);

  const thread = await fake.waitFor(() => fake.threads(fake.channels.general).find((t) => t.starterMessageId === ack.id), 5000, 'a thread on the reply');
  assert.equal(thread.name, '**a red circle on blue**');
  // From here on the job may only use the bot token (an interaction token lasts 15 minutes).
  fake.expireInteractionTokens();
  const expiredAt = Date.now();
  const result = await fake.waitFor(() => resultIn(fake, thread.id, jobId), 20_000, 'the result message');

  // One progress message, edited in place: at least two versions with a PNG beyond the first.
  const progress = fake.messages(thread.id).filter((m) => m.content.startsWith('Step') || m.content.startsWith('Finished') || m.content.startsWith('Starting'));
  assert.equal(progress.length, 1, 'exactly one progress message');
  const versions = progress[0]!.history;
  const withPng = versions.filter((v) => v.attachments.some((a) => a.filename === 'progress.png'));
  assert.ok(withPng.length >= 3, `${withPng.length} versions with a picture (created + ≥ 2 edits)`);
  for (const v of withPng) {
    const png = await decodePng(v.attachments[0]!.data);
    assert.equal(png.width, 64);
  }
  assert.ok(versions.some((v) => /Step \d+\/60 · \d+% · about \d+ s left/.test(v.content)), 'step, percent and ETA');
  assert.match(versions.at(-1)!.content, /^Finished: 60 steps/);
  for (let i = 1; i < versions.length; i++) assert.ok(versions[i]!.at - versions[i - 1]!.at >= 55, 'edits are throttled');
  // Each edit swaps the picture: one attachment at a time.
  assert.ok(versions.every((v) => v.attachments.length <= 1));

  assert.match(result.content, /seed \d+ · CLIP score -?\d\.\d{3} · 60 steps in/);
  assert.equal((await decodePng(result.attachments[0]!.data)).width, 64);
  assert.deepEqual(result.reactions.map((r) => r.emoji).sort(), ['❌', '🎲', '🔁'].sort());
  assert.deepEqual(result.pings, []);
  // The acknowledgement lost its Cancel button.
  const ackNow = await fake.waitFor(() => { const m = fake.message(ack.id); return m && !JSON.stringify(m.components).includes('cancel') && m; }, 5000, 'the ack without Cancel');
  assert.match(ackNow.content, /done/);
  const afterExpiry = fake.requests.filter((r) => r.at >= expiredAt);
  assert.deepEqual(afterExpiry.filter((r) => r.path.startsWith('/webhooks/')).map((r) => r.path), [], 'no use of the interaction token');
  assert.deepEqual(afterExpiry.filter((r) => r.status >= 400).map((r) => `${r.method} ${r.path} ${r.status}`), []);

  // 🔁 by another member: a new job for them, in the same thread.
  fake.react(fake.users.other, result, '🔁');
  const rerunAck = await fake.waitFor(() => fake.messages(thread.id).find((m) => m.content.includes(`for <@${fake.users.other.id}>`)), 5000, 'the rerun acknowledgement');
  const rerunId = jobIdOf(rerunAck);
  assert.notEqual(rerunId, jobId);
  const rerun = await fake.waitFor(() => resultIn(fake, thread.id, rerunId), 20_000, 'the rerun result');
  assert.doesNotMatch(rerun.content, new RegExp(`seed ${/seed (\d+)/.exec(result.content)![1]} `), 'a new seed');
  assert.deepEqual(rerunAck.pings, [], 'naming the member does not ping them');
  // Their reaction was taken off again so 🔁 works next time.
  await fake.waitFor(() => fake.message(result.id)!.reactions.find((r) => r.emoji === '🔁')!.users.length === 1, 5000, 'the reaction removed');

  // 🎲 as a button: a variation of the first picture.
  const vary = fake.click(fake.users.member, result, `clipag:vary:${jobId}`);
  assert.equal((await vary.reply()).type, 6, 'the click is acknowledged at once (deferred update)');
  await new Promise((r) => setTimeout(r, 200));
  assert.deepEqual(vary.followups().map((m) => m.content), [], 'not refused');
  const varyAck = await fake.waitFor(() => fake.messages(thread.id).find((m) => m.content.startsWith('🎲 Variation of')), 5000, 'the variation acknowledgement');
  const varyId = jobIdOf(varyAck);
  const variation = await fake.waitFor(() => resultIn(fake, thread.id, varyId), 20_000, 'the variation result');
  assert.match(variation.content, /🎲 Variation of/);
  assert.deepEqual(fake.bugs, []);
  for (const m of [...fake.messages(fake.channels.general), ...fake.messages(thread.id)]) assert.deepEqual(m.pings, [], `no pings in ${m.content}`);
  assert.ok(assertNoPingsSent(fake) >= 10);
});

const INVISIBLE = /[\u200B-\u200F\u202A-\u202E\u2066-\u2069]/u;

test('one progress update of a 512 px picture (encode + send) costs the bot under 50 ms of CPU', async (t) => {
  const { fake, bot } = h;
  const picture = canvasLike(512);
  // The request goes to a sink in another process, so only the bot's side is counted (the fake
  // Discord in this process would add its own parsing of the upload).
  const sink = spawn(process.execPath, ['-e', SINK], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const [line] = (await once(sink.stdout!, 'data')) as [Buffer];
    const rest = new REST({ api: `http://127.0.0.1:${String(line).trim()}` }).setToken(fake.token);
    const channel = await bot.client.channels.fetch(fake.channels.art);
    assert.ok(channel?.isSendable());
    // What channel.messages.edit does with a progress frame: payload, multipart body, PATCH.
    const update = async (): Promise<void> => {
      const payload = MessagePayload.create(channel, await framePayload({ text: 'Step 1/2 · 50%', image: picture })).resolveBody();
      const { body, files } = await payload.resolveFiles();
      await rest.patch(Routes.channelMessage(channel.id, '100000000000000001'), { body, files: files ?? undefined });
    };
    await update(); // first use: sharp loads, discord.js makes its route bucket
    const costs: number[] = [];
    for (let i = 0; i < 9; i++) {
      const before = process.cpuUsage();
      await update();
      const used = process.cpuUsage(before);
      costs.push((used.user + used.system) / 1000);
    }
    costs.sort((a, b) => a - b);
    t.diagnostic(`CPU per update: ${costs.map((c) => c.toFixed(1)).join(', ')} ms`);
    // The bot's own cost is what the best runs show: on a shared machine another process's load
    // (a sibling hyperthread, a cold cache) only adds to a sample. The second best, so that one
    // lucky sample does not decide; a real regression raises them all.
    assert.ok(costs[1]! < 50, `${costs[1]!.toFixed(1)} ms CPU (all: ${costs.map((c) => c.toFixed(1)).join(', ')})`);
  } finally {
    sink.kill();
    await once(sink, 'exit');
  }
});

/** Drains each request and answers 200 {}: prints its port, then serves until killed. */
const SINK = `const s = require('node:http').createServer((q, r) => { q.resume(); q.on('end', () => r.writeHead(200, { 'content-type': 'application/json' }).end('{}')); });
s.listen(0, '127.0.0.1', () => process.stdout.write(s.address().port + '\\n'));`;

/** A smooth picture with noise on top, like a canvas mid-optimisation (pure noise is PNG's worst case, flat its best). */
function canvasLike(side: number): RgbImage {
  const data = new Uint8Array(side * side * 3);
  let seed = 1;
  for (let i = 0; i < data.length; i++) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    const x = Math.floor(i / 3) % side;
    const y = Math.floor(i / 3 / side);
    data[i] = Math.max(0, Math.min(255, 128 + 100 * Math.sin((x + (i % 3) * 40) / 37) * Math.cos(y / 53) + ((seed >> 16) % 41) - 20));
  }
  return { width: side, height: side, data } as RgbImage;
}
