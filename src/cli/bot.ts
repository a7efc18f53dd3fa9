/** `clipag bot`: run the Discord bot until SIGINT or SIGTERM. */
import { config as loadDotenv } from 'dotenv';
import type { Command } from 'commander';
import { startBot } from '../bot/app.js';
import { ConfigError, loadConfig } from '../bot/config.js';
import { botLogger, scrubSecrets } from '../bot/logger.js';
import { fail } from './errors.js';

interface BotArgs { env?: string }

async function runBot(o: BotArgs): Promise<void> {
  // Settings already in the environment win over the file (systemd and docker pass them that way).
  loadDotenv({ path: o.env ?? '.env', quiet: true });
  const config = loadConfig();
  const logger = botLogger(config.logLevel, { secrets: [config.token] });
  const bot = await startBot(config, { logger });
  await new Promise<void>((resolve) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      logger.info({ signal }, 'shutting down');
      // A second signal while stopping means "now".
      process.once(signal, () => process.exit(130));
      bot.stop().then(resolve, (e: unknown) => {
        logger.error({ err: e }, 'shutdown failed');
        process.exitCode = 1;
        resolve();
      });
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  });
  logger.flush();
}

export function registerBot(program: Command): void {
  program
    .command('bot')
    .description('run the Discord bot (settings from .env or the environment; see .env.example)')
    .option('--env <file>', 'the .env file to read', '.env')
    .action(async (o: BotArgs) => {
      try {
        await runBot(o);
      } catch (e) {
        if (e instanceof ConfigError) {
          process.stderr.write(`clipag bot: ${e.message}\n`);
          process.exitCode = 2;
        } else {
          // This line bypasses the logger, so it is scrubbed here (a library's message might quote the token).
          const message = e instanceof Error ? e.message : String(e);
          fail('bot', scrubSecrets(message, [process.env.DISCORD_TOKEN ?? '']));
          process.exitCode = 1;
        }
      }
    });
}
