/**
 * Words for Shapes-world scenes: captions in several phrasings (so the text tower learns the
 * parts, not one sentence pattern), the closed vocabulary the demo model's word tokenizer is built
 * from, and a reader that turns any of those phrasings (or a user's prompt in the same words)
 * back into scene parts, for judging syntheses against what the prompt asked for.
 */
import {
  COLOUR_NAMES,
  POSITIONS,
  SHAPE_KINDS,
  SIZES,
  type ColourName,
  type Position,
  type Scene,
  type ShapeKind,
  type ShapeSpec,
  type SizeName,
} from './world.js';

/** Words that carry no part of the scene; the grammar around them is free. */
const FILLER = ['a', 'an', 'and', 'at', 'corner', 'in', 'on', 'the', 'with'] as const;
const POSITION_WORDS = ['top', 'bottom', 'left', 'right', 'center', 'middle'] as const;
const BACKGROUND = 'background';

/** Every word any caption can contain, lowercase letters only, sorted: the demo tokenizer's word list. */
export const VOCABULARY: readonly string[] = Object.freeze(
  [...new Set<string>([...FILLER, ...POSITION_WORDS, BACKGROUND, ...SIZES, ...COLOUR_NAMES, ...SHAPE_KINDS])].sort(),
);

const article = (word: string): string => (/^[aeiou]/.test(word) ? 'an' : 'a');

/**
 * How each cell can be said after a shape ("in the top left") and on its own ("top left"), as
 * variants; a caption uses one variant index for all its shapes, clamped to what the cell has.
 */
function placeWords(position: Position): { prepositional: string[]; bare: string[] } {
  switch (position) {
    case 'center':
      return { prepositional: ['in the center', 'at the center', 'in the middle'], bare: ['center', 'middle'] };
    case 'top':
    case 'bottom':
      return { prepositional: [`at the ${position}`, `in the ${position} middle`], bare: [position, `${position} middle`] };
    case 'left':
    case 'right':
      return { prepositional: [`on the ${position}`, `at the ${position}`], bare: [position, `middle ${position}`] };
    default:
      return { prepositional: [`in the ${position}`, `at the ${position}`, `in the ${position} corner`], bare: [position] };
  }
}

const VARIANTS = 3;
const variant = (list: string[], v: number): string => list[Math.min(v, list.length - 1)]!;

type Parts = Pick<ShapeSpec, 'kind' | 'colour' | 'size' | 'position'>;
const noun = (s: Parts): string => `${s.size} ${s.colour} ${s.kind}`;
const withArticle = (s: Parts): string => `${article(s.size)} ${noun(s)}`;
const at = (s: Parts, v: number): string => variant(placeWords(s.position).prepositional, v);
const bare = (s: Parts, v: number): string => variant(placeWords(s.position).bare, v);

/** The sentence patterns; two shapes are always joined with "and". */
const TEMPLATES: ReadonlyArray<(shapes: Parts[], bg: ColourName, v: number) => string> = [
  // a big red circle in the top left on a blue background
  (s, bg, v) => `${s.map((x) => `${withArticle(x)} ${at(x, v)}`).join(' and ')} on ${article(bg)} ${bg} background`,
  // blue background, small yellow star at the bottom right
  (s, bg, v) => `${bg} background, ${s.map((x) => `${noun(x)} ${at(x, v)}`).join(' and ')}`,
  // a small green triangle at the center, on white
  (s, bg, v) => `${s.map((x) => `${withArticle(x)} ${at(x, v)}`).join(' and ')}, on ${bg}`,
  // a blue background with a big red circle in the top left
  (s, bg, v) => `${article(bg)} ${bg} background with ${s.map((x) => `${withArticle(x)} ${at(x, v)}`).join(' and ')}`,
  // big red circle, top left, blue background
  (s, bg, v) => `${s.map((x) => `${noun(x)}, ${bare(x, v)}`).join(' and ')}, ${bg} background`,
  // in the top left, a big red circle on a blue background
  (s, bg, v) => `${s.map((x) => `${at(x, v)}, ${withArticle(x)}`).join(' and ')} on ${article(bg)} ${bg} background`,
];

/**
 * Every caption of a scene, each phrasing once, in a fixed order. Two shapes are named in both
 * orders: the scene's order is an accident of sampling, and a prompt may name either first.
 */
export function allPhrasings(scene: Scene): string[] {
  const orders = scene.shapes.length === 2 ? [scene.shapes, [scene.shapes[1]!, scene.shapes[0]!]] : [scene.shapes];
  const out = new Set<string>();
  for (const shapes of orders) {
    for (const t of TEMPLATES) for (let v = 0; v < VARIANTS; v++) out.add(t(shapes, scene.background, v));
  }
  return [...out];
}

/** One caption of a scene, uniform over its phrasings. */
export function captions(scene: Scene, rand: () => number): string {
  const all = allPhrasings(scene);
  return all[Math.min(all.length - 1, Math.floor(rand() * all.length))]!;
}

/** A shape as a prompt names it: the kind always, the rest when the prompt says it. */
export type ShapePart = { kind: ShapeKind } & Partial<Pick<ShapeSpec, 'colour' | 'size' | 'position'>>;

/** What a prompt asks for (Partial<Scene> with each shape's parts optional too). */
export interface PromptParts {
  background?: ColourName;
  shapes: ShapePart[];
}

const isColour = (w: string): w is ColourName => (COLOUR_NAMES as readonly string[]).includes(w);
const isKind = (w: string): w is ShapeKind => (SHAPE_KINDS as readonly string[]).includes(w);
const isSize = (w: string): w is SizeName => (SIZES as readonly string[]).includes(w);
const isPlace = (w: string): boolean => (POSITION_WORDS as readonly string[]).includes(w);

/** A run of position words ("top left", "middle", "top middle") as a cell. */
function readPosition(words: string[], text: string): Position {
  let row: number | undefined;
  let col: number | undefined;
  let centre = false;
  const said = `"${words.join(' ')}"`;
  for (const w of words) {
    if (w === 'top' || w === 'bottom') {
      if (row !== undefined) throw new Error(`${said} in "${text}" names two rows; say one of: ${POSITIONS.join(', ')}`);
      row = w === 'top' ? 0 : 2;
    } else if (w === 'left' || w === 'right') {
      if (col !== undefined) throw new Error(`${said} in "${text}" names two columns; say one of: ${POSITIONS.join(', ')}`);
      col = w === 'left' ? 0 : 2;
    } else {
      centre = true;
    }
  }
  if (centre && row !== undefined && col !== undefined) {
    throw new Error(`${said} in "${text}" is not a position; say one of: ${POSITIONS.join(', ')}`);
  }
  return POSITIONS[(row ?? 1) * 3 + (col ?? 1)]!;
}

/**
 * Reads a caption or prompt in the captions' words back into scene parts: shapes in the order
 * named, each with the size, colour and position said with it. A colour directly before a kind is
 * that shape's; any other colour ("blue background", "on white") is the background. A position
 * belongs to the last shape named if that shape has none yet, otherwise to the next one ("in the
 * top left, a big red circle"). Errors are one line; unknown words list the vocabulary.
 */
export function parsePrompt(text: string): PromptParts {
  const words = text.normalize('NFC').toLowerCase().match(/\p{L}+/gu) ?? [];
  const unknown = [...new Set(words.filter((w) => !VOCABULARY.includes(w)))];
  if (unknown.length > 0) {
    const list = unknown.map((w) => `"${w}"`).join(', ');
    throw new Error(`${unknown.length === 1 ? 'unknown word' : 'unknown words'} ${list} in "${text}"; the shapes model knows only: ${VOCABULARY.join(' ')}`);
  }
  if (words.length === 0) throw new Error(`the prompt "${text}" has no words; describe a shape, e.g. "a big red circle in the top left on a blue background"`);

  const parts: PromptParts = { shapes: [] };
  let size: SizeName | undefined;
  let colour: ColourName | undefined;
  let pendingPosition: Position | undefined;
  const setBackground = (c: ColourName): void => {
    if (parts.background !== undefined && parts.background !== c) {
      throw new Error(`"${text}" names two backgrounds, ${parts.background} and ${c}`);
    }
    parts.background = c;
  };
  const expectNoun = (w: string): void => {
    const said = [size, colour].filter((x) => x !== undefined).join(' ');
    if (said) throw new Error(`"${said}" in "${text}" is not followed by a shape (${SHAPE_KINDS.join(', ')}) but by "${w}"`);
  };

  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    if (isSize(w)) {
      expectNoun(w);
      size = w;
    } else if (isColour(w)) {
      const next = words[i + 1];
      if (next !== undefined && (isSize(next) || isColour(next))) {
        throw new Error(`"${w} ${next}" in "${text}": name a shape as size, colour, kind, e.g. "a big red circle"`);
      }
      if (next !== undefined && isKind(next)) {
        colour = w;
      } else {
        expectNoun(w);
        setBackground(w);
        if (next === BACKGROUND) i++;
      }
    } else if (isKind(w)) {
      const shape: ShapePart = { kind: w };
      if (size) shape.size = size;
      if (colour) shape.colour = colour;
      if (pendingPosition) shape.position = pendingPosition;
      [size, colour, pendingPosition] = [undefined, undefined, undefined];
      parts.shapes.push(shape);
    } else if (isPlace(w)) {
      expectNoun(w);
      let j = i;
      while (j < words.length && isPlace(words[j]!)) j++;
      const position = readPosition(words.slice(i, j), text);
      i = j - 1;
      const last = parts.shapes.at(-1);
      if (pendingPosition !== undefined) throw new Error(`"${text}" names two positions (${pendingPosition}, ${position}) for one shape`);
      if (last && last.position === undefined) last.position = position;
      else pendingPosition = position;
    } else if (w === BACKGROUND) {
      throw new Error(`"background" in "${text}" needs a colour before it, e.g. "blue background"`);
    } else {
      expectNoun(w);
    }
  }
  expectNoun('the end of the prompt');
  if (pendingPosition !== undefined) throw new Error(`the position "${pendingPosition}" in "${text}" does not belong to any shape`);
  if (parts.shapes.length > 2) throw new Error(`"${text}" names ${parts.shapes.length} shapes; a shapes-world image holds one or two`);
  if (parts.shapes.length === 0 && parts.background === undefined) {
    throw new Error(`"${text}" names no shape and no background; e.g. "a big red circle in the top left on a blue background"`);
  }
  const [first, second] = parts.shapes;
  if (first?.position !== undefined && first.position === second?.position) {
    throw new Error(`"${text}" puts both shapes at the ${first.position}; each position holds one shape`);
  }
  for (const s of parts.shapes) {
    if (s.colour !== undefined && s.colour === parts.background) {
      throw new Error(`"${text}" asks for a ${s.colour} ${s.kind} on a ${s.colour} background, which would be invisible`);
    }
  }
  return parts;
}
