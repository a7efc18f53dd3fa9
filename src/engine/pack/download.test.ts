import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { authorizationFor, defaultCacheDir, downloadFile, etagSha256, fetchFiles, type DownloadOptions } from './download.js';
import { formatBytes } from '../progress.js';
import type { RegistryEntry, RemoteFile } from './registry.js';

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** What the fake server does for one path; functions of `n` vary it per request to that path. */
interface Route {
  body?: Buffer | ((n: number) => Buffer);
  headers?: Record<string, string> | ((n: number) => Record<string, string>);
  status?: number;
  redirectTo?: string;
  /** Ignore Range and always send the whole body with 200. */
  noRanges?: boolean;
  /** Answer any Range with a 206 that starts at 0 (a broken server). */
  wrongRange?: boolean;
  /** Per request index: close the connection after this many body bytes. */
  cut?: (number | undefined)[];
  /** Send this many bytes, then never finish. */
  stallAfter?: number;
  /** No Content-Length: chunked encoding. */
  chunked?: boolean;
}

interface Seen { path: string; range?: string; auth?: string; encoding?: string }

class FakeServer {
  readonly routes = new Map<string, Route>();
  readonly seen: Seen[] = [];
  private server!: Server;
  base = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((ok) => this.server.listen(0, '127.0.0.1', ok));
    this.base = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((ok) => this.server.close(() => ok()));
  }

  url(path: string): string {
    return `${this.base}${path}`;
  }

  requests(path: string): Seen[] {
    return this.seen.filter((s) => s.path === path);
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0]!;
    const n = this.requests(path).length;
    this.seen.push({ path, range: req.headers.range, auth: req.headers.authorization, encoding: req.headers['accept-encoding'] });
    const r = this.routes.get(path);
    if (!r) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('no such file');
      return;
    }
    const headers = typeof r.headers === 'function' ? r.headers(n) : { ...r.headers };
    if (r.status) {
      res.writeHead(r.status, headers).end();
      return;
    }
    if (r.redirectTo) {
      res.writeHead(302, { ...headers, location: r.redirectTo }).end('redirecting');
      return;
    }
    const body = typeof r.body === 'function' ? r.body(n) : r.body!;
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    let start = 0;
    if (m && !r.noRanges) {
      start = r.wrongRange ? 0 : Number(m[1]);
      if (start >= body.length) {
        res.writeHead(416, { ...headers, 'content-range': `bytes */${body.length}` }).end();
        return;
      }
      headers['content-range'] = `bytes ${start}-${body.length - 1}/${body.length}`;
    }
    if (!r.chunked) headers['content-length'] = String(body.length - start);
    res.writeHead(m && !r.noRanges ? 206 : 200, headers);
    const rest = body.subarray(start);
    const cut = r.cut?.[n];
    if (cut !== undefined) {
      // The pause lets the client read every byte sent before it sees the close: a web stream drops
      // chunks still queued when it errors, which would make the resume offset vary.
      res.write(rest.subarray(0, cut), () => setTimeout(() => res.socket?.destroy(), 40));
    } else if (r.stallAfter !== undefined) {
      res.write(rest.subarray(0, r.stallAfter));
    } else {
      res.end(rest);
    }
  }
}

/** A stream that keeps what is written, optionally posing as a terminal. */
class Sink extends Writable {
  text = '';
  constructor(readonly isTTY = false) {
    super();
  }
  columns = 100;
  override _write(chunk: Buffer, _enc: string, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

/** Runs `fn` while recording anything written to stdout (which must stay clean for --json). */
async function stdoutDuring<T>(fn: () => Promise<T>): Promise<{ value: T; written: string }> {
  const original = process.stdout.write;
  let written = '';
  process.stdout.write = ((chunk: string | Uint8Array) => {
    written += chunk.toString();
    return true;
  }) as typeof process.stdout.write;
  try {
    return { value: await fn(), written };
  } finally {
    process.stdout.write = original;
  }
}

const quiet: DownloadOptions = { progress: false, retryDelayMs: 1 };

describe('downloadFile', () => {
  const server = new FakeServer();
  const body = randomBytes(300_000);
  let dir: string;

  before(() => server.start());
  after(() => server.stop());
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'clipag-dl-'));
    server.routes.clear();
    server.seen.length = 0;
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  const remote = (path: string, extra: Partial<RemoteFile> = {}): RemoteFile => ({ url: server.url(path), name: 'model.bin', ...extra });
  const leftovers = async (): Promise<string[]> => (await readdir(dir)).filter((f) => !f.endsWith('.lock'));

  test('downloads the whole file, reports its sha256, leaves only the file and its record', async () => {
    server.routes.set('/m', { body });
    const r = await downloadFile(remote('/m'), dir, quiet);
    assert.deepEqual(r, { path: join(dir, 'model.bin'), size: body.length, sha256: sha(body), resumed: false });
    assert.ok((await readFile(r.path)).equals(body));
    assert.deepEqual((await readdir(dir)).sort(), ['model.bin', 'model.bin.verified.json']);
    assert.equal(server.seen[0]!.range, undefined);
    // A transparently decompressed body would not match Content-Length or the digest.
    assert.equal(server.seen[0]!.encoding, 'identity');
  });

  test('resumes with Range after the server cuts the connection mid-body', async () => {
    server.routes.set('/m', { body, cut: [100_000] });
    const r = await downloadFile(remote('/m'), dir, quiet);
    const reqs = server.requests('/m');
    assert.equal(reqs.length, 2);
    assert.equal(reqs[1]!.range, 'bytes=100000-');
    assert.equal(r.resumed, true);
    assert.equal(r.sha256, sha(body));
    assert.ok((await readFile(r.path)).equals(body));
  });

  test('resumes across calls: a failed run keeps its .part and the next run continues it', async () => {
    server.routes.set('/m', { body, cut: [70_000] });
    await assert.rejects(downloadFile(remote('/m'), dir, { ...quiet, retries: 0 }), (e: Error) => {
      assert.match(e.message, new RegExp(`^${server.url('/m')}: connection lost .*gave up after 1 attempt; run again to resume`));
      assert.ok(!e.message.includes('\n'));
      return true;
    });
    assert.ok(!existsSync(join(dir, 'model.bin')), 'nothing half-written has the final name');
    assert.equal((await readFile(join(dir, 'model.bin.part'))).length, 70_000);
    const r = await downloadFile(remote('/m'), dir, quiet);
    assert.equal(server.requests('/m')[1]!.range, 'bytes=70000-');
    assert.equal(r.resumed, true);
    assert.ok((await readFile(r.path)).equals(body));
  });

  test('resumes from a .part already on disk', async () => {
    server.routes.set('/m', { body });
    await writeFile(join(dir, 'model.bin.part'), body.subarray(0, 1234));
    const r = await downloadFile(remote('/m'), dir, quiet);
    assert.equal(server.seen[0]!.range, 'bytes=1234-');
    assert.equal(r.resumed, true);
    assert.equal(r.sha256, sha(body));
  });

  test('a server that ignores Range (200) restarts cleanly from zero', async () => {
    server.routes.set('/m', { body, noRanges: true });
    await writeFile(join(dir, 'model.bin.part'), randomBytes(5000)); // bytes that are not the file's
    const r = await downloadFile(remote('/m'), dir, quiet);
    assert.equal(server.seen[0]!.range, 'bytes=5000-');
    assert.equal(r.resumed, false);
    assert.ok((await readFile(r.path)).equals(body));
  });

  test('a 206 for a different range than asked starts again from zero', async () => {
    server.routes.set('/m', { body, wrongRange: true });
    await writeFile(join(dir, 'model.bin.part'), body.subarray(0, 4000));
    const r = await downloadFile(remote('/m'), dir, quiet);
    assert.deepEqual(server.seen.map((s) => s.range), ['bytes=4000-', undefined]);
    assert.ok((await readFile(r.path)).equals(body));
  });

  test('a complete, verified file is not downloaded again: the server sees no request', async () => {
    server.routes.set('/m', { body });
    const first = await downloadFile(remote('/m'), dir, quiet);
    assert.equal(server.seen.length, 1);
    const again = await downloadFile(remote('/m'), dir, quiet);
    assert.equal(server.seen.length, 1);
    assert.deepEqual(again, { ...first, resumed: false });
  });

  test('a file with a pinned sha256 is trusted without a request; a corrupt one is fetched again', async () => {
    server.routes.set('/m', { body });
    await writeFile(join(dir, 'model.bin'), body);
    const pinned = remote('/m', { sha256: sha(body), size: body.length });
    const r = await downloadFile(pinned, dir, quiet);
    assert.equal(server.seen.length, 0);
    assert.equal(r.sha256, sha(body));
    await writeFile(join(dir, 'model.bin'), randomBytes(body.length));
    const fixed = await downloadFile(pinned, dir, quiet);
    assert.equal(server.seen.length, 1);
    assert.ok((await readFile(fixed.path)).equals(body));
  });

  test('a final file nothing vouches for is checked by a resume request (416) and kept', async () => {
    server.routes.set('/m', { body });
    await writeFile(join(dir, 'model.bin'), body);
    const r = await downloadFile(remote('/m'), dir, quiet);
    assert.deepEqual(server.seen.map((s) => s.range), [`bytes=${body.length}-`]);
    assert.equal(r.sha256, sha(body));
    assert.ok((await readFile(r.path)).equals(body));
  });

  test('416 for a part longer than the file: starts again', async () => {
    server.routes.set('/m', { body });
    await writeFile(join(dir, 'model.bin.part'), Buffer.concat([body, Buffer.from('extra')]));
    const r = await downloadFile(remote('/m'), dir, quiet);
    assert.deepEqual(server.seen.map((s) => s.range), [`bytes=${body.length + 5}-`, undefined]);
    assert.ok((await readFile(r.path)).equals(body));
  });

  test('size mismatch against the pinned size: error before downloading, nothing left', async () => {
    server.routes.set('/m', { body });
    await assert.rejects(downloadFile(remote('/m', { size: body.length - 1 }), dir, quiet), (e: Error) => {
      assert.equal(e.message, `${server.url('/m')}: size mismatch: expected ${body.length - 1} bytes, the server states ${body.length}; the registry entry may be out of date`);
      return true;
    });
    assert.deepEqual(await leftovers(), []);
  });

  test('size mismatch found after the last byte (no stated length): error, no file, no .part', async () => {
    server.routes.set('/m', { body, chunked: true });
    await assert.rejects(downloadFile(remote('/m', { size: body.length + 10 }), dir, quiet), (e: Error) => {
      assert.equal(e.message, `${server.url('/m')}: size mismatch: expected ${body.length + 10} bytes, got ${body.length}; the download was deleted, run again`);
      return true;
    });
    assert.deepEqual(await leftovers(), []);
  });

  test('a server sending more than it should: size mismatch, nothing left', async () => {
    server.routes.set('/m', { body, chunked: true });
    await assert.rejects(downloadFile(remote('/m', { size: 1000 }), dir, quiet), /size mismatch: expected 1000 bytes, the server sent more/);
    assert.deepEqual(await leftovers(), []);
  });

  test('sha256 mismatch against the pinned digest: error naming URL, expected and actual; nothing left', async () => {
    server.routes.set('/m', { body });
    const wrong = 'ab'.repeat(32);
    await assert.rejects(downloadFile(remote('/m', { sha256: wrong }), dir, quiet), (e: Error) => {
      assert.equal(e.message, `${server.url('/m')}: sha256 mismatch: expected ${wrong}, got ${sha(body)}; the download was deleted, run again`);
      return true;
    });
    assert.deepEqual(await leftovers(), []);
  });

  test('404: one line naming the URL, suggesting --registry; nothing left', async () => {
    await assert.rejects(downloadFile(remote('/missing'), dir, quiet), (e: Error) => {
      assert.match(e.message, new RegExp(`^${server.url('/missing')}: not found \\(HTTP 404 Not Found\\); .*--registry FILE`));
      assert.ok(!e.message.includes('\n'));
      return true;
    });
    assert.deepEqual(await leftovers(), []);
  });

  test('server errors are retried with backoff, then reported', async () => {
    server.routes.set('/m', { status: 503 });
    await assert.rejects(downloadFile(remote('/m'), dir, { ...quiet, retries: 2 }),
      new RegExp(`^Error: ${server.url('/m')}: HTTP 503 Service Unavailable; gave up after 3 attempts`));
    assert.equal(server.seen.length, 3);
  });

  test('connection refused: one line naming the URL and the problem, suggesting --registry', async () => {
    const closed = new FakeServer();
    await closed.start();
    await closed.stop();
    const url = closed.url('/m');
    await assert.rejects(downloadFile({ url, name: 'model.bin' }, dir, quiet), (e: Error) => {
      assert.match(e.message, new RegExp(`^${url}: connection refused \\(.*\\); check the network, or use --registry FILE`));
      assert.ok(!e.message.includes('\n'));
      return true;
    });
  });

  test('x-linked-etag (quoted sha256 on the redirect hop) verifies the download; x-linked-size gives the size', async () => {
    const stated = { 'x-linked-etag': `"${sha(body)}"`, 'x-linked-size': String(body.length) };
    server.routes.set('/resolve/m', { redirectTo: server.url('/cdn/blob'), headers: stated });
    server.routes.set('/cdn/blob', { body, chunked: true });
    const out = new Sink();
    const r = await downloadFile(remote('/resolve/m'), dir, { ...quiet, progress: out });
    assert.equal(r.sha256, sha(body));
    assert.match(out.text, /downloading 300 kB/); // the size came from x-linked-size: the CDN sent none
    assert.match(out.text, /sha256 verified/);
  });

  test('x-linked-etag mismatch: error with expected and actual, nothing left', async () => {
    const other = sha(Buffer.from('another file'));
    server.routes.set('/resolve/m', { redirectTo: server.url('/cdn/blob'), headers: { 'x-linked-etag': `"${other}"` } });
    server.routes.set('/cdn/blob', { body });
    await assert.rejects(downloadFile(remote('/resolve/m'), dir, quiet),
      new RegExp(`sha256 mismatch: expected ${other}, got ${sha(body)}; the download was deleted`));
    assert.deepEqual(await leftovers(), []);
  });

  test('a 40-hex git etag (small non-LFS file) is not taken for a sha256', async () => {
    server.routes.set('/m', { body, headers: { 'x-linked-etag': `"${'a'.repeat(40)}"` } });
    const out = new Sink();
    const r = await downloadFile(remote('/m'), dir, { ...quiet, progress: out });
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
    const r = await downloadFile(remote('/m'), dir, quiet);
    assert.deepEqual(server.seen.map((s) => s.range), [undefined, 'bytes=50000-', undefined]);
    assert.ok((await readFile(r.path)).equals(v2));
  });

  test('follows relative redirects', async () => {
    server.routes.set('/old', { redirectTo: '/new' });
    server.routes.set('/new', { body });
    const r = await downloadFile(remote('/old'), dir, quiet);
    assert.equal(r.sha256, sha(body));
  });

  test('progress goes to the given stream, never to stdout: lines per 10 % when not a terminal', async () => {
    server.routes.set('/m', { body: randomBytes(3_000_000) });
    const out = new Sink();
    const { written } = await stdoutDuring(() => downloadFile(remote('/m'), dir, { ...quiet, progress: out }));
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
    const { written } = await stdoutDuring(() => downloadFile(remote('/m'), dir, { ...quiet, progress: out }));
    assert.equal(written, '');
    assert.match(out.text, /model\.bin \[[^\]]*\] 100% \| 300 kB \/ 300 kB/);
  });

  test('progress works when the size is unknown (no Content-Length, nothing pinned)', async () => {
    server.routes.set('/m', { body, chunked: true });
    const plain = new Sink();
    await downloadFile(remote('/m'), dir, { ...quiet, progress: plain });
    assert.match(plain.text, /^model\.bin: downloading\nmodel\.bin: done, 300 kB; sha256 [0-9a-f]{64} \(not stated by the server\)\n$/);
    await rm(join(dir, 'model.bin'));
    const tty = new Sink(true);
    await downloadFile(remote('/m'), dir, { ...quiet, progress: tty });
    assert.match(tty.text, /model\.bin 300 kB \| [\d.]+ [kMG]?B\/s/);
    assert.ok(!tty.text.includes('NaN'), tty.text);
  });

  test('progress: false writes nothing anywhere', async () => {
    server.routes.set('/m', { body, cut: [1000] });
    const { written } = await stdoutDuring(() => downloadFile(remote('/m'), dir, quiet));
    assert.equal(written, '');
  });

  test('retries are reported on the progress stream', async () => {
    server.routes.set('/m', { body, cut: [1000] });
    const out = new Sink();
    await downloadFile(remote('/m'), dir, { ...quiet, progress: out });
    assert.match(out.text, /model\.bin: .*connection lost .*; retrying in 0\.00 s \(attempt 2 of 6\)/);
    assert.match(out.text, /model\.bin: resuming at 1\.00 kB of 300 kB/);
  });

  test('abort keeps the .part for the next run', async () => {
    server.routes.set('/m', { body, stallAfter: 10_000 });
    const ac = new AbortController();
    const p = downloadFile(remote('/m'), dir, { ...quiet, signal: ac.signal });
    for (let i = 0; i < 200 && !existsSync(join(dir, 'model.bin.part')); i++) await new Promise((ok) => setTimeout(ok, 5));
    await new Promise((ok) => setTimeout(ok, 50));
    ac.abort();
    await assert.rejects(p, /download interrupted; run again to resume/);
    assert.ok(existsSync(join(dir, 'model.bin.part')));
    assert.ok(!existsSync(join(dir, 'model.bin')));
  });

  test('a second download of the same file is refused while the first holds the lock; a stale lock is taken over', async () => {
    server.routes.set('/m', { body });
    await writeFile(join(dir, 'model.bin.lock'), String(process.pid));
    await assert.rejects(downloadFile(remote('/m'), dir, quiet), /another download of this file is running \(pid \d+\)/);
    await writeFile(join(dir, 'model.bin.lock'), '999999999');
    await downloadFile(remote('/m'), dir, quiet);
    assert.ok(!existsSync(join(dir, 'model.bin.lock')));
  });

  test('refuses a file name that would leave the folder', async () => {
    await assert.rejects(downloadFile({ url: server.url('/m'), name: '../x' }, dir, quiet), /"\.\.\/x" is not a plain file name/);
  });

  test('file: URLs (offline registries) download and resume like HTTP', async () => {
    const src = join(dir, 'src');
    await mkdir(src);
    await writeFile(join(src, 'ck.pt'), body);
    const out = join(dir, 'out');
    await mkdir(out);
    await writeFile(join(out, 'ck.pt.part'), body.subarray(0, 777));
    const r = await downloadFile({ url: pathToFileURL(join(src, 'ck.pt')).href, name: 'ck.pt', sha256: sha(body) }, out, quiet);
    assert.equal(r.resumed, true);
    assert.ok((await readFile(r.path)).equals(body));
    await assert.rejects(downloadFile({ url: pathToFileURL(join(src, 'nope.pt')).href, name: 'nope.pt' }, out, quiet),
      /nope\.pt: cannot read \(ENOENT\); check the registry's url/);
  });
});

describe('Hugging Face token', () => {
  test('authorizationFor: huggingface.co over https only', () => {
    const env = { HF_TOKEN: 'hf_secret' };
    assert.equal(authorizationFor(new URL('https://huggingface.co/a/b/resolve/main/x'), env), 'Bearer hf_secret');
    for (const u of ['http://huggingface.co/x', 'https://cdn-lfs.huggingface.co/x', 'https://cas-bridge.xethub.hf.co/x',
      'https://huggingface.co.evil.example/x', 'https://zenodo.org/x', 'https://github.com/x']) {
      assert.equal(authorizationFor(new URL(u), env), undefined, u);
    }
    assert.equal(authorizationFor(new URL('https://huggingface.co/x'), {}), undefined);
    assert.equal(authorizationFor(new URL('https://huggingface.co/x'), { HF_TOKEN: '  ' }), undefined);
  });

  const server = new FakeServer();
  let dir: string;
  const saved = process.env.HF_TOKEN;
  before(async () => {
    await server.start();
    process.env.HF_TOKEN = 'hf_secret';
  });
  after(async () => {
    await server.stop();
    if (saved === undefined) delete process.env.HF_TOKEN;
    else process.env.HF_TOKEN = saved;
  });
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'clipag-dl-'));
    server.routes.clear();
    server.seen.length = 0;
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  /** Stands in for the network: huggingface.co and its CDN are both served by the local server. */
  const hosts: { host: string; auth: string | null }[] = [];
  const viaLocal: typeof fetch = async (input, init) => {
    const u = new URL(input instanceof Request ? input.url : String(input));
    hosts.push({ host: u.host, auth: new Headers(init?.headers).get('authorization') });
    const prefix = u.host === 'huggingface.co' ? '/hf' : u.host === 'cdn-lfs.hf.co' ? '/cdn' : '/other';
    return fetch(server.url(prefix + u.pathname + u.search), init);
  };

  test('the token goes to huggingface.co and is not forwarded to the CDN it redirects to', async () => {
    hosts.length = 0;
    const body = randomBytes(50_000);
    server.routes.set('/hf/chs20/x/resolve/main/open_clip_pytorch_model.bin', {
      redirectTo: 'https://cdn-lfs.hf.co/repos/ab/cd/blob?sig=1', headers: { 'x-linked-etag': `"${sha(body)}"` },
    });
    server.routes.set('/cdn/repos/ab/cd/blob', { body });
    const out = new Sink();
    const r = await downloadFile({ url: 'https://huggingface.co/chs20/x/resolve/main/open_clip_pytorch_model.bin', name: 'w.bin' },
      dir, { ...quiet, progress: out, fetch: viaLocal });
    assert.equal(r.sha256, sha(body));
    assert.deepEqual(hosts, [{ host: 'huggingface.co', auth: 'Bearer hf_secret' }, { host: 'cdn-lfs.hf.co', auth: null }]);
    assert.deepEqual(server.seen.map((s) => s.auth), ['Bearer hf_secret', undefined]);
    assert.ok(!out.text.includes('hf_secret'));
  });

  test('never sent to other hosts', async () => {
    server.routes.set('/m', { body: Buffer.from('x') });
    await downloadFile({ url: server.url('/m'), name: 'm' }, dir, quiet);
    assert.equal(server.seen[0]!.auth, undefined);
  });

  test('401/403 from huggingface.co: the repo may be gated, HF_TOKEN is read; the token is not shown', async () => {
    server.routes.set('/hf/org/gated/resolve/main/w.bin', { status: 401 });
    await assert.rejects(downloadFile({ url: 'https://huggingface.co/org/gated/resolve/main/w.bin', name: 'w.bin' }, dir, { ...quiet, fetch: viaLocal }),
      (e: Error) => {
        assert.match(e.message, /^https:\/\/huggingface\.co\/org\/gated\/resolve\/main\/w\.bin: access denied \(HTTP 401 Unauthorized\); the repository may be gated: .*HF_TOKEN/);
        assert.ok(!e.message.includes('hf_secret'));
        return true;
      });
    delete process.env.HF_TOKEN;
    try {
      await assert.rejects(downloadFile({ url: 'https://huggingface.co/org/gated/resolve/main/w.bin', name: 'w.bin' }, dir, { ...quiet, fetch: viaLocal }),
        /may be gated: accept its terms on huggingface\.co and set HF_TOKEN \(it is read, and sent to huggingface\.co only\)/);
    } finally {
      process.env.HF_TOKEN = 'hf_secret';
    }
    assert.deepEqual(await readdir(dir), []);
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
