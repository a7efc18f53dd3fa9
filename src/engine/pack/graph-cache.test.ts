import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { sourcesFingerprint } from './graph-cache.js';

const engine = join(dirname(fileURLToPath(import.meta.url)), '..');
const dir = mkdtempSync(join(tmpdir(), 'fingerprint-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('the graph fingerprint changes with the graph builders (the step graph included), not with the code around them', () => {
  for (const sub of ['onnx', 'clip', 'pag']) cpSync(join(engine, sub), join(dir, sub), { recursive: true });
  const before = sourcesFingerprint(dir);
  writeFileSync(join(dir, 'pag', 'imagine.ts'), '// the synthesis loop, not a graph\n');
  writeFileSync(join(dir, 'clip', 'towers.test.ts'), '// a test\n');
  assert.equal(sourcesFingerprint(dir), before, 'the loop and tests do not build graphs');
  appendFileSync(join(dir, 'pag', 'step-graph.ts'), '\n// changed\n');
  const stepEdited = sourcesFingerprint(dir);
  assert.notEqual(stepEdited, before, 'a cached step graph of the old builder would be stale');
  appendFileSync(join(dir, 'clip', 'towers.ts'), '\n// changed\n');
  assert.notEqual(sourcesFingerprint(dir), stepEdited);
});
