/** /queue: what is running and waiting, and where the member's own images are. */
import { InteractionContextType, MessageFlags, SlashCommandBuilder } from 'discord.js';
import type { JobRecord } from '../store/types.js';
import { NO_PINGS, quoteText } from '../bot/sanitize.js';
import type { Command } from './command.js';

const SHOWN = 10;

export const queue: Command = {
  data: new SlashCommandBuilder()
    .setName('queue')
    .setDescription('Images being drawn and waiting, and your place in line')
    .setContexts(InteractionContextType.Guild)
    .toJSON(),

  async execute(ctx, interaction) {
    const { running, waiting } = ctx.manager.snapshot();
    const here = interaction.guildId;
    // Other servers share the engine but not their prompts.
    const line = (j: JobRecord): string => (j.guildId === here
      ? `\`${j.id}\` **${quoteText(j.request.prompt, 60)}** by <@${j.userId}>`
      : `\`${j.id}\` (another server)`);
    const lines = [`**Drawing:** ${running.length} · **Waiting:** ${waiting.length}`];
    for (const j of running) lines.push(`▶️ ${line(j)}`);
    waiting.slice(0, SHOWN).forEach((j, i) => lines.push(`${i + 1}. ${line(j)}`));
    if (waiting.length > SHOWN) lines.push(`…and ${waiting.length - SHOWN} more`);
    const mine = [...running.map((j) => ({ j, pos: 0 })), ...waiting.map((j, i) => ({ j, pos: i + 1 }))]
      .filter(({ j }) => j.userId === interaction.user.id && j.guildId === here);
    lines.push(mine.length
      ? `**Yours:** ${mine.map(({ j, pos }) => `\`${j.id}\` ${pos === 0 ? 'drawing now' : `number ${pos}`}`).join(', ')}`
      : 'You have nothing in line.');
    await interaction.reply({ content: lines.join('\n'), flags: MessageFlags.Ephemeral, allowedMentions: NO_PINGS });
  },
};
