import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

function tool(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'tools/caption-probe.ts'), ...args], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('caption-probe: the true picture outscores the same scene with its shape moved, its colours swapped or without its shape; cell, colour and kind are picked', () => {
  const r = tool(['--scenes', '6', '--json', join(ROOT, 'models/shapes')]);
  assert.equal(r.status, 0, r.stderr);
  const { cosine, scenes, choice } = JSON.parse(r.stdout) as {
    cosine: Record<string, number>; scenes: number; choice: Record<string, { accuracy: number; margin: number; ways: number }>;
  };
  assert.equal(scenes, 6);
  // The alternatives: six kinds, nine cells, the nine colours other than the background, two sizes.
  assert.deepEqual(Object.fromEntries(Object.entries(choice).map(([k, c]) => [k, c.ways])), { kind: 6, cell: 9, colour: 9, size: 2 });
  // Measured on 60 scenes: cell 98 % (margin 0.031), colour 100 % (0.030), size 100 % (0.035), kind 82 % (0.012).
  assert.ok(choice.cell!.accuracy >= 0.8 && choice.cell!.margin > 0, JSON.stringify(choice.cell));
  // Kind too, since shapes sit in the middle of their cells (48 % before, circle vs square at chance).
  assert.ok(choice.kind!.accuracy >= 0.5 && choice.kind!.margin > 0, JSON.stringify(choice.kind));
  assert.ok(choice.colour!.accuracy >= 0.8 && choice.colour!.margin > 0, JSON.stringify(choice.colour));
  assert.ok(choice.size!.accuracy >= 0.8 && choice.size!.margin > 0, JSON.stringify(choice.size));
  for (const c of Object.values(choice)) assert.ok(c.accuracy >= 0 && c.accuracy <= 1 && Math.abs(c.margin) < 2, JSON.stringify(c));
  assert.deepEqual(Object.keys(cosine), ['true picture', 'shape in another cell', 'another kind', 'another size', 'colours swapped', 'flat background']);
  // Measured on 60 scenes: 0.935 true, 0.826 shape in another cell, 0.691 swapped, 0.813 flat.
  assert.ok(cosine['true picture']! > cosine['colours swapped']! + 0.15, JSON.stringify(cosine));
  assert.ok(cosine['true picture']! > cosine['shape in another cell']! + 0.08, JSON.stringify(cosine));
  assert.ok(cosine['true picture']! > cosine['flat background']! + 0.05, JSON.stringify(cosine));
});

test('caption-probe: a bad count is refused by name', () => {
  const r = tool(['--scenes', '0']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^caption-probe: --scenes must be a whole number ≥ 1, got "0"$/m);
});
