/** Jobs: created when /imagine is accepted, updated as they run, kept for limits and recovery. */
import type Database from 'better-sqlite3';
import type { JobMessages, JobRecord, JobRequest, JobStatus, NewJob } from './types.js';

interface JobRow {
  id: string; guild_id: string; channel_id: string; thread_id: string | null; user_id: string; request: string;
  status: JobStatus; reply_message_id: string | null; progress_message_id: string | null; result_message_id: string | null;
  created_at: number; started_at: number | null; finished_at: number | null; error: string | null; score: number | null;
  seed: number | null; ms: number | null; image_path: string | null; attempts: number; cancelled_by: string | null;
}

const toRecord = (r: JobRow): JobRecord => ({
  id: r.id, guildId: r.guild_id, channelId: r.channel_id, threadId: r.thread_id, userId: r.user_id,
  request: JSON.parse(r.request) as JobRequest, status: r.status,
  replyMessageId: r.reply_message_id, progressMessageId: r.progress_message_id, resultMessageId: r.result_message_id,
  createdAt: r.created_at, startedAt: r.started_at, finishedAt: r.finished_at, error: r.error, score: r.score,
  seed: r.seed, ms: r.ms, imagePath: r.image_path, attempts: r.attempts, cancelledBy: r.cancelled_by,
});

const MESSAGE_COLUMNS: Record<keyof JobMessages, string> = {
  threadId: 'thread_id', replyMessageId: 'reply_message_id', progressMessageId: 'progress_message_id', resultMessageId: 'result_message_id',
};

const DAY_MS = 24 * 60 * 60 * 1000;

/** What the limit checks need about one member in one server, in one call. */
export interface UserJobCounts {
  /** Waiting or running now. */
  active: number;
  /** Created in the last 24 hours (any outcome). */
  lastDay: number;
  /**
   * Where the cooldown counts from (Unix ms): the later of their last finished job's finish and their
   * newest waiting or running job's request. Undefined: nothing to count from.
   */
  cooldownFrom: number | undefined;
}

export class JobsRepo {
  private readonly s;

  constructor(private readonly db: Database.Database, private readonly now: () => number, private readonly newId: () => string) {
    this.s = {
      insert: db.prepare(`INSERT INTO jobs (id, guild_id, channel_id, thread_id, user_id, request, status, reply_message_id, created_at)
        VALUES (@id, @guildId, @channelId, @threadId, @userId, @request, 'queued', @replyMessageId, @createdAt)`),
      get: db.prepare<[string], JobRow>('SELECT * FROM jobs WHERE id = ?'),
      byMessage: db.prepare<[string, string, string], JobRow>(`SELECT * FROM jobs
        WHERE result_message_id = ? OR reply_message_id = ? OR progress_message_id = ? LIMIT 1`),
      running: db.prepare<[number, string]>("UPDATE jobs SET status = 'running', started_at = ? WHERE id = ? AND status = 'queued'"),
      done: db.prepare<[number, number, number, number, string, string]>(`UPDATE jobs SET status = 'done', finished_at = ?, score = ?, seed = ?, ms = ?, image_path = ?, error = NULL
        WHERE id = ? AND status IN ('queued', 'running')`),
      failed: db.prepare<[number, string, string]>(`UPDATE jobs SET status = 'failed', finished_at = ?, error = ?
        WHERE id = ? AND status IN ('queued', 'running')`),
      cancelled: db.prepare<[number, string, string]>(`UPDATE jobs SET status = 'cancelled', finished_at = ?, cancelled_by = ?
        WHERE id = ? AND status IN ('queued', 'running')`),
      requeue: db.prepare<[string]>(`UPDATE jobs SET status = 'queued', started_at = NULL, attempts = attempts + 1
        WHERE id = ? AND status IN ('queued', 'running')`),
      backToQueue: db.prepare<[string]>("UPDATE jobs SET status = 'queued', started_at = NULL WHERE id = ? AND status = 'running'"),
      active: db.prepare<[string, string], { n: number }>(`SELECT count(*) AS n FROM jobs
        WHERE guild_id = ? AND user_id = ? AND status IN ('queued', 'running')`),
      since: db.prepare<[string, string, number], { n: number }>('SELECT count(*) AS n FROM jobs WHERE guild_id = ? AND user_id = ? AND created_at > ?'),
      cooldownFrom: db.prepare<[string, string, string], { at: number | null }>(`SELECT max(CASE WHEN status IN ('queued', 'running') THEN created_at ELSE finished_at END) AS at
        FROM jobs WHERE guild_id = ? AND user_id = ? AND id <> ?`),
      // The IN term repeats jobs_unfinished's condition, so SQLite uses that partial index.
      runningForUser: db.prepare<[string], { n: number }>(`SELECT count(*) AS n FROM jobs
        WHERE status IN ('queued', 'running') AND status = 'running' AND user_id = ?`),
      unfinished: db.prepare<[], JobRow>("SELECT * FROM jobs WHERE status IN ('queued', 'running') ORDER BY created_at, rowid"),
    };
  }

  /** A new queued job with a fresh id. */
  create(job: NewJob): JobRecord {
    const row = {
      guildId: job.guildId, channelId: job.channelId, userId: job.userId, threadId: job.threadId ?? null,
      replyMessageId: job.replyMessageId ?? null, request: JSON.stringify(job.request), createdAt: this.now(),
    };
    for (let tries = 0; ; tries++) {
      const id = this.newId();
      try {
        this.s.insert.run({ ...row, id });
        return this.get(id)!;
      } catch (e) {
        if ((e as { code?: string }).code !== 'SQLITE_CONSTRAINT_PRIMARYKEY' || tries >= 5) throw e;
      }
    }
  }

  get(id: string): JobRecord | undefined {
    const r = this.s.get.get(id);
    return r && toRecord(r);
  }

  /** The job whose /imagine reply, progress or result message this is (reactions and buttons). */
  byMessage(messageId: string): JobRecord | undefined {
    const r = this.s.byMessage.get(messageId, messageId, messageId);
    return r && toRecord(r);
  }

  /** Records the Discord messages the bot made for a job. */
  setMessages(id: string, m: JobMessages): JobRecord | undefined {
    const sets = (Object.keys(m) as (keyof JobMessages)[]).filter((k) => m[k] !== undefined && k in MESSAGE_COLUMNS);
    if (sets.length) {
      this.db.prepare(`UPDATE jobs SET ${sets.map((k) => `${MESSAGE_COLUMNS[k]} = @${k}`).join(', ')} WHERE id = @id`).run({ ...m, id });
    }
    return this.get(id);
  }

  /** The status changes return whether they applied: a finished job never changes again. */
  markRunning(id: string): boolean {
    return this.s.running.run(this.now(), id).changes > 0;
  }

  markDone(id: string, r: { score: number; seed: number; ms: number; imagePath: string }): boolean {
    return this.s.done.run(this.now(), r.score, r.seed, r.ms, r.imagePath, id).changes > 0;
  }

  markFailed(id: string, error: string): boolean {
    return this.s.failed.run(this.now(), error, id).changes > 0;
  }

  markCancelled(id: string, by: string): boolean {
    return this.s.cancelled.run(this.now(), by, id).changes > 0;
  }

  /** A job a dead process left unfinished, queued again as its next attempt. */
  requeue(id: string): JobRecord | undefined {
    this.s.requeue.run(id);
    return this.get(id);
  }

  /** A running job stopped by a shutdown: waiting again, same attempt (it is resumed at the next start). */
  returnToQueue(id: string): boolean {
    return this.s.backToQueue.run(id).changes > 0;
  }

  /** Jobs waiting or running now for a member in a server. */
  activeForUser(guildId: string, userId: string): number {
    return this.s.active.get(guildId, userId)!.n;
  }

  /** Jobs a member created in a server after `sinceMs` (Unix ms). */
  createdSince(guildId: string, userId: string, sinceMs: number): number {
    return this.s.since.get(guildId, userId, sinceMs)!.n;
  }

  /**
   * `exceptJobId`: the finished job a 🔁 or 🎲 acts on, left out of the cooldown (pressing 🔁 the
   * moment a picture arrives must not wait on that picture).
   */
  countsFor(guildId: string, userId: string, exceptJobId = ''): UserJobCounts {
    return {
      active: this.activeForUser(guildId, userId),
      lastDay: this.createdSince(guildId, userId, this.now() - DAY_MS),
      cooldownFrom: this.s.cooldownFrom.get(guildId, userId, exceptJobId)!.at ?? undefined,
    };
  }

  /** Jobs of a member running now, in every server (every bot process sharing this store). */
  runningForUser(userId: string): number {
    return this.s.runningForUser.get(userId)!.n;
  }

  /** Jobs left queued or running, oldest first (recovery at start). */
  unfinished(): JobRecord[] {
    return this.s.unfinished.all().map(toRecord);
  }
}
