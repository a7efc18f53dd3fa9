/**
 * Warm-up: after openEngine, a default job (with or without a negative prompt, naming a kind the
 * demo pack contrasts or not) compiles nothing more, so the first /imagine does not stall the
 * process while a graph is built.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Writable } from 'node:stream';
import pino from 'pino';
import { demoPackDir } from '../../test/helpers/demo-pack.js';
import { ClipModel } from '../engine/pack/model.js';
import { imagine } from '../engine/pag/imagine.js';
import { openEngine } from './engine.js';
import { warmUp } from './warm-up.js';

const PROMPT = 'a red circle on blue';

test('warmUp compiles exactly the graphs a default job uses', async () => {
  const model = await ClipModel.open(await demoPackDir(), { device: 'cpu', logger: pino({ level: 'silent' }) });
  try {
    const kinds = await warmUp(model, 2);
    // The demo pack contrasts kinds: a prompt, its near misses, and a negative prompt make three targets.
    assert.deepEqual(kinds, ['vision', 'text', 'step-c64-g1-p1-t1', 'step-c64-g1-p1-t2', 'step-c64-g1-p1-t3']);
    const compiled = [...model.fromCache.keys()].sort();
    // fromCache gains a key whenever a graph is compiled: a default job must add none.
    await imagine(model, { prompt: PROMPT, steps: 1, views: 2 });
    await imagine(model, { prompt: PROMPT, negative: 'blue', steps: 1, views: 2 });
    await imagine(model, { prompt: 'blue background', steps: 1, views: 2 });
    await imagine(model, { prompt: 'blue background', negative: 'red', steps: 1, views: 2 });
    assert.deepEqual([...model.fromCache.keys()].sort(), compiled);
  } finally {
    await model.close();
  }
});

test('openEngine warms up before it reports ready', async () => {
  const lines: { msg?: string; warmed?: string[] }[] = [];
  const sink = new Writable({ write(chunk: Buffer, _enc, done) { lines.push(JSON.parse(String(chunk))); done(); } });
  const engine = await openEngine({ modelDir: await demoPackDir(), device: 'cpu', views: 2, logger: pino({ level: 'info' }, sink) });
  await engine.close();
  const ready = lines.find((l) => l.msg === 'engine ready');
  assert.deepEqual(ready?.warmed, ['vision', 'text', 'step-c64-g1-p1-t1', 'step-c64-g1-p1-t2', 'step-c64-g1-p1-t3']);
});
