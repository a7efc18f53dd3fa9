/**
 * Writes trained parameters as a model pack (weights.safetensors in open_clip's state-dict layout
 * plus clipag.json), so a model trained here loads through the same loader as an imported one.
 * Each file is written whole in a sibling folder and renamed into place, so no file is ever half written.
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { ClipConfig } from '../clip/config.js';
import { expectedTensors } from '../clip/layout.js';
import { writeSafetensorsLazy } from '../clip/safetensors.js';
import type { TokenizerSpec } from '../clip/tokenizer.js';
import { Tensor } from '../onnx/tensor.js';
import { PACK_FORMAT, PACK_VERSION, writeManifest } from '../pack/manifest.js';
import { MAX_LOGIT_SCALE } from './contrastive-graph.js';
import type { Params } from './params.js';

export interface ExportOptions {
  name: string;
  /** One line on what the model is (the bot's model list shows it). */
  description?: string;
  tokenizer: TokenizerSpec;
  recipe?: Record<string, number>;
  /** Word groups for the recipe's near-miss contrast (pag/contrast.ts). */
  contrast?: readonly (readonly string[])[];
  note?: string;
}

export async function writeTrainedPack(dir: string, cfg: ClipConfig, params: Params, o: ExportOptions): Promise<void> {
  const tmp = join(dirname(dir), `.${basename(dir)}.tmp-${process.pid}`);
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  try {
    const hash = createHash('sha256');
    const written = await writeSafetensorsLazy(
      join(tmp, 'weights.safetensors'),
      expectedTensors(cfg).map((t) => {
        const data = params.get(t.name);
        if (!data) throw new Error(`export: no trained value for ${t.name}`);
        return { name: t.name, dtype: 'float32', shape: t.shape, data: () => new Tensor('float32', [...t.shape], data) };
      }),
      undefined,
      (c) => hash.update(c),
    );
    const logScale = Math.min(params.get('logit_scale')![0]!, MAX_LOGIT_SCALE);
    await writeManifest(tmp, {
      format: PACK_FORMAT, version: PACK_VERSION, name: o.name, ...(o.description ? { description: o.description } : {}), config: cfg,
      weights: { file: 'weights.safetensors', dtype: 'fp32', bytes: written.bytes, sha256: hash.digest('hex') },
      logitScale: Math.exp(logScale),
      tokenizer: o.tokenizer as Record<string, unknown> & { kind: 'word' | 'clip-bpe' },
      ...(o.recipe ? { recipe: o.recipe } : {}),
      ...(o.contrast ? { contrast: o.contrast.map((g) => [...g]) } : {}),
      ...(o.note ? { source: { path: 'tools/train-shapes.ts', layout: 'open_clip' as const, note: o.note } } : {}),
      created: new Date().toISOString(),
    });
    // Files beside the pack (its MODEL_CARD.md) stay; compiled graphs of the old weights go.
    await mkdir(dir, { recursive: true });
    for (const f of await readdir(dir)) if (/^graph-.*\.onnx$/.test(f)) await rm(join(dir, f), { force: true });
    await rename(join(tmp, 'weights.safetensors'), join(dir, 'weights.safetensors'));
    await rename(join(tmp, 'clipag.json'), join(dir, 'clipag.json'));
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
