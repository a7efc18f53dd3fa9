/**
 * Resumable, verified downloads of the files a registry entry names. A file is written to
 * `<name>.part`, resumed with HTTP Range after a dropped connection (in this run or a later one),
 * checked against its size and sha256, and only then renamed to `<name>`: nothing half-written
 * ever has the final name. Progress goes to stderr only, so stdout stays clean for --json.
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { writeFileAtomic } from '../atomic-write.js';
import { ByteProgress, formatBytes } from '../progress.js';
import type { RegistryEntry, RemoteFile } from './registry.js';

export interface DownloadResult { path: string; size: number; sha256: string; resumed: boolean }

export interface DownloadOptions {
  /** Where progress goes: default process.stderr; a bar when it is a TTY, else a line every ~10 %. */
  progress?: NodeJS.WritableStream | false;
  /** Aborting keeps the .part, so the next run resumes. */
  signal?: AbortSignal;
  /** Attempts after a failure that made no progress (an attempt that got bytes resets the count). Default 5. */
  retries?: number;
  fetch?: typeof fetch;
  /** The first pause between attempts, doubled each time up to 30 s. Default 1000. */
  retryDelayMs?: number;
}

/** $CLIPAG_CACHE, else $XDG_CACHE_HOME/clipag, else ~/.cache/clipag. */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.CLIPAG_CACHE) return env.CLIPAG_CACHE;
  if (env.XDG_CACHE_HOME) return join(env.XDG_CACHE_HOME, 'clipag');
  return join(homedir(), '.cache', 'clipag');
}

const HF_HOST = 'huggingface.co';

/**
 * The Authorization header for one request, decided per URL (so per redirect hop): HF_TOKEN goes
 * to huggingface.co over https and nowhere else. Hugging Face redirects LFS files to a CDN with a
 * signed URL that needs no token, and a token must never leak to a host it was not issued for.
 */
export function authorizationFor(url: URL, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const token = env.HF_TOKEN?.trim();
  if (!token || url.protocol !== 'https:' || url.hostname !== HF_HOST) return undefined;
  return `Bearer ${token}`;
}

/** A failure with a message ready for the user; `retryable` says whether another attempt may help. */
class DownloadError extends Error {
  constructor(message: string, readonly retryable: boolean, readonly retryAfterMs?: number) {
    super(message);
  }
}

const OFFLINE_HINT = 'check the network, or use --registry FILE to point at a mirror or at files on disk';

function isHf(url: string): boolean {
  try {
    return new URL(url).hostname === HF_HOST;
  } catch {
    return false;
  }
}

function httpError(url: string, res: Response): DownloadError {
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
function networkError(url: string, e: unknown, phase: 'request' | 'body'): DownloadError {
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

// ---- one request, redirects followed by hand ---------------------------------------------------

interface Answer {
  res: Response;
  /** Hugging Face states the LFS object's size and sha256 on the resolve hop, before the CDN redirect. */
  linkedSize?: number;
  linkedEtag?: string;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 10;

function headerInt(v: string | null): number | undefined {
  if (v === null || !/^\d+$/.test(v.trim())) return undefined;
  return Number(v);
}

/** file: URLs (offline registries) answer like an HTTP server that honours Range. */
async function fileResponse(url: URL, from: number): Promise<Response> {
  const path = fileURLToPath(url);
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch (e) {
    throw new DownloadError(`${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); check the registry's url`, false);
  }
  if (from > 0 && from >= size) return new Response(null, { status: 416, headers: { 'content-range': `bytes */${size}` } });
  // Node's web ReadableStream and the DOM lib's are the same object at runtime but different types.
  const body = Readable.toWeb(createReadStream(path, { start: from })) as unknown as ReadableStream<Uint8Array>;
  const headers: Record<string, string> = { 'content-length': String(size - from) };
  if (from > 0) headers['content-range'] = `bytes ${from}-${size - 1}/${size}`;
  return new Response(body, { status: from > 0 ? 206 : 200, headers });
}

async function request(file: RemoteFile, from: number, opts: DownloadOptions): Promise<Answer> {
  const doFetch = opts.fetch ?? globalThis.fetch;
  let url = new URL(file.url);
  const answer: Partial<Answer> = {};
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    if (url.protocol === 'file:') return { ...answer, res: await fileResponse(url, from) };
    // identity: a transparently decompressed body would not match Content-Length or the digest.
    const headers: Record<string, string> = { 'accept-encoding': 'identity', 'user-agent': 'clipag' };
    if (from > 0) headers.range = `bytes=${from}-`;
    const auth = authorizationFor(url);
    if (auth) headers.authorization = auth;
    let res: Response;
    try {
      res = await doFetch(url.href, { headers, redirect: 'manual', signal: opts.signal });
    } catch (e) {
      if (opts.signal?.aborted) throw e;
      throw networkError(file.url, e, 'request');
    }
    answer.linkedSize ??= headerInt(res.headers.get('x-linked-size'));
    answer.linkedEtag ??= res.headers.get('x-linked-etag') ?? undefined;
    const location = res.headers.get('location');
    if (!REDIRECTS.has(res.status) || !location) return { ...answer, res };
    await res.body?.cancel();
    const next = new URL(location, url);
    if (url.protocol === 'https:' && next.protocol !== 'https:') {
      throw new DownloadError(`${file.url}: refusing a redirect from https to ${next.protocol}`, false);
    }
    url = next;
  }
  throw new DownloadError(`${file.url}: more than ${MAX_REDIRECTS} redirects`, false);
}

/** x-linked-etag is the quoted sha256 of an LFS object; a small git file's etag is a 40-hex sha1: ignored. */
export function etagSha256(etag: string | undefined): string | undefined {
  const v = etag?.trim().replace(/^W\//, '').replace(/^"|"$/g, '').toLowerCase();
  return v && /^[0-9a-f]{64}$/.test(v) ? v : undefined;
}

// `bytes 100-199/1000` → {start 100, total 1000}; `bytes */1000` (a 416's answer) → {total 1000};
// a `*` total is unknown.
function contentRange(v: string | null): { start?: number; total?: number } | undefined {
  const m = v?.trim().match(/^bytes\s+(?:(\d+)-\d+|\*)\/(\d+|\*)$/i);
  if (!m) return undefined;
  return { start: m[1] === undefined ? undefined : Number(m[1]), total: m[2] === '*' ? undefined : Number(m[2]) };
}

// ---- files on disk -----------------------------------------------------------------------------

async function sizeOf(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).size;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/** sha256 of the first `length` bytes: where a resumed download's digest starts from. */
async function hashPrefix(path: string, length: number): Promise<Hash> {
  const hash = createHash('sha256');
  if (length === 0) return hash;
  for await (const chunk of createReadStream(path, { start: 0, end: length - 1 })) hash.update(chunk as Buffer);
  return hash;
}

async function sha256File(path: string): Promise<string> {
  return (await hashPrefix(path, (await stat(path)).size)).digest('hex');
}

/** What a finished download was checked against, kept beside it so a rerun need not ask the server. */
interface Verified { url: string; size: number; sha256: string }

function verifiedRecord(final: string): string {
  return `${final}.verified.json`;
}

async function readVerified(final: string): Promise<Verified | undefined> {
  try {
    const v = JSON.parse(await readFile(verifiedRecord(final), 'utf8')) as Partial<Verified>;
    if (typeof v.url === 'string' && typeof v.size === 'number' && typeof v.sha256 === 'string') return v as Verified;
  } catch {
    // missing or unreadable: the file is simply not known to be verified
  }
  return undefined;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Two downloads appending to one .part would interleave bytes; a pid lock file keeps them apart. */
async function lockFile(final: string): Promise<() => Promise<void>> {
  const lock = `${final}.lock`;
  for (let tries = 0; tries < 2; tries++) {
    try {
      const fh = await open(lock, 'wx');
      await fh.writeFile(String(process.pid));
      await fh.close();
      return () => rm(lock, { force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const pid = Number((await readFile(lock, 'utf8').catch(() => '')).trim());
      if (Number.isInteger(pid) && pid > 0 && alive(pid)) {
        throw new DownloadError(`${final}: another download of this file is running (pid ${pid}); wait for it, or delete ${lock} if it is gone`, false);
      }
      await rm(lock, { force: true }); // left by a process that died
    }
  }
  throw new DownloadError(`${final}: cannot take the lock ${lock}`, false);
}

// ---- the download ------------------------------------------------------------------------------

const SAFE_NAME = /^[\w.-]+$/;

/**
 * Downloads `file` into `dir` (created if needed) and returns its path, size and sha256.
 * Already there and verified → returned without a request. Expected size: pinned, else stated by
 * the server (x-linked-size, Content-Range, Content-Length); expected sha256: pinned, else the
 * x-linked-etag digest. A mismatch deletes the download and throws naming the URL.
 */
export async function downloadFile(file: RemoteFile, dir: string, opts: DownloadOptions = {}): Promise<DownloadResult> {
  if (!SAFE_NAME.test(file.name) || file.name === '.' || file.name === '..') {
    throw new Error(`${file.url}: "${file.name}" is not a plain file name`);
  }
  await mkdir(dir, { recursive: true });
  const final = join(dir, file.name);
  const part = `${final}.part`;
  const progress = new ByteProgress(opts.progress === undefined ? process.stderr : opts.progress, file.name);
  const unlock = await lockFile(final);
  try {
    const cached = await checkExisting(file, final, part, progress);
    if (cached) return cached;
    const got = await transfer(file, part, progress, opts);
    await rename(part, final);
    await writeFileAtomic(verifiedRecord(final), `${JSON.stringify({ url: file.url, size: got.size, sha256: got.sha256 } satisfies Verified)}\n`);
    return { path: final, ...got };
  } catch (e) {
    progress.stop();
    throw e;
  } finally {
    await unlock();
  }
}

/**
 * A final file is trusted when its digest matches the pinned sha256 or the one recorded when it
 * was downloaded. One that cannot be checked without the server becomes the .part again: the
 * resume request then either finds it complete (416) and verifies it, or fetches the rest.
 */
async function checkExisting(file: RemoteFile, final: string, part: string, progress: ByteProgress): Promise<DownloadResult | undefined> {
  const size = await sizeOf(final);
  if (size === undefined) return undefined;
  const rec = await readVerified(final);
  const expected = file.sha256 ?? (rec && rec.url === file.url && rec.size === size ? rec.sha256 : undefined);
  if (expected !== undefined && (file.size === undefined || file.size === size)) {
    const sha256 = await sha256File(final);
    if (sha256 === expected) {
      progress.note(`already downloaded and verified (${final})`);
      return { path: final, size, sha256, resumed: false };
    }
    progress.note(`the copy in ${final} does not match its sha256; downloading again`);
    await rm(final, { force: true });
  } else {
    await rm(part, { force: true });
    await rename(final, part);
  }
  await rm(verifiedRecord(final), { force: true });
  return undefined;
}

interface Transferred { size: number; sha256: string; resumed: boolean }

async function transfer(file: RemoteFile, part: string, progress: ByteProgress, opts: DownloadOptions): Promise<Transferred> {
  const retries = opts.retries ?? 5;
  const baseDelay = opts.retryDelayMs ?? 1000;
  let hash: Hash | undefined; // digest of the part's first `hashed` bytes
  let hashed = 0;
  let resumed = false;
  let statedSha: string | undefined;
  let statedSize: number | undefined;
  let failures = 0;

  const fail = async (message: string): Promise<never> => {
    await rm(part, { force: true });
    throw new DownloadError(message, false);
  };
  const checkSize = async (stated: number | undefined): Promise<void> => {
    if (stated === undefined) return;
    if (file.size !== undefined && stated !== file.size) {
      await fail(`${file.url}: size mismatch: expected ${file.size} bytes, the server states ${stated}; the registry entry may be out of date`);
    }
    statedSize = stated;
  };

  for (;;) {
    const have = (await sizeOf(part)) ?? 0;
    try {
      const { res, linkedSize, linkedEtag } = await request(file, have, opts);
      const sha = etagSha256(linkedEtag);
      if (sha !== undefined && file.sha256 !== undefined && sha !== file.sha256) {
        await res.body?.cancel();
        await fail(`${file.url}: sha256 mismatch: expected ${file.sha256}, the server states ${sha}; the registry entry may be out of date`);
      }
      if (sha !== undefined && statedSha !== undefined && sha !== statedSha) {
        // The file changed on the server between attempts: bytes already here belong to the old one.
        await res.body?.cancel();
        await rm(part, { force: true });
        hash = undefined;
        statedSha = sha;
        throw new DownloadError(`${file.url}: the file changed on the server during the download`, true);
      }
      statedSha ??= sha;
      await checkSize(linkedSize);

      if (res.status === 416) {
        await res.body?.cancel();
        const total = contentRange(res.headers.get('content-range'))?.total;
        await checkSize(total);
        if (have > 0 && have === (file.size ?? statedSize)) {
          resumed = true;
          break; // the part already holds every byte
        }
        if (have === 0) throw httpError(file.url, res);
        // A part longer than the file, or a server that cannot say: only a fresh start is safe.
        await rm(part, { force: true });
        hash = undefined;
        throw new DownloadError(`${file.url}: the partial download does not fit the file on the server; starting again`, true);
      }
      if (!res.ok) {
        await res.body?.cancel();
        throw httpError(file.url, res);
      }
      const range = contentRange(res.headers.get('content-range'));
      let offset = 0;
      if (res.status === 206) {
        if (range?.start !== have) {
          await res.body?.cancel();
          await rm(part, { force: true });
          hash = undefined;
          throw new DownloadError(`${file.url}: the server answered a different range than asked; starting again`, true);
        }
        offset = have;
        await checkSize(range.total);
      } else {
        if (have > 0) progress.note('the server ignored the resume request; starting again from the beginning');
        const encoded = (res.headers.get('content-encoding') ?? 'identity') !== 'identity';
        if (!encoded) await checkSize(headerInt(res.headers.get('content-length')));
      }
      if (offset > 0) resumed = true;
      if (!hash || hashed !== offset) {
        hash = await hashPrefix(part, offset);
        hashed = offset;
      }
      const total = file.size ?? statedSize;
      progress.start(offset, total, offset > 0);
      const before = hashed;
      let whole: boolean;
      try {
        whole = await writeBody(res, part, offset, total, file.url, (chunk) => {
          hash!.update(chunk);
          hashed += chunk.length;
          progress.update(hashed);
        });
      } finally {
        if (hashed > before) failures = 0; // progress was made: the next stall gets every retry again
      }
      if (!whole) await fail(`${file.url}: size mismatch: expected ${total} bytes, the server sent more; the download was deleted`);
      break;
    } catch (e) {
      if (opts.signal?.aborted) {
        progress.stop();
        throw new DownloadError(`${file.url}: download interrupted; run again to resume from ${part}`, false);
      }
      if (!(e instanceof DownloadError) || !e.retryable) throw e;
      failures++;
      if (failures > retries) {
        throw new DownloadError(`${e.message}; gave up after ${retries + 1} attempt${retries ? 's' : ''}; run again to resume, or ${OFFLINE_HINT}`, false);
      }
      const delay = Math.max(e.retryAfterMs ?? 0, Math.min(baseDelay * 2 ** (failures - 1), 30_000));
      progress.note(`${e.message}; retrying in ${(delay / 1000).toFixed(delay < 1000 ? 2 : 0)} s (attempt ${failures + 1} of ${retries + 1})`);
      await sleep(delay, undefined, { signal: opts.signal }).catch(() => undefined);
    }
  }

  const size = (await sizeOf(part)) ?? 0;
  if (!hash || hashed !== size) hash = await hashPrefix(part, size);
  const expectedSize = file.size ?? statedSize;
  if (expectedSize !== undefined && size !== expectedSize) {
    await fail(`${file.url}: size mismatch: expected ${expectedSize} bytes, got ${size}; the download was deleted, run again`);
  }
  const sha256 = hash.digest('hex');
  const expectedSha = file.sha256 ?? statedSha;
  if (expectedSha !== undefined && sha256 !== expectedSha) {
    await fail(`${file.url}: sha256 mismatch: expected ${expectedSha}, got ${sha256}; the download was deleted, run again`);
  }
  progress.finish(size, expectedSha !== undefined ? 'sha256 verified' : `sha256 ${sha256} (not stated by the server)`);
  return { size, sha256, resumed };
}

/**
 * Writes the body into the part from `offset`; false when the server sends more than `total`.
 * A dropped connection is retryable, a full disk is not.
 */
async function writeBody(
  res: Response, part: string, offset: number, total: number | undefined, url: string, onChunk: (c: Uint8Array) => void,
): Promise<boolean> {
  const fh = await open(part, offset > 0 ? 'r+' : 'w');
  let at = offset;
  try {
    if (!res.body) return true;
    const reader = res.body.getReader();
    for (;;) {
      let next: ReadableStreamReadResult<Uint8Array>;
      try {
        next = await reader.read();
      } catch (e) {
        throw networkError(url, e, 'body');
      }
      if (next.done) break;
      const chunk = next.value;
      if (total !== undefined && at + chunk.length > total) {
        await reader.cancel();
        return false;
      }
      try {
        await fh.write(chunk, 0, chunk.length, at);
      } catch (e) {
        await reader.cancel();
        throw new DownloadError(`cannot write ${part}: ${(e as Error).message}`, false);
      }
      at += chunk.length;
      onChunk(chunk);
    }
    await fh.sync();
    return true;
  } finally {
    await fh.close();
  }
}

/**
 * Every file of an entry plus its tokenizer, into `<cacheDir>/downloads/<entry>/`, one after the
 * other (parallel downloads of one host gain little and make progress output unreadable).
 */
export async function fetchFiles(entry: RegistryEntry, cacheDir: string, opts: DownloadOptions = {}): Promise<Record<string, DownloadResult>> {
  const dir = join(cacheDir, 'downloads', entry.name);
  const out: Record<string, DownloadResult> = {};
  for (const f of entry.tokenizer ? [...entry.files, entry.tokenizer] : entry.files) {
    out[f.name] = await downloadFile(f, dir, opts);
  }
  return out;
}

// ---- progress ----------------------------------------------------------------------------------
