/**
 * Drawing Shapes-world scenes. Each kind is an outline in its own unit frame (y down, about one
 * unit in radius); a scene places each outline in the middle of its cell (scale and rotation from
 * the shape's jitter, always inside the cell) and paints it over the background with anti-aliasing:
 * a pixel whose centre is farther than half a pixel-diagonal from the outline is wholly inside or
 * outside (found from the signed distance), and only the pixels the outline crosses are
 * supersampled 4×4. That keeps rendering cheap enough to make training images on the fly.
 */
import type { RgbImage } from '../clip/image.js';
import { COLOURS, cellBox, checkScene, type Box, type Scene, type ShapeKind, type ShapeSpec } from './world.js';

/** Half the diagonal of a pixel: beyond this distance from the outline a pixel is not crossed by it. */
const EDGE = Math.SQRT1_2 + 1e-6;
const SUB = 4;

/**
 * Nominal radius (circle radius) as a fraction of a cell's side, per size word: as big as the
 * widest kind allows (a big star spans 0.9 of its cell, 0.97 at the largest jitter), since at
 * 0.21 / 0.35 the models told small / big kinds apart only 45 % / 74 % of the time.
 */
const NOMINAL = { small: 0.27, big: 0.41 } as const;
/** Jitter scale ±1 changes the size by this fraction; small stays well below big either way. */
const SCALE_JITTER = 0.08;
const DEG = Math.PI / 180;

interface Outline {
  /** Vertices x0,y0,x1,y1,… of a simple polygon, or null for the round kinds. */
  polygon: Float64Array | null;
  /** Round kinds: outer radius, and the hole's radius for a ring (0 for a disc). */
  outer: number;
  inner: number;
  /** Largest rotation jitter: small enough that a square stays a square, not a diamond, a cross not an ×. */
  maxAngle: number;
}

function regular(points: number, radii: readonly number[]): Float64Array {
  // Vertices start straight up (−y) and go clockwise on screen; radii alternate for a star.
  const n = points * radii.length;
  const out = new Float64Array(2 * n);
  for (let i = 0; i < n; i++) {
    const a = -Math.PI / 2 + (2 * Math.PI * i) / n;
    const r = radii[i % radii.length]!;
    out[2 * i] = r * Math.cos(a);
    out[2 * i + 1] = r * Math.sin(a);
  }
  return out;
}

function cross(halfLength: number, halfWidth: number): Float64Array {
  const [l, w] = [halfLength, halfWidth];
  return Float64Array.from([-w, -l, w, -l, w, -w, l, -w, l, w, w, w, w, l, -w, l, -w, w, -l, w, -l, -w, -w, -w]);
}

/**
 * Proportions chosen so the kinds look about equally big at one nominal radius (the square's area
 * ≈ the circle's; the triangle and star, lighter for their extent, reach a little further) and the
 * small ones stay recognisable at 64 px (a small ring's band and a small star's points are each
 * over 2 px long, the ring's hole 4 px across).
 */
const OUTLINES: Record<ShapeKind, Outline> = {
  circle: { polygon: null, outer: 1, inner: 0, maxAngle: 0 },
  ring: { polygon: null, outer: 1.05, inner: 0.5, maxAngle: 0 },
  square: { polygon: Float64Array.from([-0.87, -0.87, 0.87, -0.87, 0.87, 0.87, -0.87, 0.87]), outer: 0, inner: 0, maxAngle: 12 * DEG },
  triangle: { polygon: regular(3, [1.3]), outer: 0, inner: 0, maxAngle: 10 * DEG },
  star: { polygon: regular(5, [1.15, 0.48]), outer: 0, inner: 0, maxAngle: 12 * DEG },
  cross: { polygon: cross(1, 0.34), outer: 0, inner: 0, maxAngle: 10 * DEG },
};

/** Signed distance (negative inside) from a point to a polygon's outline, in the polygon's units. */
function polygonDistance(p: Float64Array, x: number, y: number): number {
  let best = Infinity;
  let inside = false;
  const n = p.length / 2;
  for (let i = 0, j = n - 1; i < n; j = i++) {
    const ax = p[2 * j]!, ay = p[2 * j + 1]!, bx = p[2 * i]!, by = p[2 * i + 1]!;
    const ex = bx - ax, ey = by - ay;
    const wx = x - ax, wy = y - ay;
    const t = Math.max(0, Math.min(1, (wx * ex + wy * ey) / (ex * ex + ey * ey)));
    const dx = wx - ex * t, dy = wy - ey * t;
    best = Math.min(best, dx * dx + dy * dy);
    // Even-odd rule: count edges a ray towards +x crosses.
    if ((ay > y) !== (by > y) && x < ax + ((y - ay) * ex) / ey) inside = !inside;
  }
  return inside ? -Math.sqrt(best) : Math.sqrt(best);
}

/** Whether a point is inside a polygon (even-odd rule): the cheap test the 4×4 subsamples need. */
function polygonContains(p: Float64Array, x: number, y: number): boolean {
  let inside = false;
  const n = p.length / 2;
  for (let i = 0, j = n - 1; i < n; j = i++) {
    const ax = p[2 * j]!, ay = p[2 * j + 1]!, bx = p[2 * i]!, by = p[2 * i + 1]!;
    if ((ay > y) !== (by > y) && x < ax + ((y - ay) * (bx - ax)) / (by - ay)) inside = !inside;
  }
  return inside;
}

function outlineContains(o: Outline, x: number, y: number): boolean {
  if (o.polygon) return polygonContains(o.polygon, x, y);
  const r2 = x * x + y * y;
  return r2 < o.outer * o.outer && r2 >= o.inner * o.inner;
}

/** Signed distance from a point in the shape's unit frame to its outline (exact, so the edge test is safe). */
function outlineDistance(o: Outline, x: number, y: number): number {
  if (o.polygon) return polygonDistance(o.polygon, x, y);
  const r = Math.hypot(x, y);
  if (o.inner === 0) return r - o.outer;
  const mid = (o.outer + o.inner) / 2;
  return Math.abs(r - mid) - (o.outer - o.inner) / 2;
}

/** Where a shape lands in a size×size image. */
export interface PlacedShape {
  spec: ShapeSpec;
  /** The origin of the shape's frame in pixels (image x right, y down): circle/ring/square/cross centre, triangle/star centroid. */
  cx: number;
  cy: number;
  /** Pixels per unit of the shape's frame. */
  scale: number;
  /** Clockwise rotation in radians. */
  angle: number;
  /** The shape's extent in pixels (fractional), inside its cell's box by a margin. */
  bounds: Box;
  /** A disc wholly inside the shape, in pixels: around the centre, or for a ring around the middle of its band to the right of the centre. */
  solid: { x: number; y: number; radius: number };
}

/** The extent of an outline rotated by angle, in its own units. */
function extent(o: Outline, angle: number): Box {
  if (!o.polygon) return { x0: -o.outer, y0: -o.outer, x1: o.outer, y1: o.outer };
  const c = Math.cos(angle), s = Math.sin(angle);
  const b = { x0: Infinity, y0: Infinity, x1: -Infinity, y1: -Infinity };
  for (let i = 0; i < o.polygon.length; i += 2) {
    const u = o.polygon[i]!, v = o.polygon[i + 1]!;
    const x = c * u - s * v, y = s * u + c * v;
    b.x0 = Math.min(b.x0, x); b.x1 = Math.max(b.x1, x);
    b.y0 = Math.min(b.y0, y); b.y1 = Math.max(b.y1, y);
  }
  return b;
}

/**
 * Places one shape: its size word and jitter give the scale and rotation, and its bounding box is
 * centred in its cell. Shapes used to wander inside their cells too; a ViT with 16-px patches then
 * had to learn each kind at every offset against its patch grid, and did not (it told a circle
 * from a square no better than chance): at fixed places it does.
 */
export function placeShape(spec: ShapeSpec, size: number): PlacedShape {
  const o = OUTLINES[spec.kind];
  const j = spec.jitter ?? { scale: 0, angle: 0 };
  const cell = cellBox(spec.position, size);
  const scale = NOMINAL[spec.size] * (size / 3) * (1 + SCALE_JITTER * j.scale);
  const angle = o.maxAngle * j.angle;
  const e = extent(o, angle);
  const cx = (cell.x0 + cell.x1) / 2 - ((e.x0 + e.x1) / 2) * scale;
  const cy = (cell.y0 + cell.y1) / 2 - ((e.y0 + e.y1) / 2) * scale;
  const ring = !o.polygon && o.inner > 0;
  const solid = ring
    ? { x: cx + ((o.outer + o.inner) / 2) * scale, y: cy, radius: ((o.outer - o.inner) / 2) * scale }
    : { x: cx, y: cy, radius: -outlineDistance(o, 0, 0) * scale };
  return {
    spec,
    cx,
    cy,
    scale,
    angle,
    bounds: { x0: cx + e.x0 * scale, y0: cy + e.y0 * scale, x1: cx + e.x1 * scale, y1: cy + e.y1 * scale },
    solid,
  };
}

/** Every shape of a scene placed in a size×size image, in the scene's order. */
export function layoutScene(scene: Scene, size = 64): PlacedShape[] {
  checkScene(scene);
  return scene.shapes.map((s) => placeShape(s, size));
}

/**
 * Calls visit(x, y, coverage) for every pixel the shape covers at all, coverage in (0, 1]:
 * exact 1 well inside, the fraction of 4×4 subsamples inside where the outline crosses the pixel.
 */
function coverage(p: PlacedShape, size: number, visit: (x: number, y: number, a: number) => void): void {
  const o = OUTLINES[p.spec.kind];
  const c = Math.cos(p.angle), s = Math.sin(p.angle);
  const inv = 1 / p.scale;
  const xs = Math.max(0, Math.floor(p.bounds.x0)), xe = Math.min(size, Math.ceil(p.bounds.x1));
  const ys = Math.max(0, Math.floor(p.bounds.y0)), ye = Math.min(size, Math.ceil(p.bounds.y1));
  // Pixel → unit frame: rotate back by −angle about the centre, then unscale.
  for (let y = ys; y < ye; y++) {
    for (let x = xs; x < xe; x++) {
      const dx = x + 0.5 - p.cx, dy = y + 0.5 - p.cy;
      const d = outlineDistance(o, (c * dx + s * dy) * inv, (c * dy - s * dx) * inv) * p.scale;
      if (d >= EDGE) continue;
      if (d <= -EDGE) {
        visit(x, y, 1);
        continue;
      }
      let hits = 0;
      for (let sy = 0; sy < SUB; sy++) {
        const ty = y + (sy + 0.5) / SUB - p.cy;
        for (let sx = 0; sx < SUB; sx++) {
          const tx = x + (sx + 0.5) / SUB - p.cx;
          if (outlineContains(o, (c * tx + s * ty) * inv, (c * ty - s * tx) * inv)) hits++;
        }
      }
      if (hits > 0) visit(x, y, hits / (SUB * SUB));
    }
  }
}

function checkImageSize(size: number): void {
  if (!Number.isInteger(size) || size < 8 || size > 4096) throw new RangeError(`image size must be an integer from 8 to 4096 px, got ${size}`);
}

/**
 * A scene as an 8-bit RGB image (HWC). Pixels wholly inside a shape are exactly its colour and
 * pixels outside every shape exactly the background's; edge pixels blend the two by coverage.
 */
export function renderScene(scene: Scene, size = 64): RgbImage {
  checkImageSize(size);
  const placed = layoutScene(scene, size);
  const data = new Uint8Array(size * size * 3);
  const bg = COLOURS[scene.background];
  for (let i = 0; i < data.length; i += 3) {
    data[i] = bg[0];
    data[i + 1] = bg[1];
    data[i + 2] = bg[2];
  }
  for (const p of placed) {
    const fg = COLOURS[p.spec.colour];
    coverage(p, size, (x, y, a) => {
      const i = (y * size + x) * 3;
      for (let k = 0; k < 3; k++) data[i + k] = Math.round(bg[k]! + (fg[k]! - bg[k]!) * a);
    });
  }
  return { width: size, height: size, data };
}

/**
 * A scene as float pixels in [0, 1], channel-first [3, size, size] (the layout the model's pixel
 * input takes before normalisation), written into `out` at `offset` when given so a training batch
 * can be filled in place. Values are the unrounded blends: colour/255 where a shape is solid.
 */
export function renderSceneFloat(scene: Scene, size = 64, out?: Float32Array, offset = 0): Float32Array {
  checkImageSize(size);
  const plane = size * size;
  const buf = out ?? new Float32Array(3 * plane);
  if (!Number.isInteger(offset) || offset < 0 || offset + 3 * plane > buf.length) {
    throw new RangeError(`renderSceneFloat: ${3 * plane} values at offset ${offset} do not fit a buffer of ${buf.length}`);
  }
  const placed = layoutScene(scene, size);
  const bg = COLOURS[scene.background];
  for (let k = 0; k < 3; k++) buf.fill(bg[k]! / 255, offset + k * plane, offset + (k + 1) * plane);
  for (const p of placed) {
    const fg = COLOURS[p.spec.colour];
    coverage(p, size, (x, y, a) => {
      const i = offset + y * size + x;
      for (let k = 0; k < 3; k++) buf[i + k * plane] = (bg[k]! + (fg[k]! - bg[k]!) * a) / 255;
    });
  }
  return buf;
}
