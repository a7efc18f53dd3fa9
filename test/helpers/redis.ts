/**
 * A real redis-server for tests: its own process on a free loopback port, its own temporary folder,
 * no mock. The queue must survive what real Redis does (restarts, AOF replay, NOAUTH replies), which a
 * fake would only imitate. Tests that need it skip, with `redisSkip` as the reason, where it is missing.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface RedisServerOptions {
  /** requirepass: clients must AUTH. */
  password?: string;
  /** appendonly yes: every write is logged, so a restart (or a kill -9) keeps the data. */
  appendonly?: boolean;
  /** Redis' own default is noeviction, the policy BullMQ requires. */
  maxmemoryPolicy?: string;
  /** Further redis.conf lines, e.g. `rename-command CONFIG ""` as managed Redis services do. */
  config?: string[];
}

const found = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
/** The reason to skip a Redis test, or false where redis-server is installed. */
export const redisSkip: string | false = found.error || found.status !== 0
  ? 'redis-server is not installed (Debian: apt-get install redis-server; .ci/run installs it)'
  : false;

const running = new Set<ChildProcess>();
// A test that throws before close() must not leave a server behind it.
process.on('exit', () => { for (const child of running) child.kill('SIGKILL'); });

/** A port nothing listens on right now (the kernel's pick). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.on('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** One PING over a plain socket: true once the server answers at all (NOAUTH is an answer). */
function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    const done = (ok: boolean) => { socket.destroy(); resolve(ok); };
    socket.setTimeout(500, () => done(false));
    socket.on('error', () => done(false));
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (reply) => done(/^(\+PONG|-NOAUTH)/.test(reply.toString('latin1'))));
  });
}

export class TestRedis {
  readonly host = '127.0.0.1';
  #child: ChildProcess | undefined;
  #log = '';

  private constructor(readonly port: number, readonly dir: string, private readonly password?: string) {}

  /** Starts a server; a port taken between the probe and the start is retried with another. */
  static async start(options: RedisServerOptions = {}): Promise<TestRedis> {
    if (redisSkip) throw new Error(redisSkip);
    const dir = mkdtempSync(join(tmpdir(), 'clipag-redis-'));
    for (let attempt = 1; ; attempt++) {
      const server = new TestRedis(await freePort(), dir, options.password);
      writeFileSync(join(dir, 'redis.conf'), server.#conf(options));
      try {
        await server.#launch();
        return server;
      } catch (e) {
        if (attempt >= 3 || !server.#log.includes('Address already in use')) {
          rmSync(dir, { recursive: true, force: true });
          throw e;
        }
      }
    }
  }

  /** For clients and QUEUE_URL; the password, when there is one, is in it. */
  get url(): string {
    return `redis://${this.password === undefined ? '' : `:${encodeURIComponent(this.password)}@`}${this.host}:${this.port}`;
  }

  /** What the server printed (its log goes to stdout). */
  get log(): string {
    return this.#log;
  }

  /**
   * SIGTERM lets Redis flush its AOF and exit; SIGKILL is a crash. The data folder stays, so
   * restart() comes back with whatever Redis had made durable.
   */
  async stop(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
    const child = this.#child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(signal);
    await exited;
  }

  /** The same port, folder and settings, as an operator's `systemctl restart redis` would. */
  async restart(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
    await this.stop(signal);
    await this.#launch();
  }

  /** Stops the server and removes its folder. */
  async close(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  #conf(o: RedisServerOptions): string {
    const lines = [
      `port ${this.port}`, 'bind 127.0.0.1', `dir ${this.dir}`, 'daemonize no', 'logfile ""', 'save ""',
      `appendonly ${o.appendonly ? 'yes' : 'no'}`,
      ...(o.password === undefined ? [] : [`requirepass "${o.password.replace(/["\\]/g, '\\$&')}"`]),
      ...(o.maxmemoryPolicy === undefined ? [] : [`maxmemory-policy ${o.maxmemoryPolicy}`]),
      ...(o.config ?? []),
    ];
    return `${lines.join('\n')}\n`;
  }

  async #launch(): Promise<void> {
    const child = spawn('redis-server', [join(this.dir, 'redis.conf')], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.#child = child;
    running.add(child);
    child.on('exit', () => running.delete(child));
    const keep = (s: string) => { this.#log = (this.#log + s).slice(-20_000); };
    child.stdout?.setEncoding('utf8').on('data', keep);
    child.stderr?.setEncoding('utf8').on('data', keep);
    const deadline = Date.now() + 10_000;
    while (!(await answers(this.port))) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`redis-server exited at start:\n${this.#log.slice(-2000)}`);
      }
      if (Date.now() > deadline) {
        await this.stop('SIGKILL');
        throw new Error(`redis-server did not answer PING within 10 s:\n${this.#log.slice(-2000)}`);
      }
      await new Promise((r) => setTimeout(r, 25));
    }
    // Whatever answered must be ours, not a server that took the port first.
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`redis-server exited at start:\n${this.#log.slice(-2000)}`);
    }
  }
}

/** Shorthand for TestRedis.start. */
export const startRedis = (options?: RedisServerOptions): Promise<TestRedis> => TestRedis.start(options);
