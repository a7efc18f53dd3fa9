import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { rng } from '../random.js';
import { resolveViewOptions, stepViewTensors, zoomedSize, type StepViews, type ViewAugment, type ViewOptions } from './views.js';
import { assertClose, fixtures, float32, NEUTRAL, pattern, sandwich } from './testing-views.js';

/** A zoom ratio r with int(r·S) = n. */
const ratioFor = (n: number, S: number): number => (n + 0.5) / S;

/**
 * DiffAugment's translation, resize and pad/crop written out pixel by pixel from the recipe:
 * t[i, j] = x[i + tx, j + ty] (0 outside); y = bilinear resize of t to n × n (align_corners=False:
 * source = (k + ½)·S/n − ½ clamped at 0, neighbours clamped to the image); then zero-pad with
 * int((S − n)/2) before, or crop from int((n − S)/2).
 */
function referenceGeometry(x: Float32Array, S: number, tx: number, ty: number, n: number): Float64Array {
  const t = new Float64Array(3 * S * S);
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < S; i++) {
      for (let j = 0; j < S; j++) {
        const si = i + tx;
        const sj = j + ty;
        t[(c * S + i) * S + j] = si >= 0 && si < S && sj >= 0 && sj < S ? x[(c * S + si) * S + sj]! : 0;
      }
    }
  }
  const source = (k: number): [number, number, number] => {
    const s = Math.max((k + 0.5) * (S / n) - 0.5, 0);
    const a = Math.floor(s);
    return [a, Math.min(a + 1, S - 1), s - a];
  };
  const y = new Float64Array(3 * n * n);
  for (let c = 0; c < 3; c++) {
    for (let k = 0; k < n; k++) {
      const [r0, r1, lr] = source(k);
      for (let l = 0; l < n; l++) {
        const [c0, c1, lc] = source(l);
        const at = (r: number, q: number): number => t[(c * S + r) * S + q]!;
        y[(c * n + k) * n + l] = (1 - lr) * ((1 - lc) * at(r0, c0) + lc * at(r0, c1)) + lr * ((1 - lc) * at(r1, c0) + lc * at(r1, c1));
      }
    }
  }
  const out = new Float64Array(3 * S * S);
  const shift = n < S ? -Math.trunc((S - n) / 2) : Math.trunc((n - S) / 2);
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < S; i++) {
      for (let j = 0; j < S; j++) {
        const k = i + shift;
        const l = j + shift;
        if (k >= 0 && k < n && l >= 0 && l < n) out[(c * S + i) * S + j] = y[(c * n + k) * n + l]!;
      }
    }
  }
  return out;
}

/** DiffAugment's cutout mask, literally: grid rows/cols offset + k − ⌊c/2⌋ for k < c, clamped into the image, set to 0. */
function referenceKeep(S: number, c: number, row: number, col: number): Float32Array {
  const keep = new Float32Array(S * S).fill(1);
  const clamp = (v: number): number => Math.min(Math.max(v, 0), S - 1);
  for (let k = 0; k < c; k++) {
    for (let l = 0; l < c; l++) keep[clamp(row + k - Math.floor(c / 2)) * S + clamp(col + l - Math.floor(c / 2))] = 0;
  }
  return keep;
}

describe('DiffAugment geometry as aug_rows · x · aug_cols', () => {
  for (const g of fixtures.geometry) {
    it(`matches torch for S=${g.size}, shift (${g.shiftRows}, ${g.shiftCols}), zoom to ${g.zoomed}`, () => {
      const S = g.size;
      const opts: ViewOptions = { canvas: S, modelSize: S, counts: { global: 1, patch: 0 } };
      const zoom = ratioFor(g.zoomed, S);
      assert.equal(zoomedSize(zoom, S), g.zoomed);
      const views: StepViews = { augment: [{ ...NEUTRAL, shiftRows: g.shiftRows, shiftCols: g.shiftCols }], crops: [], zoom: { global: zoom, patch: null } };
      const t = stepViewTensors(views, opts, () => 0);
      assertClose(sandwich(t.aug_rows!, pattern(S), t.aug_cols!, 0), float32(g.out), 1e-6, 'augmented view');
    });
  }

  it('matches a pixel-by-pixel DiffAugment for random and extreme shifts and zooms', () => {
    const rand = rng(7);
    for (const [S, G, P] of [[20, 5, 4], [33, 4, 3], [224, 2, 2]] as const) {
      const o = resolveViewOptions({ canvas: S, modelSize: S, counts: { global: G, patch: P } });
      const m = o.maxShift;
      const x = Float32Array.from({ length: 3 * S * S }, () => rand());
      // The two batches' zooms are the range's ends (int(0.8·S) and the largest int(r·S) with r < 1.2).
      const zoom = { global: 0.8, patch: 1.2 - 1e-9 };
      const shifts: [number, number][] = [[m, -m], [-m, m], [m, m], [-m, -m], [0, 0], [S - 1, 2 - S]];
      const augment = Array.from({ length: G + P }, (_, v): ViewAugment => {
        const [r, c] = shifts[v] ?? [Math.floor(rand() * (2 * m + 1)) - m, Math.floor(rand() * (2 * m + 1)) - m];
        return { ...NEUTRAL, shiftRows: r, shiftCols: c };
      });
      const views: StepViews = { augment, crops: Array.from({ length: P }, () => ({ top: 0, left: 0 })), zoom };
      const t = stepViewTensors(views, { canvas: S, modelSize: S, counts: { global: G, patch: P } }, () => 0);
      for (let v = 0; v < G + P; v++) {
        const n = zoomedSize(v < G ? zoom.global : zoom.patch, S);
        const want = referenceGeometry(x, S, augment[v]!.shiftRows, augment[v]!.shiftCols, n);
        // Torch (and so aug_rows/cols) rounds the scale S/n to float32, which moves a source position by up to
        // ~S·6e-8 px; on this noise image that is the whole difference from exact arithmetic.
        assertClose(sandwich(t.aug_rows!, x, t.aug_cols!, v), want, 1e-7 * S, `S=${S} view ${v} (zoom to ${n})`);
      }
    }
  });
});

describe('cutout as keep', () => {
  const cases: [number, number | undefined, [number, number][]][] = [
    // S, cutout ratio, offsets (row, col): the edges, the centre, just inside.
    [224, undefined, [[0, 0], [224, 224], [0, 224], [112, 5], [223, 1], [56, 168]]],
    [21, 0.5, [[0, 20], [20, 0], [10, 10], [5, 15]]], // c = 11, odd: offsets 0 … 20
    [20, 0.3, [[0, 0], [20, 20], [3, 17], [10, 1]]], // c = 6
  ];
  for (const [S, ratio, offsets] of cases) {
    it(`equals DiffAugment's clamped grid (S=${S}, ratio ${ratio ?? 0.5})`, () => {
      const opts: ViewOptions = { canvas: S, modelSize: S, counts: { global: offsets.length, patch: 0 }, ...(ratio === undefined ? {} : { cutoutRatio: ratio }) };
      const c = resolveViewOptions(opts).cutoutSize;
      const augment = offsets.map(([r, q]) => ({ ...NEUTRAL, cutoutRow: r, cutoutCol: q }));
      const keep = stepViewTensors({ augment, crops: [], zoom: { global: 1, patch: null } }, opts, () => 0).keep!;
      assert.deepEqual(keep.dims, [offsets.length, 1, S, S]);
      offsets.forEach(([r, q], v) => {
        const got = (keep.data as Float32Array).subarray(v * S * S, (v + 1) * S * S);
        assert.deepEqual(got, referenceKeep(S, c, r, q), `offsets (${r}, ${q})`);
      });
    });
  }

  it('zeroes a 112-px square at 224 when inside, and only its inside part at the edges', () => {
    const opts: ViewOptions = { canvas: 224, modelSize: 224, counts: { global: 2, patch: 0 } };
    const augment = [{ ...NEUTRAL, cutoutRow: 112, cutoutCol: 112 }, { ...NEUTRAL, cutoutRow: 0, cutoutCol: 224 }];
    const keep = stepViewTensors({ augment, crops: [], zoom: { global: 1, patch: null } }, opts, () => 0).keep!.data as Float32Array;
    const zeros = (v: number): number => keep.subarray(v * 224 * 224, (v + 1) * 224 * 224).reduce((s, k) => s + (k === 0 ? 1 : 0), 0);
    assert.equal(zeros(0), 112 * 112);
    assert.equal(zeros(1), 56 * 56);
  });

  it('keeps everything when the cutout ratio is 0', () => {
    const opts: ViewOptions = { canvas: 16, modelSize: 16, counts: { global: 1, patch: 0 }, cutoutRatio: 0 };
    const keep = stepViewTensors({ augment: [{ ...NEUTRAL, cutoutRow: 8, cutoutCol: 8 }], crops: [], zoom: { global: 1, patch: null } }, opts, () => 0).keep!;
    assert.ok((keep.data as Float32Array).every((k) => k === 1), 'some pixel was cut out');
  });
});
