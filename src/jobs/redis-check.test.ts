import assert from 'node:assert/strict';
import { test } from 'node:test';
import { infoField, MIN_REDIS_VERSION, versionAtLeast, versionProblem } from './redis-check.js';

// A real Redis older than 6.2 cannot be started in tests (Debian 12 ships 7.0), so the comparison
// that refuses one is tested on its own; test/queue/redis-check.test.ts runs the rest for real.
test('versionAtLeast compares dotted versions number by number', () => {
  assert.equal(versionAtLeast('6.0.16', '6.2.0'), false);
  assert.equal(versionAtLeast('5.0.7', MIN_REDIS_VERSION), false);
  assert.equal(versionAtLeast('6.2.0', '6.2.0'), true);
  assert.equal(versionAtLeast('6.2', '6.2.0'), true, 'a missing part counts as 0');
  assert.equal(versionAtLeast('6.10.0', '6.2.0'), true, 'numbers, not text: 10 > 2');
  assert.equal(versionAtLeast('7.0.15', '6.2.0'), true);
  assert.equal(versionAtLeast('255.255.255', '6.2.0'), true, 'unstable builds report 255.255.255');
  assert.equal(versionAtLeast('6.2.0-rc1', '6.2.0'), true, 'a suffix is ignored');
});

test('a Redis older than 6.2 is one line naming its version and the fix', () => {
  assert.equal(versionProblem('redis:6379', '6.0.16'),
    'Redis at redis:6379 is version 6.0.16; BullMQ needs 6.2 or newer: upgrade Redis (Debian 12\'s redis-server is 7.0)');
  assert.equal(versionProblem('redis:6379', '6.2.14'), undefined);
});

test('infoField reads one key of an INFO reply', () => {
  const info = '# Server\r\nredis_version:7.0.15\r\nredis_mode:standalone\r\n# Memory\r\nmaxmemory_policy:allkeys-lru\r\n';
  assert.equal(infoField(info, 'redis_version'), '7.0.15');
  assert.equal(infoField(info, 'maxmemory_policy'), 'allkeys-lru');
  assert.equal(infoField(info, 'redis_git_sha1'), undefined);
});
