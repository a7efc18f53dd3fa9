/** Loopback ports for tests that need something to fail at once (a refused connection, not a timeout). */
import assert from 'node:assert/strict';
import { createServer } from 'node:net';

/** A loopback port with nothing listening on it (the kernel's pick, released again). */
export async function deadPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const address = probe.address();
  await new Promise((resolve) => probe.close(resolve));
  assert.ok(address && typeof address === 'object');
  return address.port;
}
