import assert from 'node:assert/strict';
import { test } from 'node:test';
import sharp from 'sharp';
import type { MessageCreateOptions, MessageEditOptions } from 'discord.js';
import type { RgbImage } from '../engine/clip/image.js';
import { framePayload, formatDuration, progressText, ProgressMessage, type MessageTarget } from './progress.js';

// A recorder standing in for the thread: these tests are about timing and retries, which the
// end-to-end tests (test/bot/) check again against discord.js and the fake Discord.
class Recorder implements MessageTarget {
  calls: { kind: 'create' | 'edit'; at: number; text: string; png: boolean }[] = [];
  failures = 0;
  async create(p: MessageCreateOptions): Promise<string> {
    this.record('create', p);
    return 'm1';
  }
  async edit(_id: string, p: MessageEditOptions): Promise<void> {
    this.record('edit', p);
  }
  private record(kind: 'create' | 'edit', p: MessageCreateOptions | MessageEditOptions): void {
    if (this.failures > 0) {
      this.failures--;
      throw new Error('503 from Discord');
    }
    this.calls.push({ kind, at: performance.now(), text: String(p.content), png: (p.files?.length ?? 0) > 0 });
  }
}

const image = (side: number, v = 0): RgbImage => {
  const data = new Uint8Array(side * side * 3);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7 + v) & 255;
  return { width: side, height: side, data } as RgbImage;
};
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('progress text: step, percent, ETA', () => {
  assert.equal(progressText(12, 40, 8000), 'Step 12/40 · 30% · about 8 s left');
  assert.equal(progressText(40, 40, 0), 'Step 40/40 · 100%');
  assert.equal(formatDuration(95_000), '1 min 35 s');
  assert.equal(formatDuration(120_000), '2 min');
});

test('edits are at least the interval apart, only the newest waiting frame is sent, the last is never dropped', async () => {
  const r = new Recorder();
  const p = new ProgressMessage(r, { minIntervalMs: 150 });
  for (let step = 1; step <= 20; step++) {
    p.update({ text: `step ${step}`, image: step % 5 === 0 ? image(8, step) : undefined });
    await sleep(20);
  }
  await p.finish({ text: 'done' });
  assert.equal(r.calls[0]!.kind, 'create');
  assert.equal(r.calls[0]!.text, 'step 1');
  assert.equal(r.calls.at(-1)!.text, 'done');
  for (let i = 1; i < r.calls.length; i++) {
    assert.ok(r.calls[i]!.at - r.calls[i - 1]!.at >= 145, `gap ${r.calls[i]!.at - r.calls[i - 1]!.at} ms`);
  }
  // 20 updates 20 ms apart (~400 ms) at 150 ms: about four messages, not twenty.
  assert.ok(r.calls.length >= 3 && r.calls.length <= 6, `${r.calls.length} calls`);
  assert.equal(p.id, 'm1');
  assert.equal(p.sent, r.calls.length);
});

test('a frame without a picture keeps the waiting picture', async () => {
  const r = new Recorder();
  const p = new ProgressMessage(r, { minIntervalMs: 100 });
  p.update({ text: 'a', image: image(8) });
  p.update({ text: 'b', image: image(8, 1) });
  p.update({ text: 'c' });
  await p.finish();
  assert.deepEqual(r.calls.map((c) => [c.text, c.png]), [['a', true], ['c', true]]);
});

test('failed requests are retried and the final frame still lands', async () => {
  const r = new Recorder();
  r.failures = 2;
  const p = new ProgressMessage(r, { minIntervalMs: 10, retryDelayMs: 5 });
  p.update({ text: 'first', image: image(8) });
  await p.finish({ text: 'done' });
  assert.deepEqual(r.calls.map((c) => c.text), ['first', 'done']);
});

test('a picture whose attempts all failed is sent again at the next turn', async () => {
  const r = new Recorder();
  r.failures = 3; // all three attempts of the first frame
  const p = new ProgressMessage(r, { minIntervalMs: 10, retryDelayMs: 1, attempts: 3 });
  p.update({ text: 'lost', image: image(8) });
  await sleep(50);
  await p.finish({ text: 'done' });
  assert.deepEqual(r.calls.map((c) => [c.kind, c.text, c.png]), [['create', 'lost', true], ['edit', 'done', false]]);
});

test('an existing message (restart recovery) is edited, not recreated', async () => {
  const r = new Recorder();
  const p = new ProgressMessage(r, { messageId: 'old', minIntervalMs: 0 });
  p.update({ text: 'again' });
  await p.finish();
  assert.deepEqual(r.calls.map((c) => c.kind), ['edit']);
});

test('encoding a 512 px frame for upload costs under 50 ms of CPU', async () => {
  const img = image(512);
  await framePayload({ text: 'warm', image: img });
  const costs: number[] = [];
  for (let i = 0; i < 5; i++) {
    const before = process.cpuUsage();
    const payload = await framePayload({ text: 'x', image: img });
    const used = process.cpuUsage(before);
    costs.push((used.user + used.system) / 1000);
    const file = payload.files![0] as { attachment: Buffer };
    const meta = await sharp(file.attachment).metadata();
    assert.equal(meta.width, 512);
  }
  costs.sort((a, b) => a - b);
  assert.ok(costs[2]! < 50, `median ${costs[2]} ms CPU`);
});
