/**
 * Turns the job manager's events into Discord messages: for each job, its acknowledgement (edited
 * as the job starts and ends), one progress message in its thread, then the result with its
 * buttons and reactions, or a line saying why there is none. Each job's messages go out in order
 * (one promise chain per job); a Discord failure is logged and never touches the job itself.
 */
import { readFile } from 'node:fs/promises';
import { AttachmentBuilder, type Client } from 'discord.js';
import type { Logger } from 'pino';
import type { JobManager, JobManagerEvents, JobResult } from '../jobs/manager.js';
import type { Store } from '../store/store.js';
import type { JobRecord } from '../store/types.js';
import { editIn, sendTo } from './channels.js';
import { ackFinalText, cancelRow, RESULT_EMOJI, resultRows, resultText } from './messages.js';
import { formatDuration, ProgressMessage, progressText } from './progress.js';
import { withRetry } from './retry.js';
import { finishWithoutPicture, isCaught, resultFileName, WITHHELD_TEXT } from './safety-post.js';

/** Where a job's messages go: its thread, and the acknowledgement (in job.channelId) with the Cancel button. */
export interface JobPlace {
  threadId: string;
  replyMessageId: string | null;
}

interface JobView {
  /** Resolves once the job has a thread; undefined when it never will (the reply failed). */
  place: Promise<JobPlace | undefined>;
  setPlace: (p: JobPlace | undefined) => void;
  progress?: ProgressMessage;
  chain: Promise<void>;
}

export interface JobThreadsOptions {
  client: Client;
  store: Store;
  manager: JobManager;
  logger: Logger;
  progressIntervalMs?: number;
}

export class JobThreads {
  private readonly views = new Map<string, JobView>();
  private readonly client: Client;
  private readonly store: Store;
  private readonly log: Logger;
  private readonly listeners: (() => void)[] = [];

  constructor(private readonly opts: JobThreadsOptions) {
    this.client = opts.client;
    this.store = opts.store;
    this.log = opts.logger;
    const m = opts.manager;
    const bind = <K extends keyof JobManagerEvents>(event: K, fn: (...a: JobManagerEvents[K]) => void): void => {
      // An exception in a listener would surface inside the job runner: log it here instead.
      const safe = (...a: JobManagerEvents[K]): void => {
        try {
          fn(...a);
        } catch (e) {
          this.log.error({ err: e, event }, 'job event handler failed');
        }
      };
      // EventEmitter's generic signature cannot follow K through a helper; the types above are checked.
      m.on(event, safe as never);
      this.listeners.push(() => m.off(event, safe as never));
    };
    bind('start', ({ job }) => this.onStart(job));
    bind('progress', (e) => this.view(e.job).progress?.update({ text: progressText(e.step, e.steps, e.etaMs), image: e.image }));
    bind('done', ({ job, result }) => this.onDone(job, result));
    bind('failed', ({ job, message }) => this.onEnd(job, 'failed', `❌ Could not draw this: ${message}`));
    bind('cancelled', ({ job, by }) => this.onEnd(job, 'cancelled', `Cancelled by <@${by}>.`));
    bind('resumed', ({ job }) => {
      if (!job.threadId) {
        // Queued by a process that died before acknowledging it: nobody saw it, so nobody waits for it.
        this.views.set(job.id, newView());
        this.placed(job.id, undefined);
        m.cancel(job.id, this.client.user?.id ?? 'bot');
        return;
      }
      void this.then(job, async (place) => {
        await withRetry(() => sendTo(this.client, place.threadId, {
          // With remote workers the run went on without the bot: the same attempt, picked up again.
          content: job.attempts > 1
            ? `♻️ The bot restarted, so this image is queued again (attempt ${job.attempts}).`
            : '♻️ The bot restarted; this image is still on its way.',
        }));
      });
    });
  }

  /** A new job's thread is ready (or, with undefined, never will be: its messages are skipped). */
  placed(jobId: string, place: JobPlace | undefined): void {
    const v = this.views.get(jobId);
    if (v) v.setPlace(place);
    else if (place) this.views.set(jobId, newView(place));
  }

  /** Stops listening; progress waiting to be sent is dropped (the next run of the job edits the same message). */
  async close(timeoutMs = 5000): Promise<void> {
    for (const off of this.listeners) off();
    for (const v of this.views.values()) {
      v.progress?.abandon();
      v.setPlace(undefined);
    }
    const all = Promise.allSettled([...this.views.values()].map((v) => v.chain));
    await Promise.race([all, new Promise((r) => setTimeout(r, timeoutMs).unref())]);
    this.views.clear();
  }

  /** Jobs with messages still on their way (tests wait for this to be 0). */
  get pending(): number {
    return this.views.size;
  }

  private view(job: JobRecord): JobView {
    let v = this.views.get(job.id);
    if (!v) {
      // A job this process did not place (resumed, or placed before a restart): its thread is in the store.
      v = newView(job.threadId ? { threadId: job.threadId, replyMessageId: job.replyMessageId } : undefined);
      this.views.set(job.id, v);
    }
    return v;
  }

  /** Runs `fn` after the job's earlier messages, once it has a thread. */
  private then(job: JobRecord, fn: (place: JobPlace, v: JobView) => Promise<void>): Promise<void> {
    const v = this.view(job);
    v.chain = v.chain.then(async () => {
      const place = await v.place;
      if (!place) return;
      try {
        await fn(place, v);
      } catch (e) {
        this.log.warn({ err: e, jobId: job.id }, 'could not update the job in Discord');
      }
    });
    return v.chain;
  }

  private onStart(job: JobRecord): void {
    const v = this.view(job);
    v.progress = new ProgressMessage({
      create: async (payload) => {
        const place = await v.place;
        if (!place) throw new Error('the job has no thread');
        return (await sendTo(this.client, place.threadId, payload)).id;
      },
      edit: async (id, payload) => {
        const place = await v.place;
        if (!place) throw new Error('the job has no thread');
        await editIn(this.client, place.threadId, id, payload);
      },
    }, {
      minIntervalMs: this.opts.progressIntervalMs,
      messageId: job.progressMessageId ?? undefined,
      onCreated: (id) => this.store.jobs.setMessages(job.id, { progressMessageId: id }),
      logger: this.log,
    });
    v.progress.update({ text: 'Starting…' });
    void this.then(job, async (place) => {
      if (place.replyMessageId) {
        await withRetry(() => editIn(this.client, job.channelId, place.replyMessageId!, { content: ackFinalText(job, 'running'), components: [cancelRow(job.id)] }));
      }
    });
  }

  private onDone(job: JobRecord, r: JobResult): void {
    const v = this.view(job);
    void this.then(job, async (place) => {
      const finished = `Finished: ${r.steps} steps in ${formatDuration(r.ms)}.`;
      if (isCaught(r.safety)) await finishWithoutPicture(v.progress, finished, (id, p) => withRetry(() => editIn(this.client, place.threadId, id, p)));
      else await v.progress?.finish({ text: finished });
      if (r.safety?.action === 'withhold') {
        await withRetry(() => sendTo(this.client, place.threadId, { content: WITHHELD_TEXT }));
        await this.closeAck(job, place, 'done');
        return;
      }
      const png = await readFile(r.pngPath);
      const msg = await withRetry(() => sendTo(this.client, place.threadId, {
        content: resultText(job, r),
        files: [new AttachmentBuilder(png, { name: resultFileName(job.id, r.safety) })],
        components: resultRows(job.id, job.request.count),
      }));
      this.store.jobs.setMessages(job.id, { resultMessageId: msg.id });
      await this.closeAck(job, place, 'done');
      for (const emoji of Object.keys(RESULT_EMOJI)) await withRetry(() => msg.react(emoji));
    }).finally(() => this.forget(job.id, v));
  }

  private onEnd(job: JobRecord, outcome: 'failed' | 'cancelled', text: string): void {
    const v = this.view(job);
    void this.then(job, async (place) => {
      if (v.progress) await v.progress.finish({ text });
      else await withRetry(() => sendTo(this.client, place.threadId, { content: text }));
      await this.closeAck(job, place, outcome);
    }).finally(() => this.forget(job.id, v));
  }

  /**
   * The acknowledgement loses its Cancel button once the job is over. Best effort: someone may have
   * deleted it, and that must not keep the result from getting its reactions.
   */
  private async closeAck(job: JobRecord, place: JobPlace, outcome: 'done' | 'failed' | 'cancelled'): Promise<void> {
    if (!place.replyMessageId) return;
    try {
      await withRetry(() => editIn(this.client, job.channelId, place.replyMessageId!, { content: ackFinalText(job, outcome), components: [] }));
    } catch (e) {
      this.log.warn({ err: e, jobId: job.id }, 'could not update the acknowledgement');
    }
  }

  private forget(jobId: string, v: JobView): void {
    if (this.views.get(jobId) === v) this.views.delete(jobId);
  }
}

function newView(place?: JobPlace): JobView {
  let setPlace!: (p: JobPlace | undefined) => void;
  const promise = new Promise<JobPlace | undefined>((resolve) => { setPlace = resolve; });
  if (place) setPlace(place);
  return { place: promise, setPlace, chain: Promise.resolve() };
}

