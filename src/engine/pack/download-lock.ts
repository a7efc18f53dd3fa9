/** One download of a file at a time, across processes. */
import { open, readFile, rm } from 'node:fs/promises';
import { DownloadError } from './download-errors.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Two downloads appending to one .part would interleave bytes; a pid lock file keeps them apart. */
export async function lockFile(final: string): Promise<() => Promise<void>> {
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
