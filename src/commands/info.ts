/** /info: which model on which device, how fast, how busy. */
import { InteractionContextType, MessageFlags, SlashCommandBuilder } from 'discord.js';
import { NO_PINGS } from '../bot/sanitize.js';
import type { Command } from './command.js';

export const info: Command = {
  data: new SlashCommandBuilder()
    .setName('info')
    .setDescription('The model, the device it runs on, its speed and the queue')
    .setContexts(InteractionContextType.Guild)
    .toJSON(),

  async execute(ctx, interaction) {
    const e = ctx.engine.info();
    const s = ctx.manager.stats();
    const speed = s.stepsPerSecond === undefined ? 'not measured yet (no image finished since the start)' : `${s.stepsPerSecond.toFixed(1)} steps/s`;
    const lines = [
      `**Model:** ${e.model} (${e.imageSize} px, ${e.defaultSteps} steps by default)`,
      `**Device:** ${e.device} · ${ctx.concurrency} at a time`,
      `**Speed:** ${speed}`,
      `**Queue:** ${s.running} drawing, ${s.waiting} waiting`,
    ];
    await interaction.reply({ content: lines.join('\n'), flags: MessageFlags.Ephemeral, allowedMentions: NO_PINGS });
  },
};
