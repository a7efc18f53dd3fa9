import { rm } from 'node:fs/promises';
import type { Command } from 'commander';
import { BUILTIN_ARCHS } from '../engine/clip/config.js';
import { importModel, type ImportOptions, type ImportResult } from '../engine/pack/import.js';
import { builtinRegistry, defaultCacheDir, fetchFiles, findEntry, loadRegistry } from '../engine/pack/registry.js';
import { UsageError, fail } from './errors.js';
import { ByteProgress } from '../engine/progress.js';

interface ImportArgs {
  out: string;
  arch?: string;
  config?: string;
  tokenizer?: string;
  dtype: string;
  name?: string;
}

function dtypeOf(s: string): 'fp32' | 'fp16' {
  if (s !== 'fp32' && s !== 'fp16') throw new UsageError(`--dtype ${s}: expected fp32 or fp16`);
  return s;
}

const note = (msg: string): void => void process.stderr.write(`note: ${msg}\n`);

async function runImport(src: string, o: ImportOptions & { out: string }): Promise<ImportResult> {
  const progress = new ByteProgress(process.stderr, 'import', 'writing');
  let started = false;
  const onProgress = (done: number, total: number): void => {
    if (!started) progress.start(0, total, false);
    started = true;
    progress.update(done);
  };
  try {
    const r = await importModel(src, o.out, { ...o, onNote: note, onProgress });
    if (started) progress.finish(r.manifest.weights.bytes, 'written');
    const c = r.manifest.config;
    process.stderr.write(
      `wrote ${r.dir}: ${c.arch} (${c.text.act}), ${r.tensors} tensors, ${(r.manifest.weights.bytes / 1024 / 1024).toFixed(1)} MB ${r.manifest.weights.dtype}` +
        `${r.manifest.source?.skipped?.length ? `; skipped ${r.manifest.source.skipped.join(', ')}` : ''}\n`,
    );
    return r;
  } finally {
    progress.stop();
  }
}

interface FetchArgs {
  out: string;
  registry?: string;
  cache?: string;
  dtype: string;
  keep?: boolean;
}

async function runFetch(name: string, o: FetchArgs): Promise<void> {
  const dtype = dtypeOf(o.dtype);
  const registry = o.registry ? await loadRegistry(o.registry) : builtinRegistry();
  const entry = findEntry(registry, name);
  const cache = o.cache ?? defaultCacheDir();
  const files = await fetchFiles(entry, cache);
  const checkpoint = files[entry.checkpoint];
  if (!checkpoint) throw new Error(`registry entry ${entry.name}: checkpoint ${entry.checkpoint} is not among its files`);
  const tokenizer = entry.tokenizer ? files[entry.tokenizer.name]?.path : undefined;
  const configFile = !entry.arch && entry.config ? files[entry.config]?.path : undefined;
  await runImport(checkpoint.path, {
    out: o.out, dtype, arch: entry.arch, configFile, tokenizer, name: entry.name, sourceSha256: checkpoint.sha256,
  });
  // The pack holds everything now; the raw download (and its verification record) is only disk use.
  if (!o.keep) {
    for (const f of Object.values(files)) {
      await rm(f.path, { force: true });
      await rm(`${f.path}.verified.json`, { force: true });
    }
  }
}

export function registerModel(program: Command): void {
  const model = program.command('model').description('make and fetch model packs');

  model
    .command('import')
    .description('make a model pack from an open_clip checkpoint (.pt/.bin) or a Hugging Face CLIPModel folder')
    .argument('<src>', 'checkpoint file or model folder')
    .requiredOption('--out <dir>', 'the model pack folder to create (must not exist, or be empty)')
    .option('--arch <name>', `built-in architecture: ${BUILTIN_ARCHS.join(', ')}`)
    .option('--config <file>', 'an open_clip model config JSON or a Hugging Face config.json')
    .option('--tokenizer <file>', "bpe_simple_vocab_16e6.txt.gz, tokenizer.json, or merges.txt (with vocab.json beside it)")
    .option('--dtype <type>', 'weights stored as fp32 or fp16', 'fp32')
    .option('--name <name>', 'a name for the pack (default: the folder name)')
    .action(async (src: string, o: ImportArgs) => {
      try {
        await runImport(src, { ...o, dtype: dtypeOf(o.dtype), configFile: o.config });
      } catch (e) {
        fail('model import', e);
      }
    });

  model
    .command('fetch')
    .description('download a known robust CLIP (see `clipag model list`) and import it')
    .argument('<name>', 'registry name, e.g. clipag-vit-b-32')
    .requiredOption('--out <dir>', 'the model pack folder to create')
    .option('--registry <file>', 'a registry JSON to use instead of the built-in one (mirrors, offline copies)')
    .option('--cache <dir>', 'where downloads are kept while incomplete (default: $CLIPAG_CACHE or ~/.cache/clipag)')
    .option('--dtype <type>', 'weights stored as fp32 or fp16', 'fp32')
    .option('--keep', 'keep the downloaded checkpoint after importing it')
    .action(async (name: string, o: FetchArgs) => {
      try {
        await runFetch(name, o);
      } catch (e) {
        fail('model fetch', e);
      }
    });

  model
    .command('list')
    .description('list the models `clipag model fetch` knows')
    .option('--registry <file>', 'a registry JSON to use instead of the built-in one')
    .option('--json', 'print one JSON object on stdout')
    .action(async (o: { registry?: string; json?: boolean }) => {
      try {
        const reg = o.registry ? await loadRegistry(o.registry) : builtinRegistry();
        if (o.json) {
          process.stdout.write(`${JSON.stringify({ models: reg.map((e) => ({ name: e.name, description: e.description })) })}\n`);
        } else {
          for (const e of reg) process.stdout.write(`${e.name.padEnd(20)} ${e.description}\n`);
        }
      } catch (e) {
        fail('model list', e);
      }
    });
}
