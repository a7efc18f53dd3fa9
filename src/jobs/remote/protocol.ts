/**
 * What travels through BullMQ between the bot and the workers: small JSON only, checked on arrival
 * (a job written into Redis by hand, or by another version, is refused with a reason instead of
 * crashing a worker). Pictures travel as blob keys (keys.ts), never inside these payloads.
 */
import { z } from 'zod';
import { MAX_CONCEPT_CHARS, MAX_CONCEPTS } from '../../engine/safety/concepts.js';
import type { SafetyVerdict } from '../../engine/safety/screen.js';

const key = z.string().min(1).max(300);
const text = z.string().max(2000);
const whole = (min: number, max: number) => z.number().int().min(min).max(max);

const request = z.object({
  prompt: text.min(1),
  negative: text.optional(),
  steps: whole(1, 100_000).optional(),
  size: whole(8, 8192).optional(),
  seed: z.number().int().nonnegative().optional(),
  count: whole(1, 4).optional(),
  upscale: z.boolean().optional(),
}).strict();

/** A synthesis: the engine's request with the starting picture (if any) as a blob key. */
export const runData = z.object({
  kind: z.literal('run'),
  jobId: z.string().min(1).max(100),
  model: z.string().min(1).max(200),
  request,
  init: key.optional(),
}).strict();
export type RunData = z.infer<typeof runData>;

const conceptList = z.object({
  concepts: z.array(z.object({ text: z.string().min(1).max(MAX_CONCEPT_CHARS), image: z.number().optional(), prompt: z.number().optional() }).strict()).max(MAX_CONCEPTS),
  removed: z.array(z.string().max(MAX_CONCEPT_CHARS)).max(1000),
}).strict();

/** A safety screening of one finished picture with the model's own CLIP. */
export const screenData = z.object({
  kind: z.literal('screen'),
  model: z.string().min(1).max(200),
  picture: key,
  prompt: text,
  concepts: conceptList,
}).strict();
export type ScreenData = z.infer<typeof screenData>;

export const jobData = z.discriminatedUnion('kind', [runData, screenData]);
export type JobData = z.infer<typeof jobData>;

/** A job's progress as BullMQ carries it; the frame, when there is one, is a blob key. */
export const progressData = z.object({
  step: whole(0, 1_000_000),
  steps: whole(1, 1_000_000),
  elapsedMs: z.number().nonnegative(),
  frame: key.optional(),
}).strict();
export type ProgressData = z.infer<typeof progressData>;

export const runResult = z.object({
  kind: z.literal('run'),
  /** The result (a grid for several pictures) and each picture, as blob keys. */
  png: key,
  pictures: z.array(key).min(1).max(4),
  score: z.number(),
  seed: z.number().int(),
  steps: z.number().int(),
  ms: z.number(),
  msPerStep: z.number(),
  worker: z.string().max(200),
}).strict();
export type RunResult = z.infer<typeof runResult>;

export const screenResult = z.object({
  kind: z.literal('screen'),
  // The verdict comes from our own screen(); its shape is the engine's business, checked there.
  verdict: z.custom<SafetyVerdict>((v) => typeof v === 'object' && v !== null && typeof (v as { flagged?: unknown }).flagged === 'boolean'),
}).strict();

/**
 * Why a job failed, as the worker tells it in BullMQ's failedReason: a prefix the bot reads, then
 * the member-facing line (for 'input') or a short technical one (logged, never shown).
 */
export const FAILURE = { input: 'input: ', cancelled: 'cancelled', unreadable: 'unreadable job: ' } as const;

/** A zod error as one short line: the first problem and where it is. */
export function firstProblem(e: z.ZodError): string {
  const issue = e.issues[0];
  if (!issue) return 'invalid';
  const at = issue.path.length ? issue.path.join('.') : 'the job';
  return `${at}: ${issue.message}`;
}
