/**
 * Which model a request runs on, and the model lists members see: one module so /imagine, the
 * autocomplete, /limits and /info agree on names (matched without case), on the server's default
 * and on which models the server allows.
 */
import type { Engines } from '../jobs/engine-pool.js';
import type { PackInfo } from '../jobs/packs.js';
import type { GuildLimits } from '../store/limits.js';
import { quoteText } from './sanitize.js';

export type ModelChoice = { ok: true; model: string } | { ok: false; message: string };

type ModelLimits = Pick<GuildLimits, 'defaultModel' | 'allowedModels'>;

const allows = (l: ModelLimits, name: string): boolean => !l.allowedModels.length || l.allowedModels.some((m) => m.toLowerCase() === name.toLowerCase());

/** The models this server lets members choose, the bot's order. */
export function allowedModels(engines: Engines, l: ModelLimits): PackInfo[] {
  return engines.list().filter((p) => allows(l, p.name));
}

/** Names for a message, as code spans (a name is the member's to type). */
export function nameList(packs: readonly PackInfo[]): string {
  return packs.map((p) => `\`${p.name}\``).join(', ');
}

/**
 * The server's default when it names one that exists and is allowed; else the bot's default if the
 * server allows it; else the first model the server allows.
 */
export function serverDefault(engines: Engines, l: ModelLimits): string | undefined {
  const own = l.defaultModel ? engines.find(l.defaultModel) : undefined;
  if (own && allows(l, own.name)) return own.name;
  if (allows(l, engines.defaultModel)) return engines.defaultModel;
  return allowedModels(engines, l)[0]?.name;
}

/** The model a request runs on: the one it names (if it exists and is allowed here), else the server's default. */
export function chooseModel(engines: Engines, l: ModelLimits, asked: string | undefined): ModelChoice {
  if (asked === undefined || asked.trim() === '') {
    const model = serverDefault(engines, l);
    return model ? { ok: true, model } : { ok: false, message: 'None of the models this server allows is on the bot now: ask a moderator to update `/limits set allowed_models`.' };
  }
  const pack = engines.find(asked);
  if (!pack) {
    const choices = allowedModels(engines, l);
    return { ok: false, message: `There is no model called "${quoteText(asked.trim(), 100)}". Models here: ${nameList(choices) || 'none'}.` };
  }
  if (!allows(l, pack.name)) {
    return { ok: false, message: `This server does not allow \`${pack.name}\`. Allowed: ${nameList(allowedModels(engines, l)) || 'none'}.` };
  }
  return { ok: true, model: pack.name };
}

const CHOICE_NAME_MAX = 100;
const MAX_CHOICES = 25;

/** One line for a choice list: name, what it is, and the words it knows if it knows only some. */
export function describePack(p: PackInfo, max = CHOICE_NAME_MAX): string {
  const words = p.vocabulary ? ` · knows: ${p.vocabulary.join(' ')}` : '';
  const line = `${p.name} — ${p.description}${words}`;
  return line.length <= max ? line : `${line.slice(0, max - 1)}…`;
}

/** Autocomplete choices for what the member has typed so far: names starting with it first, then names or descriptions containing it. */
export function modelChoices(engines: Engines, l: ModelLimits, typed: string): { name: string; value: string }[] {
  const q = typed.trim().toLowerCase();
  const packs = allowedModels(engines, l);
  const starts = packs.filter((p) => p.name.toLowerCase().startsWith(q));
  const contains = packs.filter((p) => !starts.includes(p) && `${p.name} ${p.description}`.toLowerCase().includes(q));
  return [...starts, ...contains].slice(0, MAX_CHOICES).map((p) => ({ name: describePack(p), value: p.name }));
}
