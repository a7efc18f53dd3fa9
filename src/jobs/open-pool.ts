/**
 * The bot's engines from its settings: the default pack and MODELS_DIR's packs, each checked now
 * (manifest, weight header, tokenizer) and loaded on first use; the default one loaded at once, so
 * a broken default fails the start instead of the first job.
 */
import type { Logger } from 'pino';
import { log as defaultLog } from '../log.js';
import { openEngine, openPackChecker, type Engine, type PackChecker } from './engine.js';
import { EnginePool, type PoolPack } from './engine-pool.js';
import { discoverPacks, type PackInfo } from './packs.js';

export interface OpenPoolOptions {
  defaultDir: string;
  modelsDir?: string;
  memoryMb: number;
  device?: 'auto' | 'cuda' | 'cpu';
  /** Views per step for every run (tests: 2). */
  views?: number;
  /** Threads inside one op (default: one per core). */
  threads?: number;
  logger?: Logger;
  /** The default pack's engine, already open (tests share one); the pool never closes it. */
  preloaded?: Engine;
}

/** Every pack found, each with its checker; a broken pack other than the default is left out and logged. */
export async function checkedPacks(o: { defaultDir: string; modelsDir?: string; views?: number; logger: Logger }): Promise<{ pack: PackInfo; checker: PackChecker }[]> {
  const { packs, problems } = await discoverPacks(o.defaultDir, o.modelsDir);
  for (const p of problems) o.logger.warn(p);
  const out: { pack: PackInfo; checker: PackChecker }[] = [];
  for (const pack of packs) {
    try {
      out.push({ pack, checker: await openPackChecker(pack.dir, o.views) });
    } catch (e) {
      // The default pack must work; another broken one is left out and named in the log.
      if (!out.length) throw e;
      o.logger.warn(`${pack.dir}: left out: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  return out;
}

export async function openEnginePool(o: OpenPoolOptions): Promise<EnginePool> {
  const logger = o.logger ?? defaultLog;
  const pool: PoolPack[] = (await checkedPacks({ ...o, logger })).map(({ pack, checker }) => ({
    pack, checker, open: () => openEngine({ modelDir: pack.dir, device: o.device, views: o.views, threads: o.threads, logger }),
  }));
  const engines = new EnginePool({ packs: pool, memoryMb: o.memoryMb, logger, preloaded: o.preloaded });
  if (!o.preloaded) {
    try {
      (await engines.acquire(engines.defaultModel)).release();
    } catch (e) {
      await engines.close();
      throw e;
    }
  }
  logger.info({ models: engines.list().map((p) => p.name), memoryMb: o.memoryMb }, 'models available');
  return engines;
}
