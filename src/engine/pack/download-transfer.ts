/**
 * Fetching a file into its .part: resumed with Range after a dropped connection, retried with
 * backoff while failures pass, and checked against the stated size and sha256 at the end.
 */
import type { Hash } from 'node:crypto';
import { open, rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ByteProgress } from '../progress.js';
import { DownloadError, httpError, networkError, OFFLINE_HINT } from './download-errors.js';
import { contentRange, etagSha256, headerInt, request } from './download-request.js';
import type { DownloadOptions } from './download-types.js';
import { hashPrefix, sizeOf } from './download-verify.js';
import type { RemoteFile } from './registry.js';

export interface Transferred { size: number; sha256: string; resumed: boolean }

export async function transfer(file: RemoteFile, part: string, progress: ByteProgress, opts: DownloadOptions): Promise<Transferred> {
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
