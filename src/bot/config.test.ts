import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { test } from 'node:test';
import { BUNDLED_MODEL } from '../cli/model-dir.js';
import { ConfigError, loadConfig } from './config.js';

const TOKEN = 'MTIzNDU2Nzg5MDEyMzQ1Njc4.Gabcde.secret-part-do-not-print';
const APP = '123456789012345678';

test('the two required settings are enough; the rest take their defaults', () => {
  assert.deepEqual(loadConfig({ DISCORD_TOKEN: TOKEN, DISCORD_APP_ID: APP }), {
    token: TOKEN, appId: APP, modelDir: BUNDLED_MODEL, modelMemoryMb: 4096, device: 'auto', concurrency: 1,
    dataDir: resolve('./data'), logLevel: 'info',
  });
});

test('every setting is read; relative directories become absolute; a trailing slash leaves the API URL', () => {
  assert.deepEqual(loadConfig({
    DISCORD_TOKEN: TOKEN, DISCORD_APP_ID: APP, MODEL_DIR: 'models/vitb32', ENGINE_DEVICE: 'cuda', ENGINE_CONCURRENCY: '16',
    DATA_DIR: '/var/lib/clipag', LOG_LEVEL: 'debug', DISCORD_API_URL: 'http://127.0.0.1:4567/api/', MODELS_DIR: 'packs', MODEL_MEMORY_MB: '900',
  }), {
    token: TOKEN, appId: APP, modelDir: resolve('models/vitb32'), modelsDir: resolve('packs'), modelMemoryMb: 900, device: 'cuda', concurrency: 16,
    dataDir: '/var/lib/clipag', logLevel: 'debug', apiUrl: 'http://127.0.0.1:4567/api',
  });
});

test('an empty value in .env counts as unset', () => {
  const c = loadConfig({ DISCORD_TOKEN: TOKEN, DISCORD_APP_ID: APP, MODEL_DIR: '', DISCORD_API_URL: '  ', ENGINE_CONCURRENCY: '', LOG_LEVEL: '' });
  assert.equal(c.modelDir, BUNDLED_MODEL);
  assert.equal(c.apiUrl, undefined);
  assert.equal(c.concurrency, 1);
  assert.equal(c.logLevel, 'info');
  assert.throws(() => loadConfig({ DISCORD_TOKEN: '', DISCORD_APP_ID: APP }), /DISCORD_TOKEN is missing/);
});

test('every missing or invalid setting is listed on its own line, in one error', () => {
  assert.throws(() => loadConfig({
    ENGINE_DEVICE: 'tpu', ENGINE_CONCURRENCY: '17', LOG_LEVEL: 'loud', DISCORD_API_URL: 'discord.com', MODEL_MEMORY_MB: 'lots',
  }), (e: unknown) => {
    assert.ok(e instanceof ConfigError);
    assert.deepEqual(e.problems, [
      'DISCORD_TOKEN is missing: the bot token from the Developer Portal (Bot → Reset Token)',
      'DISCORD_APP_ID is missing: the application id from the Developer Portal (General Information)',
      'MODEL_MEMORY_MB must be a whole number of MiB, at least 1 (e.g. 4096)',
      'ENGINE_DEVICE must be one of auto, cuda, cpu',
      'ENGINE_CONCURRENCY must be a whole number from 1 to 16',
      'LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent',
      'DISCORD_API_URL must be an http(s) URL such as https://discord.com/api',
    ]);
    assert.equal(e.message.split('\n').length, 8, 'a heading and one line per problem');
    return true;
  });
  for (const bad of ['0', '1.5', 'two', '-1']) {
    assert.throws(() => loadConfig({ DISCORD_TOKEN: TOKEN, DISCORD_APP_ID: APP, ENGINE_CONCURRENCY: bad }), /ENGINE_CONCURRENCY must be a whole number from 1 to 16/);
  }
  assert.throws(() => loadConfig({ DISCORD_TOKEN: TOKEN, DISCORD_APP_ID: 'my-bot' }), /DISCORD_APP_ID must be the application id, 17 to 20 digits/);
});

test('a bad token is reported without its value', () => {
  const bad = `${TOKEN} trailing-secret\n`;
  assert.throws(() => loadConfig({ DISCORD_TOKEN: bad, DISCORD_APP_ID: 'x' }), (e: unknown) => {
    assert.ok(e instanceof ConfigError);
    assert.match(e.message, /DISCORD_TOKEN contains spaces or line breaks/);
    assert.ok(!e.message.includes('secret') && !e.message.includes('MTIz'), 'the token never appears');
    assert.ok(!JSON.stringify(e.problems).includes('secret'));
    return true;
  });
});

test('QUEUE_URL: unset keeps the in-process queue; a redis:// URL becomes the queue target; a bad one is one line without its password', () => {
  assert.equal(loadConfig({ DISCORD_TOKEN: TOKEN, DISCORD_APP_ID: APP, QUEUE_URL: ' ' }).queue, undefined);
  const c = loadConfig({ DISCORD_TOKEN: TOKEN, DISCORD_APP_ID: APP, QUEUE_URL: 'redis://:hunter2-secret@redis:6379/2' });
  assert.equal(String(c.queue), 'redis://redis:6379/2');
  assert.equal(c.queue?.password, 'hunter2-secret');
  assert.ok(!JSON.stringify(c).includes('hunter2'), 'the config can be logged');
  assert.throws(() => loadConfig({ DISCORD_TOKEN: TOKEN, DISCORD_APP_ID: APP, QUEUE_URL: 'redis://:hunter2-secret@redis:6379/queue', ENGINE_DEVICE: 'tpu' }), (e: unknown) => {
    assert.ok(e instanceof ConfigError);
    assert.deepEqual(e.problems, [
      'ENGINE_DEVICE must be one of auto, cuda, cpu',
      'QUEUE_URL\'s database, after the port, must be a number such as /0 (Redis has 0 to 15 unless configured otherwise)',
    ]);
    assert.ok(!e.message.includes('hunter2'));
    return true;
  });
});

test('SHARDS: unset runs one process; auto or 1–1000 otherwise; more than one shard needs QUEUE_URL; a shard process ignores it', () => {
  const base = { DISCORD_TOKEN: TOKEN, DISCORD_APP_ID: APP };
  const queue = { QUEUE_URL: 'redis://redis:6379' };
  assert.equal(loadConfig({ ...base, SHARDS: '' }).shards, undefined);
  assert.equal(loadConfig({ ...base, SHARDS: '1' }).shards, 1, 'one shard under the manager works on the in-process queue');
  assert.equal(loadConfig({ ...base, ...queue, SHARDS: ' Auto ' }).shards, 'auto');
  assert.equal(loadConfig({ ...base, ...queue, SHARDS: '1000' }).shards, 1000);
  for (const bad of ['0', '1001', '2.5', 'many', '-2']) {
    assert.throws(() => loadConfig({ ...base, ...queue, SHARDS: bad }), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.deepEqual(e.problems, ['SHARDS must be auto or a whole number from 1 to 1000 (the gateway shards to run, one process each)']);
      return true;
    }, bad);
  }
  const needsQueue = 'SHARDS with more than one shard needs QUEUE_URL: each shard is its own process, and they share the drawing through clipag worker';
  for (const shards of ['2', 'auto']) {
    assert.throws(() => loadConfig({ ...base, SHARDS: shards }), (e: unknown) => e instanceof ConfigError && e.problems.length === 1 && e.problems[0] === needsQueue);
  }
  // Listed with the other problems, in the settings' order.
  assert.throws(() => loadConfig({ ...base, ENGINE_DEVICE: 'tpu', SHARDS: '4' }), (e: unknown) => {
    assert.ok(e instanceof ConfigError);
    assert.deepEqual(e.problems, ['ENGINE_DEVICE must be one of auto, cuda, cpu', needsQueue]);
    return true;
  });
  // discord.js' ShardingManager sets SHARDS to the shard's id (0 included) in each shard process.
  assert.equal(loadConfig({ ...base, SHARDS: '0', SHARD_COUNT: '2' }, { shardChild: true }).shards, undefined);
});
