/**
 * Grids, per-picture variations and upscales through the job manager on the real engine: the files
 * each job leaves, and that a job acting on picture k of a grid starts from picture k's pixels.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import pino from 'pino';
import sharp from 'sharp';
import { demoPackDir } from '../../test/helpers/demo-pack.js';
import { openStore, type Store } from '../store/store.js';
import type { JobRequest } from '../store/types.js';
import { JobInputError, openEngine, type Engine } from './engine.js';
import { JobManager, type DoneEvent } from './manager.js';
import { picturePath } from './pictures.js';

const quiet = pino({ level: 'silent' });
const PROMPT = 'a red circle';
let engine: Engine;
let dir: string;
let store: Store;
let m: JobManager;

before(async () => {
  engine = await openEngine({ modelDir: await demoPackDir(), device: 'cpu', views: 2, logger: quiet });
  dir = await mkdtemp(join(tmpdir(), 'clipag-grid-jobs-'));
  store = openStore(join(dir, 'clipag.db'));
  m = new JobManager({ store, engine, concurrency: 1, imagesDir: join(dir, 'images'), logger: quiet });
});
after(async () => {
  await m.close({ finishRunning: false });
  store.close();
  await engine.close();
  await rm(dir, { recursive: true, force: true });
});

async function run(request: JobRequest): Promise<DoneEvent> {
  const { job } = await m.submit({ guildId: '1', channelId: '2', userId: '3', request });
  return new Promise((resolve, reject) => {
    m.on('done', (e) => { if (e.job.id === job.id) resolve(e); });
    m.on('failed', (e) => { if (e.job.id === job.id) reject(new Error(e.message)); });
  });
}

async function raw(path: string): Promise<{ width: number; height: number; data: Buffer }> {
  const { data, info } = await sharp(path).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data };
}

/** Mean absolute difference of two equal-size pictures, in 0–255 levels. */
function distance(a: { data: Buffer }, b: { data: Buffer }): number {
  let s = 0;
  for (let i = 0; i < a.data.length; i++) s += Math.abs(a.data[i]! - b.data[i]!);
  return s / a.data.length;
}

let grid: DoneEvent;

test('a grid job of 4 leaves the 2×2 grid and each picture beside it', async () => {
  grid = await run({ prompt: PROMPT, steps: 4, seed: 7, count: 4 });
  const S = engine.info().imageSize;
  assert.equal(grid.result.pictures.length, 4);
  assert.deepEqual(grid.result.pictures, [1, 2, 3, 4].map((k) => picturePath(grid.result.pngPath, 4, k)));
  const g = await raw(grid.result.pngPath);
  assert.deepEqual([g.width, g.height], [2 * S + 4, 2 * S + 4]);
  for (const p of grid.result.pictures) {
    const pic = await raw(p);
    assert.deepEqual([pic.width, pic.height], [S, S]);
  }
  // Picture 4 is the grid's bottom-right cell.
  const cell = await sharp(grid.result.pngPath).extract({ left: S + 4, top: S + 4, width: S, height: S }).raw().toBuffer();
  assert.equal(distance({ data: cell }, await raw(grid.result.pictures[3]!)), 0);
  assert.equal(store.jobs.get(grid.job.id)!.imagePath, grid.result.pngPath);
});

test('a variation of picture k starts from picture k', async () => {
  const pics = await Promise.all(grid.result.pictures.map(raw));
  // Two pictures far apart, so "closer to its own start" says which one it started from.
  const [a, b] = [0, 1, 2, 3].flatMap((i) => [0, 1, 2, 3].map((j) => [i, j] as const)).filter(([i, j]) => i < j)
    .sort(([i, j], [k, l]) => distance(pics[k]!, pics[l]!) - distance(pics[i]!, pics[j]!))[0]!;
  for (const k of [a, b]) {
    const v = await run({ prompt: PROMPT, steps: 1, seed: 9, initJobId: grid.job.id, initIndex: k + 1 });
    const out = await raw(v.result.pngPath);
    const own = distance(out, pics[k]!);
    const other = distance(out, pics[k === a ? b : a]!);
    assert.ok(own < other, `picture ${k + 1}'s variation is ${own.toFixed(1)} levels from it and ${other.toFixed(1)} from the other`);
  }
  await assert.rejects(m.submit({ guildId: '1', channelId: '2', userId: '3', request: { prompt: PROMPT, initJobId: grid.job.id, initIndex: 5 } }),
    (e: unknown) => e instanceof JobInputError && /has no number 5: it is one of 4/.test(e.message));
});

test('an upscale of picture k is twice its side and close to it enlarged', async () => {
  const S = engine.info().imageSize;
  const up = await run({ prompt: PROMPT, steps: 1, seed: 3, kind: 'upscale', initJobId: grid.job.id, initIndex: 2, size: 2 * S });
  const out = await raw(up.result.pngPath);
  assert.deepEqual([out.width, out.height], [2 * S, 2 * S]);
  const enlarged = await sharp(grid.result.pictures[1]!).resize(2 * S, 2 * S, { kernel: 'lanczos3' }).removeAlpha().raw().toBuffer();
  const other = await sharp(grid.result.pictures[0]!).resize(2 * S, 2 * S, { kernel: 'lanczos3' }).removeAlpha().raw().toBuffer();
  assert.ok(distance(out, { data: enlarged }) < distance(out, { data: other }), 'it refines picture 2, not picture 1');
  assert.ok(existsSync(up.result.pngPath));
  // The model's largest canvas is 4× its input: an upscale past it is refused before it is queued.
  await assert.rejects(m.submit({ guildId: '1', channelId: '2', userId: '3', request: { prompt: PROMPT, kind: 'upscale', initJobId: up.job.id, size: 8 * S } }),
    (e: unknown) => e instanceof JobInputError && /would be \d+ px, more than this model's largest canvas/.test(e.message));
});
