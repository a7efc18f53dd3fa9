/**
 * A server's limits on /imagine: what moderators set with /limits and the bot checks before a job
 * is queued. The ranges live here, beside the defaults, so the slash-command options, the checks
 * and the store agree on them.
 */

export interface GuildLimits {
  /** Jobs a member may have waiting or running at once. */
  queuedPerUser: number;
  /** Jobs a member may start in any 24 hours. */
  jobsPerUserPerDay: number;
  maxSteps: number;
  /** Largest canvas side in pixels. */
  maxSize: number;
  /**
   * Seconds a member waits after their last picture finished (or since their newest waiting request).
   * 0, the default: none; queued_per_user and the fair queue already keep one member from flooding.
   */
  cooldownSeconds: number;
  /** Lower-case words that a prompt may not contain. */
  blockedWords: string[];
  /** Channel ids where /imagine works; empty: every channel. */
  allowedChannels: string[];
  /** The model a request gets when it names none; '' : the bot's default. */
  defaultModel: string;
  /** Model names members may choose; empty: every model the bot has. */
  allowedModels: string[];
}

export type NumericLimit = 'queuedPerUser' | 'jobsPerUserPerDay' | 'maxSteps' | 'maxSize' | 'cooldownSeconds';

/** Inclusive ranges for the numeric limits (maxSteps matches the engine's own 1..1000). */
export const LIMIT_RANGES: Readonly<Record<NumericLimit, readonly [number, number]>> = Object.freeze({
  queuedPerUser: [1, 50],
  jobsPerUserPerDay: [1, 10_000],
  maxSteps: [1, 1000],
  maxSize: [32, 2048],
  cooldownSeconds: [0, 86_400],
});

export const MAX_BLOCKED_WORDS = 200;
export const MAX_BLOCKED_WORD_LENGTH = 50;
export const MAX_ALLOWED_CHANNELS = 100;
export const MAX_ALLOWED_MODELS = 25;
/** Discord's limit on an option value, which a model name is. */
export const MAX_MODEL_NAME = 100;

export const DEFAULT_LIMITS: Readonly<GuildLimits> = Object.freeze({
  queuedPerUser: 3,
  jobsPerUserPerDay: 50,
  maxSteps: 200,
  maxSize: 512,
  cooldownSeconds: 0,
  blockedWords: Object.freeze([]) as unknown as string[],
  allowedChannels: Object.freeze([]) as unknown as string[],
  defaultModel: '',
  allowedModels: Object.freeze([]) as unknown as string[],
});

/** Names as moderators see them in /limits (snake_case, the slash-command option names). */
export const LIMIT_LABELS: Readonly<Record<keyof GuildLimits, string>> = Object.freeze({
  queuedPerUser: 'queued_per_user',
  jobsPerUserPerDay: 'jobs_per_day',
  maxSteps: 'max_steps',
  maxSize: 'max_size',
  cooldownSeconds: 'cooldown_seconds',
  blockedWords: 'blocked_words',
  allowedChannels: 'allowed_channels',
  defaultModel: 'default_model',
  allowedModels: 'allowed_models',
});

/** A limit outside its range: the message names it the way /limits does and says what is allowed. */
export class LimitsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LimitsError';
  }
}

const SNOWFLAKE = /^\d{17,20}$/;

/**
 * Checks a patch and returns it normalised (blocked words trimmed, lower-cased, deduplicated;
 * channel ids deduplicated). Every problem is reported, one per line.
 */
export function validateLimitsPatch(patch: Partial<GuildLimits>): Partial<GuildLimits> {
  const problems: string[] = [];
  const out: Partial<GuildLimits> = {};
  for (const key of Object.keys(patch) as (keyof GuildLimits)[]) {
    const v = patch[key];
    if (v === undefined) continue;
    if (key === 'blockedWords' || key === 'allowedChannels' || key === 'defaultModel' || key === 'allowedModels') continue;
    if (!(key in LIMIT_RANGES)) {
      problems.push(`${String(key)} is not a limit`);
      continue;
    }
    const [lo, hi] = LIMIT_RANGES[key];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) {
      problems.push(`${LIMIT_LABELS[key]} must be a whole number from ${lo} to ${hi}, got ${String(v)}`);
    } else {
      out[key] = v;
    }
  }
  if (patch.blockedWords !== undefined) {
    const words = [...new Set(patch.blockedWords.map((w) => w.trim().toLowerCase()).filter((w) => w !== ''))];
    const long = words.find((w) => w.length > MAX_BLOCKED_WORD_LENGTH);
    if (long !== undefined) problems.push(`blocked_words: each word is at most ${MAX_BLOCKED_WORD_LENGTH} characters`);
    else if (words.length > MAX_BLOCKED_WORDS) problems.push(`blocked_words: at most ${MAX_BLOCKED_WORDS} words, got ${words.length}`);
    else out.blockedWords = words;
  }
  if (patch.allowedChannels !== undefined) {
    const ids = [...new Set(patch.allowedChannels)];
    if (ids.some((id) => !SNOWFLAKE.test(id))) problems.push('allowed_channels: expected channel ids');
    else if (ids.length > MAX_ALLOWED_CHANNELS) problems.push(`allowed_channels: at most ${MAX_ALLOWED_CHANNELS} channels, got ${ids.length}`);
    else out.allowedChannels = ids;
  }
  // Whether a model exists is the bot's to say (packs come and go); here only the shape is checked.
  if (patch.defaultModel !== undefined) {
    const name = patch.defaultModel.trim();
    if (name.length > MAX_MODEL_NAME) problems.push(`default_model: a model name is at most ${MAX_MODEL_NAME} characters`);
    else out.defaultModel = name;
  }
  if (patch.allowedModels !== undefined) {
    const names = [...new Set(patch.allowedModels.map((n) => n.trim()).filter((n) => n !== ''))];
    if (names.some((n) => n.length > MAX_MODEL_NAME)) problems.push(`allowed_models: a model name is at most ${MAX_MODEL_NAME} characters`);
    else if (names.length > MAX_ALLOWED_MODELS) problems.push(`allowed_models: at most ${MAX_ALLOWED_MODELS} models, got ${names.length}`);
    else out.allowedModels = names;
  }
  if (problems.length) throw new LimitsError(problems.join('\n'));
  return out;
}
