import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const CLIPAG = fileURLToPath(new URL('../../bin/clipag.js', import.meta.url));

export interface CliResult { status: number | null; stdout: string; stderr: string }

/** Runs the real `clipag` binary as a user would. */
export function clipag(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): CliResult {
  const r = spawnSync(process.execPath, [CLIPAG, ...args], {
    cwd: opts.cwd, env: { ...process.env, ...opts.env }, encoding: 'utf8', timeout: 120_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/**
 * The same, without blocking this process: needed when the test itself serves the binary (a local
 * HTTP server in the test process cannot answer while spawnSync holds the event loop).
 */
export function clipagAsync(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLIPAG, ...args], { cwd: opts.cwd, env: { ...process.env, ...opts.env }, timeout: 120_000 });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => { stdout += s; });
    child.stderr.setEncoding('utf8').on('data', (s: string) => { stderr += s; });
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}
