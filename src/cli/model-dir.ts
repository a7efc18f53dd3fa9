import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { UsageError } from './errors.js';

/** The demo pack that ships in the repository (models/shapes). */
export const BUNDLED_MODEL = fileURLToPath(new URL('../../models/shapes', import.meta.url));

/** --model, else $MODEL_DIR, else the bundled demo pack. */
export function resolveModelDir(option: string | undefined): string {
  const dir = option ?? process.env.MODEL_DIR;
  if (dir) return dir;
  if (existsSync(join(BUNDLED_MODEL, 'clipag.json'))) return BUNDLED_MODEL;
  throw new UsageError('no model pack: pass --model DIR or set MODEL_DIR (make one with `clipag model import` or `clipag model fetch`)');
}
