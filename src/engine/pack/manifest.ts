/**
 * A model pack's manifest, `clipag.json`: what the weights are (architecture, activation, sizes),
 * how images are normalised, which tokenizer reads prompts, and where everything came from.
 * Packs are user files, so the manifest is validated whole on every load.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '../atomic-write.js';
import { convShapeError } from '../clip/tower-conv.js';
import { resnetShapeError } from '../clip/tower-resnet.js';

export const MANIFEST_FILE = 'clipag.json';
export const PACK_FORMAT = 'clipag-model-pack';
export const PACK_VERSION = 1;

/** A word of a contrast group: letters, digits, apostrophes and hyphens (what pag/contrast.ts matches as one word). */
const CONTRAST_WORD = /^[\p{L}\p{N}'-]+$/u;
const positive = z.number().int().positive();
const act = z.enum(['gelu', 'quick_gelu']);
const triple = z.tuple([z.number(), z.number(), z.number()]);

const vit = z.object({
  kind: z.literal('vit').optional(),
  imageSize: positive, patchSize: positive, width: positive, layers: positive, heads: positive, outputDim: positive, act,
}).refine((v) => v.imageSize % v.patchSize === 0, { message: 'imageSize must be a multiple of patchSize' })
  .refine((v) => v.width % v.heads === 0, { message: 'width must be divisible by heads' });

/** open_clip ModifiedResNet; its shape rules are the tower's own (resnetShapeError). */
const resnet = z.object({
  kind: z.literal('resnet'),
  imageSize: positive, width: positive, layers: z.tuple([positive, positive, positive, positive]), heads: positive, outputDim: positive,
  patchSize: positive.optional(), // ignored, as in ResNetConfig
  act: z.enum(['relu', 'gelu']).optional(), // absent: open_clip's ReLU
}).superRefine((v, ctx) => {
  const bad = resnetShapeError(v);
  if (bad) ctx.addIssue({ code: 'custom', message: bad });
});

/** clipag's conv tower (not open_clip's); its shape rules are the tower's own (convShapeError). */
const conv = z.object({
  kind: z.literal('conv'),
  imageSize: positive,
  convs: z.array(z.object({ channels: positive, kernel: positive, stride: positive })).min(1).max(32),
  groups: positive, headChannels: positive, outputDim: positive,
  patchSize: positive.optional(), // ignored, as in ConvConfig
  act: z.literal('gelu').optional(),
}).superRefine((v, ctx) => {
  const bad = convShapeError(v);
  if (bad) ctx.addIssue({ code: 'custom', message: bad });
});

const vision = z.discriminatedUnion('kind', [vit, resnet, conv]);

const text = z.object({
  contextLength: positive, vocabSize: positive, width: positive, layers: positive, heads: positive, outputDim: positive, act,
}).refine((t) => t.width % t.heads === 0, { message: 'width must be divisible by heads' });

const config = z.object({
  arch: z.string().min(1),
  embedDim: positive,
  vision,
  text,
  mean: triple,
  std: triple.refine((s) => s.every((x) => x > 0), { message: 'std must be positive' }),
}).refine((c) => c.vision.outputDim === c.embedDim && c.text.outputDim === c.embedDim, {
  message: 'vision.outputDim and text.outputDim must equal embedDim',
});

/** Checked loosely here; loadTokenizer checks the kind-specific fields with its own messages. */
const tokenizer = z.looseObject({ kind: z.enum(['clip-bpe', 'word']) });

const safeName = z.string().regex(/^[\w.-]+$/, 'must be a plain file name inside the pack');

export const manifestSchema = z.object({
  format: z.literal(PACK_FORMAT),
  version: z.literal(PACK_VERSION),
  name: z.string().min(1),
  /** One line on what the model is, for people choosing one (the bot's model list). */
  description: z.string().max(200).optional(),
  config,
  weights: z.object({
    file: safeName,
    dtype: z.enum(['fp32', 'fp16']),
    bytes: z.number().int().nonnegative(),
    sha256: z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex digits'),
  }),
  /** exp(logit_scale) of the checkpoint: the temperature `score` multiplies cosines by. */
  logitScale: z.number().positive(),
  tokenizer: tokenizer.nullable(),
  source: z.object({
    path: z.string(),
    layout: z.enum(['open_clip', 'hf']),
    skipped: z.array(z.string()).optional(),
    sha256: z.string().optional(),
    note: z.string().optional(),
  }).optional(),
  created: z.string().optional(),
  /** Synthesis settings tuned to this model (see pag/recipe.ts), overriding the defaults key by key. */
  recipe: z.record(z.string(), z.number()).optional(),
  /** Word groups whose members a prompt's near misses swap, for the recipe's contrastWeight (pag/contrast.ts). */
  contrast: z.array(z.array(z.string().regex(CONTRAST_WORD, 'must be one word (letters, digits, \' or -)')).min(2).max(32)).max(16).optional(),
});

export type Manifest = z.infer<typeof manifestSchema>;

/** zod's first issue as `file: field.path: problem` (one line, as every user-facing error here). */
export function firstIssue(err: z.ZodError, file: string): string {
  const issue = err.issues[0];
  if (!issue) return `${file}: invalid`;
  const where = issue.path.length ? `${issue.path.join('.')}: ` : '';
  return `${file}: ${where}${issue.message}`;
}

export async function readManifest(dir: string): Promise<Manifest> {
  const file = join(dir, MANIFEST_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new Error(`${dir} is not a model pack (no ${MANIFEST_FILE}); make one with \`clipag model import\` or \`clipag model fetch\``);
    }
    throw new Error(`cannot read ${file}: ${(e as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new Error(`${file}: not valid JSON (${(e as Error).message})`);
  }
  const parsed = manifestSchema.safeParse(json);
  if (!parsed.success) throw new Error(firstIssue(parsed.error, file));
  return parsed.data;
}

export async function writeManifest(dir: string, m: Manifest): Promise<void> {
  const checked = manifestSchema.parse(m);
  await writeFileAtomic(join(dir, MANIFEST_FILE), `${JSON.stringify(checked, null, 2)}\n`);
}
