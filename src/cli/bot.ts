/** `clipag bot`: run the Discord bot until SIGINT or SIGTERM; with SHARDS, run it as gateway shards. */
import { fileURLToPath } from 'node:url';
import { config as loadDotenv } from 'dotenv';
import { Option, type Command } from 'commander';
import type { Logger } from 'pino';
import { startBot } from '../bot/app.js';
import { ConfigError, loadConfig, type BotConfig } from '../bot/config.js';
import { botLogger, scrubSecrets } from '../bot/logger.js';
import { isStopMessage, startShards } from '../bot/shards.js';
import { fail } from './errors.js';

interface BotArgs { env?: string; shardChild?: boolean }

const ENTRY = fileURLToPath(new URL('../../bin/clipag.js', import.meta.url));

/**
 * Calls onStop once for the first stop request. SIGINT/SIGTERM may come early (a deploy restarting
 * quickly while models load); a second signal means "now". A shard also stops when its parent asks
 * over IPC or goes away: a message, so the parent's request and a signal reaching both (a terminal's
 * Ctrl+C, systemd's stop) count once, not as "now".
 */
interface StopRequests {
  wait(onStop: () => Promise<void>): Promise<void>;
  /** What a second signal does instead of exiting at once. */
  onSecondSignal(f: () => void): void;
  dispose(): void;
}

function stopRequests(logger: Logger, shardChild: boolean): StopRequests {
  let requested: string | undefined;
  let onRequest: (() => void) | undefined;
  let second = (): void => process.exit(130);
  const request = (why: string): void => {
    if (requested) return;
    requested = why;
    onRequest?.();
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    if (requested) second(); else request(signal);
  };
  const onMessage = (m: unknown): void => { if (isStopMessage(m)) request('asked by the shard manager'); };
  const onDisconnect = (): void => request('the shard manager is gone');
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  if (shardChild) {
    process.on('message', onMessage);
    process.once('disconnect', onDisconnect);
  }
  const dispose = (): void => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('message', onMessage);
    process.off('disconnect', onDisconnect);
  };
  return {
    dispose,
    onSecondSignal: (f) => { second = f; },
    wait: (onStop) => new Promise<void>((resolve) => {
      onRequest = () => {
        logger.info({ reason: requested }, 'shutting down');
        onStop().then(resolve, (e: unknown) => {
          logger.error({ err: e }, 'shutdown failed');
          process.exitCode = 1;
          resolve();
        });
      };
      if (requested) onRequest();
    }),
  };
}

async function runBot(o: BotArgs): Promise<void> {
  // Settings already in the environment win over the file (systemd and docker pass them that way).
  loadDotenv({ path: o.env ?? '.env', quiet: true });
  const shardChild = o.shardChild === true;
  const config = loadConfig(process.env, { shardChild });
  const base = botLogger(config.logLevel, { secrets: [config.token] });
  if (config.shards !== undefined && !shardChild) return runShards(config, base, o);
  // discord.js' Client reads SHARDS as its own (JSON): outside a shard, ours (blank here) must not reach it.
  if (!shardChild) delete process.env.SHARDS;
  // In a shard, discord.js' ShardingManager set SHARDS to this shard's id (its Client reads it).
  const logger = shardChild ? base.child({ shard: Number(process.env.SHARDS) }) : base;
  const stops = stopRequests(logger, shardChild);
  let bot: Awaited<ReturnType<typeof startBot>>;
  try {
    bot = await startBot(config, { logger });
  } catch (e) {
    stops.dispose();
    throw e;
  }
  await stops.wait(() => bot.stop());
  stops.dispose();
  logger.flush();
}

/** The parent of SHARDS: starts the shards, stops them on a signal, and fails if one cannot start. */
async function runShards(config: BotConfig, logger: Logger, o: BotArgs): Promise<void> {
  const stops = stopRequests(logger, false);
  try {
    const shards = await startShards(config, { entry: ENTRY, shardArgs: ['bot', '--shard-child', '--env', o.env ?? '.env'], logger });
    // A second signal stops the shards at once.
    stops.onSecondSignal(() => void shards.stop());
    await Promise.race([stops.wait(() => shards.stop()), shards.failed]);
  } finally {
    stops.dispose();
    logger.flush();
  }
}

export function registerBot(program: Command): void {
  program
    .command('bot')
    .description('run the Discord bot (settings from .env or the environment; see .env.example)')
    .option('--env <file>', 'the .env file to read', '.env')
    // How the SHARDS parent starts each shard; not for people.
    .addOption(new Option('--shard-child', 'run as one shard under the SHARDS parent').hideHelp())
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
      } finally {
        // A shard's IPC channel (discord.js listens on it) would keep the process alive once the bot is done.
        if (o.shardChild && process.connected) process.disconnect();
      }
    });
}
