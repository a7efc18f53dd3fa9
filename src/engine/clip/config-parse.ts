/**
 * The parsing helpers config.ts (built-in and open_clip configs) and config-hf.ts (Hugging Face
 * CLIPModel configs) share: one-line `file: key: problem` errors, zod parsing with the key path,
 * mean/std channels, and the divisibility checks every config source goes through.
 */
import { z } from 'zod';
import type { TextConfig, VisionConfig } from './towers.js';
import { convShapeError } from './tower-conv.js';
import { resnetShapeError } from './tower-resnet.js';

export const fail = (file: string, what: string): never => {
  throw new Error(`${file}: ${what}`);
};

export const isNull = (v: unknown): boolean => v === null || v === undefined;

export const posInt = z.number().int().positive();

export type Json = Record<string, unknown>;

export function asObject(v: unknown, file: string, key: string): Json {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    return fail(file, key ? `${key} should be an object` : 'should be a JSON object');
  }
  return v as Json;
}

/** zod's first issue as one line: `file: key.path: problem`. */
export function parseWith<T extends z.ZodType>(schema: T, v: unknown, file: string, prefix: string): z.infer<T> {
  const r = schema.safeParse(v);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const path = issue?.path ?? [];
  const where = `${prefix}${path.join('.')}`;
  const given = path.reduce<unknown>((o, k) => (typeof o === 'object' && o !== null ? (o as Json)[String(k)] : undefined), v);
  if (given === undefined) return fail(file, `${where} is missing`);
  return fail(file, `${where}: ${issue?.message ?? 'invalid'}`);
}

/** mean/std as three numbers; open_clip and transformers both accept one number for all channels. */
export function channels(v: unknown, file: string, key: string, positive: boolean): [number, number, number] {
  const list = typeof v === 'number' ? [v, v, v] : v;
  if (!Array.isArray(list) || list.length !== 3 || !list.every((x) => typeof x === 'number' && Number.isFinite(x))) {
    return fail(file, `${key} should be three numbers (one per RGB channel), got ${JSON.stringify(v)}`);
  }
  if (positive && !list.every((x: number) => x > 0)) return fail(file, `${key} should be positive, got ${JSON.stringify(v)}`);
  return [list[0], list[1], list[2]] as [number, number, number];
}

/** Divisibility the towers rely on, checked once for every config source. */
export function checkShapes<C extends { vision: VisionConfig; text: TextConfig }>(cfg: C, file: string, keys: { vision: string; imageSize: string; visionHeads: string; textHeads: string }): C {
  const { vision: v, text: t } = cfg;
  if (v.kind === 'resnet') {
    const bad = resnetShapeError(v);
    if (bad) fail(file, `${keys.vision}: ${bad}`);
  } else if (v.kind === 'conv') {
    const bad = convShapeError(v);
    if (bad) fail(file, `${keys.vision}: ${bad}`);
  } else {
    if (v.imageSize % v.patchSize !== 0) fail(file, `${keys.imageSize} ${v.imageSize} is not a multiple of the patch size ${v.patchSize}`);
    if (v.heads < 1 || v.width % v.heads !== 0) fail(file, `${keys.visionHeads}: vision width ${v.width} does not split into ${v.heads} heads`);
  }
  if (t.width % t.heads !== 0) fail(file, `${keys.textHeads}: text width ${t.width} does not split into ${t.heads} heads`);
  return cfg;
}
