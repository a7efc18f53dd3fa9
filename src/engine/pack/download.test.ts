import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { defaultCacheDir, downloadFile, etagSha256, fetchFiles } from './download.js';
import { formatBytes } from '../progress.js';
import type { RegistryEntry } from './registry.js';
import { downloadRig, FakeServer, quiet, sha } from './testing/download-fixtures.js';

describe('downloadFile', () => {
  const { server, body, dir, remote } = downloadRig();

  test('downloads the whole file, reports its sha256, leaves only the file and its record', async () => {
    server.routes.set('/m', { body });
    const r = await downloadFile(remote('/m'), dir(), quiet);
    assert.deepEqual(r, { path: join(dir(), 'model.bin'), size: body.length, sha256: sha(body), resumed: false });
    assert.ok((await readFile(r.path)).equals(body));
    assert.deepEqual((await readdir(dir())).sort(), ['model.bin', 'model.bin.verified.json']);
    assert.equal(server.seen[0]!.range, undefined);
    // A transparently decompressed body would not match Content-Length or the digest.
    assert.equal(server.seen[0]!.encoding, 'identity');
  });

  test('resumes with Range after the server cuts the connection mid-body', async () => {
    server.routes.set('/m', { body, cut: [100_000] });
    const r = await downloadFile(remote('/m'), dir(), quiet);
    const reqs = server.requests('/m');
    assert.equal(reqs.length, 2);
    assert.equal(reqs[1]!.range, 'bytes=100000-');
    assert.equal(r.resumed, true);
    assert.equal(r.sha256, sha(body));
    assert.ok((await readFile(r.path)).equals(body));
  });

  test('resumes across calls: a failed run keeps its .part and the next run continues it', async () => {
    server.routes.set('/m', { body, cut: [70_000] });
    await assert.rejects(downloadFile(remote('/m'), dir(), { ...quiet, retries: 0 }), (e: Error) => {
      assert.match(e.message, new RegExp(`^${server.url('/m')}: connection lost .*gave up after 1 attempt; run again to resume`));
      assert.ok(!e.message.includes('\n'));
      return true;
    });
    assert.ok(!existsSync(join(dir(), 'model.bin')), 'nothing half-written has the final name');
    assert.equal((await readFile(join(dir(), 'model.bin.part'))).length, 70_000);
    const r = await downloadFile(remote('/m'), dir(), quiet);
    assert.equal(server.requests('/m')[1]!.range, 'bytes=70000-');
    assert.equal(r.resumed, true);
    assert.ok((await readFile(r.path)).equals(body));
  });

  test('resumes from a .part already on disk', async () => {
    server.routes.set('/m', { body });
    await writeFile(join(dir(), 'model.bin.part'), body.subarray(0, 1234));
    const r = await downloadFile(remote('/m'), dir(), quiet);
    assert.equal(server.seen[0]!.range, 'bytes=1234-');
    assert.equal(r.resumed, true);
    assert.equal(r.sha256, sha(body));
  });

  test('a server that ignores Range (200) restarts cleanly from zero', async () => {
    server.routes.set('/m', { body, noRanges: true });
    await writeFile(join(dir(), 'model.bin.part'), randomBytes(5000)); // bytes that are not the file's
    const r = await downloadFile(remote('/m'), dir(), quiet);
    assert.equal(server.seen[0]!.range, 'bytes=5000-');
    assert.equal(r.resumed, false);
    assert.ok((await readFile(r.path)).equals(body));
  });

  test('a 206 for a different range than asked starts again from zero', async () => {
    server.routes.set('/m', { body, wrongRange: true });
    await writeFile(join(dir(), 'model.bin.part'), body.subarray(0, 4000));
    const r = await downloadFile(remote('/m'), dir(), quiet);
    assert.deepEqual(server.seen.map((s) => s.range), ['bytes=4000-', undefined]);
    assert.ok((await readFile(r.path)).equals(body));
  });

  test('a complete, verified file is not downloaded again: the server sees no request', async () => {
    server.routes.set('/m', { body });
    const first = await downloadFile(remote('/m'), dir(), quiet);
    assert.equal(server.seen.length, 1);
    const again = await downloadFile(remote('/m'), dir(), quiet);
    assert.equal(server.seen.length, 1);
    assert.deepEqual(again, { ...first, resumed: false });
  });

  test('a file with a pinned sha256 is trusted without a request; a corrupt one is fetched again', async () => {
    server.routes.set('/m', { body });
    await writeFile(join(dir(), 'model.bin'), body);
    const pinned = remote('/m', { sha256: sha(body), size: body.length });
    const r = await downloadFile(pinned, dir(), quiet);
    assert.equal(server.seen.length, 0);
    assert.equal(r.sha256, sha(body));
    await writeFile(join(dir(), 'model.bin'), randomBytes(body.length));
    const fixed = await downloadFile(pinned, dir(), quiet);
    assert.equal(server.seen.length, 1);
    assert.ok((await readFile(fixed.path)).equals(body));
  });

  test('a final file nothing vouches for is checked by a resume request (416) and kept', async () => {
    server.routes.set('/m', { body });
    await writeFile(join(dir(), 'model.bin'), body);
    const r = await downloadFile(remote('/m'), dir(), quiet);
    assert.deepEqual(server.seen.map((s) => s.range), [`bytes=${body.length}-`]);
    assert.equal(r.sha256, sha(body));
    assert.ok((await readFile(r.path)).equals(body));
  });

  test('416 for a part longer than the file: starts again', async () => {
    server.routes.set('/m', { body });
    await writeFile(join(dir(), 'model.bin.part'), Buffer.concat([body, Buffer.from('extra')]));
    const r = await downloadFile(remote('/m'), dir(), quiet);
    assert.deepEqual(server.seen.map((s) => s.range), [`bytes=${body.length + 5}-`, undefined]);
    assert.ok((await readFile(r.path)).equals(body));
  });

  test('follows relative redirects', async () => {
    server.routes.set('/old', { redirectTo: '/new' });
    server.routes.set('/new', { body });
    const r = await downloadFile(remote('/old'), dir(), quiet);
    assert.equal(r.sha256, sha(body));
  });

  test('abort keeps the .part for the next run', async () => {
    server.routes.set('/m', { body, stallAfter: 10_000 });
    const ac = new AbortController();
    const p = downloadFile(remote('/m'), dir(), { ...quiet, signal: ac.signal });
    for (let i = 0; i < 200 && !existsSync(join(dir(), 'model.bin.part')); i++) await new Promise((ok) => setTimeout(ok, 5));
    await new Promise((ok) => setTimeout(ok, 50));
    ac.abort();
    await assert.rejects(p, /download interrupted; run again to resume/);
    assert.ok(existsSync(join(dir(), 'model.bin.part')));
    assert.ok(!existsSync(join(dir(), 'model.bin')));
  });

  test('a second download of the same file is refused while the first holds the lock; a stale lock is taken over', async () => {
    server.routes.set('/m', { body });
    await writeFile(join(dir(), 'model.bin.lock'), String(process.pid));
    await assert.rejects(downloadFile(remote('/m'), dir(), quiet), /another download of this file is running \(pid \d+\)/);
    await writeFile(join(dir(), 'model.bin.lock'), '999999999');
    await downloadFile(remote('/m'), dir(), quiet);
    assert.ok(!existsSync(join(dir(), 'model.bin.lock')));
  });

  test('refuses a file name that would leave the folder', async () => {
    await assert.rejects(downloadFile({ url: server.url('/m'), name: '../x' }, dir(), quiet), /"\.\.\/x" is not a plain file name/);
  });

  test('file: URLs (offline registries) download and resume like HTTP', async () => {
    const src = join(dir(), 'src');
    await mkdir(src);
    await writeFile(join(src, 'ck.pt'), body);
    const out = join(dir(), 'out');
    await mkdir(out);
    await writeFile(join(out, 'ck.pt.part'), body.subarray(0, 777));
    const r = await downloadFile({ url: pathToFileURL(join(src, 'ck.pt')).href, name: 'ck.pt', sha256: sha(body) }, out, quiet);
    assert.equal(r.resumed, true);
    assert.ok((await readFile(r.path)).equals(body));
    await assert.rejects(downloadFile({ url: pathToFileURL(join(src, 'nope.pt')).href, name: 'nope.pt' }, out, quiet),
      /nope\.pt: cannot read \(ENOENT\); check the registry's url/);
  });
});

describe('fetchFiles', () => {
  const server = new FakeServer();
  let cache: string;
  before(async () => {
    await server.start();
    cache = await mkdtemp(join(tmpdir(), 'clipag-cache-'));
  });
  after(async () => {
    await server.stop();
    await rm(cache, { recursive: true, force: true });
  });

  test('downloads every file and the tokenizer under <cache>/downloads/<entry>/', async () => {
    const ck = randomBytes(20_000);
    const cfg = Buffer.from('{"model_cfg": {}}');
    const bpe = randomBytes(3000);
    server.routes.set('/ck', { body: ck });
    server.routes.set('/cfg', { body: cfg });
    server.routes.set('/bpe', { body: bpe });
    const entry: RegistryEntry = {
      name: 'test-model', description: 't',
      files: [{ url: server.url('/ck'), name: 'open_clip_pytorch_model.bin' }, { url: server.url('/cfg'), name: 'open_clip_config.json' }],
      checkpoint: 'open_clip_pytorch_model.bin', config: 'open_clip_config.json',
      tokenizer: { url: server.url('/bpe'), name: 'bpe.txt.gz', size: bpe.length, sha256: sha(bpe) },
    };
    const got = await fetchFiles(entry, cache, quiet);
    const dir = join(cache, 'downloads', 'test-model');
    assert.deepEqual(Object.keys(got), ['open_clip_pytorch_model.bin', 'open_clip_config.json', 'bpe.txt.gz']);
    assert.equal(got['open_clip_pytorch_model.bin']!.path, join(dir, 'open_clip_pytorch_model.bin'));
    assert.equal(got['open_clip_pytorch_model.bin']!.sha256, sha(ck));
    assert.ok((await readFile(got['open_clip_config.json']!.path)).equals(cfg));
    assert.ok((await readFile(got['bpe.txt.gz']!.path)).equals(bpe));
  });
});

describe('helpers', () => {
  test('defaultCacheDir: $CLIPAG_CACHE, else $XDG_CACHE_HOME/clipag, else ~/.cache/clipag', () => {
    assert.equal(defaultCacheDir({ CLIPAG_CACHE: '/c', XDG_CACHE_HOME: '/x' }), '/c');
    assert.equal(defaultCacheDir({ XDG_CACHE_HOME: '/x' }), join('/x', 'clipag'));
    assert.match(defaultCacheDir({}), /[/\\]\.cache[/\\]clipag$/);
  });

  test('etagSha256 unquotes a 64-hex digest and ignores anything else', () => {
    const d = 'A'.repeat(64);
    assert.equal(etagSha256(`"${d}"`), d.toLowerCase());
    assert.equal(etagSha256(`W/"${d}"`), d.toLowerCase());
    assert.equal(etagSha256('"abc"'), undefined);
    assert.equal(etagSha256(`"${'a'.repeat(40)}"`), undefined);
    assert.equal(etagSha256(undefined), undefined);
  });

  test('formatBytes', () => {
    assert.equal(formatBytes(999), '999 B');
    assert.equal(formatBytes(1356917), '1.36 MB');
    assert.equal(formatBytes(1_300_000_000), '1.30 GB');
    assert.equal(formatBytes(605_000_000), '605 MB');
  });
});
