/**
 * QueuePositions against a queue and a Discord channel whose edits the test holds and releases, so
 * coalescing, the one-edit-in-flight rule, the per-channel cap and "never after it starts" are seen
 * directly. (The end-to-end run is in test/bot/waiting.test.ts.)
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { test } from 'node:test';
import type { Client } from 'discord.js';
import pino from 'pino';
import type { JobManager } from '../jobs/manager.js';
import type { JobRecord } from '../store/types.js';
import { QueuePositions } from './queue-positions.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Waits until `n` edits were sent (a loaded machine may run timers late), then a little longer for any extra. */
async function edits(w: { sent(): string[] }, n: number): Promise<string[]> {
  for (const t0 = Date.now(); w.sent().length < n && Date.now() - t0 < 5000;) await sleep(5);
  await sleep(30);
  return w.sent();
}

function job(id: string, channelId = 'general', replyMessageId: string | null = `ack-${id}`): JobRecord {
  return {
    id, guildId: 'g', channelId, threadId: 'thread', userId: 'u', request: { prompt: 'a red circle' }, status: 'queued',
    replyMessageId, progressMessageId: null, resultMessageId: null, createdAt: 0, startedAt: null, finishedAt: null,
    error: null, score: null, seed: null, ms: null, imagePath: null, attempts: 1, cancelledBy: null,
  };
}

/** A queue whose waiting list the test sets, and a channel that records edits and lets the test finish them. */
function world(fetchDelayMs = 0) {
  const manager = Object.assign(new EventEmitter(), {
    waiting: [] as JobRecord[],
    snapshot() { return { running: [], waiting: [...this.waiting] }; },
    position(id: string) { const i = this.waiting.findIndex((j) => j.id === id); return i < 0 ? undefined : i + 1; },
  });
  const edits: { channel: string; message: string; content: string; done: () => void }[] = [];
  let ready = true;
  const client = {
    isReady: () => ready,
    channels: {
      fetch: async (channel: string) => (await sleep(fetchDelayMs), {
        isSendable: () => true,
        messages: {
          edit: (message: string, payload: { content: string }) => new Promise<void>((done) => { edits.push({ channel, message, content: payload.content, done }); }),
        },
      }),
    },
  };
  const positions = new QueuePositions({
    // The two stand-ins provide exactly what QueuePositions uses of a discord.js Client and a JobManager.
    client: client as unknown as Client, manager: manager as unknown as JobManager,
    logger: pino({ level: 'silent' }), intervalMs: 100, perChannel: 3,
  });
  const place = (content: string): string => /number (\d+) in line/.exec(content)?.[1] ?? '?';
  return {
    manager, edits, positions, setReady: (r: boolean) => { ready = r; },
    /** Edits so far as "message:place". */
    sent: () => edits.map((e) => `${e.message}:${place(e.content)}`),
    finishAll: () => { for (const e of edits) e.done(); },
  };
}

test('a burst of events makes one round; each waiting ack gets its place once; acks not yet posted are skipped', async () => {
  const w = world();
  w.manager.waiting = [job('a'), job('b'), job('c', 'general', null)];
  for (let i = 0; i < 5; i++) w.manager.emit('done', {});
  assert.deepEqual(await edits(w, 2), ['ack-a:1', 'ack-b:2']);
  w.finishAll();
  w.manager.emit('start', {});
  await sleep(100);
  assert.deepEqual(w.sent(), ['ack-a:1', 'ack-b:2'], 'places unchanged: nothing sent again');
});

test('one edit in flight per message: later places wait for it, and only the latest is sent', async () => {
  const w = world();
  w.manager.waiting = [job('x'), job('y'), job('z')];
  w.manager.emit('cancelled', {});
  assert.deepEqual(await edits(w, 3), ['ack-x:1', 'ack-y:2', 'ack-z:3']);
  // x and y leave the line while z's edit is still in flight: z goes 3 → 2 → 1.
  w.manager.waiting = [job('y'), job('z')];
  w.manager.emit('start', {});
  await sleep(60);
  w.manager.waiting = [job('z')];
  w.manager.emit('start', {});
  await sleep(60);
  assert.deepEqual(w.sent().slice(3), [], 'nothing more while the first edits are in flight');
  w.finishAll();
  assert.deepEqual((await edits(w, 4)).slice(3), ['ack-z:1'], 'z skips straight to its current place');
});

test('at most 3 acks of one channel per round, front first; the rest follow in the next round', async () => {
  const w = world();
  w.manager.waiting = ['1', '2', '3', '4', '5'].map((id) => job(id)).concat(job('t', 'other-thread'));
  w.manager.emit('done', {});
  assert.deepEqual(await edits(w, 4), ['ack-1:1', 'ack-2:2', 'ack-3:3', 'ack-t:6'], 'the rest wait for the next round (100 ms)');
  w.finishAll();
  assert.deepEqual((await edits(w, 6)).slice(4), ['ack-4:4', 'ack-5:5']);
});

test('a job that starts is never edited again, even when it started while its edit was on its way', async () => {
  const w = world(30);
  w.manager.waiting = [job('s')];
  w.manager.emit('done', {});
  await sleep(10); // the round ran; the channel is still being fetched
  w.manager.waiting = [];
  await sleep(40);
  assert.deepEqual(w.sent(), []);
  w.manager.emit('done', {});
  await sleep(60);
  assert.deepEqual(w.sent(), []);
});

test('after the client is gone nothing is sent', async () => {
  const w = world();
  w.setReady(false);
  w.manager.waiting = [job('q')];
  w.manager.emit('done', {});
  await sleep(60);
  assert.deepEqual(w.sent(), []);
});
