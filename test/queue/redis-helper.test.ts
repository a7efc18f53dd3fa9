import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createConnection } from 'node:net';
import { describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { redisSkip, startRedis, type TestRedis } from '../helpers/redis.js';

/** A plain client: no ready check (it would fail on NOAUTH before the test could look). */
function client(url: string): Redis {
  return new Redis(url, { lazyConnect: true, enableReadyCheck: false, retryStrategy: () => null, protocol: 2 });
}

/** The OS error of a bare TCP connect, or 'connected'. */
function dial(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.on('connect', () => { socket.destroy(); resolve('connected'); });
    socket.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
}

async function using<T>(server: TestRedis, run: (s: TestRedis) => Promise<T>): Promise<T> {
  try {
    return await run(server);
  } finally {
    await server.close();
  }
}

describe('the test Redis (test/helpers/redis.ts)', { skip: redisSkip }, () => {
  test('answers on its own loopback port, and is gone with its folder after close()', async () => {
    const server = await startRedis();
    const dir = server.dir;
    await using(server, async (s) => {
      assert.equal(s.host, '127.0.0.1');
      const c = client(s.url);
      await c.connect();
      assert.equal(await c.ping(), 'PONG');
      assert.deepEqual(await c.config('GET', 'save'), ['save', ''], 'no RDB snapshots: the folder is the test\'s alone');
      c.disconnect();
    });
    assert.equal(existsSync(dir), false);
    assert.equal(await dial(server.port), 'ECONNREFUSED');
  });

  test('with AOF on, data survives restart() and a SIGKILL crash, on the same port', async () => {
    await using(await startRedis({ appendonly: true, config: ['appendfsync always'] }), async (s) => {
      const port = s.port;
      let c = client(s.url);
      await c.connect();
      await c.set('job:1', 'waiting');
      c.disconnect();
      await s.restart();
      await s.restart('SIGKILL');
      assert.equal(s.port, port);
      c = client(s.url);
      await c.connect();
      assert.equal(await c.get('job:1'), 'waiting');
      c.disconnect();
    });
  });

  test('without AOF, a restart starts empty', async () => {
    await using(await startRedis(), async (s) => {
      let c = client(s.url);
      await c.connect();
      await c.set('k', 'v');
      c.disconnect();
      await s.restart();
      c = client(s.url);
      await c.connect();
      assert.equal(await c.get('k'), null);
      c.disconnect();
    });
  });

  test('requirepass and maxmemory-policy are set as asked; the URL carries the password', async () => {
    await using(await startRedis({ password: 'p@ss word', maxmemoryPolicy: 'allkeys-lru' }), async (s) => {
      assert.match(s.url, /^redis:\/\/:p%40ss%20word@127\.0\.0\.1:\d+$/);
      const anon = client(`redis://${s.host}:${s.port}`);
      await anon.connect();
      await assert.rejects(anon.ping(), /NOAUTH/);
      anon.disconnect();
      const c = client(s.url);
      await c.connect();
      assert.deepEqual(await c.config('GET', 'maxmemory-policy'), ['maxmemory-policy', 'allkeys-lru']);
      c.disconnect();
    });
  });

  test('two servers at once get two ports', async () => {
    const [a, b] = await Promise.all([startRedis(), startRedis()]);
    try {
      assert.notEqual(a.port, b.port);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});
