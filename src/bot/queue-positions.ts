/**
 * Keeps the place in line in waiting jobs' acknowledgements current. Whenever a job starts or ends,
 * a round (at most one per interval, coalescing every event since the last) edits the acks whose
 * place changed: never more than one edit in flight per message, a few per channel per round so
 * the channel's edit budget (Discord: 5 per 5 s) stays free for the acks of jobs that start and end,
 * nearest the front first. Once a job starts its ack belongs to JobThreads and is not touched again.
 */
import type { Client } from 'discord.js';
import type { Logger } from 'pino';
import type { JobManager } from '../jobs/manager.js';
import type { JobRecord } from '../store/types.js';
import { sendableChannel } from './channels.js';
import { ackText } from './messages.js';
import { NO_PINGS } from './sanitize.js';

export interface QueuePositionsOptions {
  client: Client;
  manager: JobManager;
  logger: Logger;
  /** Least time between two rounds of edits (default 2 s, like progress edits). */
  intervalMs?: number;
  /** Acks edited per channel in one round (default 3); the rest follow in later rounds. */
  perChannel?: number;
}

/** Who an ack names: acks posted in a thread (🔁 🎲, or /imagine used there) say whose job it is. */
export function ackFor(job: JobRecord): string | undefined {
  return job.threadId !== null && job.threadId === job.channelId ? job.userId : undefined;
}

export class QueuePositions {
  /** The place each waiting job's ack shows, as far as this process has set it. */
  private readonly shown = new Map<string, number>();
  private readonly inFlight = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private lastRound = 0;
  private readonly intervalMs: number;
  private readonly perChannel: number;

  constructor(private readonly o: QueuePositionsOptions) {
    this.intervalMs = o.intervalMs ?? 2000;
    this.perChannel = o.perChannel ?? 3;
    const later = (): void => this.schedule();
    for (const event of ['start', 'done', 'failed', 'cancelled', 'resumed'] as const) o.manager.on(event, later);
  }

  private schedule(): void {
    if (this.timer) return;
    const wait = Math.max(0, this.lastRound + this.intervalMs - Date.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.round();
    }, wait);
    this.timer.unref();
  }

  private round(): void {
    // After the bot stopped (client destroyed) there is nobody to tell.
    if (!this.o.client.isReady()) return;
    this.lastRound = Date.now();
    const waiting = this.o.manager.snapshot().waiting;
    const ids = new Set(waiting.map((j) => j.id));
    for (const id of this.shown.keys()) if (!ids.has(id)) this.shown.delete(id);
    const perChannel = new Map<string, number>();
    let leftOver = false;
    for (const job of waiting) {
      const position = this.o.manager.position(job.id);
      if (!position || !job.replyMessageId || this.shown.get(job.id) === position) continue;
      const sent = perChannel.get(job.channelId) ?? 0;
      if (this.inFlight.has(job.id) || sent >= this.perChannel) {
        leftOver = true;
        continue;
      }
      perChannel.set(job.channelId, sent + 1);
      void this.edit(job, job.replyMessageId, position);
    }
    if (leftOver) this.schedule();
  }

  private async edit(job: JobRecord, messageId: string, position: number): Promise<void> {
    this.inFlight.add(job.id);
    this.shown.set(job.id, position);
    try {
      const channel = await sendableChannel(this.o.client, job.channelId);
      // Started meanwhile: JobThreads says "drawing now", which a late place must not overwrite.
      if (!this.o.manager.position(job.id)) return;
      await channel.messages.edit(messageId, { content: ackText(job, position, ackFor(job)), allowedMentions: NO_PINGS });
    } catch (e) {
      // Best effort (the ack may be deleted): tried again only when the place changes again.
      this.o.logger.debug({ err: e, jobId: job.id }, 'could not update the place in line');
    } finally {
      this.inFlight.delete(job.id);
      const now = this.o.manager.position(job.id);
      if (now && now !== this.shown.get(job.id)) this.schedule();
    }
  }
}
