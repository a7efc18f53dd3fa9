/**
 * What is already on disk: sizes and sha256 digests of the .part and final files, the record of
 * what a finished download was checked against, and whether an existing file can be trusted.
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, rename, rm, stat } from 'node:fs/promises';
import type { ByteProgress } from '../progress.js';
import type { DownloadResult } from './download-types.js';
import type { RemoteFile } from './registry.js';

export async function sizeOf(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).size;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/** sha256 of the first `length` bytes: where a resumed download's digest starts from. */
export async function hashPrefix(path: string, length: number): Promise<Hash> {
  const hash = createHash('sha256');
  if (length === 0) return hash;
  for await (const chunk of createReadStream(path, { start: 0, end: length - 1 })) hash.update(chunk as Buffer);
  return hash;
}

async function sha256File(path: string): Promise<string> {
  return (await hashPrefix(path, (await stat(path)).size)).digest('hex');
}

/** What a finished download was checked against, kept beside it so a rerun need not ask the server. */
export interface Verified { url: string; size: number; sha256: string }

export function verifiedRecord(final: string): string {
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

/**
 * A final file is trusted when its digest matches the pinned sha256 or the one recorded when it
 * was downloaded. One that cannot be checked without the server becomes the .part again: the
 * resume request then either finds it complete (416) and verifies it, or fetches the rest.
 */
export async function checkExisting(file: RemoteFile, final: string, part: string, progress: ByteProgress): Promise<DownloadResult | undefined> {
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
