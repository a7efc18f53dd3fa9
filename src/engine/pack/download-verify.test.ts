import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { describe, test } from 'node:test';
import { downloadFile } from './download.js';
import { downloadRig, quiet, sha, Sink } from './testing/download-fixtures.js';

describe('downloadFile: size and sha256', () => {
  const { server, body, dir, remote, leftovers } = downloadRig();

  test('size mismatch against the pinned size: error before downloading, nothing left', async () => {
    server.routes.set('/m', { body });
    await assert.rejects(downloadFile(remote('/m', { size: body.length - 1 }), dir(), quiet), (e: Error) => {
      assert.equal(e.message, `${server.url('/m')}: size mismatch: expected ${body.length - 1} bytes, the server states ${body.length}; the registry entry may be out of date`);
      return true;
    });
    assert.deepEqual(await leftovers(), []);
  });

  test('size mismatch found after the last byte (no stated length): error, no file, no .part', async () => {
    server.routes.set('/m', { body, chunked: true });
    await assert.rejects(downloadFile(remote('/m', { size: body.length + 10 }), dir(), quiet), (e: Error) => {
      assert.equal(e.message, `${server.url('/m')}: size mismatch: expected ${body.length + 10} bytes, got ${body.length}; the download was deleted, run again`);
      return true;
    });
    assert.deepEqual(await leftovers(), []);
  });

  test('a server sending more than it should: size mismatch, nothing left', async () => {
    server.routes.set('/m', { body, chunked: true });
    await assert.rejects(downloadFile(remote('/m', { size: 1000 }), dir(), quiet), /size mismatch: expected 1000 bytes, the server sent more/);
    assert.deepEqual(await leftovers(), []);
  });

  test('sha256 mismatch against the pinned digest: error naming URL, expected and actual; nothing left', async () => {
    server.routes.set('/m', { body });
    const wrong = 'ab'.repeat(32);
    await assert.rejects(downloadFile(remote('/m', { sha256: wrong }), dir(), quiet), (e: Error) => {
      assert.equal(e.message, `${server.url('/m')}: sha256 mismatch: expected ${wrong}, got ${sha(body)}; the download was deleted, run again`);
      return true;
    });
    assert.deepEqual(await leftovers(), []);
  });

  test('x-linked-etag (quoted sha256 on the redirect hop) verifies the download; x-linked-size gives the size', async () => {
    const stated = { 'x-linked-etag': `"${sha(body)}"`, 'x-linked-size': String(body.length) };
    server.routes.set('/resolve/m', { redirectTo: server.url('/cdn/blob'), headers: stated });
    server.routes.set('/cdn/blob', { body, chunked: true });
    const out = new Sink();
    const r = await downloadFile(remote('/resolve/m'), dir(), { ...quiet, progress: out });
    assert.equal(r.sha256, sha(body));
    assert.match(out.text, /downloading 300 kB/); // the size came from x-linked-size: the CDN sent none
    assert.match(out.text, /sha256 verified/);
  });

  test('x-linked-etag mismatch: error with expected and actual, nothing left', async () => {
    const other = sha(Buffer.from('another file'));
    server.routes.set('/resolve/m', { redirectTo: server.url('/cdn/blob'), headers: { 'x-linked-etag': `"${other}"` } });
    server.routes.set('/cdn/blob', { body });
    await assert.rejects(downloadFile(remote('/resolve/m'), dir(), quiet),
      new RegExp(`sha256 mismatch: expected ${other}, got ${sha(body)}; the download was deleted`));
    assert.deepEqual(await leftovers(), []);
  });

  test('a 40-hex git etag (small non-LFS file) is not taken for a sha256', async () => {
    server.routes.set('/m', { body, headers: { 'x-linked-etag': `"${'a'.repeat(40)}"` } });
    const out = new Sink();
    const r = await downloadFile(remote('/m'), dir(), { ...quiet, progress: out });
    assert.equal(r.sha256, sha(body));
    assert.match(out.text, new RegExp(`sha256 ${sha(body)} \\(not stated by the server\\)`));
  });

  test('the file changing on the server between attempts restarts from zero', async () => {
    const v2 = randomBytes(200_000);
    server.routes.set('/m', {
      body: (n) => (n === 0 ? body : v2),
      headers: (n) => ({ 'x-linked-etag': `"${sha(n === 0 ? body : v2)}"` }),
      cut: [50_000],
    });
    const r = await downloadFile(remote('/m'), dir(), quiet);
    assert.deepEqual(server.seen.map((s) => s.range), [undefined, 'bytes=50000-', undefined]);
    assert.ok((await readFile(r.path)).equals(v2));
  });
});
