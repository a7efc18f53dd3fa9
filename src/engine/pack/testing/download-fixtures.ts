/** A local HTTP server that misbehaves on request, and the streams the download tests read back. */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, afterEach, before, beforeEach } from 'node:test';
import type { DownloadOptions } from '../download.js';
import type { RemoteFile } from '../registry.js';

export const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** What the fake server does for one path; functions of `n` vary it per request to that path. */
export interface Route {
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

export interface Seen { path: string; range?: string; auth?: string; encoding?: string }

export class FakeServer {
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
export class Sink extends Writable {
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
export async function stdoutDuring<T>(fn: () => Promise<T>): Promise<{ value: T; written: string }> {
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

export const quiet: DownloadOptions = { progress: false, retryDelayMs: 1 };

/** What every downloadFile describe starts from; see downloadRig. */
export interface DownloadRig {
  readonly server: FakeServer;
  /** 300 kB of random bytes, the same for the whole describe. */
  readonly body: Buffer;
  /** This test's empty folder (a new one per test, so only valid inside a test). */
  dir(): string;
  /** The file at `path` on the server, saved as model.bin unless `extra` says otherwise. */
  remote(path: string, extra?: Partial<RemoteFile>): RemoteFile;
  /** The names in this test's folder, lock files aside. */
  leftovers(): Promise<string[]>;
}

/**
 * Runs a FakeServer for the enclosing describe and gives each test an empty folder and a server
 * with no routes and no requests seen. Call it at the top of a describe: it registers the hooks.
 */
export function downloadRig(): DownloadRig {
  const server = new FakeServer();
  let dir = '';
  before(() => server.start());
  after(() => server.stop());
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'clipag-dl-'));
    server.routes.clear();
    server.seen.length = 0;
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));
  return {
    server,
    body: randomBytes(300_000),
    dir: () => dir,
    remote: (path, extra = {}) => ({ url: server.url(path), name: 'model.bin', ...extra }),
    leftovers: async () => (await readdir(dir)).filter((f) => !f.endsWith('.lock')),
  };
}
