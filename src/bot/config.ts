/**
 * The bot's settings from the environment (the caller loads .env first), checked all at once so a
 * server owner sees every problem in one go. The token is never echoed back, not even in errors.
 */
import { isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { BUNDLED_MODEL } from '../cli/model-dir.js';
import { parseQueueUrl, type QueueTarget } from '../jobs/queue-url.js';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export const ENGINE_DEVICES = ['auto', 'cuda', 'cpu'] as const;
/**
 * Room for two ViT-B/32 packs warm at once (each about 0.6 GB of fp32 weights, held three times:
 * the two tower sessions and the compiled step graph) with the demo beside them.
 */
export const DEFAULT_MODEL_MEMORY_MB = 4096;

export interface BotConfig {
  /** Secret: the REDACT paths in src/log.ts blank `token` in any logged object. */
  token: string;
  appId: string;
  /** The default model pack (MODEL_DIR; the bundled demo when unset). */
  modelDir: string;
  /** A folder of further packs members can choose from (MODELS_DIR); absolute. */
  modelsDir?: string;
  /** Warm models are unloaded, least recently used first, beyond this estimate (MODEL_MEMORY_MB). */
  modelMemoryMb: number;
  device: (typeof ENGINE_DEVICES)[number];
  concurrency: number;
  /** Absolute: the database (clipag.db), result images (images/) and uploads (uploads/) live here. */
  dataDir: string;
  logLevel: (typeof LOG_LEVELS)[number];
  /** REST base override (a test's fake Discord); discord.js adds the /v10 itself. */
  apiUrl?: string;
  /** The shared Redis queue (QUEUE_URL); unset: the in-process queue. Its password never prints. */
  queue?: QueueTarget;
  /**
   * SHARDS: run the bot as this many gateway shards, each its own process under discord.js'
   * ShardingManager ('auto': as many as Discord recommends). Unset: one process, no manager.
   */
  shards?: number | 'auto';
}

export interface LoadConfigOptions {
  /**
   * This process is a shard the ShardingManager spawned: it sets SHARDS to the shard's id for the
   * discord.js Client, so our SHARDS setting is the parent's business and is ignored here.
   */
  shardChild?: boolean;
}

/** Every missing or invalid setting, one per line. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`the bot's settings need fixing (in .env or the environment):\n${problems.map((p) => `  ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** `KEY=` in .env means unset, not the empty string. */
const blankIsUnset = (v: unknown): unknown => (typeof v === 'string' && v.trim() === '' ? undefined : v);
const opt = <T extends z.ZodType>(schema: T) => z.preprocess(blankIsUnset, schema);

const SNOWFLAKE = /^\d{17,20}$/;
/** Discord caps a bot at far fewer shards; a bigger number is a typo. */
export const MAX_SHARDS = 1000;
const SHARDS_PROBLEM = `SHARDS must be auto or a whole number from 1 to ${MAX_SHARDS} (the gateway shards to run, one process each)`;
const SHARDS_NEED_QUEUE = 'SHARDS with more than one shard needs QUEUE_URL: each shard is its own process, and they share the drawing through clipag worker';

// Each message is written for a person editing .env; the token's never includes its value.
const schema = z.object({
  DISCORD_TOKEN: opt(z.string({ error: 'DISCORD_TOKEN is missing: the bot token from the Developer Portal (Bot → Reset Token)' })
    .refine((t) => !/\s/.test(t), 'DISCORD_TOKEN contains spaces or line breaks: paste the token alone')),
  DISCORD_APP_ID: opt(z.string({ error: 'DISCORD_APP_ID is missing: the application id from the Developer Portal (General Information)' })
    .regex(SNOWFLAKE, 'DISCORD_APP_ID must be the application id, 17 to 20 digits')),
  MODEL_DIR: opt(z.string().default(BUNDLED_MODEL)),
  MODELS_DIR: opt(z.string().optional()),
  MODEL_MEMORY_MB: opt(z.string().default(String(DEFAULT_MODEL_MEMORY_MB))
    .refine((s) => /^\d+$/.test(s.trim()) && Number(s) >= 1, 'MODEL_MEMORY_MB must be a whole number of MiB, at least 1 (e.g. 4096)')),
  ENGINE_DEVICE: opt(z.enum(ENGINE_DEVICES, { error: `ENGINE_DEVICE must be one of ${ENGINE_DEVICES.join(', ')}` }).default('auto')),
  ENGINE_CONCURRENCY: opt(z.string().default('1')
    .refine((s) => /^\d+$/.test(s.trim()) && Number(s) >= 1 && Number(s) <= 16, 'ENGINE_CONCURRENCY must be a whole number from 1 to 16')),
  DATA_DIR: opt(z.string().default('./data')),
  LOG_LEVEL: opt(z.enum(LOG_LEVELS, { error: `LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}` }).default('info')),
  QUEUE_URL: opt(z.string().transform((s, ctx) => {
    const parsed = parseQueueUrl(s);
    if (parsed.ok) return parsed.target;
    ctx.addIssue({ code: 'custom', message: parsed.problem });
    return z.NEVER;
  }).optional()),
  SHARDS: opt(z.string().transform((s, ctx): number | 'auto' => {
    const v = s.trim().toLowerCase();
    if (v === 'auto') return 'auto';
    if (/^\d+$/.test(v) && Number(v) >= 1 && Number(v) <= MAX_SHARDS) return Number(v);
    ctx.addIssue({ code: 'custom', message: SHARDS_PROBLEM });
    return z.NEVER;
  }).optional()),
  DISCORD_API_URL: opt(z.string().refine((s) => {
    try {
      return ['http:', 'https:'].includes(new URL(s).protocol);
    } catch {
      return false;
    }
  }, 'DISCORD_API_URL must be an http(s) URL such as https://discord.com/api').optional()),
});

/** Reads and checks the settings; throws ConfigError listing every problem. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, o: LoadConfigOptions = {}): BotConfig {
  const r = schema.safeParse(o.shardChild ? { ...env, SHARDS: undefined } : env);
  // One line per setting, in a stable order, the first problem each.
  const seen = new Map<string, string>();
  for (const issue of r.success ? [] : r.error.issues) {
    const key = String(issue.path[0] ?? '');
    if (!seen.has(key)) seen.set(key, issue.message);
  }
  // Several shards on the in-process queue would each load and run their own engine.
  const shards = r.success ? r.data.SHARDS : schema.shape.SHARDS.safeParse(env.SHARDS).data;
  if (!o.shardChild && (shards === 'auto' || (shards ?? 1) > 1) && blankIsUnset(env.QUEUE_URL) === undefined) {
    seen.set('SHARDS', SHARDS_NEED_QUEUE);
  }
  if (!r.success || seen.size) {
    const order = Object.keys(schema.shape);
    throw new ConfigError([...seen].sort((a, b) => order.indexOf(a[0]) - order.indexOf(b[0])).map(([, m]) => m));
  }
  const e = r.data;
  return {
    token: e.DISCORD_TOKEN,
    appId: e.DISCORD_APP_ID,
    modelDir: isAbsolute(e.MODEL_DIR) ? e.MODEL_DIR : resolve(e.MODEL_DIR),
    ...(e.MODELS_DIR === undefined ? {} : { modelsDir: resolve(e.MODELS_DIR) }),
    modelMemoryMb: Number(e.MODEL_MEMORY_MB),
    device: e.ENGINE_DEVICE,
    concurrency: Number(e.ENGINE_CONCURRENCY),
    dataDir: resolve(e.DATA_DIR),
    logLevel: e.LOG_LEVEL,
    ...(e.DISCORD_API_URL === undefined ? {} : { apiUrl: e.DISCORD_API_URL.replace(/\/+$/, '') }),
    ...(e.QUEUE_URL === undefined ? {} : { queue: e.QUEUE_URL }),
    ...(e.SHARDS === undefined ? {} : { shards: e.SHARDS }),
  };
}
