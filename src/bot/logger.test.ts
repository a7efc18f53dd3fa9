/** The token never reaches a log line, wherever an object or error carries it. */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { botLogger, scrubSecrets } from './logger.js';

const TOKEN = 'MTExMTExMTExMTExMTExMTEx.GaBcDe.fake-token-for-tests_0123456789';

function capture(secrets?: string[]): { log: ReturnType<typeof botLogger>; text: () => string } {
  const chunks: string[] = [];
  const destination = new Writable({ write(c: Buffer, _e, done) { chunks.push(String(c)); done(); } });
  // pino writes synchronously to a plain stream, so the lines are there right after each call.
  return { log: botLogger('debug', { pretty: false, secrets, destination }), text: () => chunks.join('') };
}

test('known fields are redacted and the token text is scrubbed from every line', () => {
  const { log, text } = capture([TOKEN]);
  const err = Object.assign(new Error(`request to /gateway failed with token ${TOKEN}`), {
    // What an HTTP client's error may carry: its request options, headers capitalised, nested.
    request: { method: 'GET', headers: { Authorization: `Bot ${TOKEN}` } },
    cause: new Error(`inner: Bot ${TOKEN}`),
  });
  log.error({ err }, 'discord client error');
  log.info({ config: { token: TOKEN, appId: '1' } }, 'config');
  log.child({ job: 'x' }).warn({ headers: { authorization: `Bot ${TOKEN}` }, note: `Bot ${TOKEN}` }, 'child');
  log.debug(`a message with the token ${TOKEN} in it`);
  const out = text();
  assert.equal(out.trim().split('\n').length, 4);
  assert.ok(!out.includes(TOKEN), out);
  assert.ok(!out.includes('GaBcDe'), 'no part of it either');
  assert.match(out, /\[redacted\]/);
  assert.match(out, /"msg":"discord client error"/, 'the line itself is kept');
});

test('without secrets the known fields are still redacted', () => {
  const { log, text } = capture();
  log.info({ token: TOKEN, req: { headers: { Authorization: `Bot ${TOKEN}` } } }, 'x');
  assert.ok(!text().includes(TOKEN), text());
});

test('scrubSecrets replaces every occurrence and ignores short strings', () => {
  assert.equal(scrubSecrets(`a ${TOKEN} b ${TOKEN}`, [TOKEN]), 'a [redacted] b [redacted]');
  assert.equal(scrubSecrets('a bot b', ['bot', '']), 'a bot b');
});

test('an error carrying the failed request logs its files by size, not their bytes', () => {
  const { log, text } = capture([TOKEN]);
  // What discord.js attaches to a DiscordAPIError or HTTPError: the body it tried to send.
  const err = Object.assign(new Error('Internal Server Error'), {
    status: 500, method: 'PATCH', url: 'https://discord.com/api/v10/channels/1/messages/2',
    requestBody: { files: [{ name: 'progress.png', data: Buffer.alloc(300_000, 7) }], json: { content: 'Step 3/40' } },
    rawError: { message: 'Internal Server Error', code: 0, extra: new Uint8Array(1000) },
  });
  log.warn({ err }, 'progress update failed');
  const out = text();
  assert.ok(out.length < 5000, `${out.length} bytes`);
  const line = JSON.parse(out) as { err: { requestBody: { files: { name: string; data: string }[]; json: unknown }; status: number; rawError: { extra: string } } };
  assert.deepEqual(line.err.requestBody.files, [{ name: 'progress.png', data: '[300000 bytes]' }]);
  assert.deepEqual(line.err.requestBody.json, { content: 'Step 3/40' });
  assert.equal(line.err.status, 500);
  assert.equal(line.err.rawError.extra, '[1000 bytes]');
});
