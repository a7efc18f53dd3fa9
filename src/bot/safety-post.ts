/**
 * How a picture the safety filter caught appears in its thread: withheld (a line saying so, naming
 * nothing that would show it again) or behind Discord's spoiler cover (an attachment whose name
 * starts with SPOILER_). Either way the progress message loses its picture, which is the same
 * picture or nearly.
 */
import type { MessageEditOptions } from 'discord.js';
import type { SafetyOutcome } from '../jobs/safety.js';
import type { ProgressMessage } from './progress.js';
import { NO_PINGS } from './sanitize.js';

export const WITHHELD_TEXT = '🛡️ This picture was withheld by this server\'s safety filter.';

/** Whether the picture must not show unless clicked (spoiler) or at all (withheld). */
export const isCaught = (s: SafetyOutcome | undefined): boolean => s !== undefined && s.action !== 'post';

/** The result file's name: Discord covers an attachment named SPOILER_… until it is clicked. */
export function resultFileName(jobId: string, s: SafetyOutcome | undefined): string {
  return `${s?.action === 'spoiler' ? 'SPOILER_' : ''}clipag-${jobId}.png`;
}

/**
 * Ends a progress message without its last frame and takes its picture off. The frame waiting to be
 * sent is dropped and an edit already on its way is waited for, so nothing puts a picture back.
 */
export async function finishWithoutPicture(
  progress: ProgressMessage | undefined,
  text: string,
  edit: (messageId: string, payload: MessageEditOptions) => Promise<void>,
): Promise<void> {
  if (!progress) return;
  progress.abandon();
  await progress.finish();
  if (progress.id) await edit(progress.id, { content: text, attachments: [], allowedMentions: NO_PINGS });
}
