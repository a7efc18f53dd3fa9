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

/**
 * 🔁 or 🎲 on a finished job: a new job for `userId` (their limits apply, though their cooldown
 * never counts the finish of the job acted on) in the same thread.
 * `acknowledge` posts the acknowledgement (an interaction reply for a button, a message for a
 * reaction); returns undefined when queued, else the reason it was not.
 */
export async function askAgain(ctx: BotContext, job: JobRecord, userId: string, kind: 'rerun' | 'vary', acknowledge: Acknowledge): Promise<string | undefined> {
  if (kind === 'vary' && (job.status !== 'done' || !job.imagePath)) return 'There is no finished picture to vary here.';
  const threadId = job.threadId ?? job.channelId;
  const thread = await ctx.client.channels.fetch(threadId).catch(() => null);
  if (!thread) return 'The thread of this image is gone: use /imagine instead.';
  const outcome = await ctx.imaginer.request({
    guildId: job.guildId,
    userId,
    channelId: threadId,
    parentChannelId: thread.isThread() ? thread.parentId : null,
    prompt: job.request.prompt,
    negative: job.request.negative,
    steps: job.request.steps,
    size: job.request.size,
    model: job.request.model,
    initJobId: kind === 'vary' ? job.id : undefined,
    // 🔁 is the same request again, so a picture started from an upload starts from it again; 🎲 starts from the result.
    initImage: kind === 'rerun' ? job.request.initImage : undefined,
    fromJobId: job.id,
  });
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
