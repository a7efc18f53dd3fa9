import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inspect } from 'node:util';
import { parseQueueUrl, type QueueTarget } from './queue-url.js';
import { redisOptions } from './redis-connection.js';

const SECRET = 's3cr3t-Pa55';

function target(url: string): QueueTarget {
  const parsed = parseQueueUrl(url);
  assert.ok(parsed.ok, parsed.ok ? '' : parsed.problem);
  return parsed.target;
}

function problem(url: string): string {
  const parsed = parseQueueUrl(url);
  assert.ok(!parsed.ok, `${url} should be refused`);
  return parsed.problem;
}

test('redis:// and rediss:// URLs: host, port (6379 when left out), database (0), user, password', () => {
  const t = target(`redis://:${SECRET}@redis.internal:6380/3`);
  assert.deepEqual([t.host, t.port, t.db, t.tls, t.username, t.password], ['redis.internal', 6380, 3, false, undefined, SECRET]);
  const plain = target('redis://localhost');
  assert.deepEqual([plain.host, plain.port, plain.db, plain.password], ['localhost', 6379, 0, undefined]);
  const acl = target('rediss://worker:p%40ss%23word@10.0.0.5:6390/');
  assert.deepEqual([acl.tls, acl.username, acl.password, acl.db], [true, 'worker', 'p@ss#word', 0]);
  const v6 = target('redis://[::1]:7000/15');
  assert.deepEqual([v6.host, v6.where, String(v6)], ['::1', '[::1]:7000', 'redis://[::1]:7000/15']);
  assert.equal(target('  REDIS://h:1/2  ').db, 2, 'case and surrounding blanks do not matter');
});

test('the password never shows when the target is printed, logged or serialised', () => {
  const t = target(`rediss://admin:${SECRET}@cache.example:6380/1`);
  assert.equal(String(t), 'rediss://cache.example:6380/1');
  for (const shown of [JSON.stringify({ queue: t }), inspect(t, { depth: 5, showHidden: true }), `${t}`, JSON.stringify(Object.entries(t))]) {
    assert.ok(!shown.includes(SECRET), shown);
  }
});

test('a malformed QUEUE_URL is one line naming what to fix, never repeating the URL', () => {
  const cases: [string, RegExp][] = [
    [`http://:${SECRET}@cachebox:6379`, /must start with redis:\/\/ or rediss:\/\//],
    [`${SECRET}@cachebox:6379`, /must start with redis:\/\//],
    [`redis://:${SECRET}@cachebox:70000`, /not a valid URL.*port from 1 to 65535/],
    [`redis://:pa#${SECRET}@cachebox:6379`, /not a valid URL.*%23/],
    [`redis:///0`, /names no host/],
    [`redis://:${SECRET}@cachebox:0`, /port must be from 1 to 65535/],
    [`redis://:${SECRET}@cachebox:6379/queue`, /database, after the port, must be a number/],
    [`redis://:${SECRET}@cachebox:6379/-1`, /database, after the port, must be a number/],
    [`redis://:${SECRET}@cachebox:6379/0?family=6`, /has a \? or # part/],
    [`redis://:${SECRET}%zz@cachebox:6379`, /% that is not followed by two hex digits/],
  ];
  for (const [url, expected] of cases) {
    const p = problem(url);
    assert.match(p, expected, url);
    assert.ok(p.startsWith('QUEUE_URL'), p);
    assert.ok(!p.includes('\n'), p);
    assert.ok(!p.includes(SECRET) && !p.includes('cachebox'), `${url} → ${p}`);
  }
});

test('connection options: the parsed parts, TLS with SNI for names only, and maxRetriesPerRequest null for BullMQ', () => {
  const o = redisOptions(target(`rediss://worker:${SECRET}@cache.example:6380/4`));
  assert.deepEqual(o, {
    host: 'cache.example', port: 6380, db: 4, username: 'worker', password: SECRET,
    tls: { servername: 'cache.example' }, maxRetriesPerRequest: null,
  });
  assert.deepEqual(redisOptions(target('rediss://127.0.0.1:6380')).tls, {}, 'no SNI for an IP address');
  const plain = redisOptions(target('redis://127.0.0.1'));
  assert.deepEqual(plain, { host: '127.0.0.1', port: 6379, db: 0, maxRetriesPerRequest: null });
});
