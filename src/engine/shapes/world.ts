/**
 * The Shapes world: the procedural scenes the bundled demo model is trained on and judged against.
 * A scene is one or two coloured shapes, each in one of nine cells of a 3×3 grid, on a coloured
 * background. Everything here is plain data drawn from a seeded source, so a seed reproduces a
 * scene exactly; render.ts draws it, captions.ts describes it and reads descriptions back.
 */

export const SHAPE_KINDS = ['circle', 'square', 'triangle', 'star', 'ring', 'cross'] as const;
export type ShapeKind = (typeof SHAPE_KINDS)[number];

export const SIZES = ['small', 'big'] as const;
export type SizeName = (typeof SIZES)[number];

/** Row-major, top row first: a position's index is row·3 + column. */
export const POSITIONS = [
  'top left', 'top', 'top right',
  'left', 'center', 'right',
  'bottom left', 'bottom', 'bottom right',
] as const;
export type Position = (typeof POSITIONS)[number];

/**
 * Ten colours, one per basic colour term a CLIP-like model and a nearest-colour judge both separate
 * easily: eight saturated hues plus white and black. The closest pair in CIELAB is blue/purple
 * (ΔE76 ≈ 36) and in RGB orange/yellow (distance ≈ 87), far beyond anti-aliasing error or a
 * few-/255 adversarial perturbation. Left out on purpose: gray, the desaturated midpoint every
 * colour passes through when blended or perturbed (and what anti-aliased black/white edges look
 * like), and brown, a dark orange/red. Every channel stays in [10, 245] so brightness
 * augmentation and ε-ball perturbations move a colour both ways instead of clipping.
 */
export const COLOURS = {
  red: [220, 30, 30],
  orange: [245, 140, 10],
  yellow: [245, 225, 30],
  green: [30, 160, 50],
  cyan: [10, 200, 210],
  blue: [20, 90, 235],
  purple: [150, 40, 200],
  pink: [245, 140, 210],
  white: [245, 245, 245],
  black: [20, 20, 20],
} as const satisfies Record<string, readonly [number, number, number]>;
export type ColourName = keyof typeof COLOURS;
export const COLOUR_NAMES = Object.keys(COLOURS) as ColourName[];

/**
 * How a drawing of a shape departs from its nominal size and angle, each in [−1, 1] (render.ts
 * turns them into pixels and degrees). Kept in the scene, not drawn at render time, so rendering
 * is a pure function and one scene always gives one image.
 */
export interface Jitter {
  /** Scale: −1 … 1 maps to the smallest … largest size render.ts allows. */
  scale: number;
  /** Rotation: −1 … 1 maps to the largest rotation each kind allows, either way. */
  angle: number;
}

export interface ShapeSpec {
  kind: ShapeKind;
  colour: ColourName;
  size: SizeName;
  position: Position;
  /** Absent: drawn centred in its cell at nominal size, upright. */
  jitter?: Jitter;
}

export interface Scene {
  background: ColourName;
  /** One or two shapes, never two in one cell, none the background's colour. */
  shapes: ShapeSpec[];
}

/** A pixel box, half-open: columns x0 ≤ x < x1, rows y0 ≤ y < y1. */
export interface Box {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

/**
 * The pixels of a position's cell in a size×size image: the image split into thirds, boundaries
 * rounded to whole pixels (64 px → 21, 22, 21), so every pixel belongs to exactly one cell and a
 * judge can index the box directly. Shapes are always drawn inside their cell's box.
 */
export function cellBox(position: Position, size: number): Box {
  const i = POSITIONS.indexOf(position);
  if (i < 0) throw new RangeError(`unknown position "${position}"; positions are: ${POSITIONS.join(', ')}`);
  if (!Number.isInteger(size) || size < 3) throw new RangeError(`image size must be an integer ≥ 3, got ${size}`);
  const edge = (k: number): number => Math.round((k * size) / 3);
  const row = Math.floor(i / 3);
  const col = i % 3;
  return { x0: edge(col), y0: edge(row), x1: edge(col + 1), y1: edge(row + 1) };
}

export interface SceneOptions {
  /** Number of shapes; when absent, two with probability `twoShapes`. */
  count?: 1 | 2;
  /** Probability of a two-shape scene when `count` is absent (default 0.5). */
  twoShapes?: number;
  /** Draw jitter (default true); false gives nominal-size, upright shapes. */
  jitter?: boolean;
}

function pick<T>(rand: () => number, items: readonly T[]): T {
  // min() guards against a source that returns exactly 1.
  return items[Math.min(items.length - 1, Math.floor(rand() * items.length))]!;
}

const signed = (rand: () => number): number => 2 * rand() - 1;

/**
 * One scene from a uniform source (e.g. random.ts rng(seed)). Every field is uniform over what is
 * allowed: the background over all colours, each shape's colour over the others, its cell over the
 * cells still free. The number of draws is fixed per shape, so a scene depends only on the seed
 * and the options.
 */
export function sampleScene(rand: () => number, opts: SceneOptions = {}): Scene {
  const twoShapes = opts.twoShapes ?? 0.5;
  if (opts.count !== undefined && opts.count !== 1 && opts.count !== 2) {
    throw new RangeError(`a scene has 1 or 2 shapes, got count ${String(opts.count)}`);
  }
  if (!(twoShapes >= 0 && twoShapes <= 1)) throw new RangeError(`twoShapes must be a probability in [0, 1], got ${twoShapes}`);
  const background = pick(rand, COLOUR_NAMES);
  const count = opts.count ?? (rand() < twoShapes ? 2 : 1);
  const foreground = COLOUR_NAMES.filter((c) => c !== background);
  const shapes: ShapeSpec[] = [];
  for (let n = 0; n < count; n++) {
    const free = POSITIONS.filter((p) => !shapes.some((s) => s.position === p));
    const shape: ShapeSpec = {
      kind: pick(rand, SHAPE_KINDS),
      colour: pick(rand, foreground),
      size: pick(rand, SIZES),
      position: pick(rand, free),
    };
    if (opts.jitter !== false) shape.jitter = { scale: signed(rand), angle: signed(rand) };
    shapes.push(shape);
  }
  return { background, shapes };
}

/**
 * Checks a scene that came from outside sampleScene (a file, a hand-written test case) and says
 * what is wrong in one line; renderScene calls it so a bad scene fails by name, not as a black image.
 */
export function checkScene(scene: Scene): void {
  const colour = (c: unknown, what: string): void => {
    if (typeof c !== 'string' || !Object.hasOwn(COLOURS, c)) {
      throw new RangeError(`${what} "${String(c)}" is not a colour; colours are: ${COLOUR_NAMES.join(', ')}`);
    }
  };
  colour(scene.background, 'background');
  if (!Array.isArray(scene.shapes) || scene.shapes.length < 1 || scene.shapes.length > 2) {
    throw new RangeError(`a scene has 1 or 2 shapes, got ${Array.isArray(scene.shapes) ? scene.shapes.length : String(scene.shapes)}`);
  }
  scene.shapes.forEach((s, n) => {
    const what = `shape ${n + 1}`;
    if (!SHAPE_KINDS.includes(s.kind)) throw new RangeError(`${what}: kind "${String(s.kind)}" is not one of ${SHAPE_KINDS.join(', ')}`);
    colour(s.colour, `${what}: colour`);
    if (s.colour === scene.background) throw new RangeError(`${what}: a ${s.colour} ${s.kind} on a ${s.colour} background would be invisible`);
    if (!SIZES.includes(s.size)) throw new RangeError(`${what}: size "${String(s.size)}" is not one of ${SIZES.join(', ')}`);
    if (!POSITIONS.includes(s.position)) throw new RangeError(`${what}: position "${String(s.position)}" is not one of ${POSITIONS.join(', ')}`);
    if (s.jitter) {
      for (const k of ['scale', 'angle'] as const) {
        const v = s.jitter[k];
        if (!(Math.abs(v) <= 1)) throw new RangeError(`${what}: jitter.${k} must be in [-1, 1], got ${v}`);
      }
    }
  });
  if (scene.shapes.length === 2 && scene.shapes[0]!.position === scene.shapes[1]!.position) {
    throw new RangeError(`both shapes are at the ${scene.shapes[0]!.position}; each cell holds at most one shape`);
  }
}
