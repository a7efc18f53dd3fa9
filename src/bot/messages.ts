/**
 * What the bot says and which buttons it shows, in one place so the wording stays consistent.
 * Custom ids carry the action and the job id ("clipag:rerun:ab12cd34"): a button works after a
 * restart because everything else is looked up in the store.
 */
import { ActionRowBuilder, ButtonBuilder, ButtonStyle } from 'discord.js';
import type { JobRecord } from '../store/types.js';
import { formatDuration } from './progress.js';
import { quoteText } from './sanitize.js';

export type JobAction = 'cancel' | 'rerun' | 'vary' | 'delete' | 'upscale';

/** The three reactions (and buttons) on a result, and what each does (on a grid, 🎲 varies picture 1). */
export const RESULT_EMOJI: Readonly<Record<string, Exclude<JobAction, 'cancel' | 'upscale'>>> = Object.freeze({
  '🔁': 'rerun',
  '🎲': 'vary',
  '❌': 'delete',
});

const ACTIONS: readonly JobAction[] = ['cancel', 'rerun', 'vary', 'delete', 'upscale'];
/** The most pictures a grid has, so the highest picture number a button can name. */
const MAX_INDEX = 4;

/** "clipag:vary:ab12cd34:3": the action, the job, and for U/V the picture's number in its grid. */
export function customId(action: JobAction, jobId: string, index?: number): string {
  return `clipag:${action}:${jobId}${index === undefined ? '' : `:${index}`}`;
}

export function parseCustomId(id: string): { action: JobAction; jobId: string; index?: number } | undefined {
  const m = /^clipag:([a-z]+):([a-z0-9]{1,32})(?::([1-9]))?$/.exec(id);
  if (!m || !ACTIONS.includes(m[1] as JobAction)) return undefined;
  const index = m[3] === undefined ? undefined : Number(m[3]);
  if (index !== undefined && index > MAX_INDEX) return undefined;
  return { action: m[1] as JobAction, jobId: m[2]!, ...(index === undefined ? {} : { index }) };
}

export function cancelRow(jobId: string): ActionRowBuilder<ButtonBuilder> {
  return new ActionRowBuilder<ButtonBuilder>().addComponents(
    new ButtonBuilder().setCustomId(customId('cancel', jobId)).setLabel('Cancel').setStyle(ButtonStyle.Secondary),
  );
}

const button = (id: string, label: string, emoji?: string): ButtonBuilder => {
  const b = new ButtonBuilder().setCustomId(id).setLabel(label).setStyle(ButtonStyle.Secondary);
  return emoji ? b.setEmoji(emoji) : b;
};

/**
 * A result's buttons. One picture: ⬆️ Upscale, 🔁 🎲 ❌ in one row. A grid: U1–Un (upscale that
 * one), V1–Vn (variations of that one), then 🔁 (all again) and ❌, the way image bots lay them out.
 */
export function resultRows(jobId: string, count = 1): ActionRowBuilder<ButtonBuilder>[] {
  const row = (...b: ButtonBuilder[]): ActionRowBuilder<ButtonBuilder> => new ActionRowBuilder<ButtonBuilder>().addComponents(...b);
  if (count <= 1) {
    return [row(
      button(customId('upscale', jobId, 1), 'Upscale', '⬆️'),
      button(customId('rerun', jobId), 'New seed', '🔁'),
      button(customId('vary', jobId), 'Variation', '🎲'),
      button(customId('delete', jobId), 'Delete', '❌'),
    )];
  }
  const numbers = Array.from({ length: count }, (_, i) => i + 1);
  return [
    row(...numbers.map((k) => button(customId('upscale', jobId, k), `U${k}`))),
    row(...numbers.map((k) => button(customId('vary', jobId, k), `V${k}`))),
    row(button(customId('rerun', jobId), 'New seeds', '🔁'), button(customId('delete', jobId), 'Delete', '❌')),
  ];
}

/** "in line: 3rd" / "starting now" */
export function placeText(position: number): string {
  return position === 0 ? 'starting now' : `number ${position} in line`;
}

/** How a job introduces itself: its kind, its prompt, its id. */
export function jobTitle(job: JobRecord): string {
  const r = job.request;
  // Set only for a picture of a grid (askAgain), so "picture 3" always names a cell.
  const which = r.initIndex !== undefined ? ` picture ${r.initIndex},` : '';
  const kind = r.kind === 'upscale' ? `⬆️ Upscale of${which}`
    : r.initJobId ? `🎲 Variation of${which}`
    : r.initImage ? '🖼️ From a picture,'
    : r.count && r.count > 1 ? `🖌️ ${r.count} takes on`
    : '🖌️';
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
    (job.request.count ?? 1) > 1
      ? `U1–U${job.request.count} upscale · V1–V${job.request.count} variations · 🔁 new seeds · ❌ delete (requester or moderator)`
      : '⬆️ upscale · 🔁 new seed · 🎲 variation · ❌ delete (requester or moderator)',
  ].join('\n');
}

export function threadName(prompt: string): string {
  // Thread names: 1 to 100 characters, plain text.
  const name = prompt.replace(/[\r\n]+/g, ' ').trim();
  return name.length > 90 ? `${name.slice(0, 89)}…` : name || 'image';
}
