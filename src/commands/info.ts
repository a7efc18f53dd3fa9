/** /info: the models (which are warm, on which device), how fast, how busy. */
import { InteractionContextType, MessageFlags, SlashCommandBuilder } from 'discord.js';
import { allowedModels, describePack, serverDefault } from '../bot/models.js';
import { NO_PINGS, quoteText } from '../bot/sanitize.js';
import type { BotContext } from '../bot/context.js';
import type { Command } from './command.js';

/** Discord's message limit, less room for the other lines. */
const MODEL_LINES_MAX = 1500;

const WORKER_LINES_MAX = 10;

/** The workers online and the shared queue's depth; a Redis hiccup is one line, not a failed /info. */
async function clusterLines(cluster: NonNullable<BotContext['cluster']>): Promise<string[]> {
  try {
    const [workers, depth] = await Promise.all([cluster.workers(), cluster.depth()]);
    const shown = workers.slice(0, WORKER_LINES_MAX).map((w) => {
      const pace = w.stepsPerSecond === undefined ? 'no job yet' : `${w.stepsPerSecond.toFixed(1)} steps/s`;
      // Names come from other machines' settings: quoted like a member's text, no Markdown or mentions.
      return `• ${quoteText(w.name, 60)} on ${quoteText(w.device, 60)}: ${w.running}/${w.concurrency} busy, ${pace}; ${w.models.map((m) => quoteText(m, 60)).join(', ')}`;
    });
    if (workers.length > shown.length) shown.push(`…and ${workers.length - shown.length} more`);
    return [`**Workers online:** ${workers.length ? '' : 'none: jobs wait until one starts'}`, ...shown, `**Shared queue:** ${depth} waiting for a worker`];
  } catch {
    return ['**Workers:** the shared queue did not answer just now'];
  }
}


export const info: Command = {
  data: new SlashCommandBuilder()
    .setName('info')
    .setDescription('The models, the device they run on, their speed and the queue')
    .setContexts(InteractionContextType.Guild)
    .toJSON(),

  async execute(ctx, interaction) {
    const limits = ctx.store.limits.get(interaction.guildId);
    const fallback = serverDefault(ctx.engines, limits);
    const warm = new Map(ctx.engines.warm().map((w) => [w.model, w]));
    const s = ctx.manager.stats();
    const speed = s.stepsPerSecond === undefined ? 'not measured yet (no image finished since the start)' : `${s.stepsPerSecond.toFixed(1)} steps/s`;
    const modelLines: string[] = [];
    let length = 0;
    const packs = allowedModels(ctx.engines, limits);
    for (const p of packs) {
      const e = ctx.engines.info(p.name);
      const w = warm.get(p.name);
      const line = `• ${describePack(p, 160)} (${e.imageSize} px, ${e.defaultSteps} steps${p.name === fallback ? ', **default here**' : ''}; ${w ? `loaded on ${w.device}` : 'loads on first use'})`;
      if (length + line.length > MODEL_LINES_MAX) {
        modelLines.push(`…and ${packs.length - modelLines.length} more`);
        break;
      }
      modelLines.push(line);
      length += line.length + 1;
    }
    const lines = [
      `**Models${limits.allowedModels.length ? ' allowed here' : ''}:**`,
      ...(modelLines.length ? modelLines : ['none: ask a moderator to update `/limits set allowed_models`']),
      `**Running:** ${ctx.concurrency()} at a time`,
      `**Speed:** ${speed}`,
      `**Queue:** ${s.running} drawing, ${s.waiting} waiting`,
      ...(ctx.cluster ? await clusterLines(ctx.cluster) : []),
    ];
    await interaction.reply({ content: lines.join('\n'), flags: MessageFlags.Ephemeral, allowedMentions: NO_PINGS });
  },
};
