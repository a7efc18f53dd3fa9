/** `clipag worker` refuses bad settings in one line before it touches a model or a queue. */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { clipag } from '../helpers/cli.js';
import { deadPort } from '../helpers/ports.js';

let cwd: string;
before(async () => { cwd = await mkdtemp(join(tmpdir(), 'clipag-worker-cli-')); });
after(() => rm(cwd, { recursive: true, force: true }));

const run = (args: string[], env: Record<string, string> = {}) => clipag(['worker', ...args], { cwd, env: { QUEUE_URL: '', LOG_LEVEL: '', ...env } });


test('clipag worker: help, and one line for each bad setting', async () => {
  const help = clipag(['worker', '--help'], { cwd });
  assert.equal(help.status, 0);
  for (const flag of ['--model', '--device', '--concurrency', '--name', '--threads', '--lock-ms']) assert.match(help.stderr + help.stdout, new RegExp(flag));

  const cases: [string[], Record<string, string>, RegExp][] = [
    [[], {}, /^clipag worker: QUEUE_URL is not set: a worker serves the shared queue/],
    [[], { QUEUE_URL: 'http://localhost:6379' }, /^clipag worker: .*redis:\/\//],
    [['--concurrency', '0'], { QUEUE_URL: 'redis://127.0.0.1:6379' }, /^clipag worker: --concurrency 0: expected a whole number from 1 to 16$/],
    [['--threads', 'x'], { QUEUE_URL: 'redis://127.0.0.1:6379' }, /^clipag worker: --threads x: expected a whole number/],
    [['--name', 'has space'], { QUEUE_URL: 'redis://127.0.0.1:6379' }, /^clipag worker: --name has space: use 1–100 letters/],
    [['--lock-ms', '10'], { QUEUE_URL: 'redis://127.0.0.1:6379' }, /^clipag worker: --lock-ms 10: expected milliseconds from 500/],
    [['--device', 'webgpu'], { QUEUE_URL: 'redis://127.0.0.1:6379' }, /^clipag worker: --device webgpu: a worker runs on auto, cuda or cpu$/],
    [[], { QUEUE_URL: `redis://:hunter2secret@127.0.0.1:${await deadPort()}` }, /^clipag worker: Redis at 127\.0\.0\.1:\d+ is unreachable/],
  ];
  for (const [args, env, expected] of cases) {
    const r = run(args, env);
    assert.equal(r.status, 2, `${args.join(' ')} ${JSON.stringify(env)}: ${r.stderr}`);
    assert.match(r.stderr.trim(), expected);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.doesNotMatch(r.stderr, /hunter2secret/);
  }
});
