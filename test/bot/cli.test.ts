/**
 * The two commands as processes: settings problems listed at once (token never echoed), commands
 * deployed to a server, and the bot started from the environment, stopped by SIGTERM with exit 0.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { startFakeDiscord, type FakeDiscord } from '../fake-discord/index.js';
import { demoPackDir } from '../helpers/demo-pack.js';

const ENTRY = fileURLToPath(new URL('../../bin/clipag.js', import.meta.url));
let fake: FakeDiscord;
let dir: string;
before(async () => {
  fake = await startFakeDiscord();
  dir = await mkdtemp(join(tmpdir(), 'clipag-cli-test-'));
});
after(async () => {
  await fake?.close();
  await rm(dir, { recursive: true, force: true });
});

function run(args: string[], env: NodeJS.ProcessEnv, onSpawn?: (kill: () => void, out: () => string) => void): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    // A clean environment: only what the test passes (and PATH), no .env from the checkout.
    const child = spawn(process.execPath, [ENTRY, ...args, '--env', join(dir, 'none.env')], {
      env: { PATH: process.env.PATH, ...env }, cwd: dir, timeout: 60_000,
    });
    let out = '';
    child.stdout.on('data', (b: Buffer) => { out += b; });
    child.stderr.on('data', (b: Buffer) => { out += b; });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out }));
    onSpawn?.(() => child.kill('SIGTERM'), () => out);
  });
}

test('missing and invalid settings are listed together, without the token', async () => {
  const r = await run(['bot'], { DISCORD_TOKEN: 'abc def', ENGINE_DEVICE: 'tpu' });
  assert.equal(r.code, 2);
  assert.match(r.out, /DISCORD_TOKEN contains spaces/);
  assert.match(r.out, /DISCORD_APP_ID is missing/);
  assert.match(r.out, /ENGINE_DEVICE must be one of/);
  assert.doesNotMatch(r.out, /abc def/);
});

test('commands deploy registers the six commands in a server', async () => {
  const env = { DISCORD_TOKEN: fake.token, DISCORD_APP_ID: fake.appId, DISCORD_API_URL: fake.apiUrl };
  const bad = await run(['commands', 'deploy', '--guild', 'general'], env);
  assert.equal(bad.code, 2);
  assert.match(bad.out, /--guild general: expected a server id/);
  const r = await run(['commands', 'deploy', '--guild', fake.guild.id], env);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /registered 6 commands in server/);
  assert.deepEqual(fake.commands(fake.guild.id).map((c) => c.name).sort(), ['cancel', 'imagine', 'info', 'limits', 'queue', 'safety']);
});

test('the bot starts from the environment and stops cleanly on SIGTERM', async () => {
  const env = {
    DISCORD_TOKEN: fake.token, DISCORD_APP_ID: fake.appId, DISCORD_API_URL: fake.apiUrl, MODEL_DIR: await demoPackDir(),
    ENGINE_DEVICE: 'cpu', DATA_DIR: join(dir, 'data'), LOG_LEVEL: 'info',
    // As copied from .env.example: discord.js' Client reads SHARDS too, and must not see this one.
    SHARDS: '',
  };
  const r = await run(['bot'], env, (kill, out) => {
    void fake.waitFor(() => out().includes('"bot ready"'), 30_000, 'the bot to log ready').then(kill, kill);
  });
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /"msg":"stopped"/);
  assert.doesNotMatch(r.out, new RegExp(fake.token.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')), 'the token never reaches the log');
});
