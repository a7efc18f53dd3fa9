/** Routes interactions: slash commands to their modules, buttons to their handler; nothing escapes. */
import { MessageFlags, type Interaction } from 'discord.js';
import type { Command } from '../commands/command.js';
import { handleButton } from './buttons.js';
import type { BotContext } from './context.js';
import { NO_PINGS } from './sanitize.js';

const OOPS = 'Something went wrong on our side: try again in a moment.';

export async function handleInteraction(ctx: BotContext, commands: ReadonlyMap<string, Command>, i: Interaction): Promise<void> {
  try {
    if (i.isChatInputCommand()) {
      const command = commands.get(i.commandName);
      const say = (content: string): Promise<unknown> => i.reply({ content, flags: MessageFlags.Ephemeral, allowedMentions: NO_PINGS });
      if (!command) {
        await say(`This bot has no /${i.commandName} any more: the server's command list is out of date.`);
      } else if (!i.inGuild()) {
        await say(`/${i.commandName} works in a server channel, not in direct messages.`);
      } else if (!ctx.accepting() && i.commandName === 'imagine') {
        await say('The bot is restarting: try again in a minute.');
      } else {
        await command.execute(ctx, i);
      }
    } else if (i.isButton()) {
      await handleButton(ctx, i);
    } else if (i.isAutocomplete()) {
      const command = commands.get(i.commandName);
      // Outside a server, or for an option with no suggestions: an empty list, so Discord stops waiting.
      if (command?.autocomplete && i.inGuild()) await command.autocomplete(ctx, i);
      else await i.respond([]);
    }
  } catch (e) {
    ctx.logger.error({ err: e, interaction: i.id }, 'interaction failed');
    if (i.isAutocomplete()) {
      if (!i.responded) await i.respond([]).catch(() => {});
      return;
    }
    if (!i.isRepliable()) return;
    const body = { content: OOPS, flags: MessageFlags.Ephemeral, allowedMentions: NO_PINGS } as const;
    await (i.replied || i.deferred ? i.followUp(body) : i.reply(body)).catch(() => {});
  }
}
