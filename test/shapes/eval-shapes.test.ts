import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'clipag-eval-tool-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('npm run eval: the summary says which prompt sets were not asked for, and lists the shapes right by kind', () => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'tools/eval-shapes.ts'), '--pack', `shipped=${join(ROOT, 'models/shapes')}`,
    '--prompts', '2', '--two-shape', '0', '--retrieval', '0', '--steps', '2', '--out', join(dir, 'sheet.png')], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /shipped: retrieval not measured, syntheses judged correct \d+ % \(one shape \d+ %, two shapes none asked\)/);
  // Two one-shape prompts name two shapes: the kind line accounts for both.
  const line = /shipped: shapes right by kind: (.*)\n/.exec(r.stderr)?.[1];
  assert.ok(line, r.stderr);
  const named = [...line.matchAll(/(\w+) (\d+)\/(\d+)/g)].reduce((a, m) => a + Number(m[3]), 0);
  assert.equal(named, 2, line);
});
