/**
 * Resumable, verified downloads of the files a registry entry names. A file is written to
 * `<name>.part`, resumed with HTTP Range after a dropped connection (in this run or a later one),
 * checked against its size and sha256, and only then renamed to `<name>`: nothing half-written
 * ever has the final name. Progress goes to stderr only, so stdout stays clean for --json.
 */
import { mkdir, rename } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from '../atomic-write.js';
import { ByteProgress } from '../progress.js';
import { lockFile } from './download-lock.js';
import { transfer } from './download-transfer.js';
import type { DownloadOptions, DownloadResult } from './download-types.js';
import { checkExisting, verifiedRecord, type Verified } from './download-verify.js';
import type { RegistryEntry, RemoteFile } from './registry.js';

export type { DownloadOptions, DownloadResult } from './download-types.js';
export { authorizationFor, etagSha256 } from './download-request.js';

/** $CLIPAG_CACHE, else $XDG_CACHE_HOME/clipag, else ~/.cache/clipag. */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.CLIPAG_CACHE) return env.CLIPAG_CACHE;
  if (env.XDG_CACHE_HOME) return join(env.XDG_CACHE_HOME, 'clipag');
  return join(homedir(), '.cache', 'clipag');
}

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
