/**
 * QUEUE_URL: where the shared job queue lives, `redis://[[user]:password@]host[:port][/db]` or
 * `rediss://…` for TLS. Parsed once at start into a QueueTarget whose password cannot leak: it sits
 * in a private field, so logging the config object (JSON, pino, util.inspect) never shows it.
 */

export const QUEUE_URL_FORM = 'redis://[:password@]host:port[/db] (rediss:// for TLS)';
const DEFAULT_PORT = 6379;

export class QueueTarget {
  readonly #password: string | undefined;

  constructor(
    readonly host: string,
    readonly port: number,
    readonly db: number,
    readonly tls: boolean,
    readonly username: string | undefined,
    password: string | undefined,
  ) {
    this.#password = password;
  }

  /** For the connection only: never put it in a message or a log. */
  get password(): string | undefined {
    return this.#password;
  }

  /** host:port as people write it (IPv6 in brackets), for messages. */
  get where(): string {
    return `${this.host.includes(':') ? `[${this.host}]` : this.host}:${this.port}`;
  }

  /** The URL without its credentials. */
  toString(): string {
    return `${this.tls ? 'rediss' : 'redis'}://${this.where}/${this.db}`;
  }

  toJSON(): string {
    return this.toString();
  }
}

export type ParsedQueueUrl = { ok: true; target: QueueTarget } | { ok: false; problem: string };

const bad = (problem: string): ParsedQueueUrl => ({ ok: false, problem });

/** Reads QUEUE_URL; a problem is one line for .env that never repeats the URL (it may hold a password). */
export function parseQueueUrl(text: string): ParsedQueueUrl {
  const trimmed = text.trim();
  const scheme = /^(rediss?):\/\//i.exec(trimmed)?.[1]?.toLowerCase();
  if (scheme === undefined) {
    return bad(`QUEUE_URL must start with redis:// or rediss://: ${QUEUE_URL_FORM}, or leave it unset for the built-in queue`);
  }
  let url: URL;
  try {
    url = new URL(trimmed);
  } catch {
    return bad(`QUEUE_URL is not a valid URL: write it as ${QUEUE_URL_FORM} with a port from 1 to 65535; in a password, write @ # / ? % as %40 %23 %2F %3F %25`);
  }
  if (url.hostname === '') return bad(`QUEUE_URL names no host: write it as ${QUEUE_URL_FORM}`);
  if (url.search !== '' || url.hash !== '') {
    return bad('QUEUE_URL has a ? or # part, which clipag does not read: remove it (in a password, write # as %23 and ? as %3F)');
  }
  const port = url.port === '' ? DEFAULT_PORT : Number(url.port);
  if (port < 1) return bad('QUEUE_URL\'s port must be from 1 to 65535 (Redis listens on 6379 unless told otherwise)');
  const path = url.pathname.replace(/^\/|\/$/g, '');
  if (path !== '' && !/^\d{1,9}$/.test(path)) {
    return bad('QUEUE_URL\'s database, after the port, must be a number such as /0 (Redis has 0 to 15 unless configured otherwise)');
  }
  let username: string | undefined;
  let password: string | undefined;
  try {
    username = url.username === '' ? undefined : decodeURIComponent(url.username);
    password = url.password === '' ? undefined : decodeURIComponent(url.password);
  } catch {
    return bad('QUEUE_URL\'s user or password has a % that is not followed by two hex digits: write % itself as %25');
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  return { ok: true, target: new QueueTarget(host, port, path === '' ? 0 : Number(path), scheme === 'rediss', username, password) };
}
