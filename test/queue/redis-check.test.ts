import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { parseQueueUrl, type QueueTarget } from '../../src/jobs/queue-url.js';
import { checkRedis, type RedisCheck } from '../../src/jobs/redis-check.js';
import { redisSkip, startRedis, type TestRedis } from '../helpers/redis.js';

const SECRET = 'Tr0ub4dor-and-3';

function target(url: string): QueueTarget {
  const parsed = parseQueueUrl(url);
  assert.ok(parsed.ok);
  return parsed.target;
}

/** The one line of a failed check; it never holds the password or a line break. */
function refusal(check: RedisCheck): string {
  assert.ok(!check.ok, 'the check should fail');
  assert.ok(!check.problem.includes('\n'), check.problem);
  assert.ok(!check.problem.includes(SECRET) && !check.problem.includes('wrong-one'), check.problem);
  return check.problem;
}

/** A loopback TCP server that is not Redis: `reply` answers every packet, or it stays silent. */
async function notRedis(reply?: string): Promise<Server & { port: number }> {
  const server = createServer((socket) => {
    socket.on('error', () => {});
    if (reply !== undefined) socket.on('data', () => socket.end(reply));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  assert.ok(address && typeof address === 'object');
  return Object.assign(server, { port: address.port });
}

describe('checkRedis against a real redis-server', { skip: redisSkip }, () => {
  let open: TestRedis;
  let locked: TestRedis;
  before(async () => {
    [open, locked] = await Promise.all([startRedis(), startRedis({ password: SECRET })]);
  });
  after(async () => {
    await Promise.all([open?.close(), locked?.close()]);
  });

  test('a healthy Redis passes, with its version and eviction policy', async () => {
    const check = await checkRedis(target(`${open.url}/15`));
    assert.deepEqual(check, { ok: true, version: check.ok ? check.version : '', evictionPolicy: 'noeviction' });
    assert.ok(check.ok && /^\d+\.\d+\.\d+/.test(check.version));
    assert.equal((await checkRedis(target(locked.url))).ok, true, 'with the right password');
  });

  test('unreachable: host and port named, with the OS error', async () => {
    const closed = await notRedis();
    const port = closed.port;
    await new Promise((resolve) => closed.close(resolve));
    assert.equal(refusal(await checkRedis(target(`redis://:${SECRET}@127.0.0.1:${port}`))),
      `Redis at 127.0.0.1:${port} is unreachable (connect ECONNREFUSED 127.0.0.1:${port}): start Redis there, or fix the host and port in QUEUE_URL`);
    assert.match(refusal(await checkRedis(target('redis://no-such-host.invalid:6379'))),
      /^Redis at no-such-host\.invalid:6379 is unreachable \(getaddrinfo (ENOTFOUND|EAI_AGAIN) no-such-host\.invalid\)/);
  });

  test('a password missing or wrong', async () => {
    assert.equal(refusal(await checkRedis(target(`redis://127.0.0.1:${locked.port}`))),
      `Redis at 127.0.0.1:${locked.port} needs a password (NOAUTH): add it to QUEUE_URL as redis://:PASSWORD@127.0.0.1:${locked.port}`);
    assert.equal(refusal(await checkRedis(target(`redis://:wrong-one@127.0.0.1:${locked.port}`))),
      `Redis at 127.0.0.1:${locked.port} rejected the password in QUEUE_URL (WRONGPASS): put the right one in QUEUE_URL as redis://:PASSWORD@127.0.0.1:${locked.port}`);
    assert.equal((await checkRedis(target(`redis://:${SECRET}@127.0.0.1:${open.port}`))).ok, true,
      'a password for a Redis without one is ignored, as ioredis itself does');
  });

  test('a database index the server does not have', async () => {
    assert.match(refusal(await checkRedis(target(`redis://:${SECRET}@127.0.0.1:${locked.port}/16`))),
      new RegExp(`^Redis at 127\\.0\\.0\\.1:${locked.port} has no database 16 \\(DB index is out of range\\): use a lower number`));
  });

  test('maxmemory-policy other than noeviction, read from INFO where CONFIG is disabled', async () => {
    const lru = await startRedis({ maxmemoryPolicy: 'allkeys-lru' });
    const managed = await startRedis({ maxmemoryPolicy: 'volatile-ttl', config: ['rename-command CONFIG ""'] });
    try {
      assert.equal(refusal(await checkRedis(target(lru.url))),
        `Redis at 127.0.0.1:${lru.port} evicts keys when its memory is full (maxmemory-policy allkeys-lru), which would silently lose queued jobs: set maxmemory-policy noeviction in redis.conf (or CONFIG SET maxmemory-policy noeviction)`);
      assert.match(refusal(await checkRedis(target(managed.url))), /\(maxmemory-policy volatile-ttl\)/);
    } finally {
      await Promise.all([lru.close(), managed.close()]);
    }
  });

  test('something other than Redis on the port: silent, or speaking another protocol', async () => {
    const silent = await notRedis();
    const http = await notRedis('HTTP/1.1 400 Bad Request\r\n\r\n');
    try {
      const started = Date.now();
      assert.equal(refusal(await checkRedis(target(`redis://127.0.0.1:${silent.port}`), { timeoutMs: 300 })),
        `Redis at 127.0.0.1:${silent.port} accepted the connection but did not answer within 0.3 s: check that QUEUE_URL names a Redis server`);
      assert.ok(Date.now() - started < 3000, 'one timeout, no reconnect loop');
      assert.match(refusal(await checkRedis(target(`redis://127.0.0.1:${http.port}`))),
        new RegExp(`^Redis at 127\\.0\\.0\\.1:${http.port} answered, but not as Redis does`));
    } finally {
      silent.close();
      http.close();
    }
  });

  test('a stopped Redis fails at once instead of retrying', async () => {
    const gone = await startRedis();
    const url = gone.url;
    await gone.close();
    const started = Date.now();
    assert.match(refusal(await checkRedis(target(url))), /is unreachable \(connect ECONNREFUSED/);
    assert.ok(Date.now() - started < 1000, `${Date.now() - started} ms`);
  });
});
