/**
 * The robust CLIPs `clipag model fetch NAME` knows by name: where each file lives and how the
 * import step should read it. Users can replace the list with their own file (`--registry FILE`)
 * to use mirrors or files already on disk.
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { closestName } from '../suggest.js';

// The download half lives in download.ts; re-exported so callers have one place for `model fetch`.
export { defaultCacheDir, downloadFile, fetchFiles, type DownloadOptions, type DownloadResult } from './download.js';

export interface RemoteFile { url: string; name: string; size?: number; sha256?: string }

export interface RegistryEntry {
  name: string;
  description: string;
  files: RemoteFile[];
  /** How to import: the checkpoint file's name among files, the arch to force (else from open_clip_config.json). */
  checkpoint: string;
  config?: string;
  arch?: string;
  /** The tokenizer vocabulary to fetch beside the checkpoint (open_clip's BPE) unless the files carry one. */
  tokenizer?: RemoteFile;
}

/**
 * open_clip's BPE merges (MIT). No open_clip checkpoint carries its tokenizer, so every open_clip
 * entry fetches this beside the weights; size and digest are those of the file open_clip ships.
 */
export const OPEN_CLIP_BPE: RemoteFile = {
  url: 'https://github.com/mlfoundations/open_clip/raw/main/src/open_clip/bpe_simple_vocab_16e6.txt.gz',
  name: 'bpe_simple_vocab_16e6.txt.gz',
  size: 1356917,
  sha256: '924691ac288e54409236115652ad4aa250f48203de50a9e4722a6ecd48d6804a',
};

const OPEN_CLIP_WEIGHTS = 'open_clip_pytorch_model.bin';
const OPEN_CLIP_CONFIG = 'open_clip_config.json';

/** An open_clip model uploaded to a Hugging Face repo the usual way: weights + config at the top level. */
function hfOpenClip(name: string, repo: string, arch: string, description: string): RegistryEntry {
  const file = (f: string): RemoteFile => ({ url: `https://huggingface.co/${repo}/resolve/main/${f}`, name: f });
  return {
    name, description,
    files: [file(OPEN_CLIP_WEIGHTS), file(OPEN_CLIP_CONFIG)],
    checkpoint: OPEN_CLIP_WEIGHTS, config: OPEN_CLIP_CONFIG, arch,
    tokenizer: OPEN_CLIP_BPE,
  };
}

// Checkpoint sizes and digests are left unpinned: they were not available offline when this list
// was written. downloadFile checks what the server states instead (Hugging Face's x-linked-size /
// x-linked-etag) and reports the sha256 it computed, so a pack records what it was made from.
const BUILTIN: readonly RegistryEntry[] = [
  {
    name: 'clipag-vit-b-32',
    description: 'CLIPAG ViT-B/32, the CLIPAG paper\'s release (Zenodo 10446026): open_clip training checkpoint, about 1.3 GB',
    files: [{ url: 'https://zenodo.org/records/10446026/files/CLIPAG_ViTB32.pt?download=1', name: 'CLIPAG_ViTB32.pt' }],
    checkpoint: 'CLIPAG_ViTB32.pt',
    // A training checkpoint carries no config; the paper trained open_clip's ViT-B-32 (exact GELU).
    arch: 'ViT-B-32',
    tokenizer: OPEN_CLIP_BPE,
  },
  // FARE/TeCoA ViT-B/32: adversarially finetuned from open_clip's LAION-2B ViT-B-32, which uses exact GELU.
  hfOpenClip('fare4-vit-b-32', 'chs20/FARE4-ViT-B-32-laion2B-s34B-b79K', 'ViT-B-32',
    'FARE ViT-B/32, eps 4/255, finetuned from open_clip LAION-2B weights'),
  hfOpenClip('tecoa4-vit-b-32', 'chs20/TeCoA4-ViT-B-32-laion2B-s34B-b79K', 'ViT-B-32',
    'TeCoA ViT-B/32, eps 4/255, finetuned from open_clip LAION-2B weights'),
  // The ViT-L/14 ones are finetuned from OpenAI's CLIP, which was trained with QuickGELU
  // (x·sigmoid(1.702x)). Their uploaded open_clip_config.json may describe plain ViT-L-14 without
  // quick_gelu, and importing with exact GELU would give subtly wrong embeddings, so the arch is pinned.
  hfOpenClip('fare2-vit-l-14', 'chs20/fare2-clip', 'ViT-L-14-quickgelu',
    'FARE ViT-L/14, eps 2/255, finetuned from OpenAI CLIP (QuickGELU)'),
  hfOpenClip('tecoa2-vit-l-14', 'chs20/tecoa2-clip', 'ViT-L-14-quickgelu',
    'TeCoA ViT-L/14, eps 2/255, finetuned from OpenAI CLIP (QuickGELU)'),
  hfOpenClip('fare4-vit-l-14', 'chs20/fare4-clip', 'ViT-L-14-quickgelu',
    'FARE ViT-L/14, eps 4/255, finetuned from OpenAI CLIP (QuickGELU)'),
  hfOpenClip('tecoa4-vit-l-14', 'chs20/tecoa4-clip', 'ViT-L-14-quickgelu',
    'TeCoA ViT-L/14, eps 4/255, finetuned from OpenAI CLIP (QuickGELU)'),
];

/** A fresh copy each call, so a caller editing an entry never changes the built-in list. */
export function builtinRegistry(): RegistryEntry[] {
  return structuredClone(BUILTIN) as RegistryEntry[];
}

// ---- user registries -------------------------------------------------------------------------

/** Also used as a directory name under the cache, so nothing that could climb out of it. */
const entryName = z.string().regex(/^[a-z0-9][a-z0-9._-]*$/i, 'must be letters, digits, ".", "_" or "-", starting with a letter or digit');
const fileName = z.string().regex(/^[\w.-]+$/, 'must be a plain file name (letters, digits, ".", "_", "-")')
  .refine((n) => n !== '.' && n !== '..', 'must be a plain file name');

const remoteFile = z.strictObject({
  url: z.string().min(1, 'must not be empty'),
  name: fileName,
  size: z.number().int().nonnegative().optional(),
  sha256: z.string().regex(/^[0-9a-fA-F]{64}$/, 'must be 64 hex digits').transform((s) => s.toLowerCase()).optional(),
});

const entry = z.strictObject({
  name: entryName,
  description: z.string().default(''),
  files: z.array(remoteFile).min(1, 'must list at least one file'),
  checkpoint: fileName,
  config: fileName.optional(),
  arch: z.string().min(1).optional(),
  tokenizer: remoteFile.optional(),
}).superRefine((e, ctx) => {
  const names = e.files.map((f) => f.name);
  names.forEach((n, i) => {
    if (names.indexOf(n) !== i) ctx.addIssue({ code: 'custom', path: ['files', i, 'name'], message: `"${n}" is listed twice` });
  });
  if (!names.includes(e.checkpoint)) ctx.addIssue({ code: 'custom', path: ['checkpoint'], message: `"${e.checkpoint}" is not among files` });
  if (e.config !== undefined && !names.includes(e.config)) ctx.addIssue({ code: 'custom', path: ['config'], message: `"${e.config}" is not among files` });
  if (e.tokenizer && names.includes(e.tokenizer.name)) {
    ctx.addIssue({ code: 'custom', path: ['tokenizer', 'name'], message: `"${e.tokenizer.name}" is also among files` });
  }
});

const registry = z.array(entry).superRefine((entries, ctx) => {
  const names = entries.map((e) => e.name);
  names.forEach((n, i) => {
    if (names.indexOf(n) !== i) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `model "${n}" is listed twice` });
  });
});

/** `[2].files[0].url`: the path a person would type to find the field in the JSON. */
function fieldPath(path: readonly PropertyKey[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i ? '.' : ''}${String(p)}`)).join('');
}

/**
 * A registry URL is absolute (http, https or file), or a path relative to the registry file,
 * so a folder holding the registry beside the checkpoints works offline and can be moved.
 */
function resolveUrl(url: string, registryFile: string): string | { problem: string } {
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    return pathToFileURL(resolve(dirname(registryFile), url)).href;
  }
  if (!['http:', 'https:', 'file:'].includes(parsed.protocol)) {
    return { problem: `"${parsed.protocol}" URLs are not supported; use http(s), file, or a path relative to the registry` };
  }
  return parsed.href;
}

/**
 * Reads a user registry: a JSON array of entries shaped like builtinRegistry()'s. Errors are one
 * line naming the file and the field, e.g. `mirrors.json: [0].files[1].sha256: must be 64 hex digits`.
 */
export async function loadRegistry(path: string): Promise<RegistryEntry[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new Error(`cannot read registry ${path}: ${(e as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new Error(`${path}: not valid JSON (${(e as Error).message})`);
  }
  const parsed = registry.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? `${fieldPath(issue.path)}: ` : '';
    throw new Error(`${path}: ${where}${issue?.message ?? 'invalid'}${issue?.path.length ? '' : ' (expected a JSON array of models)'}`);
  }
  const out: RegistryEntry[] = parsed.data;
  out.forEach((e, i) => {
    const fix = (f: RemoteFile, where: string): void => {
      const url = resolveUrl(f.url, path);
      if (typeof url !== 'string') throw new Error(`${path}: [${i}].${where}.url: ${url.problem}`);
      f.url = url;
    };
    e.files.forEach((f, j) => fix(f, `files[${j}]`));
    if (e.tokenizer) fix(e.tokenizer, 'tokenizer');
  });
  return out;
}

// ---- lookup ----------------------------------------------------------------------------------

export function findEntry(reg: RegistryEntry[], name: string): RegistryEntry {
  const hit = reg.find((e) => e.name === name);
  if (hit) return hit;
  const known = reg.map((e) => e.name);
  const near = closestName(name, known);
  const hint = near ? ` (did you mean "${near}"?)` : '';
  const list = known.length ? known.join(', ') : 'none';
  throw new Error(`unknown model "${name}"${hint}; known: ${list}`);
}
