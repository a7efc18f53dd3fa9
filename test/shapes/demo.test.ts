import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const MODEL = process.env.CLIPAG_DEMO_MODEL ?? join(ROOT, 'models/shapes');

function demo(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'tools/demo.ts'), '--model', MODEL, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('npm run demo writes each picture and a sheet of progress frames, and prints their paths', async (t) => {
  const out = await mkdtemp(join(tmpdir(), 'clipag-demo-'));
  t.after(() => rm(out, { recursive: true, force: true }));
  const r = demo(['--out', out, '--steps', '4', 'a big red circle in the center on a blue background', 'a small green star at the top left, on white']);
  assert.equal(r.status, 0, r.stderr);
  const files = (await readdir(out)).sort();
  assert.deepEqual(files, ['a-big-red-circle-in-the-center-on-a-blue-backgro-1.png', 'a-small-green-star-at-the-top-left-on-white-2.png', 'demo-sheet.png']);
  for (const f of files) assert.ok(r.stdout.includes(join(out, f)), `${f} not printed: ${r.stdout}`);
  const picture = await sharp(join(out, files[0]!)).metadata();
  assert.deepEqual([picture.width, picture.height], [64, 64]);
  // Two rows of six tiles (five frames and the result), each 192 px + padding, with captions.
  const sheet = await sharp(join(out, 'demo-sheet.png')).metadata();
  assert.equal(sheet.width, 6 * (192 + 12));
  assert.ok(sheet.height! > 2 * (192 + 12), `sheet height ${sheet.height}`);
  assert.match(r.stderr, /first frame after \d+\.\d s/);
  assert.doesNotMatch(r.stderr, /"level"/, 'no JSON log lines on a plain run');
});

test('a prompt outside the demo model\'s words fails with the vocabulary and writes nothing', async (t) => {
  const out = await mkdtemp(join(tmpdir(), 'clipag-demo-'));
  t.after(() => rm(out, { recursive: true, force: true }));
  const r = demo(['--out', out, 'a lighthouse at dusk']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /unknown word "lighthouse".*known words: .*circle/);
  assert.equal(existsSync(join(out, 'demo-sheet.png')), false);
});
