/**
 * CLIP's byte-level BPE, behaving as open_clip's SimpleTokenizer: clean the text, split it with
 * CLIP's pattern, spell each piece in GPT-2's byte alphabet with `</w>` on its last symbol, apply
 * the merges lowest rank first, look the symbols up in the vocabulary.
 *
 * The vocabulary comes from open_clip's `bpe_simple_vocab_16e6.txt.gz` or from Hugging Face's
 * `merges.txt` + `vocab.json` or `tokenizer.json`; cleaning and splitting are open_clip's in every case.
 */
import { gunzipSync } from 'node:zlib';
import { cleanText, WHITESPACE } from './tokenizer-clean.js';
import {
  DEFAULT_CONTEXT,
  emptyTextError,
  frameTokens,
  checkContext,
  type EncodeResult,
  type Tokenizer,
} from './tokenizer-frame.js';

const END_OF_WORD = '</w>';

/**
 * GPT-2's reversible byte → character map (`bytes_to_unicode`): the printable Latin-1 bytes
 * (! to ~, ¡ to ¬, ® to ÿ) stand for themselves, the other 68 bytes take U+0100 onwards in byte
 * order. `chars` is in that listing order, which is also the order of CLIP's first 256 ids.
 */
function buildByteAlphabet(): { chars: string[]; charOfByte: string[]; byteOfChar: Map<string, number> } {
  const printable: number[] = [];
  const range = (from: number, to: number): void => {
    for (let b = from; b <= to; b++) printable.push(b);
  };
  range(0x21, 0x7e);
  range(0xa1, 0xac);
  range(0xae, 0xff);
  const bytes = [...printable];
  const codePoints = [...printable];
  let next = 0;
  for (let b = 0; b < 256; b++) {
    if (!printable.includes(b)) {
      bytes.push(b);
      codePoints.push(256 + next++);
    }
  }
  const chars = codePoints.map((cp) => String.fromCodePoint(cp));
  const charOfByte: string[] = new Array<string>(256);
  const byteOfChar = new Map<string, number>();
  bytes.forEach((b, i) => {
    charOfByte[b] = chars[i]!;
    byteOfChar.set(chars[i]!, b);
  });
  return { chars, charOfByte, byteOfChar };
}

const BYTES = buildByteAlphabet();
const UTF8 = new TextEncoder();

/** The 256 byte symbols in CLIP's id order (ids 0–255; ids 256–511 are the same with `</w>`). */
export function byteSymbols(): readonly string[] {
  return BYTES.chars;
}

/** The merges open_clip reads from its vocabulary file: 49,152 ids less 256 bytes, 256 `</w>` bytes and 2 specials. */
export const OPEN_CLIP_MERGES = 49152 - 256 - 2;

/** A special token: how it is spelled (in the vocabulary and in text) and its id. */
export interface SpecialToken {
  text: string;
  id: number;
}

export interface BpeVocabulary {
  /** Merge pairs in rank order (first = applied first). */
  merges: ReadonlyArray<readonly [string, string]>;
  /** Symbol → id. */
  encoder: ReadonlyMap<string, number>;
  sot: SpecialToken;
  eot: SpecialToken;
  vocabSize: number;
  /** Where the vocabulary came from, for error messages. */
  source: string;
}

// Pieces bigger than this are not cached: a bot sees arbitrary text and the cache must stay small.
const CACHE_LIMIT = 50_000;

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

/** A space cannot occur inside a symbol (the byte alphabet spells it Ġ), so it joins a pair's key. */
function pairKey(first: string, second: string): string {
  return `${first} ${second}`;
}

export class ClipBpeTokenizer implements Tokenizer {
  readonly kind = 'clip-bpe';
  readonly vocabSize: number;
  readonly sot: SpecialToken;
  readonly eot: SpecialToken;
  private readonly ranks = new Map<string, number>();
  private readonly encoder: ReadonlyMap<string, number>;
  private readonly decoder = new Map<number, string>();
  private readonly cache = new Map<string, readonly number[]>();
  private readonly pattern: RegExp;
  private readonly source: string;

  constructor(vocab: BpeVocabulary) {
    // Later duplicates win, as in open_clip's dict(zip(merges, range(...))).
    vocab.merges.forEach(([a, b], rank) => this.ranks.set(pairKey(a, b), rank));
    this.encoder = vocab.encoder;
    for (const [symbol, id] of vocab.encoder) this.decoder.set(id, symbol);
    this.vocabSize = vocab.vocabSize;
    this.sot = vocab.sot;
    this.eot = vocab.eot;
    this.source = vocab.source;
    // CLIP's split: its special tokens, English contractions, letter runs, single digits, runs of
    // anything else. Case-insensitive as in CLIP: after lowercasing that only lets `'ſ` match `'s`.
    const specials = [vocab.sot.text, vocab.eot.text].map(escapeRegExp).join('|');
    this.pattern = new RegExp(
      `${specials}|'s|'t|'re|'ve|'m|'ll|'d|\\p{L}+|\\p{N}|[^${WHITESPACE}\\p{L}\\p{N}]+`,
      'giu',
    );
  }

  encode(text: string, context: number = DEFAULT_CONTEXT): EncodeResult {
    checkContext(context);
    // One token past what fits is enough to know the text was cut, so long texts stop early.
    const tokens = this.tokenIds(text, context - 1);
    if (tokens.length === 0) throw emptyTextError();
    return frameTokens(tokens, { sot: this.sot.id, eot: this.eot.id, pad: 0 }, context);
  }

  /**
   * The token ids of a text without the start/end frame (open_clip's `encode`); empty text gives
   * []. Stops once `limit` ids are collected.
   */
  tokenIds(text: string, limit = Infinity): number[] {
    const ids: number[] = [];
    for (const match of cleanText(text).matchAll(this.pattern)) {
      if (ids.length >= limit) break;
      let piece = '';
      for (const byte of UTF8.encode(match[0])) piece += BYTES.charOfByte[byte]!;
      for (const id of this.pieceIds(piece)) ids.push(id);
    }
    return ids.length > limit ? ids.slice(0, limit) : ids;
  }

  decode(ids: readonly number[]): string {
    let symbols = '';
    for (const id of ids) {
      const symbol = this.decoder.get(id);
      if (symbol === undefined) throw new Error(`id ${id} is not in the vocabulary of ${this.source} (${this.vocabSize} ids)`);
      symbols += symbol;
    }
    // Decoding is for showing text to people: a symbol outside the byte alphabet shows as '?'.
    const bytes: number[] = [];
    for (const ch of symbols) bytes.push(BYTES.byteOfChar.get(ch) ?? 0x3f);
    return new TextDecoder().decode(new Uint8Array(bytes)).replaceAll(END_OF_WORD, ' ');
  }

  private pieceIds(piece: string): readonly number[] {
    const cached = this.cache.get(piece);
    if (cached) return cached;
    const symbols = piece === this.sot.text || piece === this.eot.text ? [piece] : this.merge(piece);
    const ids = symbols.map((symbol) => {
      const id = this.encoder.get(symbol);
      if (id === undefined) {
        throw new Error(`${this.source}: the merges produce "${symbol}", which the vocabulary does not have: are merges and vocabulary from the same tokenizer?`);
      }
      return id;
    });
    if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
    this.cache.set(piece, ids);
    return ids;
  }

  /**
   * BPE on one piece: repeatedly merge every occurrence (left to right, non-overlapping) of the
   * adjacent pair with the lowest rank. Pair ranks are kept per position and only recomputed
   * next to a merge, so a long piece costs O(length) per merge step.
   */
  private merge(piece: string): string[] {
    let symbols = Array.from(piece);
    symbols[symbols.length - 1] += END_OF_WORD;
    let ranks = symbols.slice(1).map((s, i) => this.rankOf(symbols[i]!, s));
    while (symbols.length > 1) {
      let best = Infinity;
      for (const r of ranks) if (r < best) best = r;
      if (best === Infinity) break;
      const at = ranks.indexOf(best);
      const first = symbols[at]!;
      const second = symbols[at + 1]!;
      const merged: string[] = [];
      const fresh: boolean[] = [];
      const keptRank: number[] = [];
      for (let i = 0; i < symbols.length; ) {
        if (i < symbols.length - 1 && symbols[i] === first && symbols[i + 1] === second) {
          merged.push(first + second);
          fresh.push(true);
          keptRank.push(Infinity);
          i += 2;
        } else {
          merged.push(symbols[i]!);
          fresh.push(false);
          keptRank.push(ranks[i] ?? Infinity);
          i += 1;
        }
      }
      // A pair of two untouched neighbours keeps its rank; any pair touching a merge is looked up.
      ranks = merged.slice(1).map((s, k) => (fresh[k] || fresh[k + 1] ? this.rankOf(merged[k]!, s) : keptRank[k]!));
      symbols = merged;
    }
    return symbols;
  }

  private rankOf(first: string, second: string): number {
    return this.ranks.get(pairKey(first, second)) ?? Infinity;
  }
}

function splitMergeLine(line: string, where: string): [string, string] {
  const parts = line.trim().split(/\s+/);
  if (parts.length !== 2) throw new Error(`${where}: a merge line must be two symbols separated by a space, got "${line}"`);
  return [parts[0]!, parts[1]!];
}

/**
 * open_clip's own vocabulary file: a gzip text whose first line is a header and whose next 48,894
 * lines are the merges open_clip uses (the file has more; open_clip ignores them). The ids are the
 * 256 byte symbols, the same with `</w>`, one per merge, then `<start_of_text>` and `<end_of_text>`.
 */
export function clipBpeFromOpenClipGz(gz: Uint8Array, source = 'bpe_simple_vocab_16e6.txt.gz'): ClipBpeTokenizer {
  let text: string;
  try {
    text = gunzipSync(gz).toString('utf8');
  } catch (e) {
    throw new Error(`${source}: not a gzip file (${(e as Error).message}); expected open_clip's bpe_simple_vocab_16e6.txt.gz`);
  }
  const lines = text.split('\n');
  if (lines.length < OPEN_CLIP_MERGES + 1) {
    throw new Error(`${source}: has ${Math.max(0, lines.length - 1)} merge lines, open_clip's vocabulary needs ${OPEN_CLIP_MERGES}`);
  }
  const merges = lines.slice(1, OPEN_CLIP_MERGES + 1).map((line, i) => splitMergeLine(line, `${source} line ${i + 2}`));
  const symbols = [...BYTES.chars, ...BYTES.chars.map((c) => c + END_OF_WORD), ...merges.map(([a, b]) => a + b)];
  const sot = { text: '<start_of_text>', id: symbols.length };
  const eot = { text: '<end_of_text>', id: symbols.length + 1 };
  symbols.push(sot.text, eot.text);
  const encoder = new Map<string, number>();
  symbols.forEach((s, id) => encoder.set(s, id));
  return new ClipBpeTokenizer({ merges, encoder, sot, eot, vocabSize: symbols.length, source });
}

// Hugging Face spells CLIP's specials <|startoftext|> / <|endoftext|>; open_clip exports may keep its own.
const SOT_NAMES = ['<|startoftext|>', '<start_of_text>'];
const EOT_NAMES = ['<|endoftext|>', '<end_of_text>'];

function findSpecial(encoder: ReadonlyMap<string, number>, names: readonly string[], what: string, source: string): SpecialToken {
  for (const text of names) {
    const id = encoder.get(text);
    if (id !== undefined) return { text, id };
  }
  throw new Error(`${source}: the vocabulary has no ${what} token (looked for ${names.join(', ')})`);
}

function encoderFromJson(vocab: unknown, source: string): Map<string, number> {
  if (typeof vocab !== 'object' || vocab === null || Array.isArray(vocab)) {
    throw new Error(`${source}: the vocabulary must be a JSON object of token → id`);
  }
  const encoder = new Map<string, number>();
  for (const [token, id] of Object.entries(vocab)) {
    if (!Number.isInteger(id) || (id as number) < 0) throw new Error(`${source}: token "${token}" has id ${JSON.stringify(id)}, expected a non-negative integer`);
    encoder.set(token, id as number);
  }
  return encoder;
}

function hfTokenizer(
  merges: Array<[string, string]>,
  encoder: Map<string, number>,
  source: string,
): ClipBpeTokenizer {
  for (const [a, b] of merges) {
    if (!encoder.has(a + b)) throw new Error(`${source}: merge "${a} ${b}" makes "${a + b}", which the vocabulary does not have: are merges and vocabulary from the same tokenizer?`);
  }
  const sot = findSpecial(encoder, SOT_NAMES, 'start-of-text', source);
  const eot = findSpecial(encoder, EOT_NAMES, 'end-of-text', source);
  let maxId = -1;
  for (const id of encoder.values()) maxId = Math.max(maxId, id);
  return new ClipBpeTokenizer({ merges, encoder, sot, eot, vocabSize: maxId + 1, source });
}

/** Hugging Face `merges.txt` (optional `#version` header) + `vocab.json`. */
export function clipBpeFromHf(mergesTxt: string, vocabJson: string, source = 'merges.txt + vocab.json'): ClipBpeTokenizer {
  const lines = mergesTxt.split('\n').filter((line) => line.trim() !== '');
  if (lines[0]?.startsWith('#version')) lines.shift();
  const merges = lines.map((line, i) => splitMergeLine(line, `${source}: merges line ${i + 1}`));
  let vocab: unknown;
  try {
    vocab = JSON.parse(vocabJson);
  } catch (e) {
    throw new Error(`${source}: vocab.json is not valid JSON (${(e as Error).message})`);
  }
  return hfTokenizer(merges, encoderFromJson(vocab, source), source);
}

interface TokenizerJson {
  model?: { type?: string; vocab?: unknown; merges?: unknown; end_of_word_suffix?: string | null };
  added_tokens?: Array<{ id?: number; content?: string }>;
}

/** Hugging Face `tokenizer.json` (a BPE model with `</w>` word ends, as CLIP's). */
export function clipBpeFromTokenizerJson(json: string, source = 'tokenizer.json'): ClipBpeTokenizer {
  let parsed: TokenizerJson;
  try {
    parsed = JSON.parse(json) as TokenizerJson;
  } catch (e) {
    throw new Error(`${source}: not valid JSON (${(e as Error).message})`);
  }
  const model = parsed.model;
  if (!model || (model.type !== undefined && model.type !== 'BPE')) {
    throw new Error(`${source}: expected a BPE model, got ${model ? `type ${model.type}` : 'no "model"'}`);
  }
  if (model.end_of_word_suffix != null && model.end_of_word_suffix !== END_OF_WORD) {
    throw new Error(`${source}: end_of_word_suffix is "${model.end_of_word_suffix}", CLIP's BPE uses "${END_OF_WORD}": not a CLIP tokenizer`);
  }
  if (!Array.isArray(model.merges)) throw new Error(`${source}: model.merges must be a list`);
  // Older files write a merge as "a b", newer ones as ["a", "b"].
  const merges = (model.merges as unknown[]).map((m, i): [string, string] => {
    if (typeof m === 'string') return splitMergeLine(m, `${source}: merge ${i}`);
    if (Array.isArray(m) && m.length === 2 && typeof m[0] === 'string' && typeof m[1] === 'string') return [m[0], m[1]];
    throw new Error(`${source}: merge ${i} is ${JSON.stringify(m)}, expected "a b" or ["a", "b"]`);
  });
  const encoder = encoderFromJson(model.vocab, source);
  for (const added of parsed.added_tokens ?? []) {
    if (typeof added.content === 'string' && Number.isInteger(added.id) && !encoder.has(added.content)) {
      encoder.set(added.content, added.id!);
    }
  }
  return hfTokenizer(merges, encoder, source);
}
