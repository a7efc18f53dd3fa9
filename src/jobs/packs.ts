/**
 * The model packs a bot can serve: the default one (MODEL_DIR, the bundled demo unless set) and every
 * pack folder in MODELS_DIR. Only manifests are read here, so listing is cheap and a broken pack is
 * reported and left out instead of keeping the bot from starting.
 */
import { realpathSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { MANIFEST_FILE, readManifest, type Manifest } from '../engine/pack/manifest.js';

export interface PackInfo {
  /** The manifest's name: what members type in `/imagine model:`. */
  name: string;
  dir: string;
  /** One line for people choosing a model. */
  description: string;
  /** The words a closed-vocabulary model knows (the demo's); null for an open tokenizer (CLIP BPE). */
  vocabulary: readonly string[] | null;
  /**
   * Estimated resident memory once loaded, in MiB: the weights in the tower sessions plus the copy
   * inside each compiled step graph (three copies in all), which is what a warm engine holds.
   */
  memoryMb: number;
}

export interface PackList {
  packs: PackInfo[];
  /** Folders left out, one line each (logged at start). */
  problems: string[];
}

/** Model names as members type them: compared without case. */
export const packKey = (name: string): string => name.trim().toLowerCase();

const WEIGHT_COPIES = 3;

export function packInfo(dir: string, m: Manifest): PackInfo {
  const tok = m.tokenizer as { kind: string; words?: unknown } | null;
  const words = tok?.kind === 'word' && Array.isArray(tok.words) ? tok.words.filter((w): w is string => typeof w === 'string' && !/^<.*>$/.test(w)) : null;
  const v = m.config.vision;
  return {
    name: m.name,
    dir,
    description: m.description ?? `${m.config.arch} (${v.kind === 'resnet' ? 'ResNet' : v.kind === 'conv' ? 'conv' : 'ViT'}, ${v.imageSize} px)`,
    vocabulary: words,
    memoryMb: Math.max(1, Math.ceil((m.weights.bytes * WEIGHT_COPIES) / 2 ** 20)),
  };
}

const real = (p: string): string => {
  try {
    return realpathSync(p);
  } catch {
    return resolve(p);
  }
};

/**
 * The default pack first (it must load: the bot cannot run without it), then MODELS_DIR's pack
 * folders in name order. A folder without clipag.json is not a pack and is skipped quietly; a pack
 * whose manifest is broken, or whose name another pack already has, is left out with a problem line.
 */
export async function discoverPacks(defaultDir: string, modelsDir?: string): Promise<PackList> {
  const first = packInfo(defaultDir, await readManifest(defaultDir));
  const packs: PackInfo[] = [first];
  const problems: string[] = [];
  if (!modelsDir) return { packs, problems };
  let entries;
  try {
    entries = await readdir(modelsDir, { withFileTypes: true });
  } catch (e) {
    throw new Error(`MODELS_DIR ${modelsDir} cannot be read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const seenDirs = new Set([real(defaultDir)]);
  const byName = new Map([[packKey(first.name), first]]);
  for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    if (!entry.isDirectory() && !entry.isSymbolicLink()) continue;
    const dir = join(modelsDir, entry.name);
    if (seenDirs.has(real(dir))) continue;
    let m: Manifest;
    try {
      m = await readManifest(dir);
    } catch (e) {
      const message = (e as Error).message;
      if (!message.includes(`no ${MANIFEST_FILE}`)) problems.push(`${dir}: left out: ${message.split('\n')[0]}`);
      continue;
    }
    const other = byName.get(packKey(m.name));
    if (other) {
      problems.push(`${dir}: left out: its name "${m.name}" is already ${other.dir}'s (rename one in its clipag.json)`);
      continue;
    }
    const info = packInfo(dir, m);
    seenDirs.add(real(dir));
    byName.set(packKey(info.name), info);
    packs.push(info);
  }
  return { packs, problems };
}
