/** /imagine: check, queue, acknowledge with the place in line and a Cancel button, open a thread. */
import { InteractionContextType, MessageFlags, SlashCommandBuilder, type ChatInputCommandInteraction } from 'discord.js';
import { modelChoices } from '../bot/models.js';
import { placeJob } from '../bot/placement.js';
import { ackText, cancelRow } from '../bot/messages.js';
import { MAX_PROMPT_CHARS, NO_PINGS } from '../bot/sanitize.js';
import { MAX_MODEL_NAME } from '../store/limits.js';
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
    .addAttachmentOption((o) => o.setName('image').setDescription('A picture to start from (PNG, JPEG, WebP or still GIF; up to 10 MiB)'))
    .addIntegerOption((o) => o.setName('count').setDescription('Pictures drawn together, posted as one grid (1–4)').setMinValue(1).setMaxValue(4))
    .addStringOption((o) => o.setName('model').setDescription('Which model draws it (default: the server\'s)').setMaxLength(MAX_MODEL_NAME).setAutocomplete(true))
    .toJSON(),

  async execute(ctx, interaction) {
    const channel = interaction.channel ?? (await ctx.client.channels.fetch(interaction.channelId).catch(() => null));
    const inThread = channel?.isThread() ? channel : undefined;
    // A deferred reply is public (the acknowledgement will carry the thread): a refusal replaces it with a private line.
    const say = async (content: string): Promise<unknown> => {
      if (!interaction.deferred) return interaction.reply({ content, flags: MessageFlags.Ephemeral, allowedMentions: NO_PINGS });
      await interaction.deleteReply().catch(() => {});
      return interaction.followUp({ content, flags: MessageFlags.Ephemeral, allowedMentions: NO_PINGS });
    };
    const image = interaction.options.getAttachment('image');
    const preparing = ctx.imaginer.prepare({
      guildId: interaction.guildId,
      userId: interaction.user.id,
      channelId: interaction.channelId,
      parentChannelId: inThread?.parentId,
      prompt: interaction.options.getString('prompt', true),
      negative: interaction.options.getString('negative') ?? undefined,
      steps: interaction.options.getInteger('steps') ?? undefined,
      size: interaction.options.getInteger('size') ?? undefined,
      seed: interaction.options.getInteger('seed') ?? undefined,
      upload: image ? { url: image.url, size: image.size } : undefined,
      model: interaction.options.getString('model') ?? undefined,
      count: interaction.options.getInteger('count') ?? undefined,
    });
    try {
      await deferIfSlow(interaction, preparing);
    } catch (e) {
      void preparing.then((p) => p.ok && ctx.imaginer.release(p), () => {});
      throw e;
    }
    const prepared = await preparing;
    if (!prepared.ok) {
      await say(prepared.message);
      return;
    }
    // Acknowledge before queuing: a job may start the moment it is queued, and its first steps
    // (compiling the model's graphs) can hold the process past Discord's 3-second window.
    try {
      if (!interaction.deferred) await interaction.deferReply();
    } catch (e) {
      ctx.imaginer.release(prepared);
      throw e;
    }
    const outcome = await ctx.imaginer.submit(prepared);
    if (!outcome.ok) {
      await say(outcome.message);
      return;
    }
    const { job, position } = outcome;
    let ack;
    try {
      ack = await interaction.editReply({ content: ackText(job, position, inThread ? job.userId : undefined), components: [cancelRow(job.id)], allowedMentions: NO_PINGS });
    } catch (e) {
      ctx.logger.warn({ err: e, jobId: job.id }, 'could not acknowledge /imagine; cancelling the job');
    }
    await placeJob(ctx, job, ack, inThread?.id);
  },

  async autocomplete(ctx, interaction) {
    const focused = interaction.options.getFocused(true);
    const limits = ctx.store.limits.get(interaction.guildId);
    await interaction.respond(focused.name === 'model' ? modelChoices(ctx.engines, limits, String(focused.value)) : []);
  },
};

/** Past this a check still running (an upload downloading) defers the reply: Discord drops answers after 3 s. */
const DEFER_AFTER_MS = 2000;

async function deferIfSlow(interaction: ChatInputCommandInteraction, work: Promise<unknown>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const slow = new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(true), DEFER_AFTER_MS); });
  const isSlow = await Promise.race([work.then(() => false, () => false), slow]);
  clearTimeout(timer);
  if (isSlow) await interaction.deferReply();
}
