import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { deadPort } from '../helpers/ports.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const INSTALL_GPU = join(ROOT, 'bin/install-gpu.js');
const ORT = dirname(fileURLToPath(import.meta.resolve('onnxruntime-node/package.json')));
const PROVIDER = join(ORT, 'bin/napi-v6', process.platform, process.arch, 'libonnxruntime_providers_cuda.so');

/** Runs bin/install-gpu.js in the environment npm gives the project's own postinstall. */
function postinstall(env: NodeJS.ProcessEnv) {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(ONNXRUNTIME_NODE_INSTALL|GLOBAL_AGENT_)/.test(k)));
  const npm = { npm_config_local_prefix: ROOT.replace(/\/$/, ''), npm_package_json: join(ROOT, 'package.json') };
  return spawnSync(process.execPath, [INSTALL_GPU], { cwd: ROOT, env: { ...clean, ...npm, ...env }, encoding: 'utf8', timeout: 60_000 });
}


test('package.json: onnxruntime-node\'s script (the CUDA download) is denied, better-sqlite3\'s approved', () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { allowScripts: Record<string, boolean>; scripts: Record<string, string> };
  assert.equal(pkg.allowScripts['onnxruntime-node'], false);
  assert.equal(pkg.allowScripts['better-sqlite3'], true);
  assert.equal(pkg.scripts.postinstall, 'node bin/install-gpu.js');
  assert.doesNotMatch(readFileSync(join(ROOT, '.npmrc'), 'utf8'), /^[^#\s]/m, '.npmrc sets nothing npm would warn about');
});

test('every installed dependency with an install script is approved or denied in allowScripts', (t) => {
  const r = spawnSync('npm', ['install-scripts', 'ls'], { cwd: ROOT, encoding: 'utf8' });
  if (r.status !== 0 && /Unknown command|not a valid command/i.test(r.stdout + r.stderr)) {
    t.skip('this npm predates allowScripts (npm 11.16)');
    return;
  }
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /No packages with unreviewed install scripts/);
  assert.equal(r.stderr, '', 'no npm warnings');
});

test('postinstall: without ONNXRUNTIME_NODE_INSTALL, or with skip, nothing runs', () => {
  for (const env of [{}, { ONNXRUNTIME_NODE_INSTALL: 'skip' }]) {
    const r = postinstall(env);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout + r.stderr, '');
  }
});

test('postinstall: ONNXRUNTIME_NODE_INSTALL=cuda12 runs onnxruntime-node\'s download', { skip: process.platform !== 'linux' || process.arch !== 'x64' ? 'the CUDA provider exists for linux/x64 only' : false }, async () => {
  if (existsSync(PROVIDER)) {
    // A GPU host that has it already: fetched once, not again.
    const r = postinstall({ ONNXRUNTIME_NODE_INSTALL: 'cuda12' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, '');
    return;
  }
  // onnxruntime-node's script fetches through global-agent, which honours this proxy: it fails on
  // the dead port, which proves the download was attempted without downloading anything.
  const port = await deadPort();
  const r = postinstall({ ONNXRUNTIME_NODE_INSTALL: 'cuda12', GLOBAL_AGENT_HTTP_PROXY: `http://127.0.0.1:${port}` });
  assert.match(r.stdout, /ONNXRUNTIME_NODE_INSTALL=cuda12: running onnxruntime-node's install script/);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, new RegExp(`ECONNREFUSED 127\\.0\\.0\\.1:${port}`));
  assert.equal(existsSync(PROVIDER), false);
});
