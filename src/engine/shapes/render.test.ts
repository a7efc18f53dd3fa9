import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RgbImage } from '../clip/image.js';
import { rng } from '../random.js';
import { layoutScene, placeShape, renderScene, renderSceneFloat } from './render.js';
import { COLOURS, POSITIONS, SHAPE_KINDS, SIZES, cellBox, sampleScene, type Box, type Scene, type ShapeSpec } from './world.js';

const pixel = (img: RgbImage, x: number, y: number): number[] => {
  const i = (y * img.width + x) * 3;
  return [img.data[i]!, img.data[i + 1]!, img.data[i + 2]!];
};
const isColour = (img: RgbImage, x: number, y: number, c: readonly number[]): boolean => {
  const i = (y * img.width + x) * 3;
  return img.data[i] === c[0] && img.data[i + 1] === c[1] && img.data[i + 2] === c[2];
};
const inBox = (b: Box, x: number, y: number): boolean => x >= b.x0 && x < b.x1 && y >= b.y0 && y < b.y1;

/**
 * How much of the shape colour a pixel holds, read off the channel where the two colours differ
 * most; null when the pixel is not a blend of background and shape within rounding.
 */
function alpha(v: number[], bg: readonly number[], fg: readonly number[]): number | null {
  let k = 0;
  for (let c = 1; c < 3; c++) if (Math.abs(fg[c]! - bg[c]!) > Math.abs(fg[k]! - bg[k]!)) k = c;
  const a = (v[k]! - bg[k]!) / (fg[k]! - bg[k]!);
  if (a < -0.01 || a > 1.01) return null;
  for (let c = 0; c < 3; c++) if (Math.abs(v[c]! - (bg[c]! + (fg[c]! - bg[c]!) * a)) > 1) return null;
  return a;
}

/** Sum of shape-colour fraction over a box: the drawn area in pixels. */
function drawnArea(img: RgbImage, box: Box, bg: readonly number[], fg: readonly number[]): number {
  let sum = 0;
  for (let y = box.y0; y < box.y1; y++) for (let x = box.x0; x < box.x1; x++) sum += alpha(pixel(img, x, y), bg, fg) ?? NaN;
  return sum;
}

const scenes = (seed: number, n: number): Scene[] => {
  const r = rng(seed);
  return Array.from({ length: n }, () => sampleScene(r));
};

// Every sign combination of the two jitter values: the corners of the jitter box.
const JITTER_CORNERS = Array.from({ length: 4 }, (_, m) => ({ scale: m & 1 ? 1 : -1, angle: m & 2 ? 1 : -1 }));

describe('renderScene', () => {
  it('paints the shape colour exactly at each shape centre (a ring: the background in its hole)', () => {
    for (const scene of scenes(11, 1000)) {
      const img = renderScene(scene, 64);
      for (const p of layoutScene(scene, 64)) {
        const want = p.spec.kind === 'ring' ? COLOURS[scene.background] : COLOURS[p.spec.colour];
        assert.deepEqual(pixel(img, Math.floor(p.cx), Math.floor(p.cy)), [...want], `${p.spec.kind} ${JSON.stringify(scene)}`);
      }
    }
  });

  it('paints exactly the background outside the shapes\' cells and at the far corner', () => {
    for (const scene of scenes(12, 150)) {
      const img = renderScene(scene, 64);
      const bg = COLOURS[scene.background];
      const boxes = scene.shapes.map((s) => cellBox(s.position, 64));
      for (let y = 0; y < 64; y++) {
        for (let x = 0; x < 64; x++) {
          if (!boxes.some((b) => inBox(b, x, y))) assert.ok(isColour(img, x, y, bg), `(${x}, ${y}) is ${pixel(img, x, y).join()}`);
        }
      }
      for (const s of scene.shapes.filter((sh) => sh.size === 'small')) {
        const b = cellBox(s.position, 64);
        const far = [b.x0 + b.x1 < 64 ? 63 : 0, b.y0 + b.y1 < 64 ? 63 : 0] as const;
        assert.deepEqual(pixel(img, far[0], far[1]), [...bg]);
      }
    }
  });

  it('keeps every shape inside its cell at the extremes of its jitter', () => {
    for (const kind of SHAPE_KINDS) {
      for (const size of SIZES) {
        for (const position of POSITIONS) {
          for (const jitter of JITTER_CORNERS) {
            const spec: ShapeSpec = { kind, colour: 'yellow', size, position, jitter };
            const img = renderScene({ background: 'black', shapes: [spec] }, 64);
            const cell = cellBox(position, 64);
            let inside = 0;
            let [x0, y0, x1, y1] = [64, 64, -1, -1];
            for (let y = 0; y < 64; y++) {
              for (let x = 0; x < 64; x++) {
                if (isColour(img, x, y, COLOURS.black)) continue;
                assert.ok(inBox(cell, x, y), `${size} ${kind} at ${position} ${JSON.stringify(jitter)} paints (${x}, ${y}) outside ${JSON.stringify(cell)}`);
                inside++;
                [x0, y0, x1, y1] = [Math.min(x0, x), Math.min(y0, y), Math.max(x1, x), Math.max(y1, y)];
              }
            }
            assert.ok(inside > 20, `${size} ${kind} at ${position} is drawn`);
            // Always in the middle of its cell: the painted box's centre within half a pixel of the cell's.
            const mid = (a: number, b: number): number => (a + b + 1) / 2;
            assert.ok(Math.abs(mid(x0, x1) - (cell.x0 + cell.x1) / 2) <= 0.5 && Math.abs(mid(y0, y1) - (cell.y0 + cell.y1) / 2) <= 0.5,
              `${size} ${kind} at ${position} ${JSON.stringify(jitter)}: painted box [${x0}, ${x1}] × [${y0}, ${y1}] is off the cell's centre`);
          }
        }
      }
    }
  });

  it('anti-aliases: edges hold intermediate blends of shape and background colour, nothing else', () => {
    for (const scene of scenes(13, 300)) {
      const img = renderScene(scene, 64);
      const bg = COLOURS[scene.background];
      for (const s of scene.shapes) {
        const fg = COLOURS[s.colour];
        const cell = cellBox(s.position, 64);
        let partial = 0;
        for (let y = cell.y0; y < cell.y1; y++) {
          for (let x = cell.x0; x < cell.x1; x++) {
            const a = alpha(pixel(img, x, y), bg, fg);
            assert.ok(a !== null, `pixel (${x}, ${y}) = ${pixel(img, x, y).join()} is not a blend of ${s.colour} on ${scene.background}`);
            if (a > 0.03 && a < 0.97) partial++;
          }
        }
        // A square at its cell's centre, nearly upright, can have its sides on pixel boundaries.
        const square = s.kind === 'square' && Math.abs(s.jitter?.angle ?? 0) < 0.05;
        if (!square) assert.ok(partial >= 8, `${s.size} ${s.kind}: ${partial} edge pixels`);
        else assert.ok(partial >= 1, `${s.size} ${s.kind}: no edge pixels`);
      }
    }
  });

  it('draws the analytic area: a disc of radius 0.41 of a cell, and the same shape at 64 and 256 px', () => {
    const disc: Scene = { background: 'white', shapes: [{ kind: 'circle', colour: 'blue', size: 'big', position: 'center' }] };
    const r = 0.41 * (64 / 3);
    const area = drawnArea(renderScene(disc, 64), cellBox('center', 64), COLOURS.white, COLOURS.blue);
    assert.ok(Math.abs(area / (Math.PI * r * r) - 1) < 0.01, `disc area ${area.toFixed(2)} vs ${(Math.PI * r * r).toFixed(2)}`);
    for (const kind of SHAPE_KINDS) {
      const areas = SIZES.map((size) => {
        const scene: Scene = { background: 'black', shapes: [{ kind, colour: 'white', size, position: 'top', jitter: JITTER_CORNERS[1]! }] };
        const a64 = drawnArea(renderScene(scene, 64), cellBox('top', 64), COLOURS.black, COLOURS.white);
        const a256 = drawnArea(renderScene(scene, 256), cellBox('top', 256), COLOURS.black, COLOURS.white);
        assert.ok(Math.abs(a64 / (a256 / 16) - 1) < 0.03, `${size} ${kind}: ${a64.toFixed(1)} px at 64 vs ${(a256 / 16).toFixed(1)} from 256`);
        return a256;
      });
      assert.ok(areas[1]! / areas[0]! > 2.2, `a big ${kind} is ${(areas[1]! / areas[0]!).toFixed(2)}× a small one`);
    }
  });

  it('is a pure function of the scene; jitter makes one caption look different', () => {
    const [scene] = scenes(14, 1) as [Scene];
    assert.deepEqual(renderScene(scene).data, renderScene(structuredClone(scene)).data);
    const plain = { ...scene, shapes: scene.shapes.map(({ jitter: _, ...s }) => s) };
    const other = { ...scene, shapes: scene.shapes.map((s) => ({ ...s, jitter: { scale: 0.5, angle: 1 } })) };
    const a = renderScene(scene).data, b = renderScene(plain).data, c = renderScene(other).data;
    assert.notDeepEqual(a, b);
    assert.notDeepEqual(b, c);
    const centred = placeShape(plain.shapes[0]!, 64);
    const cell = cellBox(plain.shapes[0]!.position, 64);
    assert.ok(Math.abs(centred.cx - (cell.x0 + cell.x1) / 2) < 1.5 && Math.abs(centred.cy - (cell.y0 + cell.y1) / 2) < 1.5);
  });

  it('renders other sizes and refuses bad ones', () => {
    const [scene] = scenes(15, 1) as [Scene];
    const img = renderScene(scene, 224);
    assert.equal(img.width, 224);
    assert.equal(img.data.length, 224 * 224 * 3);
    assert.throws(() => renderScene(scene, 4), /image size must be an integer from 8 to 4096 px, got 4/);
    assert.throws(() => renderScene({ ...scene, background: 'teal' as 'cyan' }), /background "teal" is not a colour/);
  });

  it('renders 1000 scenes at 64 px well under a second', () => {
    const all = scenes(16, 1000);
    // Timed as a trainer sees it, after the JIT has compiled the loops (the first ~100 scenes).
    for (const s of scenes(17, 200)) renderScene(s, 64);
    const t0 = performance.now();
    for (const s of all) renderScene(s, 64);
    const ms = performance.now() - t0;
    process.stderr.write(`# renderScene: 1000 scenes at 64 px in ${ms.toFixed(0)} ms\n`);
    assert.ok(ms < 1000, `${ms.toFixed(0)} ms`);
  });
});

describe('renderSceneFloat', () => {
  it('matches renderScene before rounding, channel-first in [0, 1]', () => {
    for (const scene of scenes(21, 50)) {
      const img = renderScene(scene, 64);
      const f = renderSceneFloat(scene, 64);
      assert.equal(f.length, 3 * 64 * 64);
      for (let y = 0; y < 64; y++) {
        for (let x = 0; x < 64; x++) {
          for (let c = 0; c < 3; c++) {
            const v = f[c * 4096 + y * 64 + x]!;
            assert.ok(v >= 0 && v <= 1 && Math.abs(v * 255 - img.data[(y * 64 + x) * 3 + c]!) <= 0.5 + 1e-3);
          }
        }
      }
    }
  });

  it('fills a batch in place at an offset and refuses a buffer too small', () => {
    const [a, b] = scenes(22, 2) as [Scene, Scene];
    const batch = new Float32Array(2 * 3 * 32 * 32).fill(-1);
    renderSceneFloat(b, 32, batch, 3 * 32 * 32);
    assert.ok(batch.subarray(0, 3 * 32 * 32).every((v) => v === -1));
    renderSceneFloat(a, 32, batch, 0);
    assert.deepEqual(batch.subarray(0, 3072), renderSceneFloat(a, 32));
    assert.deepEqual(batch.subarray(3072), renderSceneFloat(b, 32));
    assert.throws(() => renderSceneFloat(a, 32, batch, 4000), /3072 values at offset 4000 do not fit a buffer of 6144/);
  });
});
