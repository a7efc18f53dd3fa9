/**
 * What a member can do to a job, shared by buttons, reactions and /cancel: cancel it, ask again with
 * a new seed (🔁) or from its picture (🎲), delete its result (❌). Each returns the one line to
 * tell the member; who may do what is decided here, never by which way the request came.
 */
import { DiscordAPIError, type ActionRowBuilder, type ButtonBuilder, type Message } from 'discord.js';
import type { JobRecord } from '../store/types.js';
import { deleteIn } from './channels.js';
import type { BotContext } from './context.js';
import { ackText, cancelRow } from './messages.js';
import { placeJob } from './placement.js';

export function cancelJob(ctx: BotContext, job: JobRecord, actorId: string, moderator: boolean): string {
  if (job.userId !== actorId && !moderator) return 'Only the member who asked for this image, or a moderator, can cancel it.';
  const r = ctx.manager.cancel(job.id, actorId);
  if (r.ok) return r.wasRunning ? `Stopping \`${job.id}\` now.` : `Cancelled \`${job.id}\`.`;
  return r.reason === 'finished' ? `\`${job.id}\` is already finished.` : `\`${job.id}\` is not in line any more.`;
}

export type Acknowledge = (content: string, components: ActionRowBuilder<ButtonBuilder>[]) => Promise<Message | undefined>;

/** What a member asks of a finished result: all again (🔁), a variation (🎲, V), an upscale (⬆️, U) of picture `index`. */
export type Again = { kind: 'rerun' } | { kind: 'vary' | 'upscale'; index?: number };

/**
 * A new job for `userId` from a finished one (their limits apply, though their cooldown never counts
 * the job acted on), in the same thread. 🔁 is the same request with a new seed; 🎲/V starts from
 * picture `index` (1 when left out) with as many pictures as the original; U enlarges that picture
 * ×2 and refines it. `acknowledge` posts the acknowledgement (an interaction reply for a button, a
 * message for a reaction); returns undefined when queued, else the reason it was not.
 */
export async function askAgain(ctx: BotContext, job: JobRecord, userId: string, again: Again, acknowledge: Acknowledge): Promise<string | undefined> {
  const count = job.request.count ?? 1;
  const index = again.kind === 'rerun' ? undefined : (again.index ?? 1);
  if (again.kind !== 'rerun') {
    const what = again.kind === 'vary' ? 'vary' : 'upscale';
    if (job.status !== 'done' || !job.imagePath) return `There is no finished picture to ${what} here.`;
    if (index! > count) return `This result has ${count === 1 ? 'one picture' : `${count} pictures`}: there is no picture ${index}.`;
  }
  const r = job.request;
  // An upscale doubles the picture's side: refused here, in words about the picture, past the model's
  // largest canvas. A model no longer on the bot is left to the imaginer, which says so.
  let upscaleSize: number | undefined;
  if (again.kind === 'upscale') {
    const model = r.model ?? ctx.engines.defaultModel;
    const inputSize = ctx.engines.find(model) ? ctx.engines.info(model).imageSize : undefined;
    const side = r.size ?? inputSize;
    if (side !== undefined && inputSize !== undefined && 2 * side > 4 * inputSize) {
      return `This picture is ${side} px and this model draws at most ${4 * inputSize} px: it cannot be upscaled again.`;
    }
    upscaleSize = side === undefined ? undefined : 2 * side;
  }
  const threadId = job.threadId ?? job.channelId;
  const thread = await ctx.client.channels.fetch(threadId).catch(() => null);
  if (!thread) return 'The thread of this image is gone: use /imagine instead.';
  const base = {
    guildId: job.guildId,
    userId,
    channelId: threadId,
    parentChannelId: thread.isThread() ? thread.parentId : null,
    prompt: r.prompt,
    negative: r.negative,
    model: r.model,
    fromJobId: job.id,
  };
  // A picture of a grid is named in the new job's title ("Variation of picture 3"); a lone one needs no number.
  const fromPicture = count > 1 ? { initJobId: job.id, initIndex: index } : { initJobId: job.id };
  const input = again.kind === 'upscale'
    ? { ...base, ...fromPicture, kind: 'upscale' as const, size: upscaleSize }
    : again.kind === 'vary'
      ? { ...base, ...fromPicture, steps: r.steps, size: r.size, count: r.count }
      // 🔁: the same request again. An upscale upscales the same picture again; a picture started
      // from an upload starts from it again; a variation's rerun is a fresh picture, as before.
      : r.kind === 'upscale'
        ? { ...base, kind: 'upscale' as const, initJobId: r.initJobId, initIndex: r.initIndex, size: r.size, steps: r.steps }
        : { ...base, steps: r.steps, size: r.size, count: r.count, initImage: r.initImage };
  const outcome = await ctx.imaginer.request(input);
  if (!outcome.ok) return outcome.message;
  let ack: Message | undefined;
  try {
    ack = await acknowledge(ackText(outcome.job, outcome.position, userId), [cancelRow(outcome.job.id)]);
  } catch (e) {
    ctx.logger.warn({ err: e, jobId: outcome.job.id }, 'could not acknowledge a rerun; cancelling it');
  }
  await placeJob(ctx, outcome.job, ack, threadId);
  return undefined;
}

/** ❌: the result message goes (the job's record stays, for limits and the audit of who made what). */
export async function deleteResult(ctx: BotContext, job: JobRecord, actorId: string, moderator: boolean): Promise<string> {
  if (job.userId !== actorId && !moderator) return 'Only the member who asked for this image, or a moderator, can delete it.';
  if (!job.resultMessageId) return 'That image is already deleted.';
  try {
    await deleteIn(ctx.client, job.threadId ?? job.channelId, job.resultMessageId);
  } catch (e) {
    // Already gone (10008 Unknown Message) is what we wanted anyway.
    if (!(e instanceof DiscordAPIError && e.code === 10008)) throw e;
  }
  ctx.store.jobs.setMessages(job.id, { resultMessageId: null });
  return 'Deleted.';
}
