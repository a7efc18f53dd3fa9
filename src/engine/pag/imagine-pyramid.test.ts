/**
 * The multi-scale canvas in a run: the optimiser steps the pyramid's coefficients, so one step
 * moves the canvas by the composition of a step taken on the pulled-back gradient.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { imagine, ImagineInputError } from './imagine.js';
import { CanvasPyramid } from './pyramid.js';
import { openTinyModel, TINY_PAG_CONFIG, type TinyModel } from './testing-model.js';

let tiny: TinyModel;
before(async () => {
  tiny = await openTinyModel('imagine-pyramid-test-');
});
after(() => tiny.close());

const S = TINY_PAG_CONFIG.vision.imageSize;
const grey = { width: S, height: S, data: new Uint8Array(S * S * 3).fill(128) };
const req = { prompt: 'a red circle', steps: 1, views: 4, seed: 7, init: grey };
const lr = 0.004;

/** One normalised step from grey: the canvas move. */
async function move(pyramidLevels: number): Promise<Float32Array> {
  const r = await imagine(tiny.model, { ...req, recipe: { pyramidLevels, stepRule: 1, lr, threshold: 0, weightDecay: 0 } });
  return (r.pixels.data as Float32Array).map((v) => v - 128 / 255);
}

test('with pyramidLevels the step is taken on the coefficients: the move is compose(step(pullBack(gradient)))', async () => {
  // Without the pyramid a normalised step is lr·g/rms(g): the gradient's direction, which the same seed's views give again.
  const g = await move(0);
  const p = new CanvasPyramid(S, 2);
  const G = new Float32Array(p.size);
  p.pullBack(g, G);
  const rms = Math.sqrt(G.reduce((s, v) => s + v * v, 0) / G.length);
  const want = new Float32Array(g.length);
  // g is already a step downhill, so its pull-back points downhill too.
  p.compose(G.map((v) => (lr * v) / rms), want);
  const got = await move(2);
  const scale = Math.max(...want.map(Math.abs));
  for (let i = 0; i < got.length; i++) assert.ok(Math.abs(got[i]! - want[i]!) < 1e-3 * scale, `pixel ${i}: ${got[i]} vs ${want[i]}`);
  assert.notDeepEqual(got, g);
});

test('a canvas the levels do not divide is refused before any step, naming the key', async () => {
  await assert.rejects(
    imagine(tiny.model, { ...req, recipe: { pyramidLevels: 5 } }),
    (e: Error) => e instanceof ImagineInputError && new RegExp(`pyramidLevels 5 needs a canvas side divisible by 32; ${S} px is not`).test(e.message),
  );
  await assert.rejects(imagine(tiny.model, { ...req, recipe: { pyramidLevels: 7 } }), /pyramidLevels must be a whole number from 0 to 6, got 7/);
});
