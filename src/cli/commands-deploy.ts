/** `clipag commands deploy [--guild ID]`: register the slash commands with Discord. */
import { config as loadDotenv } from 'dotenv';
import type { Command } from 'commander';
import { REST, Routes } from 'discord.js';
import { ConfigError, loadConfig } from '../bot/config.js';
import { commandDefinitions } from '../commands/index.js';
import { UsageError, fail } from './errors.js';

interface DeployArgs { guild?: string; env?: string }

/** Overwrites the application's commands (in one server, or everywhere) with ours; returns their names. */
export async function deployCommands(o: { token: string; appId: string; apiUrl?: string; guild?: string }): Promise<string[]> {
  const rest = new REST(o.apiUrl ? { api: o.apiUrl } : {}).setToken(o.token);
  const body = commandDefinitions();
  // PUT is a bulk overwrite: commands we no longer have disappear too.
  const route = o.guild ? Routes.applicationGuildCommands(o.appId, o.guild) : Routes.applicationCommands(o.appId);
  const saved = (await rest.put(route, { body })) as { name: string }[];
  return saved.map((c) => c.name);
}

async function runDeploy(o: DeployArgs): Promise<void> {
  if (o.guild !== undefined && !/^\d{17,20}$/.test(o.guild)) throw new UsageError(`--guild ${o.guild}: expected a server id (17 to 20 digits; Developer Mode → right-click the server → Copy Server ID)`);
  loadDotenv({ path: o.env ?? '.env', quiet: true });
  const config = loadConfig();
  const names = await deployCommands({ token: config.token, appId: config.appId, apiUrl: config.apiUrl, guild: o.guild });
  const where = o.guild ? `in server ${o.guild} (available now)` : 'globally (every server the bot is in; may take a few minutes to show)';
  process.stdout.write(`registered ${names.length} commands ${where}: ${names.map((n) => `/${n}`).join(' ')}\n`);
}

export function registerCommandsDeploy(program: Command): void {
  const commands = program.command('commands').description("manage the bot's slash commands on Discord");
  commands
    .command('deploy')
    .description('register /imagine, /queue, /cancel, /info and /limits (replacing what was registered before)')
    .option('--guild <id>', 'register in one server only (instant; good for testing)')
    .option('--env <file>', 'the .env file to read', '.env')
    .action(async (o: DeployArgs) => {
      try {
        await runDeploy(o);
      } catch (e) {
        if (e instanceof ConfigError) {
          process.stderr.write(`clipag commands deploy: ${e.message}\n`);
          process.exitCode = 2;
        } else {
          fail('commands deploy', e);
        }
      }
    });
}
