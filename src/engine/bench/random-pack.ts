/**
 * A model pack of a built-in architecture with random weights, for benchmarks: timings do not
 * depend on the values, and the real load path (safetensors, graph cache, sessions) is exercised.
 * Its tokenizer is a handful of words, enough to form a prompt.
 */
import { createHash } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { builtinConfig, type ClipConfig } from '../clip/config.js';
import { expectedTensors } from '../clip/layout.js';
import { isBatchNormGain } from '../clip/towers.js';
import { writeSafetensorsLazy } from '../clip/safetensors.js';
import { Tensor } from '../onnx/tensor.js';
import { hashName, hashUniform } from '../random.js';
import { PACK_FORMAT, PACK_VERSION, writeManifest } from '../pack/manifest.js';

export const BENCH_WORDS = ['<pad>', 'a', 'lighthouse', 'at', 'dusk', 'red', 'circle', 'on', 'blue', 'sky'];

/** Cheap uniform noise from a hash of (name, index), scaled like CLIP's init (std ≈ 0.02). */
function noiseTensor(name: string, shape: readonly number[]): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  // BN variances too: near 1, so a ResNet's normalisation stays finite.
  const gain = /(^|\.)ln_[^.]*\.weight$/.test(name) || isBatchNormGain(name) || name.endsWith('.running_var');
  const seed = hashName(name);
  for (let i = 0; i < n; i++) data[i] = (gain ? 1 : 0) + 0.07 * hashUniform(seed, i);
  if (name === 'logit_scale') data.fill(Math.log(1 / 0.07));
  return new Tensor('float32', [...shape], data);
}

export async function writeRandomPack(dir: string, arch: string | ClipConfig): Promise<void> {
  const config = typeof arch === 'string' ? builtinConfig(arch) : arch;
  await mkdir(dir, { recursive: true });
  const hash = createHash('sha256');
  const written = await writeSafetensorsLazy(
    join(dir, 'weights.safetensors'),
    expectedTensors(config).map((t) => ({ name: t.name, dtype: 'float32', shape: t.shape, data: () => noiseTensor(t.name, t.shape) })),
    undefined,
    (c) => hash.update(c),
  );
  const v = config.text.vocabSize;
  await writeManifest(dir, {
    format: PACK_FORMAT, version: PACK_VERSION, name: `random-${config.arch}`, config,
    weights: { file: 'weights.safetensors', dtype: 'fp32', bytes: written.bytes, sha256: hash.digest('hex') },
    logitScale: 1 / 0.07,
    tokenizer: { kind: 'word', words: BENCH_WORDS, sot: v - 2, eot: v - 1, pad: 0, vocabSize: v },
  });
}
