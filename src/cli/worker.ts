/** `clipag worker`: serve the shared queue (QUEUE_URL) with this machine's engines until SIGINT/SIGTERM. */
import { config as loadDotenv } from 'dotenv';
import type { Command } from 'commander';
import { LOG_LEVELS } from '../bot/config.js';
import { botLogger } from '../bot/logger.js';
import { openEnginePool } from '../jobs/open-pool.js';
import { parseQueueUrl } from '../jobs/queue-url.js';
import { checkRedis } from '../jobs/redis-check.js';
import { startWorker } from '../jobs/remote/worker.js';
import { deviceOf } from './device.js';
import { UsageError, fail } from './errors.js';
import { resolveModelDir } from './model-dir.js';

const isLevel = (s: string): s is (typeof LOG_LEVELS)[number] => (LOG_LEVELS as readonly string[]).includes(s);

interface WorkerArgs { model?: string; modelsDir?: string; device?: string; concurrency: string; name?: string; env: string; views?: string; lockMs?: string; stalledMs?: string; threads?: string }

async function runWorker(o: WorkerArgs): Promise<void> {
  loadDotenv({ path: o.env, quiet: true });
  const url = process.env.QUEUE_URL;
  if (!url) throw new UsageError('QUEUE_URL is not set: a worker serves the shared queue, e.g. QUEUE_URL=redis://127.0.0.1:6379');
  const parsed = parseQueueUrl(url);
  if (!parsed.ok) throw new UsageError(parsed.problem);
  const concurrency = Number(o.concurrency);
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 16) throw new UsageError(`--concurrency ${o.concurrency}: expected a whole number from 1 to 16`);
  const views = o.views === undefined ? undefined : Number(o.views);
  if (views !== undefined && (!Number.isInteger(views) || views < 1)) throw new UsageError(`--views ${o.views}: expected a whole number ≥ 1`);
  if (o.name !== undefined && !/^[\w.@-]{1,100}$/.test(o.name)) throw new UsageError(`--name ${o.name}: use 1–100 letters, digits, '.', '-', '_' or '@'`);
  const ms = (flag: string, v: string | undefined): number | undefined => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 500 || n > 600_000) throw new UsageError(`${flag} ${v}: expected milliseconds from 500 to 600000`);
    return n;
  };
  const threads = o.threads === undefined ? undefined : Number(o.threads);
  if (threads !== undefined && (!Number.isInteger(threads) || threads < 1 || threads > 256)) throw new UsageError(`--threads ${o.threads}: expected a whole number from 1 to 256`);
  const lockDurationMs = ms('--lock-ms', o.lockMs);
  const stalledIntervalMs = ms('--stalled-ms', o.stalledMs);
  // The bot's setting first, so one .env serves both on a one-machine install.
  const device = deviceOf(o.device ?? process.env.ENGINE_DEVICE);
  if (device === 'webgpu') throw new UsageError('--device webgpu: a worker runs on auto, cuda or cpu');
  const checked = await checkRedis(parsed.target);
  if (!checked.ok) throw new UsageError(checked.problem);
  // A worker is a long-running service: its info lines are what an operator reads.
  const level = process.env.LOG_LEVEL || 'info';
  if (!isLevel(level)) throw new UsageError(`LOG_LEVEL ${level}: expected one of ${LOG_LEVELS.join(', ')}`);
  const logger = botLogger(level, { secrets: parsed.target.password ? [parsed.target.password] : [] });
  const engines = await openEnginePool({
    defaultDir: resolveModelDir(o.model), modelsDir: o.modelsDir ?? process.env.MODELS_DIR, memoryMb: Number(process.env.MODEL_MEMORY_MB ?? 4096),
    device, views, threads, logger,
  });
  const worker = await startWorker({ target: parsed.target, engines, concurrency, name: o.name, logger, lockDurationMs, stalledIntervalMs });
  await new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals): void => {
      logger.info({ signal }, 'stopping: running jobs finish first');
      process.once(signal, () => process.exit(130));
      void worker.close().then(() => engines.close()).finally(resolve);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}

export function registerWorker(program: Command): void {
  program
    .command('worker')
    .description('take jobs from the shared queue (QUEUE_URL) and draw them on this machine; run several, anywhere, for more GPUs')
    .option('--model <dir>', 'the model pack to serve (default: $MODEL_DIR, else the bundled demo)')
    .option('--models-dir <dir>', 'more packs to serve, one folder each (default: $MODELS_DIR)')
    .option('--device <device>', 'auto, cuda or cpu (default: $ENGINE_DEVICE or $CLIPAG_DEVICE, else auto)')
    .option('--concurrency <n>', 'jobs this worker runs at once', '1')
    .option('--name <name>', 'how /info lists this worker (default: host name and process id)')
    .option('--threads <n>', 'CPU threads per operation (default: one per core; 1 when several workers share a CPU)')
    .option('--views <n>', 'views per step for every job (default: each pack\'s recipe)')
    .option('--lock-ms <ms>', 'how long a job stays locked to this worker without a heartbeat: a killed worker\'s job goes to another after this plus --stalled-ms (default 20000)')
    .option('--stalled-ms <ms>', 'how often this worker looks for jobs whose worker died (default 10000)')
    .option('--env <file>', 'the .env file to read', '.env')
    .action(async (o: WorkerArgs) => {
      try {
        await runWorker(o);
      } catch (e) {
        fail('worker', e);
        if (!(e instanceof UsageError)) process.exitCode = 1;
      }
    });
}
