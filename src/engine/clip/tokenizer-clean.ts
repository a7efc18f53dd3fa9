/**
 * Prompt cleaning before CLIP's BPE, in open_clip's order: `ftfy.fix_text`, `html.unescape` twice,
 * strip, whitespace runs → one space, strip, lowercase.
 *
 * ftfy is reproduced only for its deterministic character fixes (ftfy 6 defaults): C1 controls as
 * Windows-1252, Latin ligatures, full/half-width forms, curly quotes, line breaks, lone
 * surrogates, terminal escapes, invisible controls, NFC. Its mojibake repair (`fix_encoding`, a
 * heuristic) and its own extra HTML unescape pass are not: text that needs them tokenizes as
 * written.
 */
import { C1_AS_CP1252, unescapeHtml } from './tokenizer-html.js';

/**
 * Python's regex `\s` (Unicode White_Space). JS `\s` differs: it adds U+FEFF and lacks U+0085,
 * so the class is spelled out.
 */
export const WHITESPACE = '\\t\\n\\v\\f\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const WHITESPACE_RUN = new RegExp(`[${WHITESPACE}]+`, 'gu');
// Python's str.strip() also strips the separators U+001C–U+001F (str.isspace).
const STRIP_EDGES = new RegExp(`^[${WHITESPACE}\\x1c-\\x1f]+|[${WHITESPACE}\\x1c-\\x1f]+$`, 'gu');

// ftfy's LIGATURES table: Latin typographic ligatures and legacy digraphs, as their letters.
const LIGATURES: ReadonlyMap<string, string> = new Map([
  ['Ĳ', 'IJ'], ['ĳ', 'ij'], ['ŉ', 'ʼn'], ['Ǳ', 'DZ'], ['ǲ', 'Dz'], ['ǳ', 'dz'], ['Ǆ', 'DŽ'], ['ǅ', 'Dž'],
  ['ǆ', 'dž'], ['Ǉ', 'LJ'], ['ǈ', 'Lj'], ['ǉ', 'lj'], ['Ǌ', 'NJ'], ['ǋ', 'Nj'], ['ǌ', 'nj'], ['ﬀ', 'ff'],
  ['ﬁ', 'fi'], ['ﬂ', 'fl'], ['ﬃ', 'ffi'], ['ﬄ', 'ffl'], ['ﬅ', 'ſt'], ['ﬆ', 'st'],
]);
const LIGATURE_CHARS = new RegExp(`[${[...LIGATURES.keys()].join('')}]`, 'gu');

// ftfy's width map: each form in U+FF01–U+FFEF whose NFKC differs becomes its NFKC, and the
// ideographic space becomes a space.
const WIDTH_FORMS: ReadonlyMap<string, string> = (() => {
  const map = new Map<string, string>([['\u3000', ' ']]);
  for (let cp = 0xff01; cp < 0xfff0; cp++) {
    const ch = String.fromCodePoint(cp);
    const plain = ch.normalize('NFKC');
    if (plain !== ch) map.set(ch, plain);
  }
  return map;
})();
const WIDTH_CHARS = /[\u3000\uff01-\uffef]/gu;

const C1_CONTROLS = /[\x80-\x9f]/gu;
const SINGLE_QUOTES = /[\u02bc\u2018-\u201b]/gu;
const DOUBLE_QUOTES = /[\u201c-\u201f]/gu;
const LINE_BREAKS = /\r\n|[\r\u2028\u2029\x85]/gu;
const LONE_SURROGATES = /[\ud800-\udfff]/gu;
// ftfy uses Python's `\d`, which is any Unicode decimal digit.
const TERMINAL_ESCAPES = /\x1b\[(?:\p{Nd}|;)*[a-zA-Z]/gu;
const INVISIBLE_CONTROLS = /[\x00-\x08\x0b\x0e-\x1f\x7f\u206a-\u206f\ufeff\ufff9-\ufffc]/gu;

function fixOnce(text: string): string {
  return text
    .replace(C1_CONTROLS, (c) => String.fromCodePoint(C1_AS_CP1252[c.charCodeAt(0) - 0x80]!))
    .replace(LIGATURE_CHARS, (c) => LIGATURES.get(c) ?? c)
    .replace(WIDTH_CHARS, (c) => WIDTH_FORMS.get(c) ?? c)
    .replace(DOUBLE_QUOTES, '"')
    .replace(SINGLE_QUOTES, "'")
    .replace(LINE_BREAKS, '\n')
    .replace(LONE_SURROGATES, '\ufffd')
    .replace(TERMINAL_ESCAPES, '')
    .replace(INVISIBLE_CONTROLS, '')
    .normalize('NFC');
}

/** The deterministic part of `ftfy.fix_text`, repeated until nothing changes, as ftfy does. */
export function fixText(text: string): string {
  let previous: string;
  let current = text;
  do {
    previous = current;
    current = fixOnce(previous);
  } while (current !== previous);
  return current;
}

/** Python's `str.strip()`. */
export function stripText(text: string): string {
  return text.replace(STRIP_EDGES, '');
}

/** The whole open_clip cleaning: what the BPE pattern is run on. */
export function cleanText(text: string): string {
  const unescaped = stripText(unescapeHtml(unescapeHtml(fixText(text))));
  return stripText(unescaped.replace(WHITESPACE_RUN, ' ')).toLowerCase();
}
