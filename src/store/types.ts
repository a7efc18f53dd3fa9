/** The records the store keeps: jobs and audit entries, in the shape the rest of the bot uses. */

export type JobStatus = 'queued' | 'running' | 'done' | 'failed' | 'cancelled';

/** What a member asked for; the engine fills in what is left out (steps, size, seed). */
export interface JobRequest {
  prompt: string;
  negative?: string;
  steps?: number;
  size?: number;
  seed?: number;
  /** A variation starts from this earlier job's result image. */
  initJobId?: string;
  /** With initJobId on a grid: which of its pictures (1-based; 1 when left out). */
  initIndex?: number;
  /** A starting picture a member uploaded: a checked PNG under DATA_DIR/uploads. */
  initImage?: string;
  /** The model pack's name (MODELS_DIR); left out: the server's default, else the bundled one. */
  model?: string;
  /** Pictures optimised together and posted as one grid (1–4; 1 when left out). */
  count?: number;
  /** 'upscale': initJobId's picture initIndex enlarged ×2 and refined; left out: a new picture. */
  kind?: 'imagine' | 'upscale';
}

export interface JobRecord {
  /** Short, URL- and custom_id-safe (8 lower-case letters and digits). */
  id: string;
  guildId: string;
  channelId: string;
  threadId: string | null;
  userId: string;
  request: JobRequest;
  status: JobStatus;
  /** The /imagine reply (carries the Cancel button; the thread hangs off it). */
  replyMessageId: string | null;
  progressMessageId: string | null;
  resultMessageId: string | null;
  /** Unix ms. */
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  /** User-facing reason for a failure. */
  error: string | null;
  score: number | null;
  /** The seed actually used (known once the run finishes). */
  seed: number | null;
  ms: number | null;
  /** The result PNG, DATA_DIR/images/<id>.png. */
  imagePath: string | null;
  /** 1 for the first run; +1 each time a restart resumes it. */
  attempts: number;
  cancelledBy: string | null;
}

export interface NewJob {
  guildId: string;
  channelId: string;
  userId: string;
  request: JobRequest;
  threadId?: string;
  replyMessageId?: string;
}

/** The Discord message ids a job is attached to; set as the bot creates them. */
export type JobMessages = Partial<Pick<JobRecord, 'threadId' | 'replyMessageId' | 'progressMessageId' | 'resultMessageId'>>;

export interface AuditEntry {
  id: number;
  guildId: string;
  actorId: string;
  /** What was done, e.g. 'limits.set'. */
  action: string;
  /** Per changed field: { from, to }. */
  change: Record<string, { from: unknown; to: unknown }>;
  /** Unix ms. */
  at: number;
}
