/**
 * HTML character-reference decoding with the rules of Python's `html.unescape` (which open_clip
 * applies twice to every prompt): the reference grammar, the WHATWG replacements for invalid
 * numeric references, and the "longest legacy name" rule for names written without `;`.
 *
 * Named references: the 252 HTML 4 names, `&apos;` and the all-caps legacy forms; the full HTML5
 * list (2,231 names) is not included, so a rarer name such as `&check;` stays as written where
 * Python would decode it.
 */

/**
 * Windows-1252 meanings of the C1 code points U+0080–U+009F (the five bytes cp1252 leaves undefined
 * keep their code point). HTML maps numeric references in this range this way, and ftfy's
 * `fix_c1_controls` maps raw C1 characters the same way.
 */
export const C1_AS_CP1252: readonly number[] = [
  0x20ac, 0x81, 0x201a, 0x192, 0x201e, 0x2026, 0x2020, 0x2021, 0x2c6, 0x2030, 0x160, 0x2039, 0x152, 0x8d, 0x17d, 0x8f,
  0x90, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014, 0x2dc, 0x2122, 0x161, 0x203a, 0x153, 0x9d, 0x17e, 0x178,
];

/** name:hex code point; lang/rang take their HTML5 values (U+27E8/9), not HTML 4's U+2329/A. */
const NAMED =
  'quot:22 amp:26 apos:27 lt:3c gt:3e nbsp:a0 iexcl:a1 cent:a2 pound:a3 curren:a4 yen:a5 brvbar:a6 sect:a7 uml:a8 ' +
  'copy:a9 ordf:aa laquo:ab not:ac shy:ad reg:ae macr:af deg:b0 plusmn:b1 sup2:b2 sup3:b3 acute:b4 micro:b5 para:b6 ' +
  'middot:b7 cedil:b8 sup1:b9 ordm:ba raquo:bb frac14:bc frac12:bd frac34:be iquest:bf Agrave:c0 Aacute:c1 Acirc:c2 ' +
  'Atilde:c3 Auml:c4 Aring:c5 AElig:c6 Ccedil:c7 Egrave:c8 Eacute:c9 Ecirc:ca Euml:cb Igrave:cc Iacute:cd Icirc:ce ' +
  'Iuml:cf ETH:d0 Ntilde:d1 Ograve:d2 Oacute:d3 Ocirc:d4 Otilde:d5 Ouml:d6 times:d7 Oslash:d8 Ugrave:d9 Uacute:da ' +
  'Ucirc:db Uuml:dc Yacute:dd THORN:de szlig:df agrave:e0 aacute:e1 acirc:e2 atilde:e3 auml:e4 aring:e5 aelig:e6 ' +
  'ccedil:e7 egrave:e8 eacute:e9 ecirc:ea euml:eb igrave:ec iacute:ed icirc:ee iuml:ef eth:f0 ntilde:f1 ograve:f2 ' +
  'oacute:f3 ocirc:f4 otilde:f5 ouml:f6 divide:f7 oslash:f8 ugrave:f9 uacute:fa ucirc:fb uuml:fc yacute:fd thorn:fe ' +
  'yuml:ff OElig:152 oelig:153 Scaron:160 scaron:161 Yuml:178 fnof:192 circ:2c6 tilde:2dc Alpha:391 Beta:392 ' +
  'Gamma:393 Delta:394 Epsilon:395 Zeta:396 Eta:397 Theta:398 Iota:399 Kappa:39a Lambda:39b Mu:39c Nu:39d Xi:39e ' +
  'Omicron:39f Pi:3a0 Rho:3a1 Sigma:3a3 Tau:3a4 Upsilon:3a5 Phi:3a6 Chi:3a7 Psi:3a8 Omega:3a9 alpha:3b1 beta:3b2 ' +
  'gamma:3b3 delta:3b4 epsilon:3b5 zeta:3b6 eta:3b7 theta:3b8 iota:3b9 kappa:3ba lambda:3bb mu:3bc nu:3bd xi:3be ' +
  'omicron:3bf pi:3c0 rho:3c1 sigmaf:3c2 sigma:3c3 tau:3c4 upsilon:3c5 phi:3c6 chi:3c7 psi:3c8 omega:3c9 ' +
  'thetasym:3d1 upsih:3d2 piv:3d6 ensp:2002 emsp:2003 thinsp:2009 zwnj:200c zwj:200d lrm:200e rlm:200f ndash:2013 ' +
  'mdash:2014 lsquo:2018 rsquo:2019 sbquo:201a ldquo:201c rdquo:201d bdquo:201e dagger:2020 Dagger:2021 bull:2022 ' +
  'hellip:2026 permil:2030 prime:2032 Prime:2033 lsaquo:2039 rsaquo:203a oline:203e frasl:2044 euro:20ac ' +
  'image:2111 weierp:2118 real:211c trade:2122 alefsym:2135 larr:2190 uarr:2191 rarr:2192 darr:2193 harr:2194 ' +
  'crarr:21b5 lArr:21d0 uArr:21d1 rArr:21d2 dArr:21d3 hArr:21d4 forall:2200 part:2202 exist:2203 empty:2205 ' +
  'nabla:2207 isin:2208 notin:2209 ni:220b prod:220f sum:2211 minus:2212 lowast:2217 radic:221a prop:221d ' +
  'infin:221e ang:2220 and:2227 or:2228 cap:2229 cup:222a int:222b there4:2234 sim:223c cong:2245 asymp:2248 ' +
  'ne:2260 equiv:2261 le:2264 ge:2265 sub:2282 sup:2283 nsub:2284 sube:2286 supe:2287 oplus:2295 otimes:2297 ' +
  'perp:22a5 sdot:22c5 lceil:2308 rceil:2309 lfloor:230a rfloor:230b lang:27e8 rang:27e9 loz:25ca spades:2660 ' +
  'clubs:2663 hearts:2665 diams:2666 AMP:26 COPY:a9 GT:3e LT:3c QUOT:22 REG:ae';

/**
 * HTML5 accepts a "legacy" name without its `;`: the Latin-1 names (U+00A0–U+00FF), amp/lt/gt/quot
 * and the all-caps AMP COPY GT LT QUOT REG (106 names).
 */
function isLegacyName(name: string, codePoint: number): boolean {
  return (codePoint >= 0xa0 && codePoint <= 0xff) || /^(amp|lt|gt|quot|AMP|COPY|GT|LT|QUOT|REG)$/.test(name);
}

/** Keys as Python's `html5` table spells them: `name;` always, bare `name` for legacy names. */
const ENTITIES: ReadonlyMap<string, string> = (() => {
  const table = new Map<string, string>();
  for (const entry of NAMED.split(' ')) {
    const [name, hex] = entry.split(':') as [string, string];
    const cp = parseInt(hex, 16);
    table.set(`${name};`, String.fromCodePoint(cp));
    if (isLegacyName(name, cp)) table.set(name, String.fromCodePoint(cp));
  }
  return table;
})();

/** Code points a numeric reference decodes to nothing (WHATWG "noncharacter"/control rules). */
function isDroppedCodePoint(cp: number): boolean {
  return (
    (cp >= 0x1 && cp <= 0x8) ||
    cp === 0xb ||
    (cp >= 0xe && cp <= 0x1f) ||
    (cp >= 0x7f && cp <= 0x9f) ||
    (cp >= 0xfdd0 && cp <= 0xfdef) ||
    (cp & 0xfffe) === 0xfffe
  );
}

function decodeNumeric(digits: string, radix: number): string {
  const cp = parseInt(digits, radix);
  if (cp === 0) return '\ufffd';
  if (cp === 0x0d) return '\r';
  if (cp >= 0x80 && cp <= 0x9f) return String.fromCodePoint(C1_AS_CP1252[cp - 0x80]!);
  if ((cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) return '\ufffd';
  if (isDroppedCodePoint(cp)) return '';
  return String.fromCodePoint(cp);
}

function decodeNamed(body: string): string {
  const whole = ENTITIES.get(body);
  if (whole !== undefined) return whole;
  // Python slices code points, and tries prefixes from the longest down to two characters.
  const chars = Array.from(body);
  for (let n = chars.length - 1; n >= 2; n--) {
    const prefix = ENTITIES.get(chars.slice(0, n).join(''));
    if (prefix !== undefined) return prefix + chars.slice(n).join('');
  }
  return `&${body}`;
}

// The reference grammar of Python's html module: `&` then a decimal, hex or named body.
const CHAR_REF = /&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)/gu;

/** One pass of `html.unescape`. */
export function unescapeHtml(text: string): string {
  if (!text.includes('&')) return text;
  return text.replace(CHAR_REF, (_match, body: string) => {
    if (body[0] !== '#') return decodeNamed(body);
    const hex = body[1] === 'x' || body[1] === 'X';
    const digits = body.slice(hex ? 2 : 1).replace(/;$/, '');
    return decodeNumeric(digits, hex ? 16 : 10);
  });
}
