/** The error values the torch checkpoint modules share, and how file text enters their messages. */

/** A problem with the file; the message lacks only the file label, which openTorchCheckpoint adds. */
export class Refusal extends Error {}

/** Library messages go into our one-line errors; keep them one line and short. */
const oneLine = (s: string): string => s.replace(/\s+/g, ' ').trim().slice(0, 300);

export const errorText = (e: unknown): string => oneLine(e instanceof Error ? e.message : String(e));

/** Shows a module or name from the file in a message without letting it break the line. */
export const shown = (s: unknown): string => (typeof s === 'string' ? s : String(s)).replace(/[^\x20-\x7e]/g, '?').slice(0, 120);
