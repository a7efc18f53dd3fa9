/**
 * An Engine whose runs happen on `clipag worker` processes: the bot's job manager, fair queue,
 * limits and Discord code use it exactly as they use a local engine. A run becomes a BullMQ job
 * named after the bot's job id (so a restarted bot finds its jobs again, finished or not), its
 * progress frames and results come back as blobs, and a cancel reaches the worker running it.
 */
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import sharp from 'sharp';
import type { Logger } from 'pino';
import type { RgbImage } from '../../engine/clip/image.js';
import { writeFileAtomic } from '../../engine/atomic-write.js';
import type { ConceptList } from '../../engine/safety/concepts.js';
import type { SafetyVerdict } from '../../engine/safety/screen.js';
import { log as defaultLog } from '../../log.js';
import { isShutdown, JobAborted, JobInputError, type Engine, type EngineRequest, type EngineResult, type EngineRunOptions, type PackChecker } from '../engine.js';
import { packKey } from '../packs.js';
import { picturePaths } from '../pictures.js';
import { blobKey, RESULT_TTL_S } from './keys.js';
import { FAILURE, progressData, runResult, screenResult, type RunData, type ScreenData } from './protocol.js';
import type { RemoteQueue } from './remote-queue.js';
import { WorkerWatch } from './worker-watch.js';

export interface RemoteEngineOptions {
  remote: RemoteQueue;
  /** The pack's local checker: requests are checked before they are queued, as with a local engine. */
  checker: PackChecker;
  logger?: Logger;
  /**
   * A job no worker has taken yet fails once no worker serving its model has been online for this
   * long (one count for all of the model's jobs: worker-watch.ts); while one is online, jobs wait.
   */
  noWorkerTimeoutMs?: number;
  /** How often that is looked at. */
  pollMs?: number;
}

/** Default wait for a worker: long enough for one to restart, short enough that a member is not left hanging. */
export const NO_WORKER_TIMEOUT_MS = 120_000;
const STALLED = /stalled more than allowable limit/;
/** BullMQ's lowest priority; a job without one (a screening) goes before every prioritized job. */
const MAX_PRIORITY = 2_097_151;
const WAITING_STATES = new Set(['waiting', 'prioritized', 'delayed', 'waiting-children']);
/** A started job whose worker is gone is still 'active' (nobody ran the stalled check) or back in the wait. */
const ORPHAN_STATES = new Set([...WAITING_STATES, 'active']);

export function remoteEngine(o: RemoteEngineOptions): Engine {
  const { remote, checker } = o;
  const log = o.logger ?? defaultLog;
  const info = { ...checker.info(), device: 'remote workers' };
  const model = info.model;
  const jobOptions = { attempts: 1, removeOnComplete: { age: RESULT_TTL_S }, removeOnFail: { age: RESULT_TTL_S } };
  const waitMs = o.noWorkerTimeoutMs ?? NO_WORKER_TIMEOUT_MS;
  const workers = new WorkerWatch(async () => (await remote.workers()).some((w) => w.models.some((m) => packKey(m) === packKey(model))));

  /** Queues one job (or finds it again by its id) and settles with its outcome, as its watcher hears it. */
  async function follow<T>(jobId: string, name: string, data: RunData | ScreenData, opts: {
    signal?: AbortSignal; lifo?: boolean; priority?: number;
    progress?: (raw: unknown) => Promise<void>;
    completed: (raw: unknown) => Promise<T>;
  }): Promise<T> {
    const q = remote.queue(model);
    await remote.listen(model);
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      let started = false;
      let queued = false;
      const finish = (f: () => void): void => {
        if (settled) return;
        settled = true;
        unwatch();
        clearInterval(timer);
        opts.signal?.removeEventListener('abort', onAbort);
        f();
      };
      const fail = (e: unknown): void => finish(() => reject(e));
      const unwatch = remote.watch(jobId, {
        active: () => { started = true; },
        progress: async (raw) => { started = true; if (!settled) await opts.progress?.(raw); },
        completed: async (raw) => {
          try {
            const r = await opts.completed(typeof raw === 'string' ? JSON.parse(raw) : raw);
            finish(() => resolve(r));
          } catch (e) {
            fail(e);
          }
        },
        failed: (reason) => fail(failure(reason)),
      });
      /** Takes the job out of the queue if it is in one of `states`; false where it is not (or a worker holds it). */
      const removeIn = async (states: ReadonlySet<string>): Promise<boolean> => {
        const job = await q.getJob(jobId);
        if (!job) return true;
        if (!states.has(await job.getState())) return false;
        try {
          await job.remove();
          return true;
        } catch {
          return false; // a worker took it meanwhile (or still holds its lock): the cancel key stops it there
        }
      };
      const removeIfWaiting = (): Promise<boolean> => removeIn(WAITING_STATES);
      const onAbort = (): void => {
        // A stopping bot lets the job go on; the next start finds it by its id.
        if (isShutdown(opts.signal?.reason)) return fail(new JobAborted());
        void (async () => {
          await remote.cancel(jobId);
          if (await removeIfWaiting()) fail(new JobAborted());
        })().catch((e: unknown) => log.warn({ err: (e as Error).message, jobId }, 'cancel not delivered'));
      };
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      const checkWorkers = (): void => void (async () => {
        // Not before it is in the queue: a job failed while being added would be added anyway.
        if (!queued || settled || (await workers.absentFor()) < waitMs) return;
        // Looked at again after the wait: the job may have started or settled meanwhile.
        if (settled) return;
        const seconds = Math.round(waitMs / 1000);
        if (!started) {
          if (!(await removeIfWaiting())) return;
          return fail(new JobInputError(`no worker for the model "${model}" has been online for ${seconds} s: try another model, or tell a moderator`));
        }
        // Started, and no worker of its model online for the whole timeout: the one drawing it died,
        // and only a live worker of the model would find it stalled and hand it on. Its lock outlives
        // that worker by at most lockDuration; until then the removal is refused and the next look retries.
        if (!(await removeIn(ORPHAN_STATES))) return;
        fail(new JobInputError(`the worker drawing this picture went offline and none for the model "${model}" has been online for ${seconds} s since: try again later, or tell a moderator`));
      })().catch((e: unknown) => log.warn({ err: (e as Error).message, jobId }, 'worker check failed'));
      const timer = setInterval(checkWorkers, o.pollMs ?? 5000);
      void (async () => {
        const priority = opts.priority === undefined ? {} : { priority: Math.max(1, Math.min(MAX_PRIORITY, Math.round(opts.priority))) };
        await q.add(name, data, { ...jobOptions, jobId, ...(opts.lifo ? { lifo: true } : {}), ...priority });
        queued = true;
        // A job this id already had (a restarted bot resuming it) may have finished meanwhile.
        const state = await q.getJobState(jobId);
        if (state === 'active') started = true;
        if (state === 'completed' || state === 'failed') {
          const job = await q.getJob(jobId);
          remote.deliver(jobId, (w) => (state === 'completed' ? w.completed?.(job?.returnvalue) : w.failed?.(job?.failedReason ?? 'unknown')));
        }
        if (opts.signal?.aborted) onAbort();
        // Handed out after the workers have been gone for the timeout already: it fails now, not a timeout later.
        checkWorkers();
      })().catch(fail);
    });
  }

  return {
    info: () => ({ ...info }),
    check: (req) => checker.check(req),

    async run(req: EngineRequest, opts: EngineRunOptions): Promise<EngineResult> {
      if (opts.signal.aborted) throw new JobAborted();
      const jobId = opts.jobId ?? randomUUID();
      const { init, ...request } = req;
      const initKey = init === undefined ? undefined : blobKey(jobId, 'init');
      if (initKey) await remote.blobs.put(initKey, await readFile(init!), RESULT_TTL_S);
      const data: RunData = { kind: 'run', jobId, model, request, ...(initKey ? { init: initKey } : {}) };
      try {
        return await follow(jobId, 'run', data, {
          signal: opts.signal, priority: opts.priority,
          progress: async (raw) => {
            const p = progressData.safeParse(raw);
            if (!p.success) return log.warn({ jobId }, 'unreadable progress ignored');
            let image: RgbImage | undefined;
            if (p.data.frame) {
              const bytes = await remote.blobs.get(p.data.frame);
              if (bytes) image = await decodeFrame(bytes);
              else log.debug({ jobId }, 'progress frame expired before it was read');
            }
            opts.onProgress?.({ step: p.data.step, steps: p.data.steps, elapsedMs: p.data.elapsedMs, image });
          },
          completed: async (raw) => {
            const r = runResult.parse(raw);
            const n = r.pictures.length;
            const pictures = picturePaths(opts.out, n);
            // The pictures first: a result file on disk means the whole result is there.
            const writes: (readonly [string, string])[] = r.pictures.map((key, i) => [key, pictures[i]!] as const);
            if (n > 1) writes.push([r.png, opts.out]);
            for (const [key, path] of writes) {
              const bytes = await remote.blobs.get(key);
              if (!bytes) throw new Error(`job ${jobId}: the result ${key} expired before the bot read it`);
              await writeFileAtomic(path, bytes);
            }
            await remote.blobs.delete(...new Set([...r.pictures, r.png, blobKey(jobId, 'frame'), ...(initKey ? [initKey] : [])]));
            log.info({ jobId, worker: r.worker }, 'remote job delivered');
            return { pngPath: opts.out, pictures, score: r.score, seed: r.seed, steps: r.steps, ms: r.ms, msPerStep: r.msPerStep };
          },
        });
      } catch (e) {
        if (e instanceof JobAborted && !isShutdown(opts.signal.reason)) await remote.blobs.delete(blobKey(jobId, 'frame'), ...(initKey ? [initKey] : [])).catch(() => undefined);
        throw e;
      }
    },

    async screen(pngPath: string, prompt: string, concepts: ConceptList): Promise<SafetyVerdict> {
      const id = randomUUID();
      const picture = blobKey(id, 'screen');
      await remote.blobs.put(picture, await readFile(pngPath), RESULT_TTL_S);
      const data: ScreenData = { kind: 'screen', model, picture, prompt, concepts: { concepts: [...concepts.concepts], removed: [...concepts.removed] } };
      try {
        // lifo: the screening of a finished picture goes before jobs still waiting for their turn.
        return await follow(id, 'screen', data, { lifo: true, completed: async (raw) => screenResult.parse(raw).verdict });
      } finally {
        await remote.blobs.delete(picture).catch(() => undefined);
      }
    },

    // The checker belongs to the pool that made this engine; there is nothing else to let go of.
    close: async () => {},
  };
}

/** A worker's failedReason as the error the job manager understands. */
export function failure(reason: string): Error {
  if (reason === FAILURE.cancelled) return new JobAborted();
  if (reason.startsWith(FAILURE.input)) return new JobInputError(reason.slice(FAILURE.input.length));
  if (STALLED.test(reason)) return new JobInputError('this picture stopped the worker drawing it twice, so it was given up: try other settings, and tell a moderator if it keeps happening');
  return new Error(`remote job failed: ${reason}`);
}

async function decodeFrame(bytes: Buffer): Promise<RgbImage> {
  const { data, info } = await sharp(bytes).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
}
