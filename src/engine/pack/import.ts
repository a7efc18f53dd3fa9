/**
 * `clipag model import`: what users download (an open_clip checkpoint, a Hugging Face CLIPModel
 * folder) → a model pack. Tensors stream from the source through the name-layout view into the pack's
 * safetensors file one at a time, so peak memory is about one tensor, not the checkpoint. Everything
 * is written into a temporary sibling folder that is renamed to --out only when complete.
 */
import { createHash } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, open, readdir, readFile, rename, rm, rmdir, stat } from 'node:fs/promises';
import { rmSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { builtinConfig, configFromOpenClip, type ClipConfig } from '../clip/config.js';
import { configFromHf } from '../clip/config-hf.js';
import { detectLayout, expectedTensors, inferConfig, openClipView, type Layout } from '../clip/layout.js';
import { float32ToHalf, openSafetensors, writeSafetensorsLazy } from '../clip/safetensors.js';
import { loadTokenizer, tokenizerSpecFromFile, type TokenizerSpec } from '../clip/tokenizer.js';
import { openTorchCheckpoint } from '../clip/torch-checkpoint.js';
import type { WeightReader } from '../clip/weights.js';
import { Tensor } from '../onnx/tensor.js';
import { PACK_FORMAT, PACK_VERSION, writeManifest, type Manifest } from './manifest.js';

export const WEIGHTS_FILE = 'weights.safetensors';

export interface ImportOptions {
  /** A built-in architecture name (see BUILTIN_ARCHS). */
  arch?: string;
  /** An open_clip model config JSON or a Hugging Face config.json. */
  configFile?: string;
  /** open_clip's bpe_simple_vocab_16e6.txt.gz, a tokenizer.json, or merges.txt (vocab.json beside it). */
  tokenizer?: string;
  dtype?: 'fp32' | 'fp16';
  name?: string;
  /** Known sha256 of the source file (model fetch has computed it), recorded in the manifest. */
  sourceSha256?: string;
  /** Human notes (assumptions made, things skipped) for stderr. */
  onNote?: (msg: string) => void;
  /** Bytes of tensor data written so far, of the total. */
  onProgress?: (done: number, total: number) => void;
}

export interface ImportResult {
  dir: string;
  manifest: Manifest;
  tensors: number;
}

/** Where the weights, config and tokenizer of a source are. */
interface Source {
  weights: string;
  config?: { path: string; kind: 'open_clip' | 'hf' };
  preprocessor?: string;
  tokenizer?: string;
}

const exists = async (p: string): Promise<boolean> => stat(p).then(() => true, () => false);

async function firstExisting(dir: string, names: readonly string[]): Promise<string | undefined> {
  for (const n of names) if (await exists(join(dir, n))) return join(dir, n);
  return undefined;
}

const TOKENIZER_FILES = ['tokenizer.json', 'merges.txt', 'bpe_simple_vocab_16e6.txt.gz'];

/** A folder (HF CLIPModel or open_clip hub download) or a single checkpoint file. */
async function resolveSource(src: string): Promise<Source> {
  let st;
  try {
    st = await stat(src);
  } catch {
    throw new Error(`${src}: no such file or folder`);
  }
  if (!st.isDirectory()) {
    // A checkpoint fetched from the HF hub has its open_clip_config.json beside it.
    const beside = join(dirname(src), 'open_clip_config.json');
    return { weights: src, config: (await exists(beside)) ? { path: beside, kind: 'open_clip' } : undefined };
  }
  const hfConfig = join(src, 'config.json');
  const ocConfig = join(src, 'open_clip_config.json');
  const tokenizer = await firstExisting(src, TOKENIZER_FILES);
  if (await exists(ocConfig)) {
    const weights = await firstExisting(src, ['open_clip_model.safetensors', 'open_clip_pytorch_model.bin']);
    if (!weights) throw new Error(`${src}: has open_clip_config.json but no open_clip_model.safetensors or open_clip_pytorch_model.bin`);
    return { weights, config: { path: ocConfig, kind: 'open_clip' }, tokenizer };
  }
  if (await exists(hfConfig)) {
    if (await exists(join(src, 'model.safetensors.index.json'))) {
      throw new Error(`${src}: sharded safetensors (model.safetensors.index.json) are not supported; merge the shards into one model.safetensors`);
    }
    const weights = await firstExisting(src, ['model.safetensors', 'pytorch_model.bin']);
    if (!weights) throw new Error(`${src}: has config.json but no model.safetensors or pytorch_model.bin`);
    const preprocessor = join(src, 'preprocessor_config.json');
    return { weights, config: { path: hfConfig, kind: 'hf' }, preprocessor: (await exists(preprocessor)) ? preprocessor : undefined, tokenizer };
  }
  const names = (await readdir(src)).slice(0, 6).join(', ');
  throw new Error(`${src}: a folder without config.json (Hugging Face) or open_clip_config.json (open_clip); it has ${names || 'nothing'}`);
}

async function readJson(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new Error(`cannot read ${path}: ${(e as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`${path}: not valid JSON (${(e as Error).message})`);
  }
}

/** A user-given config file is an HF config.json when it has HF's per-tower sections. */
async function configFromFile(path: string, preprocessor?: string): Promise<ClipConfig> {
  const json = await readJson(path);
  const o = (typeof json === 'object' && json !== null ? json : {}) as Record<string, unknown>;
  if ('vision_config' in o || 'text_config' in o || o.model_type === 'clip') {
    return configFromHf(json, preprocessor ? await readJson(preprocessor) : undefined, path);
  }
  return configFromOpenClip(json, path);
}

async function openWeights(path: string): Promise<WeightReader & { skipped?: readonly string[]; strippedPrefix?: string }> {
  const head = Buffer.alloc(4);
  const fh = await open(path, 'r').catch((e: Error) => {
    throw new Error(`cannot read ${path}: ${e.message}`);
  });
  try {
    await fh.read(head, 0, 4, 0);
  } finally {
    await fh.close();
  }
  // Zip local-file magic "PK\3\4": a torch.save checkpoint. Anything else ending .safetensors is safetensors.
  if (head.readUInt32LE(0) === 0x04034b50 || !path.endsWith('.safetensors')) return openTorchCheckpoint(path);
  return openSafetensors(path);
}

async function chooseConfig(src: Source, reader: WeightReader, layout: Layout, o: ImportOptions): Promise<ClipConfig> {
  if (o.arch && o.configFile) throw new Error('give --arch or --config, not both');
  if (o.arch) return builtinConfig(o.arch);
  if (o.configFile) return configFromFile(o.configFile);
  if (src.config) {
    return src.config.kind === 'hf'
      ? configFromHf(await readJson(src.config.path), src.preprocessor ? await readJson(src.preprocessor) : undefined, src.config.path)
      : configFromOpenClip(await readJson(src.config.path), src.config.path);
  }
  const { config, matches } = inferConfig(reader.list(), layout, src.weights);
  o.onNote?.(
    matches
      ? `no --arch given: the tensor shapes are ${matches}'s; assuming exact GELU (pass --arch ${matches}-quickgelu for OpenAI-trained weights)`
      : 'no --arch given: built the config from the tensor shapes (attention heads from open_clip\'s head widths), assuming exact GELU; pass --config FILE to be explicit',
  );
  return config;
}

/** Copies a tokenizer's files into the pack and returns its spec relative to the pack. */
async function installTokenizer(file: string, dir: string, vocabSize: number): Promise<TokenizerSpec> {
  const spec = tokenizerSpecFromFile(file);
  const tok = await loadTokenizer(spec, '.');
  if (tok.vocabSize > vocabSize) {
    throw new Error(`${file}: the tokenizer has ${tok.vocabSize} ids but the text tower only ${vocabSize}; wrong tokenizer for this model?`);
  }
  if ('bpeGz' in spec) {
    await copyFile(spec.bpeGz, join(dir, basename(spec.bpeGz)));
    return { kind: 'clip-bpe', bpeGz: basename(spec.bpeGz) };
  }
  if ('tokenizerJson' in spec) {
    await copyFile(spec.tokenizerJson, join(dir, 'tokenizer.json'));
    return { kind: 'clip-bpe', tokenizerJson: 'tokenizer.json' };
  }
  if ('merges' in spec) {
    await copyFile(spec.merges, join(dir, 'merges.txt'));
    await copyFile(spec.vocab, join(dir, 'vocab.json'));
    return { kind: 'clip-bpe', merges: 'merges.txt', vocab: 'vocab.json' };
  }
  throw new Error(`${file}: not a CLIP BPE tokenizer file`);
}

async function prepareOut(out: string): Promise<void> {
  let entries: string[];
  try {
    entries = await readdir(out);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return;
    if (code === 'ENOTDIR') throw new Error(`--out ${out} is a file; give a folder for the model pack`);
    throw e;
  }
  if (entries.length > 0) throw new Error(`--out ${out} already exists and is not empty; choose a new folder or remove it first`);
}

function toDtype(t: Tensor, dtype: 'fp32' | 'fp16'): Tensor {
  if (dtype === 'fp16' && t.dtype === 'float32') return new Tensor('float16', t.dims, float32ToHalf(t.data as Float32Array));
  return t;
}

export async function importModel(srcPath: string, outDir: string, o: ImportOptions = {}): Promise<ImportResult> {
  const dtype = o.dtype ?? 'fp32';
  const out = resolve(outDir);
  await prepareOut(out);
  const src = await resolveSource(srcPath);
  const reader = await openWeights(src.weights);
  let tmp: string | undefined;
  const cleanup = (): void => {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  };
  // An interrupted import must not leave a half-written folder behind (the temp folder is not --out).
  const onSignal = (sig: NodeJS.Signals): void => {
    cleanup();
    process.kill(process.pid, sig);
  };
  try {
    const layout = detectLayout(reader.list(), src.weights);
    const config = await chooseConfig(src, reader, layout, o);
    const view = openClipView(reader, config, layout);
    const logitRaw = (await view.read('logit_scale')).data[0];
    const logitScale = Math.exp(Number(logitRaw));
    if (!Number.isFinite(logitScale) || logitScale <= 0) throw new Error(`${src.weights}: logit_scale ${logitRaw} is not a usable temperature`);

    await mkdir(dirname(out), { recursive: true });
    tmp = await mkdtemp(join(dirname(out), `.${basename(out)}.import-`));
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);

    const tokenizerFile = o.tokenizer ?? src.tokenizer;
    const tokenizer = tokenizerFile ? await installTokenizer(tokenizerFile, tmp, config.text.vocabSize) : null;
    if (!tokenizer) {
      o.onNote?.('no tokenizer given: image commands work, text commands need --tokenizer (open_clip\'s bpe_simple_vocab_16e6.txt.gz)');
    }

    const infos = expectedTensors(config);
    const total = infos.reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1) * (dtype === 'fp16' ? 2 : 4), 0);
    let done = 0;
    const hash = createHash('sha256');
    const written = await writeSafetensorsLazy(
      join(tmp, WEIGHTS_FILE),
      infos.map((info) => ({
        name: info.name,
        dtype: dtype === 'fp16' ? 'float16' : 'float32',
        shape: info.shape,
        data: async () => {
          const t = toDtype(await view.read(info.name, { keepF16: dtype === 'fp16' }), dtype);
          done += t.data.byteLength;
          o.onProgress?.(done, total);
          return t;
        },
      })),
      { format: 'pt', producer: 'clipag' },
      (chunk) => hash.update(chunk),
    );
    const skipped = 'skipped' in reader ? reader.skipped : undefined;
    const manifest: Manifest = {
      format: PACK_FORMAT,
      version: PACK_VERSION,
      name: o.name ?? basename(out),
      config,
      weights: { file: WEIGHTS_FILE, dtype, bytes: written.bytes, sha256: hash.digest('hex') },
      logitScale,
      tokenizer,
      source: {
        path: resolve(srcPath),
        layout,
        ...(skipped && skipped.length ? { skipped: [...skipped] } : {}),
        ...(o.sourceSha256 ? { sha256: o.sourceSha256 } : {}),
      },
      created: new Date().toISOString(),
    };
    await writeManifest(tmp, manifest);
    if (await exists(out)) await rmdir(out); // empty (checked above); rename needs it gone
    await rename(tmp, out);
    tmp = undefined;
    return { dir: out, manifest, tensors: infos.length };
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await reader.close().catch(() => undefined);
    if (tmp) await rm(tmp, { recursive: true, force: true });
  }
}
