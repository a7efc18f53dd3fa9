/**
 * Load check for the bot: 200 /imagine from 50 members within 10 s against the fake Discord, on the
 * real engine (demo pack, 2 views, 4 steps). Reports acknowledgement latency, how every request
 * ended (completed, or refused naming the limit it hit), lost jobs (must be 0), and RSS before,
 * after, and after a second identical round (memory should stay flat).
 *
 *   node --expose-gc --import tsx tools/bot-load.ts [--requests 200] [--users 50] [--window 10] [--rounds 2]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { startBot } from '../src/bot/app.js';
import { deployCommands } from '../src/cli/commands-deploy.js';
import { openEngine } from '../src/jobs/engine.js';
import { LIMIT_LABELS } from '../src/store/limits.js';
import { startFakeDiscord, type InteractionHandle, type UserView } from '../test/fake-discord/index.js';
import { DEMO_PROMPT, demoPackDir } from '../test/helpers/demo-pack.js';

const { values: args } = parseArgs({
  options: {
    requests: { type: 'string', default: '200' },
    users: { type: 'string', default: '50' },
    window: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '2' },
    steps: { type: 'string', default: '4' },
    concurrency: { type: 'string', default: '1' },
    cooldown: { type: 'string' },
  },
});
const REQUESTS = Number(args.requests);
const USERS = Number(args.users);
const WINDOW_MS = Number(args.window) * 1000;
const ROUNDS = Number(args.rounds);
const STEPS = Number(args.steps);

const mb = (b: number): number => Math.round(b / 2 ** 20);
const gc = (): void => (globalThis as { gc?: () => void }).gc?.();
const pct = (xs: number[], p: number): number => xs.length ? [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]! : NaN;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const fake = await startFakeDiscord();
const dataDir = await mkdtemp(join(tmpdir(), 'clipag-load-'));
const logger = pino({ level: process.env.LOG_LEVEL ?? 'warn' });
const modelDir = await demoPackDir();
const engine = await openEngine({ modelDir, device: 'cpu', views: 2, logger });
await deployCommands({ token: fake.token, appId: fake.appId, apiUrl: fake.apiUrl, guild: fake.guild.id });
const bot = await startBot({
  token: fake.token, appId: fake.appId, modelDir, modelMemoryMb: 4096, device: 'cpu', concurrency: Number(args.concurrency),
  dataDir, logLevel: 'warn', apiUrl: fake.apiUrl,
}, { logger, engine });
if (args.cooldown !== undefined) bot.context.store.limits.set(fake.guild.id, { cooldownSeconds: Number(args.cooldown) }, 'load');
const users: UserView[] = Array.from({ length: USERS }, (_, i) => fake.addMember(`load${i}`));
await sleep(300); // GUILD_MEMBER_ADDs delivered

const labels = Object.values(LIMIT_LABELS);
interface RoundReport {
  round: number; requests: number; sentWithinMs: number; acked: number; ackMs: { p50: number; p95: number; max: number };
  /** From the command to the acknowledgement showing the place in line (after the deferral). */
  placeMs: { p50: number; p95: number; max: number };
  over3s: number; completed: number; refused: Record<string, number>; refusedUnnamed: string[]; lost: string[];
  drainMs: number; rssBeforeMb: number; rssAfterMb: number; heapAfterMb: number;
}

async function round(n: number): Promise<RoundReport> {
  gc();
  const rssBefore = process.memoryUsage().rss;
  // Each member sends requests/users commands at random moments inside the window.
  const plan = Array.from({ length: REQUESTS }, (_, i) => ({ user: users[i % USERS]!, at: Math.random() * WINDOW_MS })).sort((a, b) => a.at - b.at);
  const t0 = performance.now();
  const handles: InteractionHandle[] = [];
  const sentAt: number[] = [];
  for (const p of plan) {
    const wait = t0 + p.at - performance.now();
    if (wait > 0) await sleep(wait);
    sentAt.push(Date.now());
    handles.push(fake.slash(p.user, fake.channels.general, 'imagine', { prompt: DEMO_PROMPT, steps: STEPS }));
  }
  const sentWithinMs = performance.now() - t0;
  const replies = await Promise.all(handles.map((h) => h.reply(30_000).catch((e: Error) => e)));
  const ackMs = replies.flatMap((r) => (r instanceof Error ? [] : [r.ackMs]));
  const refused: Record<string, number> = {};
  const refusedUnnamed: string[] = [];
  const accepted: { handle: InteractionHandle; sentAt: number }[] = [];
  const placeMs: number[] = [];
  replies.forEach((r, i) => {
    if (r instanceof Error) return;
    if (r.ephemeral) {
      const text = String(r.data.content);
      const label = labels.find((l) => text.includes(`(${l}`));
      if (label) refused[label] = (refused[label] ?? 0) + 1;
      else refusedUnnamed.push(text);
    } else {
      accepted.push({ handle: handles[i]!, sentAt: sentAt[i]! });
    }
  });
  // Drain: every accepted job finished and its messages sent.
  const drainStart = performance.now();
  const ctx = bot.context;
  await fake.waitFor(() => { const s = ctx.manager.stats(); return s.running === 0 && s.waiting === 0 && ctx.jobs.pending === 0; }, 600_000, 'the queue to drain');
  const drainMs = performance.now() - drainStart;
  const lost: string[] = [];
  let completed = 0;
  for (const { handle, sentAt: at } of accepted) {
    // When the deferred reply became the acknowledgement with the place in line and Cancel.
    const placed = handle.original()?.history.find((v) => v.content.includes('job `'));
    if (placed) placeMs.push(placed.at - at);
    const id = /job `([a-z0-9]+)`/.exec(handle.original()?.content ?? '')?.[1];
    const job = id ? ctx.store.jobs.get(id) : undefined;
    const result = job?.resultMessageId ? fake.message(job.resultMessageId) : undefined;
    if (job?.status === 'done' && result && result.attachments.length === 1 && !result.deleted) completed++;
    else lost.push(id ?? `(no job id in "${handle.original()?.content}")`);
  }
  gc();
  await sleep(200);
  gc();
  const mem = process.memoryUsage();
  return {
    round: n, requests: REQUESTS, sentWithinMs: Math.round(sentWithinMs), acked: ackMs.length,
    ackMs: { p50: Math.round(pct(ackMs, 50)), p95: Math.round(pct(ackMs, 95)), max: Math.round(Math.max(...ackMs)) },
    placeMs: { p50: Math.round(pct(placeMs, 50)), p95: Math.round(pct(placeMs, 95)), max: Math.round(Math.max(...placeMs)) },
    over3s: ackMs.filter((x) => x > 3000).length + replies.filter((r) => r instanceof Error).length,
    completed, refused, refusedUnnamed, lost, drainMs: Math.round(drainMs),
    rssBeforeMb: mb(rssBefore), rssAfterMb: mb(mem.rss), heapAfterMb: mb(mem.heapUsed),
  };
}

const reports: RoundReport[] = [];
try {
  for (let r = 1; r <= ROUNDS; r++) {
    // A fresh day for the limits each round: the same members, the same counts.
    if (r > 1) bot.context.store.limits.set(fake.guild.id, { jobsPerUserPerDay: 10_000 }, 'load');
    reports.push(await round(r));
    await sleep(6000); // past the cooldown, so round 2 meets the same limits
  }
} finally {
  await bot.stop();
  await engine.close();
  await fake.close();
  await rm(dataDir, { recursive: true, force: true });
}
const ok = reports.every((r) => r.acked === r.requests && r.over3s === 0 && r.lost.length === 0 && r.refusedUnnamed.length === 0
  && r.completed + Object.values(r.refused).reduce((a, b) => a + b, 0) === r.requests);
process.stdout.write(`${JSON.stringify({ ok, requests: REQUESTS, users: USERS, windowS: WINDOW_MS / 1000, steps: STEPS, gcExposed: typeof (globalThis as { gc?: unknown }).gc === 'function', rounds: reports }, null, 2)}\n`);
process.exitCode = ok ? 0 : 1;
