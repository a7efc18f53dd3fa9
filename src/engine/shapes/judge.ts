/**
 * Judges a picture against what a prompt asked for, from the world's ground truth alone (no model):
 * every pixel is read as its nearest named colour; the background must be the most common colour
 * outside the named cells; each named shape's cell must hold a blob of the named colour whose
 * outline, scaled to a common frame, matches the named kind's template better than any other kind's.
 * Size is not judged: the criterion is colour + position + shape.
 */
import type { RgbImage } from '../clip/image.js';
import type { PromptParts, ShapePart } from './captions.js';
import { renderScene } from './render.js';
import { COLOUR_NAMES, COLOURS, POSITIONS, SHAPE_KINDS, cellBox, type Box, type ColourName, type Position, type ShapeKind } from './world.js';

/** The judge's working size: the world's native resolution. */
const SIZE = 64;
/** Side of the frame blobs and templates are compared in. */
const FRAME = 16;
/** A blob must cover this share of its cell to count as a drawn shape (a small star covers ~6 %, a small circle ~14 %). */
const MIN_BLOB = 0.03;
/** The background's colour must be at least this share of the pixels it is read from. */
const MIN_BACKGROUND = 0.3;

export interface ShapeVerdict {
  want: ShapePart;
  position: Position;
  colour: ColourName | null;
  kind: ShapeKind | null;
  /** Overlap (IoU, 0–1) of the blob with the best template of each kind. */
  scores: Partial<Record<ShapeKind, number>>;
  /** A blob of the named colour fills enough of the named cell (whatever its outline). */
  colourOk: boolean;
  ok: boolean;
}

export interface Verdict {
  ok: boolean;
  background: { want?: ColourName; got: ColourName; share: number; ok: boolean };
  shapes: ShapeVerdict[];
  /** Why it failed, one short phrase per failed part. */
  reasons: string[];
}

const PALETTE = COLOUR_NAMES.map((n) => COLOURS[n]);

/** Nearest named colour of each pixel (indices into COLOUR_NAMES), after scaling to 64×64 by area averaging. */
export function colourMap(img: RgbImage): Uint8Array {
  return nearestColours(areaResize(img, SIZE));
}

function nearestColours(px: Float32Array): Uint8Array {
  const out = new Uint8Array(SIZE * SIZE);
  for (let i = 0; i < out.length; i++) {
    let best = 0;
    let bestD = Infinity;
    for (let c = 0; c < PALETTE.length; c++) {
      const p = PALETTE[c]!;
      const d = (px[3 * i]! - p[0]) ** 2 + (px[3 * i + 1]! - p[1]) ** 2 + (px[3 * i + 2]! - p[2]) ** 2;
      if (d < bestD) { bestD = d; best = c; }
    }
    out[i] = best;
  }
  return out;
}

function areaResize(img: RgbImage, size: number): Float32Array {
  const out = new Float32Array(size * size * 3);
  const fx = img.width / size;
  const fy = img.height / size;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const x0 = Math.floor(x * fx), x1 = Math.max(x0 + 1, Math.floor((x + 1) * fx));
      const y0 = Math.floor(y * fy), y1 = Math.max(y0 + 1, Math.floor((y + 1) * fy));
      for (let k = 0; k < 3; k++) {
        let s = 0;
        for (let yy = y0; yy < y1; yy++) for (let xx = x0; xx < x1; xx++) s += img.data[(yy * img.width + xx) * 3 + k]!;
        out[(y * size + x) * 3 + k] = s / ((x1 - x0) * (y1 - y0));
      }
    }
  }
  return out;
}

function mode(map: Uint8Array, include: (i: number) => boolean, exclude = -1): { colour: number; count: number; total: number } {
  const counts = new Array<number>(PALETTE.length).fill(0);
  let total = 0;
  for (let i = 0; i < map.length; i++) {
    if (!include(i)) continue;
    total++;
    if (map[i] !== exclude) counts[map[i]!]!++;
  }
  let colour = 0;
  for (let c = 1; c < counts.length; c++) if (counts[c]! > counts[colour]!) colour = c;
  return { colour, count: counts[colour]!, total };
}

const inBox = (b: Box) => (i: number): boolean => {
  const x = i % SIZE, y = Math.floor(i / SIZE);
  return x >= b.x0 && x < b.x1 && y >= b.y0 && y < b.y1;
};

/**
 * Pixels of the box nearer the ink colour than the background colour: an anti-aliased edge pixel
 * goes to whichever side it is mostly, as the renderer blended it, whatever third colour the blend
 * happens to lie nearest to.
 */
function inkMask(px: Float32Array, ink: number, background: number, box: Box): Uint8Array {
  const a = PALETTE[ink]!, b = PALETTE[background]!;
  const out = new Uint8Array(SIZE * SIZE);
  const inside = inBox(box);
  for (let i = 0; i < out.length; i++) {
    if (!inside(i)) continue;
    let da = 0, db = 0;
    for (let k = 0; k < 3; k++) {
      da += (px[3 * i + k]! - a[k]!) ** 2;
      db += (px[3 * i + k]! - b[k]!) ** 2;
    }
    out[i] = da < db ? 1 : 0;
  }
  return out;
}

/** The largest 4-connected set of 1s in `map` inside the box, as a mask over the whole image. */
function largestBlob(map: Uint8Array, colour: number, box: Box): { mask: Uint8Array; size: number } {
  const seen = new Uint8Array(map.length);
  let best = { mask: new Uint8Array(map.length), size: 0 };
  const inside = inBox(box);
  for (let start = 0; start < map.length; start++) {
    if (seen[start] || map[start] !== colour || !inside(start)) continue;
    const mask = new Uint8Array(map.length);
    const stack = [start];
    seen[start] = 1;
    let size = 0;
    while (stack.length) {
      const i = stack.pop()!;
      mask[i] = 1;
      size++;
      const x = i % SIZE, y = Math.floor(i / SIZE);
      for (const [nx, ny] of [[x + 1, y], [x - 1, y], [x, y + 1], [x, y - 1]] as const) {
        if (nx < 0 || ny < 0 || nx >= SIZE || ny >= SIZE) continue;
        const j = ny * SIZE + nx;
        if (!seen[j] && map[j] === colour && inside(j)) { seen[j] = 1; stack.push(j); }
      }
    }
    if (size > best.size) best = { mask, size };
  }
  return best;
}

/** A mask's bounding box scaled to FRAME×FRAME (coverage ≥ ½ per frame cell). */
function normalise(mask: Uint8Array, width: number): Uint8Array {
  let x0 = width, y0 = width, x1 = -1, y1 = -1;
  for (let i = 0; i < mask.length; i++) {
    if (!mask[i]) continue;
    const x = i % width, y = Math.floor(i / width);
    x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y);
  }
  const out = new Uint8Array(FRAME * FRAME);
  if (x1 < 0) return out;
  // A square frame around the box keeps aspect ratio (a tall blob stays tall).
  const side = Math.max(x1 - x0 + 1, y1 - y0 + 1);
  const ox = x0 - (side - (x1 - x0 + 1)) / 2, oy = y0 - (side - (y1 - y0 + 1)) / 2;
  const SUB = 4;
  for (let fy = 0; fy < FRAME; fy++) {
    for (let fx = 0; fx < FRAME; fx++) {
      let hit = 0;
      for (let s = 0; s < SUB * SUB; s++) {
        const x = Math.floor(ox + ((fx + ((s % SUB) + 0.5) / SUB) * side) / FRAME);
        const y = Math.floor(oy + ((fy + (Math.floor(s / SUB) + 0.5) / SUB) * side) / FRAME);
        if (x >= 0 && y >= 0 && x < width && y < width && mask[y * width + x]) hit++;
      }
      out[fy * FRAME + fx] = hit * 2 >= SUB * SUB ? 1 : 0;
    }
  }
  return out;
}

function iou(a: Uint8Array, b: Uint8Array): number {
  let inter = 0, union = 0;
  for (let i = 0; i < a.length; i++) {
    inter += a[i]! & b[i]!;
    union += a[i]! | b[i]!;
  }
  return union ? inter / union : 0;
}

/** Templates are drawn white on black. */
const WHITE = COLOUR_NAMES.indexOf('white');
let templates: Array<{ kind: ShapeKind; frame: Uint8Array }> | undefined;
/** Each kind in both sizes, upright and rotated to the largest angle the world allows either way. */
function shapeTemplates(): Array<{ kind: ShapeKind; frame: Uint8Array }> {
  if (templates) return templates;
  templates = [];
  // Drawn at the judge's own resolution too, so a small shape's template has the same pixel steps as the shape.
  for (const size of [SIZE, SIZE * 4]) {
    for (const kind of SHAPE_KINDS) {
      for (const big of ['small', 'big'] as const) {
        for (const angle of [-1, 0, 1]) {
          const img = renderScene({ background: 'black', shapes: [{ kind, colour: 'white', size: big, position: 'center', jitter: { scale: 0, angle } }] }, size);
          const mask = new Uint8Array(size * size);
          for (let i = 0; i < mask.length; i++) mask[i] = img.data[3 * i]! > 127 ? 1 : 0;
          templates.push({ kind, frame: normalise(mask, size) });
          // And as the judge itself reads a picture: nearest named colour, where a pixel three
          // quarters covered may already count as background and a small disc looks squarer.
          if (size === SIZE) templates.push({ kind, frame: normalise(colourMap(img).map((c) => (c === WHITE ? 1 : 0)), size) });
        }
      }
    }
  }
  return templates;
}

/** The kind whose template overlaps the blob best, and every kind's best overlap. */
export function classifyBlob(mask: Uint8Array): { kind: ShapeKind; scores: Record<ShapeKind, number> } {
  const frame = normalise(mask, SIZE);
  const scores = Object.fromEntries(SHAPE_KINDS.map((k) => [k, 0])) as Record<ShapeKind, number>;
  for (const t of shapeTemplates()) scores[t.kind] = Math.max(scores[t.kind], iou(frame, t.frame));
  let kind: ShapeKind = SHAPE_KINDS[0];
  for (const k of SHAPE_KINDS) if (scores[k] > scores[kind]) kind = k;
  return { kind, scores };
}

/** Where to look for a shape the prompt placed nowhere: the cell with the most pixels of its colour (or of any non-background colour). */
function findCell(map: Uint8Array, want: ShapePart, background: number, taken: Set<Position>): Position {
  let best: Position = 'center';
  let bestCount = -1;
  for (const p of POSITIONS) {
    if (taken.has(p)) continue;
    const inside = inBox(cellBox(p, SIZE));
    let n = 0;
    for (let i = 0; i < map.length; i++) {
      if (!inside(i)) continue;
      if (want.colour ? map[i] === COLOUR_NAMES.indexOf(want.colour) : map[i] !== background) n++;
    }
    if (n > bestCount) { bestCount = n; best = p; }
  }
  return best;
}

export function judgeImage(img: RgbImage, parts: PromptParts): Verdict {
  const px = areaResize(img, SIZE);
  const map = nearestColours(px);
  const reasons: string[] = [];
  const named = parts.shapes.map((s) => s.position).filter((p): p is Position => p !== undefined);
  const namedBoxes = named.map((p) => inBox(cellBox(p, SIZE)));
  const bg = mode(map, (i) => !namedBoxes.some((f) => f(i)));
  const got = COLOUR_NAMES[bg.colour]!;
  const bgShare = bg.total ? bg.count / bg.total : 0;
  const bgOk = (parts.background === undefined || parts.background === got) && bgShare >= MIN_BACKGROUND;
  if (!bgOk) reasons.push(parts.background && parts.background !== got ? `background is ${got}, not ${parts.background}` : `no clear background (${got} covers ${Math.round(bgShare * 100)} %)`);

  const taken = new Set<Position>(named);
  const shapes = parts.shapes.map((want): ShapeVerdict => {
    const position = want.position ?? findCell(map, want, bg.colour, taken);
    taken.add(position);
    const box = cellBox(position, SIZE);
    const area = (box.x1 - box.x0) * (box.y1 - box.y0);
    const ink = mode(map, inBox(box), bg.colour);
    const colourIdx = want.colour ? COLOUR_NAMES.indexOf(want.colour) : ink.colour;
    const blob = largestBlob(inkMask(px, colourIdx, bg.colour, box), 1, box);
    const colour = ink.count >= MIN_BLOB * area ? COLOUR_NAMES[ink.colour]! : null;
    const colourOk = blob.size >= MIN_BLOB * area && (want.colour === undefined || colour === want.colour);
    let kind: ShapeKind | null = null;
    let scores: Partial<Record<ShapeKind, number>> = {};
    if (blob.size >= MIN_BLOB * area) ({ kind, scores } = classifyBlob(blob.mask));
    const kindOk = kind === want.kind;
    const what = `${want.colour ?? ''} ${want.kind} at the ${position}`.trim();
    if (!colourOk) reasons.push(colour ? `${what}: the cell is mostly ${colour}` : `${what}: nothing drawn there`);
    else if (!kindOk) reasons.push(`${what}: looks like a ${kind ?? 'blot'}`);
    return { want, position, colour, kind, scores, colourOk, ok: colourOk && kindOk };
  });
  return { ok: bgOk && shapes.every((s) => s.ok), background: { ...(parts.background ? { want: parts.background } : {}), got, share: bgShare, ok: bgOk }, shapes, reasons };
}
