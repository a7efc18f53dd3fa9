// The fake is only useful if a real discord.js Client believes it: every test here drives discord.js v14.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import {
  ActionRowBuilder, ButtonBuilder, ButtonStyle, ChannelType, Client, DiscordAPIError, Events, GatewayIntentBits, MessageFlags,
  Partials, PermissionFlagsBits, SlashCommandBuilder, type Interaction, type Message, type MessageReaction,
  type PartialMessageReaction, type PartialUser, type TextChannel, type User,
} from 'discord.js';
import { startFakeDiscord, type FakeDiscord } from './index.js';
import { EVERYONE_PERMISSIONS } from './world.js';

const INTENTS = [GatewayIntentBits.Guilds, GatewayIntentBits.GuildMessageReactions];

function png(r: number): Promise<Buffer> {
  return sharp({ create: { width: 8, height: 6, channels: 3, background: { r, g: 0, b: 0 } } }).png().toBuffer();
}

const imagine = new SlashCommandBuilder().setName('imagine').setDescription('Make an image')
  .addStringOption((o) => o.setName('prompt').setDescription('What to draw').setRequired(true))
  .addIntegerOption((o) => o.setName('steps').setDescription('Steps').setMinValue(1).setMaxValue(50))
  .addNumberOption((o) => o.setName('guidance').setDescription('Guidance'))
  .addAttachmentOption((o) => o.setName('image').setDescription('A picture to start from'));
const limits = new SlashCommandBuilder().setName('limits').setDescription('Server limits')
  .setDefaultMemberPermissions(PermissionFlagsBits.ManageGuild)
  .addSubcommand((s) => s.setName('show').setDescription('Show limits'))
  .addSubcommand((s) => s.setName('set').setDescription('Set limits')
    .addIntegerOption((o) => o.setName('max-steps').setDescription('Max steps'))
    .addChannelOption((o) => o.setName('channel').setDescription('Allowed channel')));

describe('fake Discord with a real discord.js Client', () => {
  let fake: FakeDiscord;
  let client: Client;
  /** Each test installs the bot behaviour it needs; failures inside handlers are kept and checked. */
  let onInteraction: (i: Interaction) => Promise<void> = async () => {};
  const handlerErrors: unknown[] = [];

  before(async () => {
    fake = await startFakeDiscord({ heartbeatIntervalMs: 200 });
    client = new Client({ intents: INTENTS, partials: [Partials.Message, Partials.Reaction, Partials.User], rest: { api: fake.apiUrl } });
    client.on(Events.InteractionCreate, (i) => { onInteraction(i).catch((err: unknown) => handlerErrors.push(err)); });
    const ready = once(client, Events.ClientReady);
    await client.login(fake.token);
    await ready;
    await client.application?.commands.set([imagine.toJSON(), limits.toJSON()], fake.guild.id);
  });

  after(async () => {
    await client.destroy();
    await fake.close();
    assert.deepEqual(fake.bugs, []);
  });

  const general = (): TextChannel => client.channels.cache.get(fake.channels.general) as TextChannel;

  test('READY and GUILD_CREATE fill the caches discord.js resolves permissions from', () => {
    assert.equal(client.user?.id, fake.botUser.id);
    assert.equal(client.application?.id, fake.appId);
    const guild = client.guilds.cache.get(fake.guild.id);
    assert.ok(guild);
    assert.equal(guild.channels.cache.get(fake.channels.general)?.name, 'general');
    assert.equal(guild.roles.everyone.id, fake.guild.id);
    assert.equal(guild.members.cache.get(fake.users.moderator.id)?.permissions.has(PermissionFlagsBits.ManageGuild), true);
    assert.equal(guild.members.cache.get(fake.users.member.id)?.permissions.has(PermissionFlagsBits.ManageGuild), false);
    assert.equal(guild.members.me?.permissionsIn(fake.channels.general).has(PermissionFlagsBits.AttachFiles), true);
    assert.equal(fake.gatewayStats.identifies, 1);
    assert.equal(fake.gatewayStats.lastIntents, GatewayIntentBits.Guilds | GatewayIntentBits.GuildMessageReactions);
  });

  test('heartbeats are acknowledged', async () => {
    await fake.waitFor(() => fake.gatewayStats.heartbeats >= 2, 3000, 'two heartbeats');
    assert.ok(client.ws.ping >= 0);
  });

  test('commands: bulk overwrite keeps ids by name, drops the rest, and rejects bad definitions', async () => {
    const before = fake.commands(fake.guild.id);
    assert.deepEqual(before.map((c) => c.name).sort(), ['imagine', 'limits']);
    const again = await client.application?.commands.set([imagine.toJSON(), limits.toJSON()], fake.guild.id);
    assert.equal(again?.find((c) => c.name === 'imagine')?.id, before.find((c) => c.name === 'imagine')?.id);
    await client.application?.commands.set([imagine.toJSON()]);
    assert.deepEqual(fake.commands().map((c) => c.name), ['imagine']);
    const bad = { name: 'Bad Name', description: 'x' };
    await assert.rejects(client.application!.commands.set([bad]), (e: unknown) => e instanceof DiscordAPIError && e.code === 50035);
  });

  test('/imagine: reply with a button, thread on it, attachment swapped in place by an edit', async () => {
    const [first, second] = [await png(200), await png(40)];
    onInteraction = async (i) => {
      if (!i.isChatInputCommand()) return;
      const text = `${i.options.getString('prompt', true)} ×${i.options.getInteger('steps')} g=${i.options.getNumber('guidance')}`;
      const row = new ActionRowBuilder<ButtonBuilder>().addComponents(new ButtonBuilder().setCustomId('cancel').setLabel('Cancel').setStyle(ButtonStyle.Danger));
      const res = await i.reply({ content: text, components: [row], allowedMentions: { parse: [] }, withResponse: true });
      const thread = await res.resource!.message!.startThread({ name: 'job 1' });
      const progress = await thread.send({ content: 'step 1', files: [{ attachment: first, name: 'p.png' }] });
      await progress.edit({ content: 'step 2', files: [{ attachment: second, name: 'p.png' }] });
    };
    const h = fake.slash(fake.users.member, fake.channels.general, 'imagine', { prompt: 'red circle', steps: 3, guidance: 2 });
    const reply = await h.reply();
    assert.equal(reply.type, 4);
    assert.equal(reply.message?.content, 'red circle ×3 g=2');
    assert.equal(reply.message?.interactionId, h.id);
    assert.deepEqual(reply.message?.pings, []);
    const thread = await fake.waitFor(() => fake.threads(fake.channels.general).find((t) => t.starterMessageId === reply.message?.id));
    const progress = await fake.waitFor(() => fake.messages(thread.id).find((m) => m.history.length === 2));
    assert.equal(progress.content, 'step 2');
    assert.equal(progress.attachments.length, 1, 'the edit replaced the attachment instead of adding one');
    assert.deepEqual(progress.attachments[0]?.data, second);
    assert.deepEqual([progress.attachments[0]?.width, progress.attachments[0]?.height], [8, 6]);
    assert.deepEqual(progress.history[0]?.attachments[0]?.data, first);
    const patch = fake.requests.find((r) => r.method === 'PATCH' && r.path === `/channels/${thread.id}/messages/${progress.id}`);
    assert.equal(patch?.files[0]?.field, 'files[0]');
    const fetched = await client.channels.fetch(thread.id, { force: true });
    assert.equal(fetched?.type, ChannelType.PublicThread);
    assert.equal(fake.message(reply.message?.id ?? '')?.threadId, thread.id);
    const download = await fetch(progress.attachments[0]?.url ?? '');
    assert.deepEqual(Buffer.from(await download.arrayBuffer()), second);
  });

  test('an attachment option: getAttachment() has what Discord resolved, and its url serves the bytes', async () => {
    const picture = await png(90);
    let got: { name: string; size: number; contentType: string | null; width: number | null; url: string } | undefined;
    onInteraction = async (i) => {
      if (!i.isChatInputCommand()) return;
      const a = i.options.getAttachment('image');
      got = a ? { name: a.name, size: a.size, contentType: a.contentType, width: a.width, url: a.url } : undefined;
      await i.reply({ content: 'ok', flags: MessageFlags.Ephemeral });
    };
    const id = fake.attachment('red.png', picture);
    const h = fake.slash(fake.users.member, fake.channels.general, 'imagine', { prompt: 'red', image: id });
    await h.reply();
    assert.deepEqual((h.payload.data as { options: unknown[] }).options[1], { name: 'image', type: 11, value: id });
    assert.deepEqual({ ...got, url: undefined }, { name: 'red.png', size: picture.length, contentType: 'image/png', width: 8, url: undefined });
    assert.deepEqual(Buffer.from(await (await fetch(got!.url)).arrayBuffer()), picture);
    assert.throws(() => fake.slash(fake.users.member, fake.channels.general, 'imagine', { prompt: 'red', image: '123' }), /no attachment 123/);
  });

  test('a button click answered with an update edits the message the button is on', async () => {
    onInteraction = async (i) => {
      if (i.isChatInputCommand()) await i.reply({ content: 'queued', components: [new ActionRowBuilder<ButtonBuilder>().addComponents(new ButtonBuilder().setCustomId('cancel').setLabel('Cancel').setStyle(ButtonStyle.Danger))] });
      if (i.isButton() && i.customId === 'cancel') await i.update({ content: `cancelled by ${i.user.username}`, components: [] });
    };
    const reply = await fake.slash(fake.users.member, fake.channels.general, 'imagine', { prompt: 'blue sky' }).reply();
    assert.ok(reply.message);
    assert.throws(() => fake.click(fake.users.member, reply.message!, 'nope'), /no component "nope"/);
    const click = fake.click(fake.users.other, reply.message, 'cancel');
    assert.equal((await click.reply()).type, 7);
    assert.equal(click.original()?.id, reply.message.id);
    assert.equal(click.original()?.content, 'cancelled by other');
    assert.deepEqual(click.original()?.components, []);
  });

  test('subcommands, typed options and member permissions reach the bot; ephemeral replies stay out of the channel', async () => {
    onInteraction = async (i) => {
      if (!i.isChatInputCommand()) return;
      const perms = i.memberPermissions?.has(PermissionFlagsBits.ManageGuild);
      const ch = i.options.getChannel('channel');
      await i.reply({ content: `${i.options.getSubcommand()} ${i.options.getInteger('max-steps')} ${ch?.id === fake.channels.art} ${perms}`, flags: MessageFlags.Ephemeral });
    };
    const mod = await fake.slash(fake.users.moderator, fake.channels.general, 'limits set', { 'max-steps': 20, channel: fake.channels.art }).reply();
    assert.equal(mod.message?.content, 'set 20 true true');
    assert.equal(mod.ephemeral, true);
    assert.equal(fake.messages(fake.channels.general).some((m) => m.id === mod.message?.id), false);
    const member = await fake.slash(fake.users.member, fake.channels.general, 'limits set', { 'max-steps': 20 }).reply();
    assert.equal(member.message?.content, 'set 20 false false');
    assert.throws(() => fake.slash(fake.users.member, fake.channels.general, 'limits set', { steps: 1 }), /no option "steps"/);
    assert.throws(() => fake.slash(fake.users.member, fake.channels.general, 'imagine', {}), /needs option "prompt"/);
  });

  test('deferred reply, editReply with a file and an ephemeral followUp; expired tokens are refused', async () => {
    const image = await png(90);
    let later: (() => Promise<unknown>) | undefined;
    onInteraction = async (i) => {
      if (!i.isChatInputCommand()) return;
      await i.deferReply();
      later = () => i.editReply('too late');
      await i.editReply({ content: 'done', files: [{ attachment: image, name: 'r.png' }] });
      await i.followUp({ content: 'only you', flags: MessageFlags.Ephemeral });
    };
    const h = fake.slash(fake.users.member, fake.channels.general, 'imagine', { prompt: 'dusk' });
    assert.equal((await h.reply()).type, 5);
    await fake.waitFor(() => h.followups().length === 1);
    assert.equal(h.original()?.content, 'done');
    assert.deepEqual(h.original()?.attachments[0]?.data, image);
    assert.equal(h.followups()[0]?.ephemeral, true);
    fake.expireInteractionTokens();
    await assert.rejects(later!(), (e: unknown) => e instanceof DiscordAPIError && e.code === 50027);
  });

  test('an interaction answered after the deadline gets Unknown interaction', async () => {
    fake.ackDeadlineMs = 30;
    let outcome: Promise<unknown> = Promise.resolve();
    onInteraction = async (i) => {
      if (!i.isChatInputCommand()) return;
      await new Promise((r) => setTimeout(r, 80));
      outcome = i.reply('slow');
    };
    const h = fake.slash(fake.users.member, fake.channels.general, 'imagine', { prompt: 'sky' });
    await assert.rejects(h.reply(), /answered after \d+ ms, past the 30 ms deadline/);
    fake.ackDeadlineMs = 3000;
    await assert.rejects(outcome, (e: unknown) => e instanceof DiscordAPIError && e.code === 10062);
  });

  test('reactions: the bot adds and removes them; users\' reactions arrive, also on uncached messages', async () => {
    const seen: { user: string; emoji: string | null; partial: boolean }[] = [];
    const reactions: (MessageReaction | PartialMessageReaction)[] = [];
    const listener = (r: MessageReaction | PartialMessageReaction, u: User | PartialUser): void => {
      seen.push({ user: u.id, emoji: r.emoji.name, partial: r.message.partial });
      reactions.push(r);
    };
    client.on(Events.MessageReactionAdd, listener);
    const msg = await general().send('react to me');
    await msg.react('🔁');
    assert.deepEqual(fake.message(msg.id)?.reactions, [{ emoji: '🔁', users: [fake.botUser.id] }]);
    general().messages.cache.delete(msg.id); // as after a restart: discord.js only knows the ids
    fake.react(fake.users.member, msg.id, '🎲');
    const got = await fake.waitFor(() => seen.find((s) => s.user === fake.users.member.id));
    assert.deepEqual(got, { user: fake.users.member.id, emoji: '🎲', partial: true });
    assert.ok(seen.some((s) => s.user === fake.botUser.id), 'Discord reports the bot\'s own reactions too');
    await reactions.find((r) => r.emoji.name === '🎲')?.users.remove(fake.users.member.id); // needs ManageMessages
    assert.equal(fake.requests.at(-1)?.path, `/channels/${msg.channelId}/messages/${msg.id}/reactions/🎲/${fake.users.member.id}`);
    await fake.waitFor(() => fake.message(msg.id)?.reactions.length === 1);
    client.off(Events.MessageReactionAdd, listener);
  });

  test('a 429 with retry_after is waited out and the edit goes through', async () => {
    const msg = await general().send('v1');
    const rule = fake.failNext({ method: 'PATCH', route: /^\/channels\/\d+\/messages\/\d+$/, status: 429, retryAfter: 0.2 });
    await msg.edit('v2');
    assert.equal(rule.hits, 1);
    const patches = fake.requests.filter((r) => r.method === 'PATCH' && r.path.endsWith(`/messages/${msg.id}`));
    assert.deepEqual(patches.map((r) => r.status), [429, 200]);
    assert.ok(patches[1]!.at - patches[0]!.at >= 200, 'discord.js waited retry_after before retrying');
    assert.equal(fake.message(msg.id)?.content, 'v2');
  });

  test('a 500 is retried by discord.js and the message is posted once', async () => {
    const image = await png(10);
    const rule = fake.failNext({ method: 'POST', route: /^\/channels\/\d+\/messages$/, status: 500, count: 2 });
    const msg = await general().send({ content: 'after 500s', files: [{ attachment: image, name: 'x.png' }] });
    assert.equal(rule.hits, 2);
    const posts = fake.requests.filter((r) => r.method === 'POST' && r.body && (r.body as { content?: string }).content === 'after 500s');
    assert.deepEqual(posts.map((r) => r.status), [500, 500, 200]);
    assert.equal(fake.messages(fake.channels.general).filter((m) => m.content === 'after 500s').length, 1);
    assert.equal(fake.message(msg.id)?.attachments.length, 1);
  });

  test('Discord\'s own refusals: too long, empty, missing permission, deleted message', async () => {
    const code = (n: number) => (e: unknown) => e instanceof DiscordAPIError && e.code === n;
    await assert.rejects(general().send('x'.repeat(2001)), code(50035));
    const msg = await general().send('bye');
    await msg.delete();
    assert.equal(fake.message(msg.id)?.deleted, true);
    await assert.rejects(general().messages.fetch({ message: msg.id, force: true }), code(10008));
    const gone = await general().send('deleted by a moderator');
    fake.deleteMessage(gone);
    assert.equal(fake.messages(fake.channels.general).some((m) => m.id === gone.id), false);
    await assert.rejects(gone.edit('still there?'), code(10008));
    fake.setRolePermissions(fake.roles.bot, PermissionFlagsBits.SendMessages);
    fake.setRolePermissions(fake.roles.everyone, PermissionFlagsBits.ViewChannel);
    try {
      await assert.rejects(general().send({ files: [{ attachment: await png(1), name: 'a.png' }] }), code(50013));
    } finally {
      fake.setRolePermissions(fake.roles.bot, EVERYONE_PERMISSIONS | PermissionFlagsBits.ManageMessages);
      fake.setRolePermissions(fake.roles.everyone, EVERYONE_PERMISSIONS);
    }
  });

  test('pings follow allowed_mentions', async () => {
    const text = `@everyone hi <@${fake.users.member.id}>`;
    const quiet = await general().send({ content: text, allowedMentions: { parse: [] } });
    const loud = await general().send(text);
    assert.deepEqual(fake.message(quiet.id)?.pings, []);
    assert.deepEqual(fake.message(loud.id)?.pings.sort(), ['@everyone', `user:${fake.users.member.id}`]);
  });

  test('a command in a DM has no guild and no member', async () => {
    onInteraction = async (i) => {
      if (i.isChatInputCommand()) await i.reply(`guild=${i.inGuild()} user=${i.user.username}`);
    };
    const reply = await fake.slash(fake.users.member, fake.dmChannel(fake.users.member), 'imagine', { prompt: 'a' }).reply();
    assert.equal(reply.message?.content, 'guild=false user=member');
  });

  test('after the gateway drops, the client resumes and events sent meanwhile still arrive', async () => {
    const seen: string[] = [];
    onInteraction = async (i) => { if (i.isChatInputCommand()) seen.push(i.options.getString('prompt', true)); };
    const back = fake.dropGateway();
    fake.slash(fake.users.member, fake.channels.general, 'imagine', { prompt: 'during' });
    await back;
    assert.equal(fake.gatewayStats.resumes, 1);
    fake.slash(fake.users.member, fake.channels.general, 'imagine', { prompt: 'after' });
    await fake.waitFor(() => seen.length === 2);
    assert.deepEqual(seen, ['during', 'after']);
  });

  test('waitFor names what it waited for', async () => {
    await assert.rejects(fake.waitFor(() => false, 20, 'the moon'), /timed out after 20 ms waiting for the moon/);
  });

  test('no handler failed', () => {
    assert.deepEqual(handlerErrors, []);
  });
});

test('a wrong token is refused at login', async () => {
  const fake = await startFakeDiscord();
  const client = new Client({ intents: INTENTS, rest: { api: fake.apiUrl } });
  try {
    await assert.rejects(client.login('wrong-token'), /invalid token/i);
  } finally {
    await client.destroy();
    await fake.close();
  }
});
