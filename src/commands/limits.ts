/**
 * /limits show and /limits set: a server's limits on /imagine. Setting needs Manage Server, which
 * default_member_permissions only hides the command behind (server admins can change that), so
 * the handler checks the member's permissions itself. Every change is audited by the store.
 */
import { InteractionContextType, MessageFlags, PermissionFlagsBits, SlashCommandBuilder, type ChatInputCommandInteraction } from 'discord.js';
import { isModerator } from '../bot/permissions.js';
import { channelList } from '../bot/limits-check.js';
import { NO_PINGS, quoteText } from '../bot/sanitize.js';
import { modelChoices } from '../bot/models.js';
import { LIMIT_LABELS, LIMIT_RANGES, LimitsError, MAX_MODEL_NAME, type GuildLimits, type NumericLimit } from '../store/limits.js';
import { modelPatch } from './limits-models.js';
import type { Command } from './command.js';

const NUMERIC: readonly [NumericLimit, string][] = [
  ['queuedPerUser', 'Images a member may have waiting or drawing at once'],
  ['jobsPerUserPerDay', 'Images a member may make in 24 hours'],
  ['maxSteps', 'Most steps per image'],
  ['maxSize', 'Largest picture side in pixels'],
  ['cooldownSeconds', 'Seconds a member waits after their last image finishes (0: none)'],
];

export function describeLimits(l: GuildLimits): string {
  return [
    `**${LIMIT_LABELS.queuedPerUser}:** ${l.queuedPerUser}`,
    `**${LIMIT_LABELS.jobsPerUserPerDay}:** ${l.jobsPerUserPerDay}`,
    `**${LIMIT_LABELS.maxSteps}:** ${l.maxSteps}`,
    `**${LIMIT_LABELS.maxSize}:** ${l.maxSize} px`,
    `**${LIMIT_LABELS.cooldownSeconds}:** ${l.cooldownSeconds} s`,
    `**${LIMIT_LABELS.blockedWords}:** ${l.blockedWords.length ? l.blockedWords.map((w) => `"${quoteText(w, 50)}"`).join(', ') : 'none'}`,
    `**${LIMIT_LABELS.allowedChannels}:** ${l.allowedChannels.length ? channelList(l.allowedChannels) : 'every channel'}`,
    `**${LIMIT_LABELS.defaultModel}:** ${l.defaultModel ? `\`${quoteText(l.defaultModel, 100)}\`` : "the bot's default"}`,
    `**${LIMIT_LABELS.allowedModels}:** ${l.allowedModels.length ? l.allowedModels.map((m) => `\`${quoteText(m, 100)}\``).join(', ') : 'every model'}`,
  ].join('\n');
}

/** "red, blue sky" → ['red', 'blue sky']; "none" → []. */
export function parseWordList(s: string): string[] {
  return s.trim().toLowerCase() === 'none' ? [] : s.split(',').map((w) => w.trim()).filter((w) => w !== '');
}

/** "<#1> 2" → ['1', '2']; "all" → []. Undefined when something else is in the text. */
export function parseChannelList(s: string): string[] | undefined {
  if (s.trim().toLowerCase() === 'all') return [];
  const parts = s.split(/[\s,]+/).filter((p) => p !== '');
  const ids = parts.map((p) => /^(?:<#(\d+)>|(\d+))$/.exec(p)).map((m) => m?.[1] ?? m?.[2]);
  return ids.every((id): id is string => id !== undefined) ? ids : undefined;
}

function change(label: string, from: unknown, to: unknown): string {
  const show = (v: unknown): string => (Array.isArray(v) ? (v.length ? v.join(', ') : 'none') : String(v));
  return `${label}: ${quoteText(show(from), 300)} → ${quoteText(show(to), 300)}`;
}

async function set(ctx: Parameters<Command['execute']>[0], i: ChatInputCommandInteraction<'cached' | 'raw'>): Promise<void> {
  const reply = (content: string): Promise<unknown> => i.reply({ content, flags: MessageFlags.Ephemeral, allowedMentions: NO_PINGS });
  if (!isModerator(i.memberPermissions)) {
    await reply('Changing limits needs the Manage Server permission.');
    return;
  }
  const patch: Partial<GuildLimits> = {};
  for (const [key] of NUMERIC) {
    const v = i.options.getInteger(LIMIT_LABELS[key]);
    if (v !== null) patch[key] = v;
  }
  const words = i.options.getString(LIMIT_LABELS.blockedWords);
  if (words !== null) patch.blockedWords = parseWordList(words);
  const channels = i.options.getString(LIMIT_LABELS.allowedChannels);
  if (channels !== null) {
    const ids = parseChannelList(channels);
    if (!ids) {
      await reply('allowed_channels: mention the channels (#art #bots), or write "all" for every channel.');
      return;
    }
    patch.allowedChannels = ids;
  }
  const models = modelPatch(ctx.engines, i.options.getString(LIMIT_LABELS.defaultModel), i.options.getString(LIMIT_LABELS.allowedModels), ctx.store.limits.get(i.guildId));
  if (typeof models === 'string') {
    await reply(`Nothing changed: ${models}`);
    return;
  }
  Object.assign(patch, models);
  if (Object.keys(patch).length === 0) {
    await reply('Name at least one limit to change, e.g. `/limits set max_steps:100`.');
    return;
  }
  const before = ctx.store.limits.get(i.guildId);
  let after: GuildLimits;
  try {
    after = ctx.store.limits.set(i.guildId, patch, i.user.id);
  } catch (e) {
    if (e instanceof LimitsError) {
      await reply(`Nothing changed: ${e.message}`);
      return;
    }
    throw e;
  }
  const changes = (Object.keys(patch) as (keyof GuildLimits)[])
    .filter((k) => JSON.stringify(before[k]) !== JSON.stringify(after[k]))
    .map((k) => change(LIMIT_LABELS[k], before[k], after[k]));
  ctx.logger.info({ guildId: i.guildId, by: i.user.id, patch }, 'limits changed');
  await reply(changes.length ? `Limits updated (in force now):\n${changes.join('\n')}` : 'Those are already the limits: nothing changed.');
}

const builder = new SlashCommandBuilder()
  .setName('limits')
  .setDescription("This server's limits on /imagine")
  .setContexts(InteractionContextType.Guild)
  .setDefaultMemberPermissions(PermissionFlagsBits.ManageGuild)
  .addSubcommand((s) => s.setName('show').setDescription('Show the limits'))
  .addSubcommand((s) => {
    s.setName('set').setDescription('Change limits (Manage Server)');
    for (const [key, description] of NUMERIC) {
      const [lo, hi] = LIMIT_RANGES[key];
      s.addIntegerOption((o) => o.setName(LIMIT_LABELS[key]).setDescription(description).setMinValue(lo).setMaxValue(hi));
    }
    s.addStringOption((o) => o.setName(LIMIT_LABELS.blockedWords).setDescription('Words prompts may not contain, comma-separated (replaces the list; "none" clears it)').setMaxLength(4000));
    s.addStringOption((o) => o.setName(LIMIT_LABELS.allowedChannels).setDescription('Channels where /imagine works, as #mentions ("all": every channel)').setMaxLength(4000));
    s.addStringOption((o) => o.setName(LIMIT_LABELS.defaultModel).setDescription('The model /imagine uses when none is named ("bot": the bot\'s default)').setMaxLength(MAX_MODEL_NAME).setAutocomplete(true));
    s.addStringOption((o) => o.setName(LIMIT_LABELS.allowedModels).setDescription('Models members may choose, comma-separated ("all": every model)').setMaxLength(4000));
    return s;
  });

export const limits: Command = {
  data: builder.toJSON(),
  async autocomplete(ctx, interaction) {
    const focused = interaction.options.getFocused(true);
    // Every model the bot has: a moderator may pick one the server does not allow yet.
    await interaction.respond(focused.name === LIMIT_LABELS.defaultModel ? modelChoices(ctx.engines, { defaultModel: '', allowedModels: [] }, String(focused.value)) : []);
  },
  async execute(ctx, interaction) {
    if (interaction.options.getSubcommand() === 'set') {
      await set(ctx, interaction);
      return;
    }
    const l = ctx.store.limits.get(interaction.guildId);
    await interaction.reply({ content: `**Limits on this server**\n${describeLimits(l)}`, flags: MessageFlags.Ephemeral, allowedMentions: NO_PINGS });
  },
};
