/**
 * The model pack tests run the real engine on: the trained demo model when it is present, else a
 * pack of the same architecture with random weights (written once per process). The random pack's
 * tokenizer knows only BENCH_WORDS and the demo model's only SHAPES_WORDS, so test prompts use words
 * in both ("a red circle on blue"); "sky", "lighthouse" and "dusk" are unknown to the demo model.
 */
import { existsSync, rmSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeRandomPack } from '../../src/engine/bench/random-pack.js';
import { SHAPES_CONFIG } from '../../src/engine/shapes/model-config.js';

const BUNDLED = fileURLToPath(new URL('../../models/shapes', import.meta.url));

/** A prompt both the demo model and the random pack's tokenizer understand. */
export const DEMO_PROMPT = 'a red circle on blue';

let pending: Promise<string> | undefined;

export function demoPackDir(): Promise<string> {
  if (existsSync(join(BUNDLED, 'clipag.json'))) return Promise.resolve(BUNDLED);
  pending ??= (async () => {
    const dir = await mkdtemp(join(tmpdir(), 'clipag-demo-pack-'));
    await writeRandomPack(dir, SHAPES_CONFIG);
    // Removed when the process exits, so a test run leaves no temp files behind.
    // (synchronously: an exit handler cannot wait for a promise)
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    return dir;
  })();
  return pending;
}
