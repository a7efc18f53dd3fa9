import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/**
 * Writes a file through a temporary sibling, fsync and a rename, so a failure or a crash never
 * leaves a partial file at `path`. Chunks are written in order, and may be produced lazily (an async
 * iterable), so a large model is never joined or even held whole.
 */
export async function writeFileAtomic(
  path: string, data: Uint8Array | string | Iterable<Uint8Array> | AsyncIterable<Uint8Array>,
): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(4).toString('hex')}.tmp`);
  const chunks = typeof data === 'string' ? [Buffer.from(data)] : data instanceof Uint8Array ? [data] : data;
  const fh = await open(tmp, 'w');
  try {
    for await (const c of chunks) if (c.length > 0) await fh.write(c);
    await fh.sync();
    await fh.close();
    await rename(tmp, path);
  } catch (e) {
    await fh.close().catch(() => undefined);
    await rm(tmp, { force: true });
    throw e;
  }
}
