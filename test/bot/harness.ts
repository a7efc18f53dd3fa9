/**
 * One bot against one fake Discord, on the real engine (the demo pack, 2 views, few steps), with
 * its own DATA_DIR. Tests start and stop the bot as they like (restart recovery), and close() leaves
 * no process, port or temp file behind.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import sharp from 'sharp';
import { startBot, type Bot, type StartOptions } from '../../src/bot/app.js';
import type { BotConfig } from '../../src/bot/config.js';
import { deployCommands } from '../../src/cli/commands-deploy.js';
import { openEngine, type Engine } from '../../src/jobs/engine.js';
import { startFakeDiscord, type FakeDiscord, type FakeDiscordOptions, type MessageView } from '../fake-discord/index.js';
import { demoPackDir } from '../helpers/demo-pack.js';

export { DEMO_PROMPT } from '../helpers/demo-pack.js';

let sharedEngine: Promise<Engine> | undefined;

/** One engine per test process: opening compiles the graphs, which is the slow part. */
export function testEngine(): Promise<Engine> {
  sharedEngine ??= demoPackDir().then((modelDir) => openEngine({ modelDir, device: 'cpu', views: 2, logger: pino({ level: 'silent' }) }));
  return sharedEngine;
}

export interface Harness {
  fake: FakeDiscord;
  dataDir: string;
  config: BotConfig;
  bot: Bot;
  /** Starts a new bot on the same DATA_DIR (after stop()). */
  restart(opts?: StartOptions): Promise<Bot>;
  close(): Promise<void>;
}

export async function harness(opts: { fake?: FakeDiscordOptions; bot?: StartOptions; concurrency?: number; config?: Partial<BotConfig> } = {}): Promise<Harness> {
  const fake = await startFakeDiscord(opts.fake);
  const dataDir = await mkdtemp(join(tmpdir(), 'clipag-bot-test-'));
  const engine = await testEngine();
  const config: BotConfig = {
    token: fake.token, appId: fake.appId, modelDir: await demoPackDir(), modelMemoryMb: 4096, device: 'cpu', concurrency: opts.concurrency ?? 1,
    dataDir, logLevel: 'silent', apiUrl: fake.apiUrl, ...opts.config,
  };
  await deployCommands({ token: fake.token, appId: fake.appId, apiUrl: fake.apiUrl, guild: fake.guild.id });
  const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
  const startOpts = (o?: StartOptions): StartOptions => ({ logger, engine, progressIntervalMs: 150, stopTimeoutMs: 2000, ...opts.bot, ...o });
  const h: Harness = {
    fake, dataDir, config,
    bot: await startBot(config, startOpts()),
    async restart(o) {
      h.bot = await startBot(config, startOpts(o));
      return h.bot;
    },
    async close() {
      await h.bot.stop();
      await fake.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
  return h;
}

/** The PNG attachment of a message version, decoded: width, height. */
export async function decodePng(data: Buffer): Promise<{ width: number; height: number }> {
  const m = await sharp(data).metadata();
  if (m.format !== 'png') throw new Error(`expected a PNG, got ${m.format}`);
  return { width: m.width!, height: m.height! };
}

/** The job id in an acknowledgement ("(job `ab12cd34`)"). */
export function jobIdOf(m: MessageView | undefined): string {
  const id = /job `([a-z0-9]+)`/.exec(m?.content ?? '')?.[1];
  if (!id) throw new Error(`no job id in ${JSON.stringify(m?.content)}`);
  return id;
}

/**
 * Every message the bot sent or edited (channel messages, interaction replies, followups) carried
 * allowed_mentions { parse: [] }: checked on the requests themselves, so a message that happens to
 * mention nobody still counts. Returns how many were checked.
 */
export function assertNoPingsSent(fake: FakeDiscord): number {
  let checked = 0;
  for (const r of fake.requests) {
    if (r.method !== 'POST' && r.method !== 'PATCH') continue;
    const body = r.body as { data?: Record<string, unknown> } & Record<string, unknown> | null;
    // An interaction callback wraps the message in `data`.
    const message = r.route.endsWith('/callback') ? body?.data : body;
    if (!message || typeof message.content !== 'string') continue;
    assert.deepEqual(message.allowed_mentions, { parse: [] }, `${r.method} ${r.path}: ${message.content}`);
    checked++;
  }
  return checked;
}

/** The result message of a job in a thread (the one carrying the 🔁 button for it). */
export function resultIn(fake: FakeDiscord, threadId: string, jobId: string): MessageView | undefined {
  return fake.messages(threadId).find((m) => JSON.stringify(m.components).includes(`clipag:rerun:${jobId}`) && m.reactions.length === 3);
}
