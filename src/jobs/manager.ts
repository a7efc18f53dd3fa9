/**
 * The jobs: accepted requests become store records and wait in a fair queue; each runs through the
 * engine, its progress and outcome announced as events (the bot turns them into Discord messages)
 * and written to the store, so a restart can pick up what a dead process left unfinished.
 */
import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { RgbImage } from '../engine/clip/image.js';
import { log as defaultLog } from '../log.js';
import type { Store } from '../store/store.js';
import type { JobRecord, NewJob } from '../store/types.js';
import { JobAborted, JobInputError, type Engine, type EngineRequest } from './engine.js';
import { singleEngine, type Engines, type Lease } from './engine-pool.js';
import { FairQueue, type QueuePlace } from './fair-queue.js';
import { picturePath } from './pictures.js';
import { screenJob, type SafetyOutcome } from './safety.js';

export interface JobManagerOptions {
  store: Store;
  /** The engines jobs run on, by model (an EnginePool); or `engine`, one engine for every job. */
  engines?: Engines;
  engine?: Engine;
  /** Jobs run at once (ENGINE_CONCURRENCY). */
  concurrency: number;
  /** Result PNGs go here as <jobId>.png (DATA_DIR/images). */
  imagesDir: string;
  logger?: Logger;
  /** Progress events carry an image every k steps (default 1: the bot throttles edits itself). */
  progressEvery?: number;
  /** A job whose run the process died under this many times fails instead of resuming (no crash loop). */
  maxAttempts?: number;
}

export interface StartEvent { job: JobRecord }
export interface ProgressEvent {
  job: JobRecord;
  step: number;
  steps: number;
  /** The canvas now; present every `progressEvery` steps and on the last step. */
  image?: RgbImage;
  elapsedMs: number;
  /** Estimated time left, from the steps so far. */
  etaMs: number;
}
export interface JobResult {
  /** The picture, or the grid of a job's pictures. */
  pngPath: string;
  /** Each picture's own file, in grid order (one job, one picture: [pngPath]). */
  pictures: string[];
  score: number;
  seed: number;
  ms: number;
  steps: number;
  /** The server's safety filter's verdict, given before anything is posted; absent when the filter is off. */
  safety?: SafetyOutcome;
}
export interface DoneEvent { job: JobRecord; result: JobResult }
export interface FailedEvent {
  job: JobRecord;
  /** Short and user-facing; details are in the log. */
  message: string;
}
export interface CancelledEvent {
  job: JobRecord;
  /** The user id that cancelled it. */
  by: string;
  /** Whether it was running (else it was still waiting). */
  wasRunning: boolean;
}
export interface ResumedEvent {
  /** It waits in the queue again; its attempt count already raised, unless its run goes on elsewhere (Engines.runsElsewhere). */
  job: JobRecord;
}

export interface JobManagerEvents {
  start: [StartEvent];
  progress: [ProgressEvent];
  done: [DoneEvent];
  failed: [FailedEvent];
  cancelled: [CancelledEvent];
  resumed: [ResumedEvent];
}

export type JobPlace = QueuePlace;

export interface SubmitResult {
  job: JobRecord;
  /** 0: running already; n ≥ 1: n-th in line. */
  position: number;
}

export type CancelOutcome =
  | { ok: true; job: JobRecord; wasRunning: boolean }
  | { ok: false; reason: 'unknown' | 'finished'; job?: JobRecord };

export interface QueueSnapshot {
  running: JobRecord[];
  /** In the order they will start. */
  waiting: JobRecord[];
}

export interface ManagerStats {
  running: number;
  waiting: number;
  /** From the median step time of the last 20 runs; undefined before the first. */
  stepsPerSecond: number | undefined;
}

/** Submissions after close(). */
export class JobManagerClosed extends Error {
  constructor() {
    super('the bot is shutting down: try again in a minute');
    this.name = 'JobManagerClosed';
  }
}

/** Why a run's signal fired (engine.ts isShutdown reads the second kind). */
type AbortReason = { kind: 'cancel'; by: string } | { kind: 'shutdown' };

interface QueuedJob { id: string; userId: string }

const GENERIC_FAILURE = 'something went wrong while drawing this one: try again, and tell a moderator if it keeps happening';
const RECENT_RUNS = 20;
const GONE = 'the picture to start from is gone: try 🔁 or a new /imagine instead';
const UPLOAD_GONE = 'the uploaded picture to start from is gone: attach it again with a new /imagine';

export class JobManager extends EventEmitter<JobManagerEvents> {
  private readonly queue: FairQueue<QueuedJob>;
  private readonly store: Store;
  private readonly engines: Engines;
  private readonly log: Logger;
  private readonly recentStepMs: number[] = [];
  private closed = false;
  private imagesReady?: Promise<unknown>;

  constructor(private readonly opts: JobManagerOptions) {
    super();
    this.store = opts.store;
    if (opts.engines) this.engines = opts.engines;
    else if (opts.engine) this.engines = singleEngine(opts.engine);
    else throw new Error('JobManager needs engines or an engine');
    this.log = opts.logger ?? defaultLog;
    this.queue = new FairQueue<QueuedJob>({
      concurrency: opts.concurrency,
      run: (q, signal) => this.runJob(q.id, signal),
      onError: (q, e) => this.log.error({ err: e, jobId: q.id }, 'job runner failed'),
    });
  }

  /**
   * Checks the request with the engine (throws JobInputError with a one-line reason), records the
   * job and queues it. Limits are the caller's business (they are per server); this is not.
   */
  async submit(input: NewJob): Promise<SubmitResult> {
    if (this.closed) throw new JobManagerClosed();
    await this.engines.check(this.modelOf(input.request), await this.engineRequest(input.request));
    if (this.closed) throw new JobManagerClosed();
    const job = this.store.jobs.create(input);
    const place = this.queue.add({ id: job.id, userId: job.userId });
    this.log.info({ jobId: job.id, guildId: job.guildId, userId: job.userId }, 'job queued');
    return { job: this.store.jobs.get(job.id)!, position: positionOf(place) };
  }

  /** 0: running; n ≥ 1: n-th in line; undefined: not in the queue (finished, cancelled, unknown). */
  position(id: string): number | undefined {
    const p = this.queue.place(id);
    if (!p) return undefined;
    const job = this.store.jobs.get(id);
    return job && isActive(job) ? positionOf(p) : undefined;
  }

  /**
   * Cancels a waiting job at once, or a running one through its signal (the 'cancelled' event comes
   * when the engine stops, within a step). Who may cancel is the caller's check.
   */
  cancel(id: string, by: string): CancelOutcome {
    const job = this.store.jobs.get(id);
    if (!job) return { ok: false, reason: 'unknown' };
    // The queue lets go of a run just after its outcome is announced; the store already knows.
    if (!isActive(job)) return { ok: false, reason: 'finished', job };
    const where = this.queue.cancel(id, { kind: 'cancel', by } satisfies AbortReason);
    if (where === undefined) return { ok: false, reason: 'unknown', job };
    if (where === 'waiting') {
      this.store.jobs.markCancelled(id, by);
      const cancelled = this.store.jobs.get(id)!;
      this.announce('cancelled', { job: cancelled, by, wasRunning: false });
      return { ok: true, job: cancelled, wasRunning: false };
    }
    return { ok: true, job, wasRunning: true };
  }

  snapshot(): QueueSnapshot {
    const rec = (q: QueuedJob): JobRecord | undefined => {
      const j = this.store.jobs.get(q.id);
      return j && isActive(j) ? j : undefined;
    };
    return {
      running: this.queue.runningItems().map(rec).filter((j): j is JobRecord => j !== undefined),
      waiting: this.queue.waiting().map(rec).filter((j): j is JobRecord => j !== undefined),
    };
  }

  /** Jobs run at once from now on (with remote workers: their slots online). */
  setConcurrency(n: number): void {
    this.queue.setConcurrency(n);
  }

  get concurrency(): number { return this.queue.concurrency; }

  stats(): ManagerStats {
    const n = this.recentStepMs.length;
    const meanMs = n ? this.recentStepMs.reduce((a, b) => a + b, 0) / n : 0;
    return {
      running: this.queue.runningItems().length,
      waiting: this.queue.size,
      stepsPerSecond: n && meanMs > 0 ? 1000 / meanMs : undefined,
    };
  }

  /**
   * Queues again the jobs a previous process left queued or running (oldest first), announcing each
   * with 'resumed'; one found running starts its next attempt, one found waiting keeps its count.
   * Attach listeners first. A job found running (the process died under it) that has had
   * maxAttempts already fails instead: it may be what kills it.
   * Not so where runs happen elsewhere (remote workers): the run went on without the bot, and its
   * engine picks it up again by its id, so it is no new attempt and never suspect.
   * `owns` limits it to some jobs: with gateway shards, each resumes those of its own servers.
   */
  resume(owns: (job: JobRecord) => boolean = () => true): JobRecord[] {
    if (this.closed) return [];
    const out: JobRecord[] = [];
    const max = this.opts.maxAttempts ?? 3;
    const elsewhere = this.engines.runsElsewhere === true;
    for (const old of this.store.jobs.unfinished()) {
      if (this.queue.has(old.id) || !owns(old)) continue;
      if (!elsewhere && old.status === 'running' && old.attempts >= max) {
        this.store.jobs.markFailed(old.id, `stopped after ${old.attempts} tries: the bot restarted each time`);
        const job = this.store.jobs.get(old.id)!;
        this.announce('failed', { job, message: job.error! });
        continue;
      }
      // Only a run the process died under is tried again; a job that was only waiting keeps its count.
      if (elsewhere || old.status === 'queued') this.store.jobs.returnToQueue(old.id);
      else this.store.jobs.requeue(old.id);
      const job = this.store.jobs.get(old.id)!;
      this.queue.add({ id: job.id, userId: job.userId });
      out.push(job);
      this.log.info({ jobId: job.id, attempt: job.attempts }, 'job resumed');
      this.announce('resumed', { job });
    }
    return out;
  }

  /**
   * Stops accepting jobs. With finishRunning, running jobs finish; otherwise they are stopped and
   * left queued in the store with the waiting ones, to resume at the next start.
   */
  async close(o: { finishRunning: boolean } = { finishRunning: true }): Promise<void> {
    this.closed = true;
    this.queue.pause();
    if (!o.finishRunning) this.queue.abortRunning({ kind: 'shutdown' } satisfies AbortReason);
    await this.queue.whenRunningDone();
    this.queue.clearWaiting();
  }

  /** Emits without letting a listener's exception reach the job (a failed Discord edit must not fail a run). */
  private announce<K extends keyof JobManagerEvents>(event: K, ...args: JobManagerEvents[K]): void {
    try {
      // The cast: TypeScript cannot relate the generic K's tuple to emit's overloads.
      (this.emit as (e: K, ...a: JobManagerEvents[K]) => boolean)(event, ...args);
    } catch (e) {
      this.log.error({ err: e, event }, 'a job event listener threw');
    }
  }

  /** The job's model: named in the request (the bot always names one), else the default. */
  private modelOf(r: JobRecord['request']): string {
    const model = r.model ?? this.engines.defaultModel;
    if (!this.engines.find(model)) throw new JobInputError(`the model "${model}" is not on this bot any more: choose another with /imagine model:`);
    return model;
  }

  private async engineRequest(r: JobRecord['request']): Promise<EngineRequest> {
    const { initJobId, initImage, initIndex } = r;
    const base = engineFields(r);
    if (initImage !== undefined) {
      if (!existsSync(initImage)) throw new JobInputError(UPLOAD_GONE);
      return { ...base, init: initImage };
    }
    if (initJobId === undefined) return base;
    const src = this.store.jobs.get(initJobId);
    const count = src?.request.count ?? 1;
    const index = initIndex ?? 1;
    if (index > count) throw new JobInputError(`that picture has no number ${index}: it is one of ${count}`);
    const path = src?.imagePath ? picturePath(src.imagePath, count, index) : undefined;
    if (!path || !existsSync(path)) throw new JobInputError(GONE);
    return { ...base, init: path };
  }

  private async runJob(id: string, signal: AbortSignal): Promise<void> {
    if (!this.store.jobs.markRunning(id)) return; // cancelled or finished while it waited
    let job = this.store.jobs.get(id)!;
    this.announce('start', { job });
    const out = join(this.opts.imagesDir, `${id}.png`);
    let firstStep: { step: number; at: number } | undefined;
    let lease: Lease | undefined;
    try {
      this.imagesReady ??= mkdir(this.opts.imagesDir, { recursive: true });
      await this.imagesReady;
      const req = await this.engineRequest(job.request);
      const model = this.modelOf(job.request);
      lease = await this.engines.acquire(model).catch((e: unknown) => {
        // The pool logged why; the member learns which model, and that it is not their request.
        if (signal.aborted) throw e;
        throw new JobInputError(`the model "${model}" could not be loaded: try another one, and tell a moderator`);
      });
      const r = await lease.engine.run(req, {
        signal, out, jobId: id, priority: this.store.jobs.runningForUser(job.userId), progressEvery: this.opts.progressEvery ?? 1,
        onProgress: (p) => {
          // Steps after the first set the pace: the first carries the one-off setup (graph compile, init).
          firstStep ??= { step: p.step, at: p.elapsedMs };
          const per = p.step > firstStep.step ? (p.elapsedMs - firstStep.at) / (p.step - firstStep.step) : p.elapsedMs / p.step;
          this.announce('progress', { job, step: p.step, steps: p.steps, image: p.image, elapsedMs: p.elapsedMs, etaMs: Math.max(0, per * (p.steps - p.step)) });
        },
      });
      // The median step, not ms/steps: the first run of a shape also pays for compiling its graph.
      this.recentStepMs.push(r.msPerStep > 0 ? r.msPerStep : r.ms / Math.max(1, r.steps));
      if (this.recentStepMs.length > RECENT_RUNS) this.recentStepMs.shift();
      // Screened before it counts as done: a screening failure fails the job, and nothing is posted.
      const safety = await screenJob({ store: this.store, engine: lease.engine, job, model, pngPaths: r.pictures, log: this.log });
      this.store.jobs.markDone(id, { score: r.score, seed: r.seed, ms: r.ms, imagePath: r.pngPath });
      job = this.store.jobs.get(id)!;
      this.log.info({ jobId: id, ms: Math.round(r.ms), score: r.score }, 'job done');
      this.announce('done', { job, result: { pngPath: r.pngPath, pictures: r.pictures, score: r.score, seed: r.seed, ms: r.ms, steps: r.steps, safety } });
    } catch (e) {
      const reason = signal.aborted ? (signal.reason as AbortReason) : undefined;
      if (e instanceof JobAborted || reason) {
        if (reason?.kind === 'shutdown') {
          // A run here was stopped part way, so the next is another attempt; a remote one goes on without us.
          if (this.engines.runsElsewhere === true) this.store.jobs.returnToQueue(id);
          else this.store.jobs.requeue(id);
          this.log.info({ jobId: id }, 'job stopped by shutdown; it resumes at the next start');
          return;
        }
        const by = reason?.kind === 'cancel' ? reason.by : 'unknown';
        this.store.jobs.markCancelled(id, by);
        this.announce('cancelled', { job: this.store.jobs.get(id)!, by, wasRunning: true });
        return;
      }
      const message = e instanceof JobInputError ? e.message : GENERIC_FAILURE;
      if (!(e instanceof JobInputError)) this.log.error({ err: e, jobId: id }, 'job failed');
      this.store.jobs.markFailed(id, message);
      this.announce('failed', { job: this.store.jobs.get(id)!, message });
    } finally {
      lease?.release();
    }
  }
}

/**
 * What the engine reads of a stored request, without its starting picture (the manager resolves
 * that to a file): the job-level fields (which model, which earlier job) dropped, kind as the flag.
 */
export function engineFields(r: JobRecord['request']): EngineRequest {
  const { initJobId: _job, initImage: _image, initIndex: _index, kind, model: _model, ...rest } = r;
  return kind === 'upscale' ? { ...rest, upscale: true } : rest;
}

const isActive = (j: JobRecord): boolean => j.status === 'queued' || j.status === 'running';

const positionOf = (p: QueuePlace): number => (p.state === 'running' ? 0 : p.position);
