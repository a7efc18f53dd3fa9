import assert from 'node:assert/strict';
import { test } from 'node:test';
import { rng } from '../random.js';
import { captions, parsePrompt } from './captions.js';
import { classifyBlob, colourMap, judgeImage } from './judge.js';
import { renderScene } from './render.js';
import { COLOUR_NAMES, POSITIONS, SHAPE_KINDS, sampleScene, type Scene } from './world.js';

test('rendered scenes are judged to match their own captions', () => {
  const r = rng(11);
  let ok = 0;
  const n = 150;
  for (let i = 0; i < n; i++) {
    const scene = sampleScene(r);
    if (judgeImage(renderScene(scene), parsePrompt(captions(scene, r))).ok) ok++;
  }
  // Ground truth is the judge's ceiling: a few tiny stars lose their points at 64 px.
  assert.ok(ok / n >= 0.97, `ground truth judged correct ${ok}/${n}`);
});

test('a wrong kind, colour, position or background is rejected', () => {
  const r = rng(12);
  const n = 60;
  const counts = { kind: 0, colour: 0, position: 0, background: 0 };
  for (let i = 0; i < n; i++) {
    const scene = sampleScene(r, { count: 1 });
    const img = renderScene(scene);
    const s = scene.shapes[0]!;
    const other = <T>(xs: readonly T[], x: T, avoid: T[] = []): T => xs.filter((y) => y !== x && !avoid.includes(y))[Math.floor(r() * (xs.length - 1 - avoid.length))]!;
    const variants: Record<keyof typeof counts, Scene> = {
      kind: { ...scene, shapes: [{ ...s, kind: other(SHAPE_KINDS, s.kind) }] },
      colour: { ...scene, shapes: [{ ...s, colour: other(COLOUR_NAMES, s.colour, [scene.background]) }] },
      position: { ...scene, shapes: [{ ...s, position: other(POSITIONS, s.position) }] },
      background: { ...scene, background: other(COLOUR_NAMES, scene.background, [s.colour]) },
    };
    for (const [k, v] of Object.entries(variants) as Array<[keyof typeof counts, Scene]>) {
      const verdict = judgeImage(img, parsePrompt(captions(v, r)));
      if (!verdict.ok) counts[k]++;
      if (!verdict.ok) assert.ok(verdict.reasons.length > 0);
    }
  }
  for (const [k, c] of Object.entries(counts)) assert.ok(c / n >= 0.95, `wrong ${k} rejected only ${c}/${n}`);
});

test('noise and a blank canvas are not a shape', () => {
  const r = rng(13);
  const noise = { width: 64, height: 64, data: Uint8Array.from({ length: 64 * 64 * 3 }, () => Math.floor(r() * 256)) };
  const blank = renderScene({ background: 'blue', shapes: [{ kind: 'circle', colour: 'red', size: 'small', position: 'center' }] });
  blank.data.fill(0);
  const prompt = parsePrompt('a big red circle in the center on a blue background');
  assert.equal(judgeImage(noise, prompt).ok, false);
  const v = judgeImage(blank, prompt);
  assert.equal(v.ok, false);
  assert.match(v.reasons.join('; '), /background is black/);
});

test('each kind drawn upright is classified as itself, at both sizes', () => {
  for (const kind of SHAPE_KINDS) {
    for (const size of ['small', 'big'] as const) {
      const img = renderScene({ background: 'black', shapes: [{ kind, colour: 'white', size, position: 'center' }] });
      const map = colourMap(img);
      const white = COLOUR_NAMES.indexOf('white');
      const mask = map.map((c) => (c === white ? 1 : 0));
      assert.equal(classifyBlob(mask).kind, kind, `${size} ${kind}`);
    }
  }
});

test('a larger canvas is judged at the world\'s 64 px', () => {
  const scene: Scene = { background: 'green', shapes: [{ kind: 'star', colour: 'yellow', size: 'big', position: 'top left' }] };
  const big = renderScene(scene, 192);
  assert.equal(judgeImage(big, parsePrompt('a big yellow star in the top left on a green background')).ok, true);
});

test('a prompt without positions finds its shape in whichever cell holds it', () => {
  const scene: Scene = { background: 'white', shapes: [{ kind: 'cross', colour: 'purple', size: 'big', position: 'bottom right' }] };
  const v = judgeImage(renderScene(scene), parsePrompt('a purple cross'));
  assert.equal(v.ok, true);
  assert.equal(v.shapes[0]!.position, 'bottom right');
});
