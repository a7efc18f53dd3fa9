/**
 * The synthesis tests' model: a CLIP of 16-px pictures with random weights, small enough that a
 * whole imagine() run takes milliseconds, written to a temporary folder the test file owns.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeRandomPack } from '../bench/random-pack.js';
import type { ClipConfig } from '../clip/config.js';
import { ClipModel } from '../pack/model.js';

export const TINY_PAG_CONFIG: ClipConfig = {
  arch: 'custom', embedDim: 16,
  vision: { imageSize: 16, patchSize: 8, width: 16, layers: 1, heads: 2, outputDim: 16, act: 'gelu' },
  text: { contextLength: 8, vocabSize: 16, width: 16, layers: 1, heads: 2, outputDim: 16, act: 'gelu' },
  mean: [0.48, 0.46, 0.41], std: [0.27, 0.26, 0.28],
};

export interface TinyModel {
  model: ClipModel;
  /** The test file's temporary folder (the pack is in pack/); removed by close(). */
  dir: string;
  close(): Promise<void>;
}

/** Writes the tiny pack under a new temporary folder named from `prefix` and opens it on one thread. */
export async function openTinyModel(prefix: string): Promise<TinyModel> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  await writeRandomPack(join(dir, 'pack'), TINY_PAG_CONFIG);
  const model = await ClipModel.open(join(dir, 'pack'), { device: 'cpu', intraOpThreads: 1 });
  return {
    model, dir,
    async close() {
      await model.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
