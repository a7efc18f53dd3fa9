/**
 * The deploy files for several GPUs (deploy/docker-compose.workers.yml, deploy/clipag-worker@.service)
 * against the existing bot files and the real `clipag worker` command line. No YAML library is a
 * dependency, so the compose file is read by indentation, which is all Compose files of this shape
 * need, with YAML's shallow merge (`<<: *anchor`) applied as Compose applies it.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { deadPort } from '../helpers/ports.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const read = (path: string): string => readFileSync(join(ROOT, path), 'utf8');

/** A mapping's keys at its first indent, each with the text of its value (nested lines included). */
function children(lines: string[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const meaningful = lines.filter((l) => l.trim() !== '' && !l.trim().startsWith('#'));
  const indent = meaningful.length ? meaningful[0]!.search(/\S/) : 0;
  let current: string[] | undefined;
  for (const line of meaningful) {
    const at = line.search(/\S/);
    const key = at === indent ? /^\s*([^:\s][^:]*):(.*)$/.exec(line) : null;
    if (key) out.set(key[1]!, current = [key[2]!.trim()]);
    else current?.push(line);
  }
  return out;
}

interface Compose { services: Map<string, Map<string, string>>; volumes: string[] }

/** Each service's keys after merging its anchors (own keys win, one level deep, as in YAML). */
function parseCompose(text: string): Compose {
  const top = children(text.split('\n'));
  const anchors = new Map<string, string[]>();
  for (const body of top.values()) {
    const name = /^&([\w-]+)$/.exec(body[0]!)?.[1];
    if (name) anchors.set(name, body.slice(1));
  }
  const resolve = (body: string[]): Map<string, string> => {
    const own = children(body);
    const merged = new Map<string, string>();
    const base = own.get('<<')?.[0]?.match(/^\*([\w-]+)$/)?.[1];
    if (base !== undefined) {
      assert.ok(anchors.has(base), `anchor ${base} is defined`);
      for (const [k, v] of resolve(anchors.get(base)!)) merged.set(k, v);
    }
    for (const [k, v] of own) if (k !== '<<') merged.set(k, v.join('\n'));
    return merged;
  };
  const services = new Map([...children(top.get('services')!.slice(1))].map(([name, body]) => [name, resolve(body.slice(1))]));
  return { services, volumes: [...children(top.get('volumes')?.slice(1) ?? []).keys()] };
}

const compose = parseCompose(read('deploy/docker-compose.workers.yml'));
const single = parseCompose(read('deploy/docker-compose.yml'));
const service = (c: Compose, name: string): Map<string, string> => {
  const s = c.services.get(name);
  assert.ok(s, `service ${name} exists`);
  return s;
};
const squash = (s: string | undefined): string => (s ?? '').split('\n').map((l) => l.trim()).join('\n');
const workers = [...compose.services.keys()].filter((n) => /^worker-\d+$/.test(n));
/** The arguments after the image's entrypoint (node bin/clipag.js), from a JSON-style command list. */
const commandOf = (s: Map<string, string>): string[] => JSON.parse(s.get('command')!) as string[];

test('compose: Redis keeps its data on a named volume, appends every write, never evicts, and reports health', () => {
  const redis = service(compose, 'redis');
  assert.match(redis.get('image')!, /^redis:7-alpine$/);
  assert.match(redis.get('command')!, /--appendonly\W+yes/);
  assert.match(redis.get('command')!, /--maxmemory-policy\W+noeviction/);
  const volume = /-\s*([\w-]+):\/data\b/.exec(redis.get('volumes') ?? '')?.[1];
  assert.ok(volume && compose.volumes.includes(volume), 'a declared named volume holds /data');
  assert.match(redis.get('healthcheck')!, /test:.*redis-cli.*ping/);
  assert.doesNotMatch(redis.get('ports') ?? '', /\d/, 'Redis has no password here, so it is not published');
});

test('compose: the bot is the single-GPU compose\'s bot, on the shared queue once Redis is healthy', () => {
  const bot = service(compose, 'bot');
  const before = service(single, 'bot');
  for (const key of ['build', 'image', 'command', 'env_file']) assert.equal(squash(bot.get(key)), squash(before.get(key)), key);
  assert.match(bot.get('environment')!, /QUEUE_URL:\s*redis:\/\/redis:6379\s*$/m);
  assert.match(bot.get('environment')!, /DATA_DIR:\s*\/data\s*$/m);
  assert.match(bot.get('volumes')!, /:\/data\b/);
  assert.match(bot.get('depends_on')!, /redis:\s*\n\s*condition:\s*service_healthy/);
  assert.equal(bot.get('deploy'), undefined, 'the bot draws nothing, so it reserves no GPU');
});

test('compose: each worker runs `clipag worker` on its own GPU, named after it, on the shared queue', () => {
  assert.ok(workers.length >= 2, `at least two workers (${workers.join(', ')})`);
  const gpus = workers.map((name) => {
    const w = service(compose, name);
    for (const key of ['build', 'image', 'env_file']) assert.equal(squash(w.get(key)), squash(service(compose, 'bot').get(key)), `${name} ${key}`);
    const devices = w.get('deploy')!;
    assert.match(devices, /driver:\s*nvidia/);
    assert.match(devices, /capabilities:\s*\[gpu\]/);
    assert.doesNotMatch(devices, /count:/, `${name} names its GPU rather than taking any`);
    const ids = [...devices.matchAll(/device_ids:\s*\['(\d+)'\]/g)].map((m) => m[1]!);
    assert.equal(ids.length, 1, `${name} has one device_ids entry of one GPU`);
    const args = commandOf(w);
    assert.deepEqual(args.slice(0, 3), ['worker', '--device', 'cuda'], name);
    assert.equal(args[args.indexOf('--name') + 1], `gpu-${ids[0]}`, `${name} is listed after its GPU`);
    assert.match(w.get('environment')!, /QUEUE_URL:\s*redis:\/\/redis:6379\s*$/m);
    assert.match(w.get('depends_on')!, /redis:\s*\n\s*condition:\s*service_healthy/);
    assert.ok(Number(/^(\d+)s$/.exec(w.get('stop_grace_period')!)?.[1]) >= 120, `${name} has time to finish a job on SIGTERM`);
    return ids[0];
  });
  assert.equal(new Set(gpus).size, gpus.length, `distinct GPUs: ${gpus.join(', ')}`);
});

const unit = read('deploy/clipag-worker@.service');
const botUnit = read('deploy/clipag-bot.service');
const lines = (text: string, key: string): string[] => [...text.matchAll(new RegExp(`^${key}=(.*)$`, 'gm'))].map((m) => m[1]!);

test('systemd: the worker template runs `clipag worker` on GPU %i, stops gently, and is hardened like the bot', () => {
  const [exec] = lines(unit, 'ExecStart');
  assert.match(exec!, /^\/usr\/bin\/node bin\/clipag\.js worker .*--device cuda/);
  assert.match(exec!, /--name \S*%i\b/);
  assert.ok(lines(unit, 'Environment').some((l) => /(^|\s)CUDA_VISIBLE_DEVICES=%i(\s|$)/.test(l)));
  assert.deepEqual(lines(unit, 'KillSignal'), ['SIGTERM']);
  assert.ok(Number(lines(unit, 'TimeoutStopSec')[0]) >= 120, 'time for a running job to finish');
  assert.deepEqual(lines(unit, 'Restart'), ['on-failure']);
  for (const key of ['User', 'Group', 'WorkingDirectory', 'EnvironmentFile', 'NoNewPrivileges', 'PrivateTmp', 'ProtectSystem', 'ProtectHome']) {
    assert.deepEqual(lines(unit, key), lines(botUnit, key), key);
  }
  assert.deepEqual(lines(unit, 'PrivateDevices'), [], 'the GPU device nodes stay visible');
});


function runClipag(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, 'bin/clipag.js'), ...args], { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

test('`clipag worker` accepts the compose and systemd command lines; only the unreachable Redis stops it', async () => {
  const port = await deadPort();
  const env = { ...process.env, QUEUE_URL: `redis://127.0.0.1:${port}` };
  // systemd expands %H to the host name and %i to the instance.
  const fromUnit = lines(unit, 'ExecStart')[0]!.split(/\s+/).slice(2).map((a) => a.replace('%H', 'gpu-box.lan').replace('%i', '1'));
  const commands = [...workers.map((name) => commandOf(service(compose, name))), fromUnit];
  const results = await Promise.all(commands.map((args) => runClipag([...args, '--env', '/dev/null'], env)));
  for (const [i, r] of results.entries()) {
    assert.equal(r.code, 2, commands[i]!.join(' '));
    assert.match(r.stderr, new RegExp(`^clipag worker: Redis at 127\\.0\\.0\\.1:${port} is unreachable`), commands[i]!.join(' '));
  }
});
