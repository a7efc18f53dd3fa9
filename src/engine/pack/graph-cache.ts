/**
 * Compiled tower graphs, cached inside the pack by content hash. A cached graph is a small ONNX file
 * whose weights are external-data references into the pack's safetensors file (ONNX Runtime reads
 * those bytes itself), so the cache costs kilobytes and a second load skips reading the weights into
 * JavaScript, building and encoding. The key covers everything a graph depends on: the graph kind,
 * the pack's config and weight file identity, and the engine code that builds graphs.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { access, readdir, rm } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { writeFileAtomic } from '../atomic-write.js';
import type { Model } from '../onnx/ir.js';
import { encodeModel, type ExternalRef } from '../onnx/proto.js';
import type { Tensor } from '../onnx/tensor.js';
import type { Manifest } from './manifest.js';

const ENGINE_DIR = join(dirname(fileURLToPath(import.meta.url)), '..');
/** The code a graph's structure depends on (folders, or single files); tests and test helpers do not count. */
const GRAPH_SOURCES = ['onnx', 'clip', 'pag/step-graph.ts'];

let fingerprint: string | undefined;

/** A hash of the engine's graph-building sources, so editing them invalidates every cached graph. */
export function engineFingerprint(): string {
  fingerprint ??= sourcesFingerprint(ENGINE_DIR);
  return fingerprint;
}

/** The hash of GRAPH_SOURCES under `engineDir` (a folder laid out as src/engine). */
export function sourcesFingerprint(engineDir: string): string {
  const h = createHash('sha256');
  for (const source of GRAPH_SOURCES) {
    const root = join(engineDir, source);
    const files = source.endsWith('.ts')
      ? ['']
      : readdirSync(root, { recursive: true, encoding: 'utf8' })
        .filter((f) => /\.(ts|json)$/.test(f) && !f.endsWith('.test.ts') && !f.split(/[\\/]/).includes('testing'))
        .sort();
    for (const f of files) {
      h.update(`${join(source, f)}\0`);
      h.update(readFileSync(join(root, f)));
    }
  }
  return h.digest('hex');
}

export function graphKey(manifest: Manifest, kind: string): string {
  const h = createHash('sha256');
  h.update(JSON.stringify({ kind, config: manifest.config, weights: manifest.weights, engine: engineFingerprint() }));
  return h.digest('hex').slice(0, 16);
}

export const graphFileName = (kind: string, key: string): string => `graph-${kind}-${key}.onnx`;

/** Where each tensor read from the pack's weight file lies in it, by object identity. */
export type WeightSpans = WeakMap<Tensor, { offset: number; length: number }>;

export interface GraphSource {
  /** A file to open (external data resolved beside it), or in-memory bytes when the pack is read-only. */
  path?: string;
  bytes?: Uint8Array;
  cached: boolean;
}

/**
 * The graph of `kind` for a pack: the cached file when present, else built now, written to the pack
 * with its weights as references (`spans` says which initializers are the weight file's own bytes),
 * old graphs of the same kind removed. A pack that cannot be written to still works, uncached.
 */
export async function cachedGraph(
  dir: string, manifest: Manifest, kind: string,
  build: () => Promise<{ model: Model; spans: WeightSpans }>, log: Logger,
): Promise<GraphSource> {
  const key = graphKey(manifest, kind);
  const path = join(dir, graphFileName(kind, key));
  try {
    await access(path);
    return { path, cached: true };
  } catch {
    // not cached yet
  }
  const { model, spans } = await build();
  const location = manifest.weights.file;
  const external = (_name: string, t: Tensor): ExternalRef | undefined => {
    const s = spans.get(t);
    return s ? { location, offset: s.offset, length: s.length } : undefined;
  };
  try {
    await writeFileAtomic(path, encodeModel(model, { external }));
  } catch (e) {
    log.warn({ pack: dir, err: (e as Error).message }, 'cannot cache the compiled graph in the pack (read-only?); loading uncached');
    return { bytes: encodeModel(model), cached: false };
  }
  await removeStale(dir, kind, path, log);
  return { path, cached: false };
}

async function removeStale(dir: string, kind: string, keep: string, log: Logger): Promise<void> {
  const prefix = `graph-${kind}-`;
  for (const f of await readdir(dir)) {
    if (f.startsWith(prefix) && f.endsWith('.onnx') && join(dir, f) !== keep) {
      await rm(join(dir, f), { force: true }).catch((e: Error) => log.debug({ file: relative(dir, f), err: e.message }, 'stale graph not removed'));
    }
  }
}
