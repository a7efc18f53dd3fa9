/**
 * Text → the fixed-length id rows a CLIP text tower reads. Two kinds:
 * - 'clip-bpe': CLIP's byte-level BPE exactly as open_clip tokenizes (49,408 ids, context 77,
 *   start 49406, end 49407), from open_clip's or Hugging Face's vocabulary files;
 * - 'word': a closed word list, for the tiny demo model.
 * A model pack names its kind and files in a TokenizerSpec; `loadTokenizer` reads them.
 */
import { readFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { clipBpeFromHf, clipBpeFromOpenClipGz, clipBpeFromTokenizerJson } from './tokenizer-bpe.js';
import type { Tokenizer } from './tokenizer-frame.js';
import { WordTokenizer } from './tokenizer-word.js';

export { DEFAULT_CONTEXT, type EncodeResult, type Tokenizer } from './tokenizer-frame.js';
export { ClipBpeTokenizer, clipBpeFromHf, clipBpeFromOpenClipGz, clipBpeFromTokenizerJson } from './tokenizer-bpe.js';
export { WordTokenizer, type WordVocabulary } from './tokenizer-word.js';
export { cleanText } from './tokenizer-clean.js';

/** Paths are relative to the model pack's directory. */
export type TokenizerSpec =
  /** open_clip's `bpe_simple_vocab_16e6.txt.gz`. */
  | { kind: 'clip-bpe'; bpeGz: string }
  /** Hugging Face `merges.txt` + `vocab.json`. */
  | { kind: 'clip-bpe'; merges: string; vocab: string }
  /** Hugging Face `tokenizer.json`. */
  | { kind: 'clip-bpe'; tokenizerJson: string }
  /** `words`: a JSON file holding a list of words, or the list itself; a word's id is its index. */
  | { kind: 'word'; words: string | readonly string[]; sot: number; eot: number; pad: number; vocabSize?: number };

async function readText(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    throw new Error(`cannot read the ${what} ${path}: ${(e as Error).message}`);
  }
}

async function loadWordList(words: string | readonly string[], dir: string): Promise<{ words: readonly string[]; source: string }> {
  if (typeof words !== 'string') return { words, source: 'word vocabulary' };
  const path = resolve(dir, words);
  const text = await readText(path, 'word list');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new Error(`${path}: not valid JSON (${(e as Error).message}); expected a list of words`);
  }
  if (!Array.isArray(parsed) || !parsed.every((w) => typeof w === 'string')) {
    throw new Error(`${path}: expected a JSON list of words, e.g. ["a", "big", "blue"]`);
  }
  return { words: parsed, source: path };
}

function describe(spec: unknown): string {
  return JSON.stringify(spec) ?? String(spec);
}

/**
 * Reads the tokenizer a spec names. Specs usually come from a pack's JSON, so their shape is
 * checked here rather than trusted.
 */
export async function loadTokenizer(spec: TokenizerSpec, dir = '.'): Promise<Tokenizer> {
  const s = spec as Partial<Record<string, unknown>>;
  if (s.kind === 'word') {
    const w = spec as Extract<TokenizerSpec, { kind: 'word' }>;
    if (w.words === undefined) throw new Error(`tokenizer spec ${describe(spec)}: a 'word' tokenizer needs "words" (a JSON file or a list)`);
    const { words, source } = await loadWordList(w.words, dir);
    return new WordTokenizer({ words, sot: w.sot, eot: w.eot, pad: w.pad, vocabSize: w.vocabSize }, source);
  }
  if (s.kind !== 'clip-bpe') {
    throw new Error(`tokenizer spec ${describe(spec)}: kind must be 'clip-bpe' or 'word'`);
  }
  if (typeof s.bpeGz === 'string') {
    const path = resolve(dir, s.bpeGz);
    let gz: Buffer;
    try {
      gz = await readFile(path);
    } catch (e) {
      throw new Error(`cannot read the BPE vocabulary ${path}: ${(e as Error).message}`);
    }
    return clipBpeFromOpenClipGz(gz, path);
  }
  if (typeof s.tokenizerJson === 'string') {
    const path = resolve(dir, s.tokenizerJson);
    return clipBpeFromTokenizerJson(await readText(path, 'tokenizer file'), path);
  }
  if (typeof s.merges === 'string' && typeof s.vocab === 'string') {
    const merges = resolve(dir, s.merges);
    const vocab = resolve(dir, s.vocab);
    return clipBpeFromHf(await readText(merges, 'merges file'), await readText(vocab, 'vocabulary file'), `${merges} + ${vocab}`);
  }
  throw new Error(`tokenizer spec ${describe(spec)}: a 'clip-bpe' tokenizer needs "bpeGz", "tokenizerJson", or "merges" and "vocab"`);
}

/**
 * The spec for a tokenizer file a user points at (as `model import --tokenizer FILE`): open_clip's
 * `.txt.gz`, a `tokenizer.json`, or one of `merges.txt` / `vocab.json` with the other beside it.
 */
export function tokenizerSpecFromFile(path: string): TokenizerSpec {
  const name = basename(path);
  if (name.endsWith('.gz')) return { kind: 'clip-bpe', bpeGz: path };
  if (name === 'tokenizer.json') return { kind: 'clip-bpe', tokenizerJson: path };
  if (name === 'merges.txt' || name === 'vocab.json') {
    return { kind: 'clip-bpe', merges: join(dirname(path), 'merges.txt'), vocab: join(dirname(path), 'vocab.json') };
  }
  throw new Error(
    `${path}: not a tokenizer file this engine knows; give open_clip's bpe_simple_vocab_16e6.txt.gz, ` +
      `a Hugging Face tokenizer.json, or merges.txt (with vocab.json beside it)`,
  );
}
