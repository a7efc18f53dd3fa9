/**
 * 🔁 🎲 ❌ as reactions on a result. Reactions have no private reply, so a refusal is a short line
 * in the thread (naming the member without pinging them), and the member's reaction is removed
 * either way so the same emoji works again next time. Reactions on anything but a result the bot
 * knows (old messages, other messages, deleted results) are ignored.
 */
import type { MessageReaction, PartialMessageReaction, PartialUser, User } from 'discord.js';
import { sendTo } from './channels.js';
import type { BotContext } from './context.js';
import { askAgain, deleteResult } from './job-actions.js';
import { RESULT_EMOJI } from './messages.js';
import { memberIsModerator } from './permissions.js';

export async function handleReaction(ctx: BotContext, reaction: MessageReaction | PartialMessageReaction, user: User | PartialUser): Promise<void> {
  if (user.bot || user.id === ctx.client.user?.id) return;
  const action = reaction.emoji.name ? RESULT_EMOJI[reaction.emoji.name] : undefined;
  if (!action) return;
  const job = ctx.store.jobs.byMessage(reaction.message.id);
  if (!job || job.resultMessageId !== reaction.message.id) return;
  const threadId = job.threadId ?? job.channelId;

  const removeReaction = (): Promise<unknown> => reaction.users.remove(user.id).catch((e: unknown) => {
    ctx.logger.debug({ err: e }, 'could not remove a reaction (Manage Messages missing?)');
  });
  const note = (text: string): Promise<unknown> => sendTo(ctx.client, threadId, { content: `<@${user.id}>: ${text}` });

  let refused: string | undefined;
  if (action === 'delete') {
    const moderator = job.userId === user.id ? false : await memberIsModerator(ctx.client, job.guildId, user.id).catch(() => false);
    const said = await deleteResult(ctx, job, user.id, moderator);
    if (said === 'Deleted.') return; // the message and its reactions are gone
    refused = said;
  } else if (!ctx.accepting()) {
    refused = 'the bot is restarting: try again in a minute.';
  } else {
    // On a grid, 🎲 varies its first picture (V1–V4 choose another).
    refused = await askAgain(ctx, job, user.id, action === 'rerun' ? { kind: 'rerun' } : { kind: 'vary', index: 1 }, async (content, components) => sendTo(ctx.client, threadId, { content, components }));
  }
  await removeReaction();
  if (refused) await note(refused.charAt(0).toLowerCase() + refused.slice(1));
}
