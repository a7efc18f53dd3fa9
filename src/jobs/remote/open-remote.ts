/**
 * The bot's engines when QUEUE_URL names a Redis: the same packs, checked locally (so a bad request
 * is refused before it is queued), each run handed to the workers through the shared queue.
 */
import type { Logger } from 'pino';
import { log as defaultLog } from '../../log.js';
import { EnginePool } from '../engine-pool.js';
import { checkedPacks } from '../open-pool.js';
import type { QueueTarget } from '../queue-url.js';
import { remoteEngine } from './remote-engine.js';
import { RemoteQueue } from './remote-queue.js';

export interface OpenRemoteOptions {
  defaultDir: string;
  modelsDir?: string;
  target: QueueTarget;
  logger?: Logger;
  /** See remoteEngine. */
  noWorkerTimeoutMs?: number;
  pollMs?: number;
}

export async function openRemotePool(o: OpenRemoteOptions): Promise<{ engines: EnginePool; remote: RemoteQueue }> {
  const logger = o.logger ?? defaultLog;
  const packs = await checkedPacks({ defaultDir: o.defaultDir, modelsDir: o.modelsDir, logger });
  const remote = new RemoteQueue(o.target, logger);
  const engines = new EnginePool({
    // Nothing is loaded in this process: the memory budget is the workers' business.
    memoryMb: Number.MAX_SAFE_INTEGER, logger, runsElsewhere: true,
    packs: packs.map(({ pack, checker }) => ({
      pack, checker,
      open: async () => remoteEngine({ remote, checker, logger, noWorkerTimeoutMs: o.noWorkerTimeoutMs, pollMs: o.pollMs }),
    })),
  });
  logger.info({ models: engines.list().map((p) => p.name), queue: o.target.where }, 'models available through the shared queue');
  return { engines, remote };
}
