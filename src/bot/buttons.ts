/** The buttons under acknowledgements (Cancel) and results (⬆️ 🔁 🎲 ❌, or a grid's U1–U4 V1–V4); refusals are ephemeral. */
import { MessageFlags, type ButtonInteraction } from 'discord.js';
import { sendTo } from './channels.js';
import type { BotContext } from './context.js';
import { askAgain, cancelJob, deleteResult } from './job-actions.js';
import { parseCustomId } from './messages.js';
import { isModerator } from './permissions.js';
import { NO_PINGS } from './sanitize.js';

export async function handleButton(ctx: BotContext, i: ButtonInteraction): Promise<void> {
  const say = (content: string): Promise<unknown> => i.reply({ content, flags: MessageFlags.Ephemeral, allowedMentions: NO_PINGS });
  const parsed = parseCustomId(i.customId);
  if (!parsed) return; // not ours (another bot's component would not reach us; an old format might)
  if (!i.inGuild()) {
    await say('These buttons work in a server.');
    return;
  }
  const job = ctx.store.jobs.get(parsed.jobId);
  if (!job || job.guildId !== i.guildId) {
    await say('The bot no longer knows this image.');
    return;
  }
  const moderator = isModerator(i.memberPermissions);
  switch (parsed.action) {
    case 'cancel':
      await say(cancelJob(ctx, job, i.user.id, moderator));
      return;
    case 'delete':
      await say(await deleteResult(ctx, job, i.user.id, moderator));
      return;
    case 'rerun':
    case 'vary':
    case 'upscale': {
      if (!ctx.accepting()) {
        await say('The bot is restarting: try again in a minute.');
        return;
      }
      // Acknowledge first (the new job may start at once and keep the process busy); the new job's
      // acknowledgement is an ordinary message in the thread, like a reaction's.
      await i.deferUpdate();
      const threadId = job.threadId ?? job.channelId;
      const again = parsed.action === 'rerun' ? { kind: 'rerun' as const } : { kind: parsed.action, index: parsed.index };
      const refused = await askAgain(ctx, job, i.user.id, again, (content, components) => sendTo(ctx.client, threadId, { content, components }));
      if (refused) await i.followUp({ content: refused, flags: MessageFlags.Ephemeral, allowedMentions: NO_PINGS });
    }
  }
}
