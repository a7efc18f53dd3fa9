/**
 * Whether a member may queue an image here and now, against the server's limits. One module so
 * every refusal reads the same way: one line naming the limit and what to do about it.
 */
import { LIMIT_LABELS, type GuildLimits } from '../store/limits.js';
import type { UserJobCounts } from '../store/jobs.js';

export interface ImagineAsk {
  /** The channel the command was used in, and its parent when that is a thread. */
  channelId: string;
  parentChannelId?: string | null;
  steps: number;
  size: number;
}

/** The model's limits on size: a canvas is 1 to 4 times the model's input side. */
export interface EngineSizes {
  imageSize: number;
}

export type LimitVerdict = { ok: true } | { ok: false; limit: keyof GuildLimits | 'size'; message: string };

const plural = (n: number, one: string, many = `${one}s`): string => `${n.toLocaleString('en-US')} ${n === 1 ? one : many}`;

function duration(seconds: number): string {
  if (seconds < 60) return plural(seconds, 'second');
  if (seconds < 3600) return plural(Math.ceil(seconds / 60), 'minute');
  return plural(Math.ceil(seconds / 3600), 'hour');
}

/** Where /imagine works, as channel mentions (they render as names and never ping). */
export function channelList(ids: readonly string[]): string {
  return ids.map((id) => `<#${id}>`).join(', ');
}

/**
 * The first limit the request hits, in the order a member can act on: where, what, then how often.
 * `nowMs` and `counts` come from the caller so this stays a pure function.
 */
export function checkLimits(limits: GuildLimits, counts: UserJobCounts, ask: ImagineAsk, engine: EngineSizes, nowMs: number): LimitVerdict {
  const allowed = limits.allowedChannels;
  if (allowed.length && !allowed.includes(ask.channelId) && !(ask.parentChannelId && allowed.includes(ask.parentChannelId))) {
    return { ok: false, limit: 'allowedChannels', message: `Images are made in ${channelList(allowed)} on this server.` };
  }
  if (ask.steps > limits.maxSteps) {
    return { ok: false, limit: 'maxSteps', message: `steps is ${ask.steps}; this server allows at most ${limits.maxSteps} (${LIMIT_LABELS.maxSteps}).` };
  }
  const lo = engine.imageSize;
  const hi = Math.min(4 * engine.imageSize, limits.maxSize);
  if (ask.size > limits.maxSize && ask.size <= 4 * engine.imageSize) {
    return { ok: false, limit: 'maxSize', message: `size is ${ask.size}; this server allows at most ${limits.maxSize} px (${LIMIT_LABELS.maxSize}).` };
  }
  if (ask.size < lo || ask.size > hi) {
    return { ok: false, limit: 'size', message: `size must be from ${lo} to ${hi} px for this model, got ${ask.size}.` };
  }
  if (counts.active >= limits.queuedPerUser) {
    return {
      ok: false, limit: 'queuedPerUser',
      message: `You already have ${plural(counts.active, 'image')} waiting or running; the limit is ${limits.queuedPerUser} (${LIMIT_LABELS.queuedPerUser}). Try again when one finishes.`,
    };
  }
  if (counts.lastDay >= limits.jobsPerUserPerDay) {
    return {
      ok: false, limit: 'jobsPerUserPerDay',
      message: `You have made ${plural(counts.lastDay, 'image')} in the last 24 hours; the limit is ${limits.jobsPerUserPerDay} (${LIMIT_LABELS.jobsPerUserPerDay}).`,
    };
  }
  // From the member's last finish or newest waiting request (see countsFor): a member whose picture
  // just arrived waits the cooldown from now, never for a job that already took its time.
  if (limits.cooldownSeconds > 0 && counts.cooldownFrom !== undefined) {
    const waitMs = counts.cooldownFrom + limits.cooldownSeconds * 1000 - nowMs;
    if (waitMs > 0) {
      return {
        ok: false, limit: 'cooldownSeconds',
        message: `Please wait ${duration(Math.ceil(waitMs / 1000))} before your next image (${LIMIT_LABELS.cooldownSeconds}: ${limits.cooldownSeconds}).`,
      };
    }
  }
  return { ok: true };
}
