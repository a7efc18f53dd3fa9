/** /cancel [job]: the member's newest image in line, or a given one (theirs, or anyone's for a moderator). */
import { InteractionContextType, MessageFlags, SlashCommandBuilder } from 'discord.js';
import { cancelJob } from '../bot/job-actions.js';
import { isModerator } from '../bot/permissions.js';
import { NO_PINGS } from '../bot/sanitize.js';
import type { Command } from './command.js';

export const cancel: Command = {
  data: new SlashCommandBuilder()
    .setName('cancel')
    .setDescription('Stop an image that is waiting or being drawn')
    .setContexts(InteractionContextType.Guild)
    .addStringOption((o) => o.setName('job').setDescription('The job id (from /queue); default: your newest').setMaxLength(32))
    .toJSON(),

  async execute(ctx, interaction) {
    const reply = (content: string): Promise<unknown> => interaction.reply({ content, flags: MessageFlags.Ephemeral, allowedMentions: NO_PINGS });
    let jobId = interaction.options.getString('job')?.trim().replace(/^`|`$/g, '').toLowerCase();
    if (!jobId) {
      const { running, waiting } = ctx.manager.snapshot();
      const mine = [...running, ...waiting].filter((j) => j.userId === interaction.user.id && j.guildId === interaction.guildId);
      const newest = mine.sort((a, b) => b.createdAt - a.createdAt)[0];
      if (!newest) {
        await reply('You have no image waiting or being drawn.');
        return;
      }
      jobId = newest.id;
    }
    const job = ctx.store.jobs.get(jobId);
    if (!job || job.guildId !== interaction.guildId) {
      await reply(`There is no job \`${jobId.replace(/[^a-z0-9]/g, '')}\` on this server: /queue lists them.`);
      return;
    }
    await reply(cancelJob(ctx, job, interaction.user.id, isModerator(interaction.memberPermissions)));
  },
};
