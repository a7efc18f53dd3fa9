import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { authorizationFor, downloadFile } from './download.js';
import { downloadRig, quiet, sha, Sink } from './testing/download-fixtures.js';

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

  const { server, dir } = downloadRig();
  const saved = process.env.HF_TOKEN;
  before(() => {
    process.env.HF_TOKEN = 'hf_secret';
  });
  after(() => {
    if (saved === undefined) delete process.env.HF_TOKEN;
    else process.env.HF_TOKEN = saved;
  });

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
      dir(), { ...quiet, progress: out, fetch: viaLocal });
    assert.equal(r.sha256, sha(body));
    assert.deepEqual(hosts, [{ host: 'huggingface.co', auth: 'Bearer hf_secret' }, { host: 'cdn-lfs.hf.co', auth: null }]);
    assert.deepEqual(server.seen.map((s) => s.auth), ['Bearer hf_secret', undefined]);
    assert.ok(!out.text.includes('hf_secret'));
  });

  test('never sent to other hosts', async () => {
    server.routes.set('/m', { body: Buffer.from('x') });
    await downloadFile({ url: server.url('/m'), name: 'm' }, dir(), quiet);
    assert.equal(server.seen[0]!.auth, undefined);
  });

  test('401/403 from huggingface.co: the repo may be gated, HF_TOKEN is read; the token is not shown', async () => {
    server.routes.set('/hf/org/gated/resolve/main/w.bin', { status: 401 });
    await assert.rejects(downloadFile({ url: 'https://huggingface.co/org/gated/resolve/main/w.bin', name: 'w.bin' }, dir(), { ...quiet, fetch: viaLocal }),
      (e: Error) => {
        assert.match(e.message, /^https:\/\/huggingface\.co\/org\/gated\/resolve\/main\/w\.bin: access denied \(HTTP 401 Unauthorized\); the repository may be gated: .*HF_TOKEN/);
        assert.ok(!e.message.includes('hf_secret'));
        return true;
      });
    delete process.env.HF_TOKEN;
    try {
      await assert.rejects(downloadFile({ url: 'https://huggingface.co/org/gated/resolve/main/w.bin', name: 'w.bin' }, dir(), { ...quiet, fetch: viaLocal }),
        /may be gated: accept its terms on huggingface\.co and set HF_TOKEN \(it is read, and sent to huggingface\.co only\)/);
    } finally {
      process.env.HF_TOKEN = 'hf_secret';
    }
    assert.deepEqual(await readdir(dir()), []);
  });
});
