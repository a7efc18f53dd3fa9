import assert from 'node:assert/strict';
import { test } from 'node:test';
import { customId, parseCustomId, resultRows, threadName } from './messages.js';

test('custom ids round-trip and reject anything else', () => {
  assert.deepEqual(parseCustomId(customId('rerun', 'ab12cd34')), { action: 'rerun', jobId: 'ab12cd34' });
  assert.deepEqual(parseCustomId(customId('upscale', 'ab12cd34', 3)), { action: 'upscale', jobId: 'ab12cd34', index: 3 });
  assert.equal(parseCustomId('clipag:explode:ab12cd34'), undefined);
  assert.equal(parseCustomId('other:rerun:ab12cd34'), undefined);
  assert.equal(parseCustomId('clipag:rerun:AB;DROP'), undefined);
  assert.equal(parseCustomId('clipag:vary:ab12cd34:5'), undefined, 'a grid has at most 4 pictures');
  assert.equal(parseCustomId('clipag:vary:ab12cd34:0'), undefined);
  assert.equal(parseCustomId('clipag:vary:ab12cd34:12'), undefined);
});

const labels = (rows: ReturnType<typeof resultRows>): string[][] =>
  rows.map((r) => r.toJSON().components.map((c) => ('label' in c ? String(c.label) : '')));

test('result buttons: one picture has ⬆️ 🔁 🎲 ❌; a grid has U1–Un, V1–Vn, then 🔁 ❌', () => {
  const one = resultRows('ab12cd34');
  assert.deepEqual(one[0]!.toJSON().components.map((c) => ('emoji' in c ? c.emoji?.name : undefined)), ['⬆️', '🔁', '🎲', '❌']);
  assert.deepEqual(labels(resultRows('ab12cd34', 4)), [['U1', 'U2', 'U3', 'U4'], ['V1', 'V2', 'V3', 'V4'], ['New seeds', 'Delete']]);
  assert.deepEqual(labels(resultRows('ab12cd34', 3)).slice(0, 2), [['U1', 'U2', 'U3'], ['V1', 'V2', 'V3']]);
  const ids = resultRows('ab12cd34', 2).flatMap((r) => r.toJSON().components.map((c) => ('custom_id' in c ? c.custom_id : '')));
  assert.deepEqual(ids.map((id) => parseCustomId(id)), [
    { action: 'upscale', jobId: 'ab12cd34', index: 1 }, { action: 'upscale', jobId: 'ab12cd34', index: 2 },
    { action: 'vary', jobId: 'ab12cd34', index: 1 }, { action: 'vary', jobId: 'ab12cd34', index: 2 },
    { action: 'rerun', jobId: 'ab12cd34' }, { action: 'delete', jobId: 'ab12cd34' },
  ]);
});

test('thread names fit Discord (1 to 100 characters)', () => {
  assert.equal(threadName('a\nb'), 'a b');
  assert.ok(threadName('x'.repeat(500)).length <= 100);
  assert.equal(threadName('   '), 'image');
});
