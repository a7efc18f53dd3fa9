/**
 * SHARDS: a shard that dies soon after it starts is started again after a wait that doubles each
 * time, up to a cap, and back to the first wait once it stayed up a while; stop() cancels a start
 * still waiting. The shards here are a small script speaking discord.js' shard protocol (it says
 * "ready" and exits when its plan says), so the parent's real ShardingManager is what is tested.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import pino from 'pino';
import type { BotConfig } from '../../src/bot/config.js';
import { RespawnBackoff } from '../../src/bot/respawn-backoff.js';
import { startShards } from '../../src/bot/shards.js';
import { startFakeDiscord } from '../fake-discord/index.js';

test('the wait doubles for each quick exit in a row, stops at the cap, and starts over after a shard stayed up', () => {
  const b = new RespawnBackoff({ firstMs: 1000, maxMs: 5000, stableMs: 60_000 });
  const waits = [10, 10, 10, 10, 10].map((up) => b.exited(up).delayMs);
  assert.deepEqual(waits, [1000, 2000, 4000, 5000, 5000]);
  assert.deepEqual(b.exited(60_000), { delayMs: 1000, exitsInARow: 1 });
  assert.deepEqual(b.exited(59_999), { delayMs: 2000, exitsInARow: 2 });
  const d = new RespawnBackoff();
  for (let i = 0; i < 100; i++) d.exited(0);
  assert.equal(d.exited(0).delayMs, 5 * 60_000, 'the default cap, however long it goes on');
});

// A shard: records each start, says it is ready, and exits after the lifetime its plan gives this start.
const FAKE_SHARD = `
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
const [starts, plan] = process.argv.slice(2);
const n = existsSync(starts) ? readFileSync(starts, 'utf8').split('\\n').filter(Boolean).length : 0;
appendFileSync(starts, Date.now() + '\\n');
const lifetimes = plan.split(',').map(Number);
process.on('message', (m) => { if (m && m.clipag === 'stop') process.exit(0); });
process.send({ _ready: true }, () => setTimeout(() => process.exit(3), lifetimes[Math.min(n, lifetimes.length - 1)]));
`;

test('a shard that keeps dying at start is started again with growing waits and a clear log line; stop() cancels the next start', { timeout: 60_000 }, async () => {
  const fake = await startFakeDiscord({ shards: 1 });
  const dir = await mkdtemp(join(tmpdir(), 'clipag-respawn-'));
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
  const entry = join(dir, 'fake-shard.mjs');
  const starts = join(dir, 'starts');
  writeFileSync(entry, FAKE_SHARD);
  const config = {
    token: fake.token, appId: fake.appId, apiUrl: fake.apiUrl, modelDir: dir, modelMemoryMb: 1, device: 'cpu', concurrency: 1,
    dataDir: dir, logLevel: 'info', shards: 1,
  } satisfies BotConfig;
  // Four quick deaths, then one start that stays up past stableMs, then a quick death again.
  const shards = await startShards(config, {
    entry, shardArgs: [starts, '30,30,30,30,3500,30'], logger, stopTimeoutMs: 5000,
    respawn: { firstMs: 100, maxMs: 400, stableMs: 3000 },
  });
  const exits = (): Record<string, unknown>[] => lines.filter((l) => l.msg === 'shard exited; starting it again' || l.msg === 'shard keeps exiting soon after it starts; waiting longer before starting it again');
  try {
    const deadline = Date.now() + 40_000;
    while (exits().length < 6) {
      assert.ok(Date.now() < deadline, `six exits, got ${JSON.stringify(lines.map((l) => l.msg))}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    await shards.stop();
    const startsBefore = readFileSync(starts, 'utf8').split('\n').filter(Boolean).length;
    await new Promise((r) => setTimeout(r, 600)); // longer than the last wait (200 ms)
    assert.equal(readFileSync(starts, 'utf8').split('\n').filter(Boolean).length, startsBefore, 'no start after stop()');
    assert.equal(startsBefore, 6);
  } finally {
    await shards.stop();
    await fake.close();
    if (existsSync(dir)) await rm(dir, { recursive: true, force: true });
  }
  const seen = exits().slice(0, 6);
  assert.deepEqual(seen.map((l) => [l.exitsInARow, l.restartInMs, l.code]), [[1, 100, 3], [2, 200, 3], [3, 400, 3], [4, 400, 3], [1, 100, 3], [2, 200, 3]]);
  assert.deepEqual(seen.map((l) => l.msg === 'shard exited; starting it again'), [true, false, false, false, true, false], 'a first exit reads as one; repeated ones say the shard keeps exiting');
  assert.ok((seen[4]!.upMs as number) >= 3000, 'the fifth start stayed up');
  // Each start really waited: from the exit's log line to the next 'shard started'.
  const started = lines.filter((l) => l.msg === 'shard started').map((l) => l.time as number);
  assert.equal(started.length, 6);
  for (const [i, exit] of seen.slice(0, 5).entries()) {
    const waited = started[i + 1]! - (exit.time as number);
    assert.ok(waited >= (exit.restartInMs as number) - 2, `start ${i + 2} came ${waited} ms after exit ${i + 1}, expected ≥ ${String(exit.restartInMs)}`);
  }
});
