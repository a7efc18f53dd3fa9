/**
 * A word-level tokenizer for tiny demo models whose captions use a closed vocabulary: lowercase,
 * split on anything that is not a letter, one id per word (its index in the list). A word
 * outside the list is an error that names the words the model knows, so a user can rephrase.
 */
import {
  DEFAULT_CONTEXT,
  checkContext,
  emptyTextError,
  frameTokens,
  type EncodeResult,
  type Tokenizer,
} from './tokenizer-frame.js';

export interface WordVocabulary {
  /** The vocabulary; a word's id is its index. Entries that are not all letters (e.g. "<pad>") only hold an id. */
  words: readonly string[];
  sot: number;
  eot: number;
  pad: number;
  /** Size of the model's embedding table; defaults to the smallest that holds every id. */
  vocabSize?: number;
}

// Enough to rephrase a prompt without flooding a chat message.
const LISTED_WORDS = 200;

export class WordTokenizer implements Tokenizer {
  readonly kind = 'word';
  readonly vocabSize: number;
  private readonly ids = new Map<string, number>();
  private readonly vocab: WordVocabulary;

  constructor(vocab: WordVocabulary, source = 'word vocabulary') {
    this.vocab = vocab;
    vocab.words.forEach((word, id) => {
      if (typeof word !== 'string') throw new Error(`${source}: entry ${id} is ${JSON.stringify(word)}, expected a string`);
      const key = word.normalize('NFC').toLowerCase();
      if (!/^\p{L}+$/u.test(key)) return;
      if (this.ids.has(key)) throw new Error(`${source}: "${word}" is listed twice (ids ${this.ids.get(key)} and ${id})`);
      this.ids.set(key, id);
    });
    if (this.ids.size === 0) throw new Error(`${source}: no entry is a word (letters only)`);
    const needed = Math.max(vocab.words.length, vocab.sot + 1, vocab.eot + 1, vocab.pad + 1);
    this.vocabSize = vocab.vocabSize ?? needed;
    if (!Number.isInteger(this.vocabSize)) throw new Error(`${source}: vocabSize must be an integer, got ${vocab.vocabSize}`);
    for (const [name, id] of [['sot', vocab.sot], ['eot', vocab.eot], ['pad', vocab.pad]] as const) {
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
        throw new Error(`${source}: ${name} id ${id} is outside the vocabulary of ${this.vocabSize} ids`);
      }
    }
    if (this.vocabSize < vocab.words.length) {
      throw new Error(`${source}: vocabSize ${this.vocabSize} is smaller than the ${vocab.words.length} listed words`);
    }
  }

  encode(text: string, context: number = DEFAULT_CONTEXT): EncodeResult {
    checkContext(context);
    const words = text.normalize('NFC').toLowerCase().match(/\p{L}+/gu) ?? [];
    if (words.length === 0) {
      if (text.trim() === '') throw emptyTextError();
      throw new Error(`no words in "${text}"; known words: ${this.knownWords()}`);
    }
    const tokens = words.map((word) => {
      const id = this.ids.get(word);
      if (id === undefined) throw new Error(`unknown word "${word}"; known words: ${this.knownWords()}`);
      return id;
    });
    return frameTokens(tokens, this.vocab, context);
  }

  /** Words joined by spaces; start/end ids show as <start>/<end>, padding is left out. */
  decode(ids: readonly number[]): string {
    const out: string[] = [];
    for (const id of ids) {
      if (id === this.vocab.sot) out.push('<start>');
      else if (id === this.vocab.eot) out.push('<end>');
      else if (id !== this.vocab.pad) out.push(this.vocab.words[id] ?? `<id ${id}>`);
    }
    return out.join(' ');
  }

  private knownWords(): string {
    const words = [...this.ids.keys()].sort();
    const listed = words.slice(0, LISTED_WORDS).join(', ');
    return words.length > LISTED_WORDS ? `${listed}, … (${words.length - LISTED_WORDS} more)` : listed;
  }
}
