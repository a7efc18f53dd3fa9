/** Every slash command, by name: the bot routes to them and `clipag commands deploy` registers them. */
import { cancel } from './cancel.js';
import type { Command } from './command.js';
import { imagine } from './imagine.js';
import { info } from './info.js';
import { limits } from './limits.js';
import { queue } from './queue.js';
import { safety } from './safety.js';

export type { Command } from './command.js';

export const COMMANDS: ReadonlyMap<string, Command> = new Map([imagine, queue, cancel, info, limits, safety].map((c) => [c.data.name, c]));

/** The JSON bodies for Discord's bulk overwrite (PUT applications/{app}/commands). */
export function commandDefinitions(): Command['data'][] {
  return [...COMMANDS.values()].map((c) => c.data);
}
