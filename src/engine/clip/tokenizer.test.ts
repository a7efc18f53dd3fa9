import { strict as assert } from 'node:assert';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { gunzipSync, gzipSync } from 'node:zlib';
import { byteSymbols, type ClipBpeTokenizer } from './tokenizer-bpe.js';
import {
  cleanText,
  clipBpeFromHf,
  clipBpeFromOpenClipGz,
  clipBpeFromTokenizerJson,
  loadTokenizer,
  tokenizerSpecFromFile,
  WordTokenizer,
  type Tokenizer,
} from './tokenizer.js';

// ../shared beside the repository root: open_clip's vocabulary and ids made by open_clip itself.
const SHARED = fileURLToPath(new URL('../../../../shared/clip/', import.meta.url));
const GZ = join(SHARED, 'bpe_simple_vocab_16e6.txt.gz');
const CASES = join(SHARED, 'tokenizer-cases.json');
const noShared = existsSync(GZ) && existsSync(CASES) ? false : `${SHARED} is absent (open_clip's vocabulary and the reference ids live in ../shared)`;

const SOT = 49406;
const EOT = 49407;

interface Case {
  text: string;
  ids: number[];
}

// The BPE ranks take a moment to build, so every test shares this one tokenizer.
let clip: ClipBpeTokenizer;
let cases: Case[] = [];
if (!noShared) {
  clip = clipBpeFromOpenClipGz(readFileSync(GZ), GZ);
  cases = JSON.parse(readFileSync(CASES, 'utf8')) as Case[];
}

const zeros = (n: number): number[] => new Array<number>(n).fill(0);

describe('CLIP BPE (open_clip vocabulary)', { skip: noShared }, () => {
  test('vocabulary: 49,408 ids, start 49406, end 49407', () => {
    assert.equal(clip.kind, 'clip-bpe');
    assert.equal(clip.vocabSize, 49408);
    assert.deepEqual([clip.sot.id, clip.eot.id], [SOT, EOT]);
  });

  test('ids match open_clip for every reference case', () => {
    assert.ok(cases.length > 50, `expected the reference cases in ${CASES}`);
    for (const { text, ids } of cases) {
      const tokens = clip.tokenIds(text);
      if (text.trim() === '') {
        // open_clip frames empty text as [SOT, EOT]; we refuse it (tested below) but agree on its tokens.
        assert.deepEqual([SOT, ...tokens, EOT], ids, JSON.stringify(text));
        continue;
      }
      const result = clip.encode(text);
      assert.equal(result.ids.length, 77);
      assert.deepEqual(result.ids, [...ids, ...zeros(77 - ids.length)], JSON.stringify(text));
      assert.equal(result.truncated, tokens.length + 2 > 77, `truncated flag for ${JSON.stringify(text)}`);
    }
  });

  test('too long: cut to the context with EOT kept last, and reported', () => {
    const text = 'a photo of a cat '.repeat(40);
    const all = clip.tokenIds(text);
    const { ids, truncated } = clip.encode(text);
    assert.equal(truncated, true);
    assert.equal(ids.length, 77);
    assert.deepEqual(ids, [SOT, ...all.slice(0, 75), EOT]);

    const short = clip.encode('a photo of a cat', 5);
    assert.deepEqual(short, { ids: [SOT, 320, 1125, 539, EOT], truncated: true });
  });

  test('exactly full is not truncated; shorter is padded with 0', () => {
    assert.deepEqual(clip.encode('a photo of a cat', 7), { ids: [SOT, 320, 1125, 539, 320, 2368, EOT], truncated: false });
    assert.deepEqual(clip.encode('a photo of a cat', 9).ids, [SOT, 320, 1125, 539, 320, 2368, EOT, 0, 0]);
    assert.deepEqual(clip.encode('a dog').ids.slice(4), zeros(73));
  });

  test('a context without room for start and end is refused', () => {
    assert.throws(() => clip.encode('a dog', 1), /context length must be an integer of at least 2/);
    assert.throws(() => clip.encode('a dog', 7.5), /context length/);
  });

  test('empty or blank text is a clear error', () => {
    for (const text of ['', '   ', '\t\n', '&nbsp; &#32;']) {
      assert.throws(() => clip.encode(text), /text is empty/, JSON.stringify(text));
    }
  });

  test("open_clip's special tokens typed in text are special; <|startoftext|> is plain text", () => {
    assert.deepEqual(clip.tokenIds('<start_of_text> dog <END_OF_TEXT>'), [SOT, 1929, EOT]);
    assert.ok(!clip.tokenIds('<|startoftext|>').includes(SOT));
  });

  test('cleaning: HTML entities twice, whitespace, case', () => {
    const same = (a: string, b: string): void => assert.deepEqual(clip.tokenIds(a), clip.tokenIds(b), `${a} vs ${b}`);
    same('&amp;lt;b&amp;gt;', '<b>');
    same('caf&eacute; &#233; &#xE9;', 'café é é');
    same('  A\u00a0BIG \u2003 dog\n', 'a big dog');
    // Three escapes deep is beyond open_clip's two unescapes (we leave out ftfy's own pass).
    assert.equal(cleanText('&amp;amp;amp;'), '&amp;');
    // Python's rules: legacy names may drop the `;` (longest prefix wins), others may not.
    assert.equal(cleanText('&ampersand &notin; &notit; &hellip &#128; &#x110000; &#1;x'), '&ersand ∉ ¬it; &hellip € \ufffd x');
  });

  test("cleaning: ftfy's character fixes (quotes, widths, ligatures, NFC, controls)", () => {
    const same = (a: string, b: string): void => assert.deepEqual(clip.tokenIds(a), clip.tokenIds(b), `${a} vs ${b}`);
    same('don\u2019t \u201cstop\u201d', `don't "stop"`);
    same('ＣＡＴ　ｏｎ　ａ　ｍａｔ', 'cat on a mat');
    same('\ufb01sh \ufb02ower', 'fish flower');
    same('cafe\u0301', 'café');
    same('\x1b[31mred\x1b[0m \ufeffcat\u0007', 'red cat');
    same('\x93quoted\x94', '"quoted"');
  });

  test('decode gives the text back with word ends as spaces', () => {
    assert.equal(clip.decode(clip.tokenIds('A photo of a cat, naïve café!')), 'a photo of a cat , naïve café ! ');
    assert.equal(clip.decode([SOT, 320, EOT]), '<start_of_text>a <end_of_text>');
  });
});

describe('CLIP BPE from Hugging Face files', { skip: noShared }, () => {
  let dir: string;
  let merges: string[];
  let vocab: Record<string, number>;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'clipag-tokenizer-'));
    // The same vocabulary in Hugging Face's spelling: ids as open_clip's, specials as <|…|>.
    merges = gunzipSync(readFileSync(GZ)).toString('utf8').split('\n').slice(1, 48895);
    const symbols = [...byteSymbols(), ...byteSymbols().map((s) => `${s}</w>`), ...merges.map((m) => m.replace(' ', ''))];
    vocab = Object.fromEntries(symbols.map((s, id) => [s, id]));
    vocab['<|startoftext|>'] = SOT;
    vocab['<|endoftext|>'] = EOT;
    await writeFile(join(dir, 'merges.txt'), `#version: 0.2\n${merges.join('\n')}\n`);
    await writeFile(join(dir, 'vocab.json'), JSON.stringify(vocab));
    const model = { type: 'BPE', vocab, merges, end_of_word_suffix: '</w>', continuing_subword_prefix: '', unk_token: '<|endoftext|>' };
    const added = [
      { id: SOT, content: '<|startoftext|>', special: true },
      { id: EOT, content: '<|endoftext|>', special: true },
    ];
    await writeFile(join(dir, 'tokenizer.json'), JSON.stringify({ version: '1.0', added_tokens: added, model }));
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  // Each loader recognises the special tokens as its own files spell them (tested separately).
  const plainCases = (): Case[] => cases.filter((c) => !/<\|?(start_?of_?text|end_?of_?text)\|?>/i.test(c.text) && c.text.trim() !== '');

  function assertSameIds(tok: Tokenizer, what: string): void {
    assert.equal(tok.vocabSize, 49408, what);
    for (const { text } of plainCases()) {
      assert.deepEqual(tok.encode(text), clip.encode(text), `${what}: ${JSON.stringify(text)}`);
    }
  }

  test('merges.txt + vocab.json give the same ids as the open_clip file', async () => {
    const tok = await loadTokenizer({ kind: 'clip-bpe', merges: 'merges.txt', vocab: 'vocab.json' }, dir);
    assertSameIds(tok, 'merges.txt + vocab.json');
    assert.deepEqual(tok.encode('<|startoftext|> dog', 4).ids, [SOT, SOT, 1929, EOT]);
  });

  test('tokenizer.json gives the same ids (merges as "a b" strings and as pairs)', async () => {
    assertSameIds(await loadTokenizer({ kind: 'clip-bpe', tokenizerJson: 'tokenizer.json' }, dir), 'tokenizer.json');
    const { ['<|startoftext|>']: _s, ['<|endoftext|>']: _e, ...plainVocab } = vocab;
    const pairs = merges.map((m) => m.split(' '));
    const added = [
      { id: SOT, content: '<|startoftext|>', special: true },
      { id: EOT, content: '<|endoftext|>', special: true },
    ];
    // Specials only among added_tokens, as some exports write them.
    const json = JSON.stringify({ added_tokens: added, model: { type: 'BPE', vocab: plainVocab, merges: pairs, end_of_word_suffix: '</w>' } });
    assertSameIds(clipBpeFromTokenizerJson(json), 'tokenizer.json with merge pairs');
  });

  test('the open_clip file loads through a spec and a file name', async () => {
    assertSameIds(await loadTokenizer(tokenizerSpecFromFile(GZ)), 'bpeGz spec');
    assert.deepEqual(tokenizerSpecFromFile(join(dir, 'vocab.json')), {
      kind: 'clip-bpe',
      merges: join(dir, 'merges.txt'),
      vocab: join(dir, 'vocab.json'),
    });
    assert.deepEqual(tokenizerSpecFromFile('/x/tokenizer.json'), { kind: 'clip-bpe', tokenizerJson: '/x/tokenizer.json' });
    assert.throws(() => tokenizerSpecFromFile('/x/spiece.model'), /not a tokenizer file this engine knows/);
  });

  test('broken or mismatched files are refused with the reason', async () => {
    assert.throws(() => clipBpeFromOpenClipGz(Buffer.from('plain text')), /not a gzip file/);
    assert.throws(() => clipBpeFromOpenClipGz(gzipSync('header\ni n\n')), /has 2 merge lines, open_clip's vocabulary needs 48894/);
    assert.throws(
      () => clipBpeFromHf('#version: 0.2\ni n\nx yz\n', JSON.stringify({ i: 0, n: 1, in: 2, '<|startoftext|>': 3, '<|endoftext|>': 4 })),
      /merge "x yz" makes "xyz", which the vocabulary does not have/,
    );
    assert.throws(() => clipBpeFromHf('i n\n', JSON.stringify({ i: 0, n: 1, in: 2 })), /no start-of-text token/);
    assert.throws(() => clipBpeFromTokenizerJson(JSON.stringify({ model: { type: 'Unigram' } })), /expected a BPE model/);
    assert.throws(
      () => clipBpeFromTokenizerJson(JSON.stringify({ model: { type: 'BPE', vocab: {}, merges: [], end_of_word_suffix: null } })),
      /no start-of-text token/,
    );
    await assert.rejects(loadTokenizer({ kind: 'clip-bpe', bpeGz: 'missing.txt.gz' }, dir), /cannot read the BPE vocabulary .*missing\.txt\.gz/);
  });
});

describe('word tokenizer', () => {
  const words = ['<pad>', '<start>', '<end>', 'a', 'big', 'blue', 'circle', 'red', 'on', 'the', 'left'];
  const tok = new WordTokenizer({ words, sot: 1, eot: 2, pad: 0 });

  test('lowercases, splits on non-letters, frames and pads', () => {
    assert.equal(tok.kind, 'word');
    assert.equal(tok.vocabSize, 11);
    assert.deepEqual(tok.encode('A big, BLUE circle!', 8), { ids: [1, 3, 4, 5, 6, 2, 0, 0], truncated: false });
    assert.deepEqual(tok.encode('red-circle on the left').ids.length, 77);
    assert.equal(tok.decode(tok.encode('a red circle', 6).ids), '<start> a red circle <end>');
  });

  test('too long: cut with EOT kept last, and reported', () => {
    assert.deepEqual(tok.encode('a big blue circle on the left', 5), { ids: [1, 3, 4, 5, 2], truncated: true });
  });

  test('an unknown word names the words the model knows', () => {
    assert.throws(() => tok.encode('a purple circle'), {
      message: 'unknown word "purple"; known words: a, big, blue, circle, left, on, red, the',
    });
    assert.throws(() => tok.encode('42 !!'), /no words in "42 !!"; known words: a, big/);
    assert.throws(() => tok.encode('  '), /text is empty/);
  });

  test('loads a JSON word list through a spec; bad configs are refused', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'clipag-words-'));
    try {
      await writeFile(join(dir, 'words.json'), JSON.stringify(words));
      const loaded = await loadTokenizer({ kind: 'word', words: 'words.json', sot: 1, eot: 2, pad: 0, vocabSize: 16 }, dir);
      assert.equal(loaded.vocabSize, 16);
      assert.deepEqual(loaded.encode('the red circle', 6).ids, [1, 9, 7, 6, 2, 0]);
      await writeFile(join(dir, 'bad.json'), '{"a": 1}');
      await assert.rejects(loadTokenizer({ kind: 'word', words: 'bad.json', sot: 1, eot: 2, pad: 0 }, dir), /expected a JSON list of words/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    assert.throws(() => new WordTokenizer({ words: ['a', 'A'], sot: 2, eot: 3, pad: 4 }), /"A" is listed twice/);
    assert.throws(() => new WordTokenizer({ words, sot: 1, eot: 2, pad: 0, vocabSize: 5 }), /smaller than the 11 listed words/);
    assert.throws(() => new WordTokenizer({ words, sot: -1, eot: 2, pad: 0 }), /sot id -1 is outside/);
    await assert.rejects(loadTokenizer({ kind: 'sentencepiece' } as never), /kind must be 'clip-bpe' or 'word'/);
  });
});
