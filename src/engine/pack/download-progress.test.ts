import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { downloadFile } from './download.js';
import { downloadRig, quiet, Sink, stdoutDuring } from './testing/download-fixtures.js';

describe('downloadFile: progress', () => {
  const { server, body, dir, remote } = downloadRig();

  test('progress goes to the given stream, never to stdout: lines per 10 % when not a terminal', async () => {
    server.routes.set('/m', { body: randomBytes(3_000_000) });
    const out = new Sink();
    const { written } = await stdoutDuring(() => downloadFile(remote('/m'), dir(), { ...quiet, progress: out }));
    assert.equal(written, '');
    const lines = out.text.trim().split('\n');
    assert.equal(lines[0], 'model.bin: downloading 3.00 MB');
    assert.match(out.text, /model\.bin: \d0% \([\d.]+ [kM]B of 3\.00 MB, [\d.]+ [kMG]?B\/s\)/);
    assert.ok(lines.length <= 11, out.text);
    assert.match(lines.at(-1)!, /^model\.bin: done, 3\.00 MB; sha256 /);
  });

  test('progress on a terminal is a cli-progress bar', async () => {
    server.routes.set('/m', { body });
    const out = new Sink(true);
    const { written } = await stdoutDuring(() => downloadFile(remote('/m'), dir(), { ...quiet, progress: out }));
    assert.equal(written, '');
    assert.match(out.text, /model\.bin \[[^\]]*\] 100% \| 300 kB \/ 300 kB/);
  });

  test('progress works when the size is unknown (no Content-Length, nothing pinned)', async () => {
    server.routes.set('/m', { body, chunked: true });
    const plain = new Sink();
    await downloadFile(remote('/m'), dir(), { ...quiet, progress: plain });
    assert.match(plain.text, /^model\.bin: downloading\nmodel\.bin: done, 300 kB; sha256 [0-9a-f]{64} \(not stated by the server\)\n$/);
    await rm(join(dir(), 'model.bin'));
    const tty = new Sink(true);
    await downloadFile(remote('/m'), dir(), { ...quiet, progress: tty });
    assert.match(tty.text, /model\.bin 300 kB \| [\d.]+ [kMG]?B\/s/);
    assert.ok(!tty.text.includes('NaN'), tty.text);
  });

  test('progress: false writes nothing anywhere', async () => {
    server.routes.set('/m', { body, cut: [1000] });
    const { written } = await stdoutDuring(() => downloadFile(remote('/m'), dir(), quiet));
    assert.equal(written, '');
  });

  test('retries are reported on the progress stream', async () => {
    server.routes.set('/m', { body, cut: [1000] });
    const out = new Sink();
    await downloadFile(remote('/m'), dir(), { ...quiet, progress: out });
    assert.match(out.text, /model\.bin: .*connection lost .*; retrying in 0\.00 s \(attempt 2 of 6\)/);
    assert.match(out.text, /model\.bin: resuming at 1\.00 kB of 300 kB/);
  });
});
