import pino, { type Logger } from 'pino';

/** Paths pino blanks in every log line, so a token passed around in an object never reaches a log. */
export const REDACT = [
  'token', '*.token', 'DISCORD_TOKEN', '*.DISCORD_TOKEN', 'authorization', '*.authorization',
  'headers.authorization', '*.headers.authorization',
];

/** The process logger: JSON to stderr (stdout belongs to `--json` output). */
export const log: Logger = pino(
  { level: process.env.LOG_LEVEL ?? 'info', redact: { paths: REDACT, censor: '[redacted]' } },
  pino.destination(2),
);
