/**
 * Giving a just-queued job its place in Discord: the acknowledgement exists, so make (or reuse) the
 * thread its progress goes to, record both in the store, and release the job's messages.
 */
import { ThreadAutoArchiveDuration, type Message } from 'discord.js';
import type { JobRecord } from '../store/types.js';
import type { BotContext } from './context.js';
import { threadName } from './messages.js';

/**
 * `existingThreadId`: the thread the request came from (a rerun, or /imagine used inside a thread,
 * where Discord allows no thread of a thread); otherwise a new thread hangs off the acknowledgement.
 */
export async function placeJob(ctx: BotContext, job: JobRecord, ack: Message | undefined, existingThreadId?: string): Promise<void> {
  if (!ack) {
    // No acknowledgement means the member never saw the job: drop it rather than run it unseen.
    ctx.jobs.placed(job.id, undefined);
    ctx.manager.cancel(job.id, ctx.client.user?.id ?? 'bot');
    return;
  }
  let threadId = existingThreadId;
  if (!threadId) {
    try {
      const thread = await ack.startThread({ name: threadName(job.request.prompt), autoArchiveDuration: ThreadAutoArchiveDuration.OneDay });
      threadId = thread.id;
    } catch (e) {
      // Without Create Public Threads the job still runs; its messages go to the channel instead.
      ctx.logger.warn({ err: e, jobId: job.id }, 'could not start a thread; posting in the channel');
      threadId = job.channelId;
    }
  }
  ctx.store.jobs.setMessages(job.id, { threadId, replyMessageId: ack.id });
  ctx.jobs.placed(job.id, { threadId, replyMessageId: ack.id });
}
