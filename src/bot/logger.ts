/**
 * The bot's logger: JSON lines (for journald, docker logs, a log shipper), or readable lines when
 * a person runs it in a terminal. The token never reaches a log: REDACT blanks the fields known to
 * hold it, and, because an error can carry it anywhere (a library's request options, a nested
 * cause, a message), every line is also scrubbed of the token's text before it is written.
 */
import pino, { type DestinationStream, type Logger } from 'pino';
import { REDACT } from '../log.js';

const CENSOR = '[redacted]';

// HTTP clients spell the header with a capital letter (discord.js sends `Authorization`), and pino's
// paths are case-sensitive; errors nest request options a level deeper than REDACT reaches.
const MORE_REDACT = [
  'Authorization', '*.Authorization', 'headers.Authorization', '*.headers.Authorization',
  '*.*.headers.authorization', '*.*.headers.Authorization',
];

export interface BotLoggerOptions {
  /** Readable lines instead of JSON (default: when stderr is a terminal). */
  pretty?: boolean;
  /** Strings that must never appear in a log line (the token). */
  secrets?: readonly string[];
  /** Where JSON lines go (default: stderr); tests pass a stream. */
  destination?: DestinationStream;
}

/**
 * pino's error serializer, with binary data cut out: discord.js errors carry the request that
 * failed (`requestBody.files[].data`), so one failed progress edit would otherwise log its PNG as
 * a JSON array of numbers, megabytes per line.
 */
export function serializeError(e: unknown): unknown {
  return compact(pino.stdSerializers.err(e as Error), 0);
}

function compact(v: unknown, depth: number): unknown {
  if (ArrayBuffer.isView(v)) return `[${v.byteLength} bytes]`;
  if (v instanceof ArrayBuffer) return `[${v.byteLength} bytes]`;
  if (v === null || typeof v !== 'object' || depth > 6) return v;
  if (Array.isArray(v)) return v.map((x) => compact(x, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[k] = compact(x, depth + 1);
  return out;
}

/** `text` with every secret replaced; secrets shorter than 8 characters are ignored (too likely to be words). */
export function scrubSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s.length >= 8 && out.includes(s)) out = out.split(s).join(CENSOR);
  return out;
}

export function botLogger(level: string, o: BotLoggerOptions = {}): Logger {
  const secrets = (o.secrets ?? []).filter((s) => s.length >= 8);
  const options = {
    level,
    redact: { paths: [...REDACT, ...MORE_REDACT], censor: CENSOR },
    serializers: { err: serializeError },
    ...(secrets.length ? { hooks: { streamWrite: (line: string) => scrubSecrets(line, secrets) } } : {}),
  };
  if (o.pretty ?? process.stderr.isTTY === true) {
    return pino(options, pino.transport({ target: 'pino-pretty', options: { destination: 2, translateTime: 'SYS:HH:MM:ss', ignore: 'pid,hostname' } }));
  }
  return pino(options, o.destination ?? pino.destination(2));
}
