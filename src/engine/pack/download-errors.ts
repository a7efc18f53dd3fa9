/**
 * What can go wrong with a download, as one line a person can act on, and whether another attempt
 * may help.
 */

export const HF_HOST = 'huggingface.co';

/** A failure with a message ready for the user; `retryable` says whether another attempt may help. */
export class DownloadError extends Error {
  constructor(message: string, readonly retryable: boolean, readonly retryAfterMs?: number) {
    super(message);
  }
}

export const OFFLINE_HINT = 'check the network, or use --registry FILE to point at a mirror or at files on disk';

function isHf(url: string): boolean {
  try {
    return new URL(url).hostname === HF_HOST;
  } catch {
    return false;
  }
}

export function httpError(url: string, res: Response): DownloadError {
  const status = `HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`;
  if (res.status === 401 || res.status === 403) {
    const why = isHf(url)
      ? process.env.HF_TOKEN
        ? 'the repository may be gated: accept its terms on huggingface.co with the account HF_TOKEN belongs to'
        : 'the repository may be gated: accept its terms on huggingface.co and set HF_TOKEN (it is read, and sent to huggingface.co only)'
      : `the server refused access; ${OFFLINE_HINT}`;
    return new DownloadError(`${url}: access denied (${status}); ${why}`, false);
  }
  if (res.status === 404) {
    return new DownloadError(`${url}: not found (${status}); the file may have moved: ${OFFLINE_HINT}`, false);
  }
  // Rate limits and server trouble pass; anything else in 4xx will not change on its own.
  const transient = res.status === 408 || res.status === 429 || res.status >= 500;
  const after = Number(res.headers.get('retry-after'));
  return new DownloadError(`${url}: ${status}`, transient, Number.isFinite(after) && after > 0 ? Math.min(after, 60) * 1000 : undefined);
}

/** Failures that often pass on their own: worth another attempt after a pause. */
const TRANSIENT = new Set([
  'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ECONNABORTED', 'ENETRESET',
  'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT',
]);

const UNREACHABLE: Record<string, string> = {
  ENOTFOUND: 'host not found',
  EAI_FAIL: 'host not found',
  ECONNREFUSED: 'connection refused',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
};

/**
 * Node's fetch reports network trouble as TypeError('fetch failed' or 'terminated') with the
 * system or undici error as its cause. A body cut short is always worth resuming; a request that
 * found no server is retried only when the cause is known to be passing.
 */
export function networkError(url: string, e: unknown, phase: 'request' | 'body'): DownloadError {
  const cause = (e as { cause?: { code?: string; message?: string } }).cause;
  const code = cause?.code ?? '';
  const detail = cause?.message ?? (e as Error).message;
  if (phase === 'body') return new DownloadError(`${url}: connection lost (${detail})`, true);
  const known = UNREACHABLE[code];
  if (known) return new DownloadError(`${url}: ${known} (${detail}); ${OFFLINE_HINT}`, false);
  if (/CERT|TLS|SSL/.test(code)) return new DownloadError(`${url}: TLS failure (${detail}); ${OFFLINE_HINT}`, false);
  const transient = TRANSIENT.has(code);
  return new DownloadError(`${url}: cannot connect (${detail})${transient ? '' : `; ${OFFLINE_HINT}`}`, transient);
}
