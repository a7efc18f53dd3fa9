/** /imagine: check, queue, acknowledge with the place in line and a Cancel button, open a thread. */
import { InteractionContextType, MessageFlags, SlashCommandBuilder } from 'discord.js';
import { placeJob } from '../bot/placement.js';
import { ackText, cancelRow } from '../bot/messages.js';
import { MAX_PROMPT_CHARS, NO_PINGS } from '../bot/sanitize.js';
import type { Command } from './command.js';

export const imagine: Command = {
  data: new SlashCommandBuilder()
    .setName('imagine')
    .setDescription('Draw a picture from a prompt')
    .setContexts(InteractionContextType.Guild)
    .addStringOption((o) => o.setName('prompt').setDescription('What to draw').setRequired(true).setMaxLength(MAX_PROMPT_CHARS * 2))
    .addStringOption((o) => o.setName('negative').setDescription('What to keep out of the picture').setMaxLength(MAX_PROMPT_CHARS * 2))
    .addIntegerOption((o) => o.setName('steps').setDescription('Optimisation steps (more: slower, finer)').setMinValue(1).setMaxValue(1000))
    .addIntegerOption((o) => o.setName('size').setDescription('Picture side in pixels').setMinValue(16).setMaxValue(2048))
    .addIntegerOption((o) => o.setName('seed').setDescription('Same seed, same picture').setMinValue(0).setMaxValue(2 ** 31 - 1))
    .toJSON(),

  async execute(ctx, interaction) {
    const channel = interaction.channel ?? (await ctx.client.channels.fetch(interaction.channelId).catch(() => null));
    const inThread = channel?.isThread() ? channel : undefined;
    const say = (content: string): Promise<unknown> => interaction.reply({ content, flags: MessageFlags.Ephemeral, allowedMentions: NO_PINGS });
    const prepared = await ctx.imaginer.prepare({
      guildId: interaction.guildId,
      userId: interaction.user.id,
      channelId: interaction.channelId,
      parentChannelId: inThread?.parentId,
      prompt: interaction.options.getString('prompt', true),
      negative: interaction.options.getString('negative') ?? undefined,
      steps: interaction.options.getInteger('steps') ?? undefined,
      size: interaction.options.getInteger('size') ?? undefined,
      seed: interaction.options.getInteger('seed') ?? undefined,
    });
    if (!prepared.ok) {
      await say(prepared.message);
      return;
    }
    // Acknowledge before queuing: a job may start the moment it is queued, and its first steps
    // (compiling the model's graphs) can hold the process past Discord's 3-second window.
    try {
      await interaction.deferReply();
    } catch (e) {
      ctx.imaginer.release(prepared);
      throw e;
    }
    const outcome = await ctx.imaginer.submit(prepared);
    if (!outcome.ok) {
      await interaction.deleteReply().catch(() => {});
      await interaction.followUp({ content: outcome.message, flags: MessageFlags.Ephemeral, allowedMentions: NO_PINGS });
      return;
    }
    const { job, position } = outcome;
    let ack;
    try {
      ack = await interaction.editReply({ content: ackText(job, position), components: [cancelRow(job.id)], allowedMentions: NO_PINGS });
    } catch (e) {
      ctx.logger.warn({ err: e, jobId: job.id }, 'could not acknowledge /imagine; cancelling the job');
    }
    await placeJob(ctx, job, ack, inThread?.id);
  },
};
