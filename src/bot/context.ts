/** What every handler gets: the open store, engine and job manager, and the Discord side. */
import type { Client } from 'discord.js';
import type { Logger } from 'pino';
import type { Engines } from '../jobs/engine-pool.js';
import type { JobManager } from '../jobs/manager.js';
import type { WorkerAnnouncement } from '../jobs/remote/registry.js';
import type { Store } from '../store/store.js';
import type { Imaginer } from './imaginer.js';
import type { JobThreads } from './job-threads.js';

export interface BotContext {
  client: Client;
  store: Store;
  /** Every model pack the bot serves, loaded on first use. */
  engines: Engines;
  manager: JobManager;
  jobs: JobThreads;
  imaginer: Imaginer;
  logger: Logger;
  /** Jobs run at once (ENGINE_CONCURRENCY, or the remote workers' slots online), for /info. */
  concurrency(): number;
  /** With QUEUE_URL: the workers online and the shared queue's depth, for /info. */
  cluster?: {
    workers(): Promise<WorkerAnnouncement[]>;
    depth(): Promise<number>;
  };
  /** False once shutdown began: new requests get a "try again in a minute". */
  accepting(): boolean;
}
