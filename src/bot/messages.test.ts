import assert from 'node:assert/strict';
import { test } from 'node:test';
import { customId, parseCustomId, resultRow, threadName } from './messages.js';

test('custom ids round-trip and reject anything else', () => {
  assert.deepEqual(parseCustomId(customId('rerun', 'ab12cd34')), { action: 'rerun', jobId: 'ab12cd34' });
  assert.equal(parseCustomId('clipag:explode:ab12cd34'), undefined);
  assert.equal(parseCustomId('other:rerun:ab12cd34'), undefined);
  assert.equal(parseCustomId('clipag:rerun:AB;DROP'), undefined);
});

test('result buttons: 🔁 🎲 ❌ in that order', () => {
  const row = resultRow('ab12cd34').toJSON();
  assert.deepEqual(row.components.map((c) => ('emoji' in c ? c.emoji?.name : undefined)), ['🔁', '🎲', '❌']);
});

test('thread names fit Discord (1 to 100 characters)', () => {
  assert.equal(threadName('a\nb'), 'a b');
  assert.ok(threadName('x'.repeat(500)).length <= 100);
  assert.equal(threadName('   '), 'image');
});
