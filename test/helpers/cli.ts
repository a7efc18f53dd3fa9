import { spawnSync } from 'node:child_process';
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
