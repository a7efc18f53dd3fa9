import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { DEFAULT_LIMITS, LimitsError } from './limits.js';
import { MIGRATIONS } from './migrations.js';
import { migrate, openStore, randomJobId } from './store.js';

const G = '111111111111111111';
const MOD = '222222222222222222';
const U = '333333333333333333';
const CH = '444444444444444444';

function clock(start = 1_700_000_000_000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

test('a new database is migrated to the newest schema, in WAL mode, and reopens without migrating again', () => {
  const dir = mkdtempSync(join(tmpdir(), 'clipag-store-'));
  try {
    const file = join(dir, 'clipag.db');
    const s = openStore(file);
    assert.equal(s.version, MIGRATIONS.length);
    s.jobs.create({ guildId: G, channelId: CH, userId: U, request: { prompt: 'a red circle' } });
    s.close();
    const db = new Database(file);
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    assert.equal(db.pragma('user_version', { simple: true }), MIGRATIONS.length);
    db.close();
    const again = openStore(file);
    assert.equal(again.jobs.unfinished().length, 1, 'data survives a reopen');
    again.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('migrations run step by step from the stored version, and a failing step leaves the version unchanged', () => {
  const db = new Database(':memory:');
  migrate(db, ['CREATE TABLE a (x)']);
  assert.equal(db.pragma('user_version', { simple: true }), 1);
  assert.throws(() => migrate(db, ['CREATE TABLE a (x)', 'CREATE TABLE b (y); INSERT INTO nope VALUES (1)']), /no such table: nope/);
  assert.equal(db.pragma('user_version', { simple: true }), 1);
  assert.deepEqual(db.prepare("SELECT name FROM sqlite_master WHERE name = 'b'").all(), [], 'the failed step was rolled back');
  migrate(db, ['CREATE TABLE a (x)', 'CREATE TABLE b (y)']);
  assert.equal(db.pragma('user_version', { simple: true }), 2);
  assert.throws(() => migrate(db, ['CREATE TABLE a (x)']), /schema version 2, newer than this clipag \(1\)/);
  db.close();
});

test('a server nobody configured has the default limits', () => {
  const s = openStore(':memory:');
  assert.deepEqual(s.limits.get(G), DEFAULT_LIMITS);
  s.close();
});

test('setting limits applies at once, normalises words, and audits who changed what from what to what', () => {
  const c = clock();
  const s = openStore(':memory:', { now: c.now });
  const next = s.limits.set(G, { maxSteps: 50, blockedWords: [' Dragon ', 'dragon', 'SKY'] }, MOD);
  assert.equal(next.maxSteps, 50);
  assert.deepEqual(next.blockedWords, ['dragon', 'sky']);
  assert.deepEqual(s.limits.get(G), next);
  assert.deepEqual(s.limits.get('999999999999999999'), DEFAULT_LIMITS, 'other servers keep theirs');
  c.advance(1000);
  s.limits.set(G, { cooldownSeconds: 30, maxSteps: 50 }, U);
  const log = s.audit.list(G);
  assert.equal(log.length, 2);
  assert.deepEqual(log[0], {
    id: 2, guildId: G, actorId: U, action: 'limits.set', at: c.now(),
    change: { cooldownSeconds: { from: DEFAULT_LIMITS.cooldownSeconds, to: 30 } },
  }, 'only fields that changed are recorded');
  assert.deepEqual(log[1]!.change, {
    maxSteps: { from: DEFAULT_LIMITS.maxSteps, to: 50 }, blockedWords: { from: [], to: ['dragon', 'sky'] },
  });
  s.limits.set(G, { maxSteps: 50 }, MOD);
  assert.equal(s.audit.list(G).length, 2, 'a patch that changes nothing is not audited');
  s.close();
});

test('invalid limits are refused with every problem named, and nothing is written', () => {
  const s = openStore(':memory:');
  assert.throws(
    () => s.limits.set(G, { maxSteps: 0, queuedPerUser: 2.5, cooldownSeconds: 10, allowedChannels: ['#general'] }, MOD),
    (e: unknown) => {
      assert.ok(e instanceof LimitsError);
      assert.equal(e.message, [
        'max_steps must be a whole number from 1 to 1000, got 0',
        'queued_per_user must be a whole number from 1 to 50, got 2.5',
        'allowed_channels: expected channel ids',
      ].join('\n'));
      return true;
    },
  );
  assert.deepEqual(s.limits.get(G), DEFAULT_LIMITS, 'the valid part of a bad patch is not applied either');
  assert.deepEqual(s.audit.list(G), []);
  assert.throws(() => s.limits.set(G, { blockedWords: ['x'.repeat(51)] }, MOD), /blocked_words: each word is at most 50 characters/);
  assert.throws(() => s.limits.set(G, { defaultModel: 'm'.repeat(101) }, MOD), /default_model: a model name is at most 100 characters/);
  const many = Array.from({ length: 26 }, (_, i) => `model-${i}`);
  assert.throws(() => s.limits.set(G, { allowedModels: many }, MOD), /allowed_models: at most 25 models, got 26/);
  s.close();
});

test('model limits: names trimmed, blanks and repeats dropped, stored and read back', () => {
  const s = openStore(':memory:');
  const next = s.limits.set(G, { defaultModel: ' shapes ', allowedModels: ['shapes', ' ', 'shapes', 'vit-b-32'] }, MOD);
  assert.equal(next.defaultModel, 'shapes');
  assert.deepEqual(next.allowedModels, ['shapes', 'vit-b-32']);
  assert.deepEqual(s.limits.get(G).allowedModels, ['shapes', 'vit-b-32']);
  assert.deepEqual(s.limits.get('another guild').allowedModels, [], 'another server: every model');
  s.close();
});

test('jobs move through their statuses once: a finished job never changes again', () => {
  const c = clock();
  const s = openStore(':memory:', { now: c.now });
  const job = s.jobs.create({ guildId: G, channelId: CH, userId: U, request: { prompt: 'a red circle', steps: 4, initJobId: 'abc' } });
  assert.match(job.id, /^[a-z0-9]{8}$/);
  assert.equal(job.status, 'queued');
  assert.equal(job.attempts, 1);
  assert.deepEqual(job.request, { prompt: 'a red circle', steps: 4, initJobId: 'abc' });
  c.advance(10);
  assert.ok(s.jobs.markRunning(job.id));
  assert.equal(s.jobs.get(job.id)!.startedAt, c.now());
  assert.ok(s.jobs.markDone(job.id, { score: 0.25, seed: 7, ms: 123.5, imagePath: '/d/images/x.png' }));
  const done = s.jobs.get(job.id)!;
  assert.deepEqual([done.status, done.score, done.seed, done.ms, done.imagePath, done.finishedAt], ['done', 0.25, 7, 123.5, '/d/images/x.png', c.now()]);
  assert.equal(s.jobs.markCancelled(job.id, MOD), false);
  assert.equal(s.jobs.markFailed(job.id, 'x'), false);
  assert.equal(s.jobs.get(job.id)!.status, 'done');

  const other = s.jobs.create({ guildId: G, channelId: CH, userId: U, request: { prompt: 'a blue sky' } });
  assert.ok(s.jobs.markCancelled(other.id, MOD));
  assert.equal(s.jobs.get(other.id)!.cancelledBy, MOD);
  assert.equal(s.jobs.markRunning(other.id), false, 'a cancelled job does not start');
  s.close();
});

test('a job is found by any of its messages, recorded as the bot creates them', () => {
  const s = openStore(':memory:');
  const job = s.jobs.create({ guildId: G, channelId: CH, userId: U, request: { prompt: 'a red circle' }, replyMessageId: '500000000000000001' });
  s.jobs.setMessages(job.id, { threadId: '500000000000000002', progressMessageId: '500000000000000003' });
  s.jobs.setMessages(job.id, { resultMessageId: '500000000000000004' });
  const j = s.jobs.get(job.id)!;
  assert.deepEqual([j.replyMessageId, j.threadId, j.progressMessageId, j.resultMessageId],
    ['500000000000000001', '500000000000000002', '500000000000000003', '500000000000000004']);
  for (const m of ['500000000000000001', '500000000000000003', '500000000000000004']) assert.equal(s.jobs.byMessage(m)?.id, job.id);
  assert.equal(s.jobs.byMessage('500000000000000009'), undefined);
  s.close();
});

test('the limit queries count a member\'s active jobs and the last 24 hours, per server', () => {
  const c = clock();
  const s = openStore(':memory:', { now: c.now });
  const mk = (guildId = G, userId = U) => s.jobs.create({ guildId, channelId: CH, userId, request: { prompt: 'a red circle' } });
  const a = mk();
  c.advance(60_000);
  const b = mk();
  mk(G, MOD);
  mk('999999999999999999');
  assert.deepEqual(s.jobs.countsFor(G, U), { active: 2, lastDay: 2, cooldownFrom: c.now() });
  s.jobs.markRunning(a.id);
  s.jobs.markDone(a.id, { score: 0, seed: 1, ms: 1, imagePath: 'p' });
  s.jobs.markFailed(b.id, 'x');
  assert.deepEqual(s.jobs.countsFor(G, U), { active: 0, lastDay: 2, cooldownFrom: c.now() }, 'finished jobs still count for the day');
  c.advance(24 * 3600_000 - 60_000 + 1);
  assert.equal(s.jobs.countsFor(G, U).lastDay, 1, 'the first job is now older than 24 hours');
  assert.deepEqual(s.jobs.countsFor(G, '555555555555555555'), { active: 0, lastDay: 0, cooldownFrom: undefined });
  s.close();
});

test('a member\'s running jobs are counted over every server, waiting and finished ones not', () => {
  const s = openStore(':memory:');
  const mk = (guildId: string, userId = U) => s.jobs.create({ guildId, channelId: CH, userId, request: { prompt: 'a red circle' } });
  const [a, b, c, other] = [mk(G), mk('999999999999999999'), mk(G), mk(G, MOD)];
  assert.equal(s.jobs.runningForUser(U), 0);
  for (const j of [a, b, other]) s.jobs.markRunning(j.id);
  assert.equal(s.jobs.runningForUser(U), 2, 'both servers; the waiting one and the other member\'s not');
  s.jobs.markDone(a.id, { score: 0, seed: 1, ms: 1, imagePath: 'p' });
  s.jobs.markRunning(c.id);
  assert.equal(s.jobs.runningForUser(U), 2);
  assert.equal(s.jobs.runningForUser(MOD), 1);
  s.close();
});

test('the cooldown counts from the last finish or the newest waiting request, whichever is later, never from the job acted on', () => {
  const c = clock();
  const s = openStore(':memory:', { now: c.now });
  const mk = () => s.jobs.create({ guildId: G, channelId: CH, userId: U, request: { prompt: 'a red circle' } });
  const a = mk();
  s.jobs.markRunning(a.id);
  c.advance(40_000);
  s.jobs.markDone(a.id, { score: 0, seed: 1, ms: 1, imagePath: 'p' });
  const doneAt = c.now();
  assert.equal(s.jobs.countsFor(G, U).cooldownFrom, doneAt, 'from the finish, not the request 40 s earlier');
  assert.equal(s.jobs.countsFor(G, U, a.id).cooldownFrom, undefined, 'a 🔁 on that very picture does not count it');
  c.advance(5_000);
  const b = mk();
  assert.equal(s.jobs.countsFor(G, U, a.id).cooldownFrom, c.now(), 'a waiting request counts from when it was made');
  s.jobs.markRunning(b.id);
  assert.equal(s.jobs.countsFor(G, U, a.id).cooldownFrom, c.now(), 'so does a running one');
  c.advance(1_000);
  s.jobs.markCancelled(b.id, U);
  assert.equal(s.jobs.countsFor(G, U).cooldownFrom, c.now(), 'a cancelled job counts from when it ended');
  assert.equal(s.jobs.countsFor(G, MOD).cooldownFrom, undefined, 'per member');
  s.close();
});

test('unfinished jobs come back oldest first; requeue raises the attempt, returnToQueue does not', () => {
  const c = clock();
  const s = openStore(':memory:', { now: c.now });
  const ids = [0, 1, 2, 3].map(() => { c.advance(1); return s.jobs.create({ guildId: G, channelId: CH, userId: U, request: { prompt: 'a' } }).id; });
  s.jobs.markRunning(ids[1]!);
  s.jobs.markRunning(ids[2]!);
  s.jobs.markDone(ids[2]!, { score: 0, seed: 1, ms: 1, imagePath: 'p' });
  assert.deepEqual(s.jobs.unfinished().map((j) => [j.id, j.status]), [[ids[0], 'queued'], [ids[1], 'running'], [ids[3], 'queued']]);
  const r = s.jobs.requeue(ids[1]!)!;
  assert.deepEqual([r.status, r.attempts, r.startedAt], ['queued', 2, null]);
  s.jobs.markRunning(ids[3]!);
  assert.ok(s.jobs.returnToQueue(ids[3]!));
  assert.deepEqual([s.jobs.get(ids[3]!)!.status, s.jobs.get(ids[3]!)!.attempts], ['queued', 1]);
  assert.equal(s.jobs.requeue(ids[2]!)!.attempts, 1, 'a finished job is not requeued');
  s.close();
});

test('an id collision is retried with a new id', () => {
  const ids = ['aaaaaaaa', 'aaaaaaaa', 'bbbbbbbb'];
  const s = openStore(':memory:', { newId: () => ids.shift()! });
  const req = { guildId: G, channelId: CH, userId: U, request: { prompt: 'a' } };
  assert.equal(s.jobs.create(req).id, 'aaaaaaaa');
  assert.equal(s.jobs.create(req).id, 'bbbbbbbb');
  assert.match(randomJobId(), /^[a-z0-9]{8}$/);
  s.close();
});
