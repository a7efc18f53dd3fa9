/**
 * The bot's side of the shared queue: one BullMQ Queue and one QueueEvents per model, created on
 * first use, whose events are handed to the one listener watching each job id. Cancels go out as a
 * key (seen by a worker that takes the job later) and a message (seen by the worker running it).
 */
import { Queue, QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { log as defaultLog } from '../../log.js';
import type { QueueTarget } from '../queue-url.js';
import { bullConnection, redisOptions } from '../redis-connection.js';
import { Blobs } from './blobs.js';
import { CANCEL_CHANNEL, cancelKey, queueName, RESULT_TTL_S } from './keys.js';
import { workersOnline, type WorkerAnnouncement } from './registry.js';

/** What a watcher of one job hears. Handlers run one at a time per job, in the order events came. */
export interface JobWatcher {
  active?(): Promise<void> | void;
  progress?(data: unknown): Promise<void> | void;
  completed?(returnvalue: unknown): Promise<void> | void;
  failed?(reason: string): Promise<void> | void;
}

interface Watch { watcher: JobWatcher; chain: Promise<void> }

export class RemoteQueue {
  readonly redis: Redis;
  readonly blobs: Blobs;
  private readonly queues = new Map<string, Queue>();
  private readonly events = new Map<string, Promise<QueueEvents>>();
  private readonly watches = new Map<string, Watch>();
  private readonly log: Logger;

  constructor(readonly target: QueueTarget, logger?: Logger) {
    this.log = logger ?? defaultLog;
    this.redis = new Redis(redisOptions(target));
    this.redis.on('error', (e: Error) => this.log.warn({ err: e.message }, 'redis connection'));
    this.blobs = new Blobs(this.redis);
  }

  queue(model: string): Queue {
    const name = queueName(model);
    let q = this.queues.get(name);
    if (!q) {
      q = new Queue(name, { connection: bullConnection(this.target) });
      q.on('error', (e) => this.log.warn({ err: e.message, queue: name }, 'queue connection'));
      this.queues.set(name, q);
    }
    return q;
  }

  /** Starts listening to a model's events (once); resolves when the listener is connected. */
  listen(model: string): Promise<QueueEvents> {
    const name = queueName(model);
    let ready = this.events.get(name);
    if (!ready) {
      const qe = new QueueEvents(name, { connection: bullConnection(this.target) });
      qe.on('error', (e) => this.log.warn({ err: e.message, queue: name }, 'queue events connection'));
      qe.on('active', ({ jobId }) => this.deliver(jobId, (w) => w.active?.()));
      qe.on('progress', ({ jobId, data }) => this.deliver(jobId, (w) => w.progress?.(data)));
      qe.on('completed', ({ jobId, returnvalue }) => this.deliver(jobId, (w) => w.completed?.(returnvalue)));
      qe.on('failed', ({ jobId, failedReason }) => this.deliver(jobId, (w) => w.failed?.(failedReason)));
      ready = qe.waitUntilReady().then(() => qe);
      this.events.set(name, ready);
    }
    return ready;
  }

  watch(jobId: string, watcher: JobWatcher): () => void {
    this.watches.set(jobId, { watcher, chain: Promise.resolve() });
    return () => { if (this.watches.get(jobId)?.watcher === watcher) this.watches.delete(jobId); };
  }

  /** Runs a watcher's handler after its earlier ones, so a frame never lands after the result. */
  deliver(jobId: string, handle: (w: JobWatcher) => Promise<void> | void): void {
    const w = this.watches.get(jobId);
    if (!w) return;
    w.chain = w.chain.then(() => handle(w.watcher)).catch((e: unknown) => this.log.error({ err: e, jobId }, 'job event handler failed'));
  }

  /** Marks the job cancelled for any worker that takes it later, and tells the one running it now. */
  async cancel(jobId: string): Promise<void> {
    await this.redis.set(cancelKey(jobId), '1', 'EX', RESULT_TTL_S);
    await this.redis.publish(CANCEL_CHANNEL, jobId);
  }

  workers(): Promise<WorkerAnnouncement[]> {
    return workersOnline(this.redis);
  }

  /** Jobs waiting in the shared queue for these models (handed out by any bot process). */
  async depth(models: readonly string[]): Promise<number> {
    let n = 0;
    for (const m of models) n += await this.queue(m).getJobCountByTypes('waiting', 'prioritized', 'delayed');
    return n;
  }

  async close(): Promise<void> {
    this.watches.clear();
    for (const ready of this.events.values()) await ready.then((qe) => qe.close(), () => undefined);
    for (const q of this.queues.values()) await q.close();
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
