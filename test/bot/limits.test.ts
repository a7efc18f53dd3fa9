/**
 * Limits and bad input end to end: moderators (Manage Server) change limits, members cannot (even
 * though the fake, like a modified client, does not enforce default_member_permissions); every
 * refusal is one ephemeral line naming the problem; nothing pings; the changes are audited.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { InteractionHandle } from '../fake-discord/index.js';
import { assertNoPingsSent, DEMO_PROMPT, harness, type Harness } from './harness.js';

let h: Harness;
before(async () => { h = await harness(); });
after(async () => { await h?.close(); });

/** The ephemeral line a command got back. */
async function refusal(ix: InteractionHandle): Promise<string> {
  const r = await ix.reply();
  assert.equal(r.type, 4);
  assert.equal(r.ephemeral, true, `ephemeral: ${String(r.data.content)}`);
  return String(r.data.content);
}

test('members cannot change limits; moderators can, at once, audited', async () => {
  const { fake } = h;
  assert.match(await refusal(fake.slash(fake.users.member, fake.channels.general, 'limits set', { max_steps: 1000 })), /Manage Server/);
  const set = await refusal(fake.slash(fake.users.moderator, fake.channels.general, 'limits set', { max_steps: 40, cooldown_seconds: 0, blocked_words: 'lighthouse, at dusk' }));
  assert.match(set, /max_steps: 200 → 40/);
  assert.match(set, /blocked_words: none → lighthouse, at dusk/);
  const show = await refusal(fake.slash(fake.users.member, fake.channels.general, 'limits show'));
  assert.match(show, /max_steps:\*\* 40/);
  const audit = h.bot.context.store.audit.list(fake.guild.id);
  assert.equal(audit.length, 1);
  assert.equal(audit[0]!.actorId, fake.users.moderator.id);
  assert.deepEqual(audit[0]!.change.maxSteps, { from: 200, to: 40 });
  assert.match(await refusal(fake.slash(fake.users.moderator, fake.channels.general, 'limits set', { queued_per_user: 99 })), /queued_per_user must be a whole number from 1 to 50/);
  assert.match(await refusal(fake.slash(fake.users.moderator, fake.channels.general, 'limits set', {})), /at least one limit/);
});

test('bad prompts and options get one clear ephemeral line each', async () => {
  const { fake } = h;
  const ask = (options: Record<string, string | number>, user = fake.users.member): Promise<string> =>
    refusal(fake.slash(user, fake.channels.general, 'imagine', { prompt: DEMO_PROMPT, ...options }));
  const cases: [Record<string, string | number>, RegExp][] = [
    [{ steps: 41 }, /steps is 41; this server allows at most 40 \(max_steps\)/],
    [{ prompt: 'a lighthouse at dusk' }, /contains "lighthouse", which this server blocks/],
    [{ prompt: 'a red circle AT\u200B DUSK' }, /"at dusk", which this server blocks/],
    [{ prompt: '@everyone a red circle' }, /mentions someone/],
    [{ prompt: `a red circle <@${fake.users.owner.id}>` }, /mentions someone/],
    [{ prompt: `<@&${fake.roles.moderator}> circle` }, /mentions someone/],
    // Discord's own client caps the option at 1,000 characters; a modified one need not.
    [{ prompt: 'blue'.repeat(1000) }, /The prompt is 4,000 characters; the limit is 500/],
    [{ prompt: '🔥🌈✨' }, /emoji or symbols only/],
    [{ prompt: '\u202E\u200B' }, /empty/],
    [{ size: 20 }, /size must be from 64 to 256 px/],
    [{ size: 5000 }, /size must be from 64 to 256 px for this model, got 5000/],
    // Below the command's min_value, which a modified client can ignore: the engine's ranges answer.
    [{ steps: 0 }, /^Steps must be a whole number from 1 to 1000, got 0\./],
    [{ seed: -1 }, /^Seed must be a whole number from 0 to \d+, got -1\./],
    [{ prompt: 'a purple dragon' }, /[Uu]nknown word/],
    [{ negative: '@here' }, /negative prompt mentions/],
  ];
  for (const [options, expected] of cases) {
    const msg = await ask(options);
    assert.match(msg, expected, JSON.stringify(options));
    assert.ok(!msg.includes('\n'), `one line: ${msg}`);
  }
  // A DM: no server, no limits, no jobs.
  const dm = fake.dmChannel(fake.users.member);
  assert.match(await refusal(fake.slash(fake.users.member, dm, 'imagine', { prompt: DEMO_PROMPT })), /\/imagine works in a server channel, not in direct messages/);
  assert.match(await refusal(fake.slash(fake.users.member, dm, 'limits set', { max_steps: 5 })), /\/limits works in a server channel/);
  assert.equal(h.bot.context.store.jobs.countsFor(fake.guild.id, fake.users.member.id).lastDay, 0, 'no job was made');
  for (const m of fake.messages(fake.channels.general)) assert.deepEqual(m.pings, []);
  assert.ok(assertNoPingsSent(fake) >= cases.length);
  assert.deepEqual(fake.bugs, []);
});

test('allowed channels and queued-per-user', async () => {
  const { fake } = h;
  await refusal(fake.slash(fake.users.moderator, fake.channels.general, 'limits set', { allowed_channels: `<#${fake.channels.art}>`, queued_per_user: 1, blocked_words: 'none' }));
  const wrong = await refusal(fake.slash(fake.users.member, fake.channels.general, 'imagine', { prompt: DEMO_PROMPT, steps: 5 }));
  assert.match(wrong, new RegExp(`Images are made in <#${fake.channels.art}>`));
  // Two at once: the first is queued, the second hits queued_per_user even though the first is not stored yet.
  const a = fake.slash(fake.users.member, fake.channels.art, 'imagine', { prompt: DEMO_PROMPT, steps: 40 });
  const b = fake.slash(fake.users.member, fake.channels.art, 'imagine', { prompt: DEMO_PROMPT, steps: 40 });
  const [ra, rb] = await Promise.all([a.reply(), b.reply()]);
  const refused = [ra, rb].filter((r) => r.ephemeral);
  assert.equal(refused.length, 1, 'exactly one refused');
  assert.match(String(refused[0]!.data.content), /the limit is 1 \(queued_per_user\)/);
  await fake.waitFor(() => h.bot.context.jobs.pending === 0 && h.bot.context.manager.stats().running === 0, 20_000, 'the job to finish');
  const info = await refusal(fake.slash(fake.users.member, fake.channels.general, 'info'));
  assert.match(info, /Models:\*\*\n• .* \(64 px, \d+ steps, \*\*default here\*\*; loaded on cpu\)/);
  assert.match(info, /\d+\.\d steps\/s/);
  const queue = await refusal(fake.slash(fake.users.member, fake.channels.general, 'queue'));
  assert.match(queue, /Drawing:\*\* 0 · \*\*Waiting:\*\* 0/);
});
