import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { rng } from '../random.js';
import {
  COLOURS,
  COLOUR_NAMES,
  POSITIONS,
  SHAPE_KINDS,
  SIZES,
  cellBox,
  checkScene,
  sampleScene,
  type Scene,
} from './world.js';

const many = (seed: number, n: number, opts = {}): Scene[] => {
  const r = rng(seed);
  return Array.from({ length: n }, () => sampleScene(r, opts));
};

describe('sampleScene', () => {
  it('is deterministic from the seed', () => {
    assert.deepEqual(many(42, 50), many(42, 50));
    assert.notDeepEqual(many(42, 50), many(43, 50));
  });

  it('reaches every kind, colour, size, position and background, with one and two shapes', () => {
    const scenes = many(1, 3000);
    const seen = { kind: new Set(), colour: new Set(), size: new Set(), position: new Set(), background: new Set(), count: new Set() };
    for (const s of scenes) {
      seen.background.add(s.background);
      seen.count.add(s.shapes.length);
      for (const sh of s.shapes) {
        seen.kind.add(sh.kind);
        seen.colour.add(sh.colour);
        seen.size.add(sh.size);
        seen.position.add(sh.position);
      }
    }
    assert.deepEqual([...seen.kind].sort(), [...SHAPE_KINDS].sort());
    assert.deepEqual([...seen.colour].sort(), [...COLOUR_NAMES].sort());
    assert.deepEqual([...seen.background].sort(), [...COLOUR_NAMES].sort());
    assert.deepEqual([...seen.size].sort(), [...SIZES].sort());
    assert.deepEqual([...seen.position].sort(), [...POSITIONS].sort());
    assert.deepEqual([...seen.count].sort(), [1, 2]);
  });

  it('never puts two shapes in one cell nor a shape in the background colour', () => {
    for (const s of many(2, 3000, { count: 2 })) {
      assert.equal(s.shapes.length, 2);
      assert.notEqual(s.shapes[0]!.position, s.shapes[1]!.position);
      for (const sh of s.shapes) assert.notEqual(sh.colour, s.background);
      checkScene(s);
    }
  });

  it('honours count, twoShapes and jitter options', () => {
    assert.ok(many(3, 200, { count: 1 }).every((s) => s.shapes.length === 1));
    assert.ok(many(3, 200, { twoShapes: 0 }).every((s) => s.shapes.length === 1));
    assert.ok(many(3, 200, { twoShapes: 1 }).every((s) => s.shapes.length === 2));
    const jittered = many(3, 200).flatMap((s) => s.shapes);
    assert.ok(jittered.every((sh) => sh.jitter && Object.values(sh.jitter).every((v) => Math.abs(v) <= 1)));
    assert.ok(many(3, 200, { jitter: false }).every((s) => s.shapes.every((sh) => sh.jitter === undefined)));
    assert.throws(() => sampleScene(rng(1), { twoShapes: 2 }), /twoShapes must be a probability/);
    assert.throws(() => sampleScene(rng(1), { count: 3 as 1 }), /1 or 2 shapes/);
  });
});

describe('COLOURS', () => {
  // CIELAB (D65) from sRGB, written out here so the check does not lean on the code it checks.
  function lab([r, g, b]: readonly number[]): number[] {
    const lin = (c: number): number => {
      const v = c / 255;
      return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
    };
    const [R, G, B] = [lin(r!), lin(g!), lin(b!)];
    const X = (0.4124 * R + 0.3576 * G + 0.1805 * B) / 0.95047;
    const Y = 0.2126 * R + 0.7152 * G + 0.0722 * B;
    const Z = (0.0193 * R + 0.1192 * G + 0.9505 * B) / 1.08883;
    const f = (t: number): number => (t > 216 / 24389 ? Math.cbrt(t) : ((24389 / 27) * t + 16) / 116);
    return [116 * f(Y) - 16, 500 * (f(X) - f(Y)), 200 * (f(Y) - f(Z))];
  }

  it('has at least 8 colours, far apart in CIELAB and in RGB, none at the clamp', () => {
    assert.ok(COLOUR_NAMES.length >= 8);
    let minLab = Infinity;
    let minRgb = Infinity;
    for (let i = 0; i < COLOUR_NAMES.length; i++) {
      const a = COLOURS[COLOUR_NAMES[i]!];
      assert.ok(a.every((v) => Number.isInteger(v) && v >= 10 && v <= 245), `${COLOUR_NAMES[i]} stays in [10, 245]`);
      for (let j = i + 1; j < COLOUR_NAMES.length; j++) {
        const b = COLOURS[COLOUR_NAMES[j]!];
        minLab = Math.min(minLab, Math.hypot(...lab(a).map((v, k) => v - lab(b)[k]!)));
        minRgb = Math.min(minRgb, Math.hypot(...a.map((v, k) => v - b[k]!)));
      }
    }
    assert.ok(minLab > 35, `closest pair ΔE76 ${minLab.toFixed(1)}`);
    assert.ok(minRgb > 85, `closest pair RGB distance ${minRgb.toFixed(1)}`);
  });
});

describe('cellBox', () => {
  it('splits 64 px into 21, 22, 21', () => {
    assert.deepEqual(cellBox('top left', 64), { x0: 0, y0: 0, x1: 21, y1: 21 });
    assert.deepEqual(cellBox('center', 64), { x0: 21, y0: 21, x1: 43, y1: 43 });
    assert.deepEqual(cellBox('bottom right', 64), { x0: 43, y0: 43, x1: 64, y1: 64 });
    assert.deepEqual(cellBox('right', 64), { x0: 43, y0: 21, x1: 64, y1: 43 });
  });

  it('puts every pixel in exactly one cell, rows top to bottom, columns left to right', () => {
    for (const size of [9, 64, 65, 224]) {
      const owner = new Int32Array(size * size);
      POSITIONS.forEach((p, i) => {
        const b = cellBox(p, size);
        // Row-major: same row shares its top edge, the next column starts where this one ends.
        const rowStart = cellBox(POSITIONS[i - (i % 3)]!, size);
        assert.equal(b.y0, rowStart.y0);
        if (i % 3 > 0) assert.equal(b.x0, cellBox(POSITIONS[i - 1]!, size).x1);
        if (i >= 3) assert.equal(b.y0, cellBox(POSITIONS[i - 3]!, size).y1);
        assert.ok(b.x1 - b.x0 >= Math.floor(size / 3) && b.y1 - b.y0 >= Math.floor(size / 3));
        for (let y = b.y0; y < b.y1; y++) for (let x = b.x0; x < b.x1; x++) owner[y * size + x]! += 1;
      });
      assert.ok(owner.every((n) => n === 1), `size ${size}`);
    }
    assert.throws(() => cellBox('middle' as 'center', 64), /unknown position "middle"/);
  });
});

describe('checkScene', () => {
  const ok: Scene = { background: 'blue', shapes: [{ kind: 'circle', colour: 'red', size: 'big', position: 'top left' }] };
  const bad = (s: unknown, re: RegExp): void => {
    assert.throws(() => checkScene(s as Scene), (e: Error) => re.test(e.message) && !e.message.includes('\n'));
  };
  it('accepts a valid scene and names what is wrong with an invalid one in one line', () => {
    checkScene(ok);
    bad({ ...ok, background: 'mauve' }, /background "mauve" is not a colour; colours are: red, orange/);
    bad({ ...ok, shapes: [] }, /1 or 2 shapes, got 0/);
    bad({ ...ok, shapes: [{ ...ok.shapes[0]!, colour: 'blue' }] }, /blue circle on a blue background would be invisible/);
    bad({ ...ok, shapes: [ok.shapes[0]!, { ...ok.shapes[0]!, kind: 'star' }] }, /both shapes are at the top left/);
    bad({ ...ok, shapes: [{ ...ok.shapes[0]!, kind: 'hexagon' }] }, /kind "hexagon" is not one of circle/);
    bad({ ...ok, shapes: [{ ...ok.shapes[0]!, position: 'up' }] }, /position "up" is not one of/);
    bad({ ...ok, shapes: [{ ...ok.shapes[0]!, jitter: { scale: 2, angle: 0 } }] }, /jitter.scale must be in \[-1, 1\], got 2/);
    bad({ ...ok, shapes: [{ ...ok.shapes[0]!, jitter: { scale: 0, angle: NaN } }] }, /jitter.angle/);
  });
});
