import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const bench = (args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'tools/bench-align.ts'), ...args], { cwd: ROOT, encoding: 'utf8', timeout: 300_000 });

test('bench-align: one JSON line with both step times and their ratio, for every tower', () => {
  for (const tower of ['resnet', 'vit', 'conv']) {
    const r = bench(['--tower', tower, '--batch', '4', '--items', '1', '--reps', '1', '--threads', '1', '--json']);
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, 1);
    const j = JSON.parse(lines[0]!) as Record<string, number | string>;
    assert.equal(j.tower, tower);
    assert.equal(j.width, tower === 'resnet' ? 16 : tower === 'vit' ? 128 : null, 'the shipped widths by default; the conv tower has none');
    assert.ok(Number(j.contrastiveMs) > 0 && Number(j.alignedMs) > 0, r.stdout);
    assert.ok(Math.abs(Number(j.ratio) - Number(j.alignedMs) / Number(j.contrastiveMs)) < 1e-9, 'one pair: the ratio is of its two times');
  }
});

test('bench-align: --width sizes the ResNet', () => {
  const r = bench(['--width', '8', '--batch', '4', '--items', '1', '--reps', '1', '--threads', '1', '--json']);
  assert.equal(r.status, 0, r.stderr);
  assert.equal((JSON.parse(r.stdout) as { width: number }).width, 8);
});

test('bench-align: bad options are one line and exit code 2', () => {
  for (const [args, message] of [[['--tower', 'mlp'], /--tower must be resnet, vit or conv, got mlp/], [['--items', '0'], /--items must be a whole number ≥ 1, got 0/],
    [['--width', '7'], /--width: ResNet width 7 is odd; the stem halves it/], [['--tower', 'vit', '--width', '8'], /--width is for --tower resnet/]] as const) {
    const r = bench([...args]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, message);
    assert.match(r.stderr, /^bench-align: [^\n]+\n$/);
  }
});
