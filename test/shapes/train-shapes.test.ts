import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { readManifest } from '../../src/engine/pack/manifest.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'clipag-train-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function train(args: string[]): { status: number | null; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'tools/train-shapes.ts'), ...args], { cwd: ROOT, encoding: 'utf8', timeout: 300_000 });
  return { status: r.status, stderr: r.stderr };
}

function readLog(): Array<Record<string, unknown>> {
  return readFileSync(join(dir, 'work', 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** A run small enough for CI: 32-px pictures, one 16-px patch grid, 8 pictures a step. */
const SMALL = ['--image-size', '32', '--patch-size', '16', '--batch', '8', '--every', '1', '--threads', '1',
  '--work', join(dir, 'work'), '--out', join(dir, 'robust'), '--vanilla-out', join(dir, 'vanilla')];

test('train-shapes: all three phases, packs at the asked size; a finished run resumes to nothing new', async () => {
  const args = [...SMALL, '--contrastive-steps', '2', '--focus-steps', '1', '--adversarial-steps', '1', '--pgd-steps', '1', '--group', '4', '--mix', 'kind=2,position=1'];
  const first = train(args);
  assert.equal(first.status, 0, first.stderr);
  const log = readLog();
  assert.deepEqual(log.filter((e) => e.phase && e.step && e.loss !== undefined).map((e) => `${String(e.phase)}:${String(e.step)}`),
    ['contrastive:1', 'contrastive:2', 'focus:1', 'adversarial:1']);
  assert.ok(log.every((e) => e.loss === undefined || Number.isFinite(e.loss)), 'finite losses');
  for (const p of ['robust', 'vanilla']) {
    const m = await readManifest(join(dir, p));
    assert.equal(m.config.vision.imageSize, 32);
    assert.equal(m.config.vision.patchSize, 16);
  }
  const again = train(args);
  assert.equal(again.status, 0, again.stderr);
  assert.equal(readLog().filter((e) => e.loss !== undefined).length, 4, 'no step trained twice');
});

test('train-shapes: --over-eps adds over-scored pictures in the adversarial phase only, and logs how often they rank below', async () => {
  rmSync(join(dir, 'work'), { recursive: true, force: true });
  const args = [...SMALL, '--contrastive-steps', '1', '--focus-steps', '1', '--adversarial-steps', '2', '--pgd-steps', '1', '--over-eps', '32', '--over-steps', '2', '--over-from', 'partner,noise,chain', '--group', '4'];
  const r = train(args);
  assert.equal(r.status, 0, r.stderr);
  const steps = readLog().filter((e) => e.loss !== undefined);
  assert.deepEqual(steps.map((e) => `${String(e.phase)}:${e.ownAboveOver === undefined ? '-' : 'ranked'}`),
    ['contrastive:-', 'focus:-', 'adversarial:ranked', 'adversarial:ranked']);
  for (const e of steps.filter((x) => x.phase === 'adversarial')) {
    assert.ok(Number.isFinite(e.loss), 'finite loss');
    assert.ok(typeof e.ownAboveOver === 'number' && e.ownAboveOver >= 0 && e.ownAboveOver <= 1, `share ${String(e.ownAboveOver)}`);
  }
  const m = await readManifest(join(dir, 'robust'));
  assert.match(String(m.source?.note), /over-scored pictures from partner\+noise\+chain, PGD-2 L∞ 32\/255/);
});

test('train-shapes: bad options are refused by name', () => {
  for (const [args, message] of [
    [['--mix', 'shape=1'], /unknown near-miss change "shape"/],
    [['--group', '0'], /--group must be a whole number ≥ 1, got 0/],
    [['--over-eps', '-4'], /--over-eps must be a number ≥ 0, got -4/],
    [['--adversarial-steps', 'many'], /--adversarial-steps must be a number ≥ 0, got many/],
    [['--over-from', 'elsewhere'], /--over-from takes own, partner, noise or chain, got "elsewhere"/],
    [['--image-size', '30', '--patch-size', '16'], /--patch-size must divide the 30-px picture, got 16/],
    [['--from-phase', 'warmup', '--from', 'models/shapes'], /--from-phase must be contrastive, focus or adversarial, got warmup/],
  ] as const) {
    const r = train([...args, '--work', join(dir, 'bad')]);
    assert.equal(r.status, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.match(r.stderr, /^train-shapes: [^\n]+\n$/, 'one line, no stack trace');
  }
});
