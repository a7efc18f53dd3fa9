/** `clipag imagine` and `clipag bench` through the real binary, on a tiny random-weight pack. */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { writeRandomPack } from '../../src/engine/bench/random-pack.js';
import { readImage } from '../../src/engine/clip/image.js';
import { clipag } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'clipag-imagine-cli-'));
const pack = join(dir, 'pack');
after(() => rmSync(dir, { recursive: true, force: true }));
before(() => writeRandomPack(pack, {
  arch: 'custom', embedDim: 16,
  vision: { imageSize: 16, patchSize: 8, width: 16, layers: 1, heads: 2, outputDim: 16, act: 'gelu' },
  text: { contextLength: 8, vocabSize: 16, width: 16, layers: 1, heads: 2, outputDim: 16, act: 'gelu' },
  mean: [0.48, 0.46, 0.41], std: [0.27, 0.26, 0.28],
}));

test('imagine --json writes the PNG and every progress frame; stdout is one JSON object', async () => {
  const out = join(dir, 'red.png');
  const frames = join(dir, 'frames');
  const r = clipag(['imagine', 'a red circle', '--model', pack, '--steps', '20', '--views', '4', '--seed', '5', '--out', out, '--frames', frames, '--json']);
  assert.equal(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout) as Record<string, number | string>;
  assert.deepEqual(Object.keys(j).sort(), ['ms', 'msPerStep', 'out', 'score', 'seed', 'steps']);
  assert.equal(j.out, out);
  assert.equal(j.seed, 5);
  assert.equal(j.steps, 20);
  assert.equal((await readImage(out)).width, 16);
  assert.deepEqual(readdirSync(frames), ['step-0010.png', 'step-0020.png']);
  assert.match(r.stderr, /imagine: step 20\/20/, 'progress on stderr');
});

test('imagine: bad input is one line and exit 2, no file written', () => {
  const out = join(dir, 'never.png');
  for (const [args, re] of [
    [['', '--model', pack], /clipag imagine: the prompt is empty/],
    [['a red circle', '--model', pack, '--steps', '5000'], /steps must be a whole number from 1 to 1000/],
    [['a red circle', '--model', pack, '--views', 'many'], /--views many: expected a whole number/],
    [['a red circle', '--model', pack, '--size', '3'], /size must be a whole number from 16 to 64/],
    [['a purple circle', '--model', pack], /unknown word "purple"/],
    [['a red circle', '--model', pack, '--init', join(dir, 'nope.png')], /nope\.png/],
  ] as [string[], RegExp][]) {
    const r = clipag(['imagine', ...args, '--out', out]);
    assert.equal(r.status, 2, r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, re);
    assert.ok(!existsSync(out));
  }
});

test('bench --json: split, FLOPs, MatMul ceiling, peak RSS', () => {
  const r = clipag(['bench', '--model', pack, '--views', '4', '--steps', '2', '--warmup', '1', '--threads', '1', '--json']);
  assert.equal(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout) as {
    msPerStep: number; split: Record<string, number>; flopsPerStep: number; gflops: number; ofMatmul: number; peakRssMb: number;
    views: { global: number; patch: number }; matmul: { gflops: number }[];
  };
  assert.deepEqual(j.views, { global: 2, patch: 2 });
  assert.ok(j.msPerStep > 0);
  assert.deepEqual(Object.keys(j.split).sort(), ['encode', 'optimizer', 'run', 'views']);
  assert.ok(j.flopsPerStep > 1e6 && j.gflops > 0 && j.ofMatmul > 0 && j.peakRssMb > 10);
  assert.equal(j.matmul.length, 2);
});

test('imagine --count 2: the grid at --out, each picture beside it, and their seeds and scores in the JSON', async () => {
  const out = join(dir, 'grid.png');
  const r = clipag(['imagine', 'a red circle', '--model', pack, '--steps', '2', '--views', '4', '--seed', '9', '--count', '2', '--out', out, '--json']);
  assert.equal(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout) as { out: string; seed: number; pictures: { out: string; seed: number; score: number }[] };
  assert.equal(j.out, out);
  assert.deepEqual(j.pictures.map((p) => [p.out, p.seed]), [[join(dir, 'grid-1.png'), 9], [join(dir, 'grid-2.png'), 10]]);
  assert.ok(j.pictures.every((p) => p.score >= -1 && p.score <= 1));
  assert.equal((await readImage(out)).width, 2 * 16 + 4);
  for (const p of j.pictures) assert.equal((await readImage(p.out)).width, 16);
});

test('imagine --upscale: the picture ×2, refined; options that do not go with it are refused', async () => {
  const small = join(dir, 'small.png');
  assert.equal(clipag(['imagine', 'a red circle', '--model', pack, '--steps', '2', '--views', '4', '--out', small]).status, 0);
  const out = join(dir, 'big.png');
  const r = clipag(['imagine', 'a red circle', '--model', pack, '--upscale', small, '--steps', '2', '--views', '4', '--out', out, '--json']);
  assert.equal(r.status, 0, r.stderr);
  assert.equal((JSON.parse(r.stdout) as { steps: number }).steps, 2);
  assert.equal((await readImage(out)).width, 32);
  for (const [args, re] of [
    [['--size', '32'], /clipag imagine: --size does not go with --upscale/],
    [['--count', '2'], /--count does not go with --upscale/],
  ] as [string[], RegExp][]) {
    const bad = clipag(['imagine', 'a red circle', '--model', pack, '--upscale', small, ...args, '--out', join(dir, 'never.png')]);
    assert.equal(bad.status, 2, bad.stderr);
    assert.match(bad.stderr, re);
  }
  const large = join(dir, 'large.png');
  assert.equal(clipag(['imagine', 'a red circle', '--model', pack, '--steps', '1', '--views', '2', '--size', '40', '--out', large]).status, 0);
  const tooBig = clipag(['imagine', 'a red circle', '--model', pack, '--upscale', large, '--out', join(dir, 'never.png')]);
  assert.equal(tooBig.status, 2);
  assert.match(tooBig.stderr, /^clipag imagine: the picture is 40 px: ×2 would be 80 px, more than this model's largest canvas \(64 px\)\n$/);
  const grid = clipag(['imagine', 'a red circle', '--model', pack, '--count', '5', '--out', join(dir, 'never.png')]);
  assert.match(grid.stderr, /count must be a whole number from 1 to 4, got 5/);
  assert.ok(!existsSync(join(dir, 'never.png')));
});
