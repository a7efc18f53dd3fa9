/**
 * Prompt safety: what a user types is cleaned before the engine sees it, checked before a job is
 * queued, and escaped whenever the bot echoes it back. Mentions never ping (NO_PINGS goes on every
 * message the bot sends), but a prompt is still refused if it holds one: a mention is not
 * something to draw, and echoing "@everyone" invites people to test the bot's manners.
 */
import { escapeMarkdown } from 'discord.js';

/** allowedMentions for every message: nothing in our text pings anyone. */
export const NO_PINGS = Object.freeze({ parse: [] as never[] });

/** Discord allows 6,000 characters in an option; a picture needs far fewer. */
export const MAX_PROMPT_CHARS = 500;

// Zero-width characters and bidirectional controls: invisible, so they hide words from the blocked
// list and can reverse how the echoed prompt reads (U+202E turns "gnp.exe" into "exe.png").
const INVISIBLE = /[\u00AD\u034F\u061C\u115F\u1160\u17B4\u17B5\u180B-\u180F\u200B-\u200F\u202A-\u202E\u2060-\u206F\u3164\uFE00-\uFE0F\uFEFF\uFFA0]/gu;
// Other control characters (newlines, tabs, NUL...) read as spaces.
const CONTROL = /\p{Cc}/gu;

// <@123>, <@!123>, <@&123> (role), <#123> (channel), @everyone, @here.
const MENTION = /<@[!&]?\d+>|<#\d+>|@(?:everyone|here)\b/iu;

/** The prompt as the engine and the echo see it: invisible characters gone, whitespace collapsed. */
export function cleanText(raw: string): string {
  return raw.normalize('NFC').replace(INVISIBLE, '').replace(CONTROL, ' ').replace(/\s+/gu, ' ').trim();
}

export type TextProblem = 'empty' | 'length' | 'mention' | 'no-words' | 'blocked';
export type TextCheck = { ok: true; text: string } | { ok: false; problem: TextProblem; message: string };

/**
 * Checks one prompt field ('prompt' or 'negative prompt'): length, mentions, something to draw,
 * and the server's blocked words (whole words, case-insensitive, after the same cleaning, so
 * "b\u200Bad" does not slip past "bad").
 */
export function checkText(raw: string, field: string, blockedWords: readonly string[]): TextCheck {
  const text = cleanText(raw);
  if (text.length === 0) return { ok: false, problem: 'empty', message: `The ${field} is empty: describe the picture in a few words.` };
  if (text.length > MAX_PROMPT_CHARS) {
    return { ok: false, problem: 'length', message: `The ${field} is ${text.length.toLocaleString('en-US')} characters; the limit is ${MAX_PROMPT_CHARS}.` };
  }
  if (MENTION.test(text)) {
    return { ok: false, problem: 'mention', message: `The ${field} mentions someone (a user, role, channel, @everyone or @here): describe the picture in words instead.` };
  }
  if (!/[\p{L}\p{N}]/u.test(text)) {
    return { ok: false, problem: 'no-words', message: `The ${field} has no words (emoji or symbols only): describe the picture in words.` };
  }
  const blocked = findBlockedWord(text, blockedWords);
  if (blocked) return { ok: false, problem: 'blocked', message: `The ${field} contains "${blocked}", which this server blocks.` };
  return { ok: true, text };
}

/** The first blocked word or phrase that occurs in the text as whole words, or undefined. */
export function findBlockedWord(text: string, blockedWords: readonly string[]): string | undefined {
  const words = ` ${wordsOf(text).join(' ')} `;
  for (const b of blockedWords) {
    const key = wordsOf(b).join(' ');
    if (key && words.includes(` ${key} `)) return b;
  }
  return undefined;
}

function wordsOf(s: string): string[] {
  return cleanText(s).normalize('NFKC').toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
}

/**
 * A user's text as it appears inside a bot message: markdown escaped (so `**` or a stray ``` does
 * not restyle the message), mention syntax broken by a zero-width space (so even a message sent
 * without NO_PINGS would not ping), and cut to `max` characters.
 */
export function quoteText(text: string, max = 200): string {
  const cut = text.length > max ? `${text.slice(0, max - 1)}…` : text;
  return escapeMarkdown(cut).replace(/@/g, '@\u200B').replace(/<#/g, '<\u200B#');
}
