/** A slash command: its definition (registered by `clipag commands deploy`) and its handler. */
import type { AutocompleteInteraction, ChatInputCommandInteraction, RESTPostAPIChatInputApplicationCommandsJSONBody } from 'discord.js';
import type { BotContext } from '../bot/context.js';

export interface Command {
  data: RESTPostAPIChatInputApplicationCommandsJSONBody;
  /** Runs only in a server (the router answers DMs); must reply within 3 s. */
  execute(ctx: BotContext, interaction: ChatInputCommandInteraction<'cached' | 'raw'>): Promise<void>;
  /** Suggestions while a member types an option marked autocomplete (answered within 3 s, in a server). */
  autocomplete?(ctx: BotContext, interaction: AutocompleteInteraction<'cached' | 'raw'>): Promise<void>;
}
