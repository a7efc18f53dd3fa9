/** The shapes a download is asked for and answers with (download.ts is the entry point). */

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
