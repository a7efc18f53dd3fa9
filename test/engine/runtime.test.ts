import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import pino from 'pino';
import { GraphBuilder, Tensor } from '../../src/engine/onnx/index.js';
import { Session } from '../../src/engine/runtime.js';

function tinyModel() {
  const b = new GraphBuilder(17);
  const x = b.input('x', 'float32', [3]);
  b.output(x.mul(x), 'y');
  return b.toModel();
}

function capture() {
  const lines: { msg: string; level: number }[] = [];
  const stream = new Writable({ write(chunk, _e, cb) { lines.push(JSON.parse(String(chunk))); cb(); } });
  return { logger: pino({ level: 'debug' }, stream), lines };
}

test('cpu session runs an in-memory model', async () => {
  const s = await Session.create(tinyModel(), { device: 'cpu', intraOpThreads: 1 });
  assert.equal(s.provider, 'cpu');
  const out = await s.run({ x: Tensor.float32([3], [1, -2, 3]) });
  assert.deepEqual(out.y!.toNumbers(), [1, 4, 9]);
  await s.release();
});

test('cuda without its libraries falls back to cpu with a logged warning', { skip: process.env.CLIPAG_HAS_CUDA === '1' && 'CUDA is present here' }, async () => {
  const { logger, lines } = capture();
  const s = await Session.create(tinyModel(), { device: 'cuda', logger });
  assert.equal(s.provider, 'cpu');
  await new Promise((r) => setImmediate(r));
  assert.ok(lines.some((l) => /execution provider cuda unavailable, falling back to cpu/.test(l.msg)), JSON.stringify(lines));
  await s.release();
});

test('auto picks a working provider', async () => {
  const { logger } = capture();
  const s = await Session.create(tinyModel(), { device: 'auto', logger });
  assert.ok(['cuda', 'cpu'].includes(s.provider));
  const out = await s.run({ x: Tensor.float32([3], [2, 2, 2]) });
  assert.deepEqual(out.y!.toNumbers(), [4, 4, 4]);
  await s.release();
});

test('an invalid model is a clear error', async () => {
  await assert.rejects(Session.create(new Uint8Array([1, 2, 3]), { device: 'cpu' }), /could not create an ONNX Runtime session/);
});
