import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { rng } from '../random.js';
import { resolveViewOptions, sampleStepViews, stepViewTensors, type StepViews, type ViewOptions } from './views.js';
import { assertClose, fixtures, float32, NEUTRAL, pattern, sandwich } from './testing-views.js';

describe('patch crops and the global resize match torch', () => {
  for (const f of fixtures.crops) {
    it(`crop ${f.crop} px at (${f.top}, ${f.left}) of a ${f.canvas}-px canvas, resized to ${f.size}${f.antialias ? ' (antialiased)' : ''}`, () => {
      const opts: ViewOptions = { canvas: f.canvas, modelSize: f.size, counts: { global: 0, patch: 1 }, patchFraction: f.crop / f.canvas };
      assert.equal(resolveViewOptions(opts).cropSize, f.crop);
      const views: StepViews = { augment: [NEUTRAL], crops: [{ top: f.top, left: f.left }], zoom: { global: null, patch: 1 } };
      const t = stepViewTensors(views, opts, () => 0);
      assertClose(sandwich(t.patch_rows!, pattern(f.canvas), t.patch_cols!, 0), float32(f.out), 1e-6, 'patch view');
    });
  }

  it('crops 128 of 224 and resizes to 224 as the notebook does (one crop reproduced by hand)', () => {
    const opts: ViewOptions = { canvas: 224, modelSize: 224, counts: { global: 0, patch: 1 } };
    const views: StepViews = { augment: [NEUTRAL], crops: [{ top: 96, left: 13 }], zoom: { global: null, patch: 1 } };
    const t = stepViewTensors(views, opts, () => 0);
    const R = t.patch_rows!.data as Float32Array;
    // Output row 0 reads crop row 0 (source −0.21 clamps to 0): canvas row 96, weight 1.
    assert.equal(R[96], 1);
    // Output row 100: source 100.5·128/224 − ½ = 56.93 → rows 96 + 56 and 96 + 57 with 0.07 / 0.93
    // (to 1e-5: torch, and so we, round the scale 128/224 to float32, which moves the source by 2e-6).
    const lambda = 100.5 * 128 / 224 - 0.5 - 56;
    assertClose([R[100 * 224 + 152]!, R[100 * 224 + 153]!], [1 - lambda, lambda], 1e-5, 'row 100');
    const C = t.patch_cols!.data as Float32Array;
    // The first output column reads crop column 0; the last one lies past the crop's last centre and reads it alone.
    assertClose([C[13 * 224 + 0]!, C[(13 + 127) * 224 + 223]!], [1, 1], 1e-7, 'edge columns');
  });

  for (const f of fixtures.globals) {
    it(`global views see the whole ${f.canvas}-px canvas resized to ${f.size} (antialiased)`, () => {
      const opts: ViewOptions = { canvas: f.canvas, modelSize: f.size, counts: { global: 2, patch: 0 } };
      const t = stepViewTensors(sampleStepViews(rng(4), opts), opts, () => 0);
      if (f.canvas === f.size) {
        assert.equal(t.global_rows, undefined);
        assertClose(pattern(f.canvas), float32(f.out), 0, 'torch leaves a same-size image alone');
        return;
      }
      for (const v of [0, 1]) assertClose(sandwich(t.global_rows!, pattern(f.canvas), t.global_cols!, v), float32(f.out), 1e-6, `global view ${v}`);
    });
  }
});

