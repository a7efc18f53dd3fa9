import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { downloadFile } from './download.js';
import { downloadRig, FakeServer, quiet } from './testing/download-fixtures.js';

describe('downloadFile: failures', () => {
  const { server, dir, remote, leftovers } = downloadRig();

  test('404: one line naming the URL, suggesting --registry; nothing left', async () => {
    await assert.rejects(downloadFile(remote('/missing'), dir(), quiet), (e: Error) => {
      assert.match(e.message, new RegExp(`^${server.url('/missing')}: not found \\(HTTP 404 Not Found\\); .*--registry FILE`));
      assert.ok(!e.message.includes('\n'));
      return true;
    });
    assert.deepEqual(await leftovers(), []);
  });

  test('server errors are retried with backoff, then reported', async () => {
    server.routes.set('/m', { status: 503 });
    await assert.rejects(downloadFile(remote('/m'), dir(), { ...quiet, retries: 2 }),
      new RegExp(`^Error: ${server.url('/m')}: HTTP 503 Service Unavailable; gave up after 3 attempts`));
    assert.equal(server.seen.length, 3);
  });

  test('connection refused: one line naming the URL and the problem, suggesting --registry', async () => {
    const closed = new FakeServer();
    await closed.start();
    await closed.stop();
    const url = closed.url('/m');
    await assert.rejects(downloadFile({ url, name: 'model.bin' }, dir(), quiet), (e: Error) => {
      assert.match(e.message, new RegExp(`^${url}: connection refused \\(.*\\); check the network, or use --registry FILE`));
      assert.ok(!e.message.includes('\n'));
      return true;
    });
  });
});
