/**
 * One request for a file (or the rest of it, with Range), redirects followed by hand so the token
 * goes only where it belongs, and the headers that say what the server is sending.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { DownloadError, HF_HOST, networkError } from './download-errors.js';
import type { DownloadOptions } from './download-types.js';
import type { RemoteFile } from './registry.js';

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

export interface Answer {
  res: Response;
  /** Hugging Face states the LFS object's size and sha256 on the resolve hop, before the CDN redirect. */
  linkedSize?: number;
  linkedEtag?: string;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 10;

export function headerInt(v: string | null): number | undefined {
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

export async function request(file: RemoteFile, from: number, opts: DownloadOptions): Promise<Answer> {
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
export function contentRange(v: string | null): { start?: number; total?: number } | undefined {
  const m = v?.trim().match(/^bytes\s+(?:(\d+)-\d+|\*)\/(\d+|\*)$/i);
  if (!m) return undefined;
  return { start: m[1] === undefined ? undefined : Number(m[1]), total: m[2] === '*' ? undefined : Number(m[2]) };
}
