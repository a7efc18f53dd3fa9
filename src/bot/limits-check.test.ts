import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_LIMITS, type GuildLimits } from '../store/limits.js';
import { checkLimits, type ImagineAsk } from './limits-check.js';

const limits = (p: Partial<GuildLimits> = {}): GuildLimits => ({ ...DEFAULT_LIMITS, blockedWords: [], allowedChannels: [], ...p });
const fresh = { active: 0, lastDay: 0, cooldownFrom: undefined };
const ask = (p: Partial<ImagineAsk> = {}): ImagineAsk => ({ channelId: '100000000000000001', steps: 10, size: 64, ...p });
const engine = { imageSize: 64 };
const NOW = 1_700_000_000_000;

test('a request within every limit passes', () => {
  assert.deepEqual(checkLimits(limits(), fresh, ask(), engine, NOW), { ok: true });
});

test('allowed channels: other channels are refused, naming the allowed ones; threads count by parent', () => {
  const l = limits({ allowedChannels: ['100000000000000009'] });
  const r = checkLimits(l, fresh, ask(), engine, NOW);
  assert.ok(!r.ok && r.limit === 'allowedChannels');
  assert.match(r.message, /<#100000000000000009>/);
  assert.ok(checkLimits(l, fresh, ask({ channelId: '100000000000000009' }), engine, NOW).ok);
  assert.ok(checkLimits(l, fresh, ask({ channelId: '5', parentChannelId: '100000000000000009' }), engine, NOW).ok);
});

test('steps and size above the server limits name the limit', () => {
  const s = checkLimits(limits({ maxSteps: 20 }), fresh, ask({ steps: 21 }), engine, NOW);
  assert.ok(!s.ok && s.limit === 'maxSteps');
  assert.match(s.message, /at most 20 \(max_steps\)/);
  const z = checkLimits(limits({ maxSize: 128 }), fresh, ask({ size: 192 }), engine, NOW);
  assert.ok(!z.ok && z.limit === 'maxSize');
  assert.match(z.message, /at most 128 px \(max_size\)/);
});

test('sizes the model cannot make are refused with the model range', () => {
  const small = checkLimits(limits(), fresh, ask({ size: 32 }), engine, NOW);
  assert.ok(!small.ok && small.limit === 'size');
  assert.match(small.message, /from 64 to 256 px/);
  const big = checkLimits(limits({ maxSize: 2048 }), fresh, ask({ size: 1024 }), engine, NOW);
  assert.ok(!big.ok && big.limit === 'size');
});

test('queued, daily and cooldown limits', () => {
  const q = checkLimits(limits({ queuedPerUser: 2 }), { ...fresh, active: 2 }, ask(), engine, NOW);
  assert.ok(!q.ok && q.limit === 'queuedPerUser');
  assert.match(q.message, /2 images waiting or running; the limit is 2/);
  const d = checkLimits(limits({ jobsPerUserPerDay: 5 }), { ...fresh, lastDay: 5 }, ask(), engine, NOW);
  assert.ok(!d.ok && d.limit === 'jobsPerUserPerDay');
  const c = checkLimits(limits({ cooldownSeconds: 30 }), { ...fresh, cooldownFrom: NOW - 10_000 }, ask(), engine, NOW);
  assert.ok(!c.ok && c.limit === 'cooldownSeconds');
  assert.match(c.message, /wait 20 seconds/);
  assert.ok(checkLimits(limits({ cooldownSeconds: 30 }), { ...fresh, cooldownFrom: NOW - 30_000 }, ask(), engine, NOW).ok);
  assert.ok(checkLimits(limits({ cooldownSeconds: 0 }), { ...fresh, cooldownFrom: NOW }, ask(), engine, NOW).ok);
});

test('the cooldown: nothing to count from passes; it counts from the moment given, to the second', () => {
  assert.ok(checkLimits(limits({ cooldownSeconds: 30 }), fresh, ask(), engine, NOW).ok, 'a first picture, or a 🔁 on the only one');
  const justFinished = checkLimits(limits({ cooldownSeconds: 30 }), { ...fresh, cooldownFrom: NOW - 500 }, ask(), engine, NOW);
  assert.ok(!justFinished.ok && /wait 30 seconds .*cooldown_seconds: 30/.test(justFinished.message), 'rounded up, never "wait 0 seconds"');
  assert.ok(checkLimits(limits({ cooldownSeconds: 86_400 }), { ...fresh, cooldownFrom: NOW - 86_400_000 }, ask(), engine, NOW).ok);
  const long = checkLimits(limits({ cooldownSeconds: 7200 }), { ...fresh, cooldownFrom: NOW - 60_000 }, ask(), engine, NOW);
  assert.ok(!long.ok && /wait 2 hours/.test(long.message), long.ok ? '' : long.message);
  assert.equal(DEFAULT_LIMITS.cooldownSeconds, 0, 'off unless a server turns it on (README, Limits)');
});
