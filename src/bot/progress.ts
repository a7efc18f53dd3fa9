/**
 * A job's progress message: one message in its thread, edited in place with the newest picture.
 * Discord rate-limits edits (about 5 per 5 s per channel), and a picture every engine step would
 * be wasted upload, so edits are at least `minIntervalMs` apart (2 s by default) and only the
 * newest frame is kept while waiting. The last frame is never dropped: finish() waits for it.
 * discord.js already retries 429 (after retry_after) and 5xx; a request that still fails is
 * retried here with backoff, and never touches the job itself, which runs regardless.
 */
import { AttachmentBuilder, DiscordAPIError, type MessageCreateOptions, type MessageEditOptions } from 'discord.js';
import type { Logger } from 'pino';
import sharp from 'sharp';
import type { RgbImage } from '../engine/clip/image.js';
import { NO_PINGS } from './sanitize.js';

export interface ProgressFrame {
  /** The message text (step, percent, ETA, or a final word). */
  text: string;
  /** A new picture; without one the previous attachment stays. */
  image?: RgbImage;
}

/** Where the message lives: creating returns its id. A thread channel in the bot; a recorder in unit tests. */
export interface MessageTarget {
  create(payload: MessageCreateOptions): Promise<string>;
  edit(messageId: string, payload: MessageEditOptions): Promise<void>;
}

export interface ProgressOptions {
  minIntervalMs?: number;
  /** A message made by an earlier run of this job (restart recovery): edited rather than sent anew. */
  messageId?: string;
  /** Called once the message exists, with its id (the bot records it in the store). */
  onCreated?: (messageId: string) => void;
  logger?: Logger;
  /** Attempts per frame on top of discord.js's own retries; the last frame gets twice as many. */
  attempts?: number;
  /** First retry delay; doubles each time. */
  retryDelayMs?: number;
}

export const PROGRESS_FILE = 'progress.png';
/** Discord error code for a message that no longer exists. */
const UNKNOWN_MESSAGE = 10008;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** "Step 12/40 · 30% · about 8 s left" */
export function progressText(step: number, steps: number, etaMs?: number): string {
  const pct = steps > 0 ? Math.floor((100 * step) / steps) : 0;
  const parts = [`Step ${step}/${steps}`, `${pct}%`];
  if (etaMs !== undefined && Number.isFinite(etaMs) && step < steps) parts.push(`about ${formatDuration(etaMs)} left`);
  return parts.join(' · ');
}

/** 800 ms → "1 s", 95 000 ms → "1 min 35 s". */
export function formatDuration(ms: number): string {
  const s = Math.max(1, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  return s % 60 ? `${m} min ${s % 60} s` : `${m} min`;
}

/**
 * A progress picture as PNG. It is replaced 2 s later, so speed beats size: zlib level 3 encodes a
 * noisy 512 px canvas about a third faster than the default 6, for a file only slightly larger
 * (the issue budgets 50 ms of CPU per update, encode and send together).
 */
export function encodeProgressPng(img: RgbImage): Promise<Buffer> {
  return sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } }).png({ compressionLevel: 3 }).toBuffer();
}

/** A frame as a message payload: the PNG is encoded here, only for frames actually sent. */
export async function framePayload(frame: ProgressFrame): Promise<MessageEditOptions & MessageCreateOptions> {
  const payload: MessageEditOptions & MessageCreateOptions = { content: frame.text, allowedMentions: NO_PINGS };
  if (frame.image) {
    payload.files = [new AttachmentBuilder(await encodeProgressPng(frame.image), { name: PROGRESS_FILE })];
    // On an edit, an empty keep-list drops the previous picture; the new file takes its place.
    payload.attachments = [];
  }
  return payload;
}

export class ProgressMessage {
  private pending: ProgressFrame | undefined;
  private inFlight: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lastSentAt = -Infinity;
  private messageId: string | undefined;
  private closed = false;
  private readonly minInterval: number;
  private readonly attempts: number;
  private readonly retryDelay: number;
  /** Edits and creations that reached Discord, for logs and tests. */
  sent = 0;

  constructor(private readonly target: MessageTarget, private readonly opts: ProgressOptions = {}) {
    this.minInterval = opts.minIntervalMs ?? 2000;
    this.attempts = opts.attempts ?? 3;
    this.retryDelay = opts.retryDelayMs ?? 1000;
    this.messageId = opts.messageId;
  }

  get id(): string | undefined {
    return this.messageId;
  }

  /** A newer frame: replaces any frame still waiting (keeping its picture if this one has none). */
  update(frame: ProgressFrame): void {
    if (this.closed) return;
    this.pending = { text: frame.text, image: frame.image ?? this.pending?.image };
    this.schedule();
  }

  /** The final frame, sent after the interval like any other; resolves once it landed or was given up. */
  async finish(frame?: ProgressFrame): Promise<void> {
    if (frame) this.pending = { text: frame.text, image: frame.image ?? this.pending?.image };
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.inFlight;
    if (!this.pending) return;
    const wait = this.lastSentAt + this.minInterval - performance.now();
    if (wait > 0) await sleep(wait);
    const last = this.pending;
    this.pending = undefined;
    await this.send(last, this.attempts * 2);
  }

  /** Stops without sending what is waiting (shutdown: the next run of the job takes over the message). */
  abandon(): void {
    this.closed = true;
    this.pending = undefined;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(): void {
    if (this.inFlight || this.timer || !this.pending) return;
    const wait = this.lastSentAt + this.minInterval - performance.now();
    if (wait > 0) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.flush();
      }, wait);
    } else {
      this.flush();
    }
  }

  private flush(): void {
    const frame = this.pending;
    if (!frame || this.inFlight) return;
    this.pending = undefined;
    this.inFlight = this.send(frame, this.attempts).finally(() => {
      this.inFlight = undefined;
      if (!this.closed) this.schedule();
    });
  }

  /** Sends one frame, retrying; on giving up, a frame with a picture waits again unless a newer one came. */
  private async send(frame: ProgressFrame, attempts: number): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        const payload = await framePayload(frame);
        if (this.messageId) {
          try {
            await this.target.edit(this.messageId, payload);
          } catch (e) {
            // Someone deleted the progress message: start a new one rather than fail every edit.
            if (!(e instanceof DiscordAPIError && e.code === UNKNOWN_MESSAGE)) throw e;
            this.messageId = undefined;
            continue;
          }
        } else {
          const { attachments: _keepList, ...create } = payload;
          this.messageId = await this.target.create(create);
          this.opts.onCreated?.(this.messageId);
        }
        this.sent++;
        this.lastSentAt = performance.now();
        return;
      } catch (e) {
        this.lastSentAt = performance.now();
        if (attempt >= attempts) {
          this.opts.logger?.warn({ err: e, attempt }, 'progress update failed; keeping the job running');
          if (frame.image) {
            if (this.pending) this.pending.image ??= frame.image;
            else if (!this.closed) this.pending = frame;
          }
          return;
        }
        this.opts.logger?.debug({ err: e, attempt }, 'progress update failed; retrying');
        await sleep(this.retryDelay * 2 ** (attempt - 1));
      }
    }
  }
}
