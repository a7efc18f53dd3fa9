import pino, { type Logger } from 'pino';

/** Paths pino blanks in every log line, so a token passed around in an object never reaches a log. */
export const REDACT = [
  'token', '*.token', 'DISCORD_TOKEN', '*.DISCORD_TOKEN', 'authorization', '*.authorization',
  'headers.authorization', '*.headers.authorization',
];

/**
 * LOG_LEVEL when it names one of pino's levels; an empty or unknown value falls back to info here
 * (the bot's and the worker's settings checks name the bad value), instead of pino throwing at import.
 */
const wanted = process.env.LOG_LEVEL;
const level = wanted && Object.hasOwn(pino.levels.values, wanted) || wanted === 'silent' ? wanted : 'info';

/** The process logger: JSON to stderr (stdout belongs to `--json` output). */
export const log: Logger = pino(
  { level, redact: { paths: REDACT, censor: '[redacted]' } },
  pino.destination(2),
);
