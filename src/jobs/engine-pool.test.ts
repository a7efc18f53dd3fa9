import assert from 'node:assert/strict';
import { test } from 'node:test';
import pino from 'pino';
import type { Engine, PackChecker } from './engine.js';
import { EnginePool, UnknownModel, type PoolPack } from './engine-pool.js';

/**
 * The pool's policy on engines that only count opens and closes (the real engine's loading is
 * covered end to end in test/bot/models.test.ts): which engine is warm after which requests.
 */
function world(sizes: Record<string, number>, budget: number) {
  const events: string[] = [];
  const failing = new Set<string>();
  const engineFor = (name: string): Engine => ({
    info: () => ({ model: name, device: 'cpu', imageSize: 64, defaultSteps: 10, upscaleSteps: 3 }),
    check: async () => {},
    run: async () => { throw new Error('not run here'); },
    close: async () => { events.push(`close ${name}`); },
  });
  const checker = (name: string): PackChecker => ({
    info: () => ({ model: name, imageSize: 64, defaultSteps: 10, upscaleSteps: 3 }),
    check: async (r) => { if (r.prompt === 'bad') throw new Error(`${name} refuses`); },
    close: async () => {},
  });
  const packs: PoolPack[] = Object.entries(sizes).map(([name, memoryMb]) => ({
    pack: { name, dir: `/packs/${name}`, description: name, vocabulary: null, memoryMb },
    checker: checker(name),
    open: async () => {
      events.push(`open ${name}`);
      if (failing.has(name)) throw new Error(`${name} is broken`);
      return engineFor(name);
    },
  }));
  const pool = new EnginePool({ packs, memoryMb: budget, logger: pino({ level: 'silent' }) });
  return { pool, events, failing };
}

test('a pack opens on first use, once, however many jobs ask at the same time', async () => {
  const { pool, events } = world({ a: 10, b: 10 }, 100);
  assert.deepEqual(events, [], 'nothing loads before it is used');
  const leases = await Promise.all([pool.acquire('a'), pool.acquire('A'), pool.acquire(' a ')]);
  assert.deepEqual(events, ['open a']);
  assert.ok(leases.every((l) => l.engine === leases[0]!.engine));
  assert.deepEqual(pool.warm(), [{ model: 'a', device: 'cpu', running: 3 }]);
  for (const l of leases) l.release();
  leases[0]!.release(); // twice: no effect
  assert.deepEqual(pool.warm(), [{ model: 'a', device: 'cpu', running: 0 }]);
});

test('over the budget, the least recently used idle engine is unloaded first; one with a job running never is', async () => {
  const { pool, events } = world({ a: 40, b: 40, c: 40 }, 100);
  (await pool.acquire('a')).release();
  const b = await pool.acquire('b');
  (await pool.acquire('a')).release(); // a is now more recent than b
  b.release();
  const busy = await pool.acquire('a');
  events.length = 0;
  (await pool.acquire('c')).release();
  assert.deepEqual(events, ['open c', 'close b'], 'b was the least recently used idle engine');
  assert.deepEqual(pool.warm().map((w) => w.model).sort(), ['a', 'c']);
  // Everything else in use or just used: a load beyond the budget waits for jobs to finish.
  const c = await pool.acquire('c');
  events.length = 0;
  const b2 = await pool.acquire('b');
  assert.deepEqual(events, ['open b'], 'nothing idle to unload');
  busy.release();
  assert.deepEqual(events, ['open b', 'close a'], 'unloaded as soon as its job finished');
  b2.release();
  c.release();
});

test('checking a request needs no engine; unknown names throw UnknownModel', async () => {
  const { pool, events } = world({ a: 10 }, 100);
  await pool.check('a', { prompt: 'fine' });
  await assert.rejects(pool.check('a', { prompt: 'bad' }), /a refuses/);
  assert.deepEqual(events, []);
  assert.equal(pool.info('A').device, 'not loaded yet');
  assert.throws(() => pool.info('zzz'), UnknownModel);
  await assert.rejects(pool.acquire('zzz'), UnknownModel);
  assert.equal(pool.find('A')?.name, 'a');
  assert.equal(pool.defaultModel, 'a');
});

test('a pack that fails to load fails that job, and the next job tries again', async () => {
  const { pool, events, failing } = world({ a: 10 }, 100);
  failing.add('a');
  await assert.rejects(pool.acquire('a'), /a is broken/);
  assert.deepEqual(pool.warm(), []);
  failing.delete('a');
  const l = await pool.acquire('a');
  assert.deepEqual(events, ['open a', 'open a']);
  l.release();
});

test('close() closes every engine the pool opened', async () => {
  const { pool, events } = world({ a: 10, b: 10 }, 100);
  (await pool.acquire('a')).release();
  (await pool.acquire('b')).release();
  await pool.close();
  assert.deepEqual(events.filter((e) => e.startsWith('close')).sort(), ['close a', 'close b']);
  assert.deepEqual(pool.warm(), []);
});
