import assert from 'node:assert/strict';
import { openSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { writeRandomPack } from '../bench/random-pack.js';
import { writeRgbPng } from '../clip/image.js';
import { openSafetensors } from '../clip/safetensors.js';
import { ClipModel } from '../pack/model.js';
import { imagine, ImagineAborted, ImagineInputError, type ImagineProgress } from './imagine.js';
import { openTinyModel, TINY_PAG_CONFIG, type TinyModel } from './testing-model.js';

const cfg = TINY_PAG_CONFIG;
let tiny: TinyModel;
let dir: string;
let model: ClipModel;
before(async () => {
  tiny = await openTinyModel('imagine-test-');
  ({ model, dir } = tiny);
});
after(() => tiny.close());

const req = { prompt: 'a red circle', steps: 6, views: 4, seed: 11 };

test('same seed → identical image; another seed → another image; result fields', async () => {
  const a = await imagine(model, req);
  const b = await imagine(model, req);
  const c = await imagine(model, { ...req, seed: 12 });
  assert.deepEqual(a.image.data, b.image.data);
  assert.notDeepEqual(a.image.data, c.image.data);
  assert.equal(a.image.width, 16);
  assert.equal(a.seed, 11);
  assert.equal(a.steps, 6);
  assert.ok(a.bestStep >= 1 && a.bestStep <= 6);
  assert.ok(a.score >= -1 && a.score <= 1);
  for (const v of a.pixels.data as Float32Array) assert.ok(v >= 0 && v <= 1, 'thresholded into [0, 1]');
  assert.ok(a.msPerStep > 0 && a.ms >= a.msPerStep);
});

test('progress: every k steps with the image, and the last step always', async () => {
  const seen: ImagineProgress[] = [];
  await imagine(model, { ...req, steps: 7 }, { progressEvery: 3, onProgress: (p) => void seen.push(p) });
  assert.deepEqual(seen.map((p) => p.step), [1, 2, 3, 4, 5, 6, 7]);
  assert.deepEqual(seen.filter((p) => p.image).map((p) => p.step), [3, 6, 7]);
  assert.ok(seen.every((p) => Number.isFinite(p.loss) && p.steps === 7));
});

test('cancel: aborting stops within the step and the engine works right after', async () => {
  const controller = new AbortController();
  let steps = 0;
  await assert.rejects(
    imagine(model, { ...req, steps: 50 }, { signal: controller.signal, onProgress: (p) => { steps = p.step; if (p.step === 2) controller.abort(); } }),
    ImagineAborted,
  );
  assert.equal(steps, 2, 'no step ran after the abort');
  const pre = new AbortController();
  pre.abort();
  await assert.rejects(imagine(model, req, { signal: pre.signal }), ImagineAborted);
  assert.equal((await imagine(model, req)).steps, 6);
});

test('bad requests name the option', async () => {
  const bad: [object, RegExp][] = [
    [{ prompt: '   ' }, /the prompt is empty/],
    [{ steps: 0 }, /steps must be a whole number from 1 to 1000, got 0/],
    [{ steps: 2.5 }, /steps must be a whole number/],
    [{ views: 500 }, /views must be a whole number from 1 to 128, got 500/],
    [{ size: 8 }, /size must be a whole number from 16 to 64, got 8/],
    [{ negative: ' ' }, /the negative prompt is empty/],
  ];
  for (const [extra, re] of bad) await assert.rejects(imagine(model, { ...req, ...extra }), (e: Error) => e instanceof ImagineInputError && re.test(e.message));
  await assert.rejects(imagine(model, { ...req, prompt: 'a purple circle' }), /unknown word "purple"; known words: /);
  await assert.rejects(imagine(model, { ...req, init: join(dir, 'missing.png') }), /missing\.png/);
});

test('a prompt longer than the context is cut, and the user is told', async () => {
  const notes: string[] = [];
  await imagine(model, { ...req, prompt: 'a red circle on a blue sky at dusk a red circle', steps: 1 }, { onNote: (m) => void notes.push(m) });
  assert.equal(notes.length, 1);
  assert.match(notes[0]!, /longer than the model reads \(8 tokens\)/);
});

test('a larger canvas, a negative prompt and an init image', async () => {
  const big = await imagine(model, { ...req, size: 24, negative: 'blue sky' });
  assert.equal(big.image.width, 24);
  const init = join(dir, 'init.png');
  const data = new Uint8Array(16 * 16 * 3);
  for (let i = 0; i < 16 * 16; i++) data.set([200, 30, 30], i * 3);
  await writeRgbPng({ width: 16, height: 16, data }, init);
  const v = await imagine(model, { ...req, steps: 1, init });
  // One small step from a flat red image stays near it (lr 0.0175, then thresholding).
  const px = v.image.data;
  let red = 0;
  for (let i = 0; i < 16 * 16; i++) red += px[i * 3]! - px[i * 3 + 2]!;
  assert.ok(red / 256 > 100, `still mostly red: ${red / 256}`);
});

test('NaN in the loss stops with a clear error instead of a black image', async () => {
  const nanPack = join(dir, 'nan-pack');
  await writeRandomPack(nanPack, cfg);
  const st = await openSafetensors(join(nanPack, 'weights.safetensors'));
  const e = st.tensors.get('visual.proj')!;
  const fd = openSync(join(nanPack, 'weights.safetensors'), 'r+');
  writeSync(fd, Buffer.from(new Float32Array((e.end - e.begin) / 4).fill(NaN).buffer), 0, e.end - e.begin, e.begin);
  closeSync(fd);
  const m = await ClipModel.open(nanPack, { device: 'cpu', intraOpThreads: 1 });
  try {
    await assert.rejects(imagine(m, { ...req, steps: 2 }), /the loss at step 1 is (NaN|not finite)|NaN/);
  } finally {
    await m.close();
  }
});

test("a pack's own recipe overrides the defaults (manifest 'recipe')", async () => {
  const { readManifest, writeManifest } = await import('../pack/manifest.js');
  const { recipeFor } = await import('./recipe.js');
  const p = join(dir, 'recipe-pack');
  await writeRandomPack(p, cfg);
  const m = await readManifest(p);
  assert.equal(recipeFor(m).steps, 100);
  await writeManifest(p, { ...m, recipe: { steps: 3, globalViews: 2, patchViews: 1, bogus: 7 } });
  const tuned = await ClipModel.open(p, { device: 'cpu', intraOpThreads: 1 });
  try {
    const r = recipeFor(tuned.manifest);
    assert.deepEqual([r.steps, r.globalViews, r.patchViews], [3, 2, 1]);
    assert.ok(!('bogus' in r));
    assert.equal((await imagine(tuned, { prompt: 'a red circle', seed: 1 })).steps, 3);
  } finally {
    await tuned.close();
  }
});

test('views run in equal groups that fit maxViewsPerRun and divide both counts', async () => {
  const { viewGroups } = await import('./imagine.js');
  assert.equal(viewGroups(32, 32, 16), 4);
  assert.equal(viewGroups(4, 4, 16), 1);
  assert.equal(viewGroups(3, 2, 4), 1, 'no common divisor: one run');
  assert.equal(viewGroups(6, 0, 2), 3);
  assert.equal(viewGroups(8, 8, 5), 4);
});

test('a step split into groups runs the smaller graph and stays deterministic', async () => {
  const { readManifest, writeManifest } = await import('../pack/manifest.js');
  const p = join(dir, 'grouped-pack');
  await writeRandomPack(p, cfg);
  await writeManifest(p, { ...(await readManifest(p)), recipe: { maxViewsPerRun: 2 } });
  const grouped = await ClipModel.open(p, { device: 'cpu', intraOpThreads: 1 });
  try {
    const a = await imagine(grouped, { ...req, views: 8 });
    const b = await imagine(grouped, { ...req, views: 8 });
    assert.deepEqual(a.image.data, b.image.data);
    assert.ok([...grouped.fromCache.keys()].some((k) => k.includes('-g1-p1-')), 'ran 1+1-view groups');
  } finally {
    await grouped.close();
  }
});

test("a pack's augmentation settings reach the views; without any, they are DiffAugment's", async () => {
  const { PAPER_RECIPE } = await import('./recipe.js');
  const { viewOptions } = await import('./imagine.js');
  const { resolveViewOptions } = await import('./views.js');
  const settings = (r: Partial<typeof PAPER_RECIPE>) => ({ recipe: { ...PAPER_RECIPE, ...r }, steps: 1, canvas: 64, global: 2, patch: 2, seed: 1, count: 1 });
  const paper = resolveViewOptions(viewOptions(settings({}), 64, { global: 2, patch: 2 }));
  const diffAugment = resolveViewOptions({ canvas: 64, modelSize: 64, counts: { global: 2, patch: 2 }, patchFraction: 128 / 224, noiseStd: 0.01 });
  assert.deepEqual(paper, diffAugment);
  const tuned = resolveViewOptions(viewOptions(settings({ translateRatio: 0.25, cutoutRatio: 0, zoomMin: 1, zoomMax: 1.1, colorAugment: 0 }), 64, { global: 2, patch: 0 }));
  assert.deepEqual(
    [tuned.translateRatio, tuned.maxShift, tuned.cutoutRatio, tuned.cutoutSize, tuned.resizeRange, tuned.color, tuned.counts],
    [0.25, 16, 0, 0, [1, 1.1], false, { global: 2, patch: 0 }],
  );
});

test("a pack recipe with impossible augmentation settings is refused, naming the key", async () => {
  const { readManifest } = await import('../pack/manifest.js');
  const { recipeFor } = await import('./recipe.js');
  const m = await readManifest(join(dir, 'pack'));
  const cases: Array<[Record<string, number>, RegExp]> = [
    [{ translateRatio: 1 }, /translateRatio must be in \[0, 1\), got 1/],
    [{ cutoutRatio: -0.1 }, /cutoutRatio must be in \[0, 1\]/],
    [{ zoomMin: 0 }, /zoomMin must be in \(0, 4\]/],
    [{ zoomMin: 1.2, zoomMax: 1.1 }, /zoomMax must be from zoomMin to 4/],
    [{ colorAugment: 0.5 }, /colorAugment must be 0 or 1/],
    [{ gradBlur: -1 }, /gradBlur must be in \[0, 8\] px, got -1/],
    [{ gradBlur: 9 }, /gradBlur must be in \[0, 8\] px, got 9/],
    [{ stepRule: 2 }, /stepRule must be 0 \(AdamW\) or 1 \(normalised gradient step\), got 2/],
  ];
  for (const [recipe, re] of cases) assert.throws(() => recipeFor({ ...m, recipe }), re, JSON.stringify(recipe));
  assert.doesNotThrow(() => recipeFor({ ...m, recipe: { translateRatio: 0, cutoutRatio: 1, zoomMin: 1, zoomMax: 1, colorAugment: 0 } }));
});

test('a request can replace recipe keys for one run; a bad or unknown key is refused, naming it', async () => {
  const { recipeFor, ImagineInputError } = await import('./recipe.js');
  const { readManifest } = await import('../pack/manifest.js');
  const m = await readManifest(join(dir, 'pack'));
  const r = recipeFor({ ...m, recipe: { steps: 5, cutoutRatio: 0.25 } }, { steps: 2, noiseStd: 0.05 });
  assert.deepEqual([r.steps, r.noiseStd, r.cutoutRatio], [2, 0.05, 0.25], 'asked keys win; the pack keeps the rest');
  assert.throws(() => recipeFor(m, { translateRatio: 2 }), (e: Error) => e instanceof ImagineInputError && /the recipe asked for: translateRatio must be in \[0, 1\), got 2/.test(e.message));
  assert.throws(() => recipeFor(m, { noiseStdev: 0.1 }), (e: Error) => e instanceof ImagineInputError && /unknown or non-numeric noiseStdev; the keys are steps, /.test(e.message));
  const model = await ClipModel.open(join(dir, 'pack'), { device: 'cpu', intraOpThreads: 1 });
  try {
    const { steps: _, ...noSteps } = req;
    assert.equal((await imagine(model, { ...noSteps, recipe: { steps: 2 } })).steps, 2);
  } finally {
    await model.close();
  }
});

test('gradBlur low-passes the canvas gradient: a run with it is smoother than the same run without', async () => {
  const model = await ClipModel.open(join(dir, 'pack'), { device: 'cpu', intraOpThreads: 1 });
  try {
    const run = async (gradBlur: number) => (await imagine(model, { ...req, steps: 3, recipe: { gradBlur, threshold: 0, initCandidates: 1 } })).image;
    // Mean absolute difference between horizontal neighbours: the high-frequency energy of a picture.
    const roughness = (img: { width: number; height: number; data: Uint8Array }): number => {
      let s = 0;
      for (let y = 0; y < img.height; y++) for (let x = 1; x < img.width; x++) for (let c = 0; c < 3; c++) {
        s += Math.abs(img.data[(y * img.width + x) * 3 + c]! - img.data[(y * img.width + x - 1) * 3 + c]!);
      }
      return s / (img.height * (img.width - 1) * 3);
    };
    const sharp = await run(0);
    const smooth = await run(2);
    assert.notDeepEqual(smooth.data, sharp.data);
    assert.ok(roughness(smooth) < roughness(sharp), `roughness with blur ${roughness(smooth)} vs without ${roughness(sharp)}`);
  } finally {
    await model.close();
  }
});

test('stepRule 1: one step moves the canvas by lr in root-mean-square, along the gradient, where AdamW moves every pixel by about lr', async () => {
  const model = await ClipModel.open(join(dir, 'pack'), { device: 'cpu', intraOpThreads: 1 });
  try {
    const S = cfg.vision.imageSize;
    const grey = { width: S, height: S, data: new Uint8Array(S * S * 3).fill(128) };
    const moved = async (stepRule: number): Promise<Float32Array> => {
      const r = await imagine(model, { ...req, steps: 1, init: grey, recipe: { stepRule, lr: 0.004, threshold: 0, weightDecay: 0 } });
      return (r.pixels.data as Float32Array).map((v) => v - 128 / 255);
    };
    const rms = (d: Float32Array): number => Math.sqrt(d.reduce((a, v) => a + v * v, 0) / d.length);
    const normalised = await moved(1);
    assert.ok(Math.abs(rms(normalised) - 0.004) < 1e-5, `RMS move ${rms(normalised)}`);
    // Adam's first step is lr·g/(|g| + eps) ≈ lr·sign(g): nearly every pixel moves by lr; the normalised step follows g's own sizes.
    const atLr = (d: Float32Array): number => d.filter((v) => Math.abs(Math.abs(v) - 0.004) < 0.0002).length / d.length;
    assert.ok(atLr(await moved(0)) > 0.9, 'Adam: most pixels move by lr');
    assert.ok(atLr(normalised) < 0.5, `normalised: ${(100 * atLr(normalised)).toFixed(0)} % of pixels move by lr`);
  } finally {
    await model.close();
  }
});

