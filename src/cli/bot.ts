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
  // Listening before the start: a SIGTERM while models load (a deploy restarting quickly) must stop
  // the bot cleanly once it is up, not kill it half-started.
  let signalled: NodeJS.Signals | undefined;
  let onSignal: (signal: NodeJS.Signals) => void = (signal) => { signalled = signal; };
  const listener = (signal: NodeJS.Signals): void => onSignal(signal);
  process.once('SIGINT', listener);
  process.once('SIGTERM', listener);
  let bot: Awaited<ReturnType<typeof startBot>>;
  try {
    bot = await startBot(config, { logger });
  } catch (e) {
    process.off('SIGINT', listener);
    process.off('SIGTERM', listener);
    throw e;
  }
  await new Promise<void>((resolve) => {
    onSignal = (signal) => {
      logger.info({ signal }, 'shutting down');
      // A second signal while stopping means "now".
      process.once(signal, () => process.exit(130));
      bot.stop().then(resolve, (e: unknown) => {
        logger.error({ err: e }, 'shutdown failed');
        process.exitCode = 1;
        resolve();
      });
    };
    if (signalled) onSignal(signalled);
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
