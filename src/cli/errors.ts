/** An error the user can fix: printed as one line, exit code 2, no stack. */
export class UsageError extends Error {}

/** Prints one line naming the command and the problem, and sets the exit code (2). */
export function fail(command: string, err: unknown): void {
  const msg = err instanceof Error ? err.message : String(err);
  process.stderr.write(`clipag ${command}: ${msg.split('\n')[0]}\n`);
  process.exitCode = 2;
}
