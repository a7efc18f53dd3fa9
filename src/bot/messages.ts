/**
 * What the bot says and which buttons it shows, in one place so the wording stays consistent.
 * Custom ids carry the action and the job id ("clipag:rerun:ab12cd34"): a button works after a
 * restart because everything else is looked up in the store.
 */
import { ActionRowBuilder, ButtonBuilder, ButtonStyle } from 'discord.js';
import type { JobRecord } from '../store/types.js';
import { formatDuration } from './progress.js';
import { quoteText } from './sanitize.js';

export type JobAction = 'cancel' | 'rerun' | 'vary' | 'delete';

/** The three reactions (and buttons) on a result, and what each does. */
export const RESULT_EMOJI: Readonly<Record<string, Exclude<JobAction, 'cancel'>>> = Object.freeze({
  '🔁': 'rerun',
  '🎲': 'vary',
  '❌': 'delete',
});

const ACTIONS: readonly JobAction[] = ['cancel', 'rerun', 'vary', 'delete'];

export function customId(action: JobAction, jobId: string): string {
  return `clipag:${action}:${jobId}`;
}

export function parseCustomId(id: string): { action: JobAction; jobId: string } | undefined {
  const m = /^clipag:([a-z]+):([a-z0-9]{1,32})$/.exec(id);
  if (!m || !ACTIONS.includes(m[1] as JobAction)) return undefined;
  return { action: m[1] as JobAction, jobId: m[2]! };
}

export function cancelRow(jobId: string): ActionRowBuilder<ButtonBuilder> {
  return new ActionRowBuilder<ButtonBuilder>().addComponents(
    new ButtonBuilder().setCustomId(customId('cancel', jobId)).setLabel('Cancel').setStyle(ButtonStyle.Secondary),
  );
}

export function resultRow(jobId: string): ActionRowBuilder<ButtonBuilder> {
  return new ActionRowBuilder<ButtonBuilder>().addComponents(
    new ButtonBuilder().setCustomId(customId('rerun', jobId)).setEmoji('🔁').setLabel('New seed').setStyle(ButtonStyle.Secondary),
    new ButtonBuilder().setCustomId(customId('vary', jobId)).setEmoji('🎲').setLabel('Variation').setStyle(ButtonStyle.Secondary),
    new ButtonBuilder().setCustomId(customId('delete', jobId)).setEmoji('❌').setLabel('Delete').setStyle(ButtonStyle.Secondary),
  );
}

/** "in line: 3rd" / "starting now" */
export function placeText(position: number): string {
  return position === 0 ? 'starting now' : `number ${position} in line`;
}

/** How a job introduces itself: its kind, its prompt, its id. */
export function jobTitle(job: JobRecord): string {
  const kind = job.request.initJobId ? '🎲 Variation of' : job.request.initImage ? '🖼️ From a picture,' : '🖌️';
  return `${kind} **${quoteText(job.request.prompt)}**`;
}

/** The acknowledgement: the /imagine reply, or the message a rerun posts in the thread. */
export function ackText(job: JobRecord, position: number, by?: string): string {
  const who = by ? ` for <@${by}>` : '';
  return `${jobTitle(job)}${who}: ${placeText(position)}. Progress appears in the thread. (job \`${job.id}\`)`;
}

export function ackFinalText(job: JobRecord, outcome: 'running' | 'done' | 'failed' | 'cancelled'): string {
  const tail = { running: 'drawing now, in the thread', done: 'done, see the thread', failed: 'failed, see the thread', cancelled: 'cancelled' }[outcome];
  return `${jobTitle(job)}: ${tail}. (job \`${job.id}\`)`;
}

export function resultText(job: JobRecord, r: { seed: number; score: number; ms: number; steps: number }): string {
  return [
    `${jobTitle(job)} for <@${job.userId}>`,
    `${job.request.model ? `model \`${job.request.model}\` · ` : ''}seed ${r.seed} · CLIP score ${r.score.toFixed(3)} · ${r.steps} steps in ${formatDuration(r.ms)}`,
    '🔁 new seed · 🎲 variation · ❌ delete (requester or moderator)',
  ].join('\n');
}

export function threadName(prompt: string): string {
  // Thread names: 1 to 100 characters, plain text.
  const name = prompt.replace(/[\r\n]+/g, ' ').trim();
  return name.length > 90 ? `${name.slice(0, 89)}…` : name || 'image';
}
