import assert from 'node:assert/strict';
import { test } from 'node:test';
import { rng } from '../random.js';
import { sceneKey, shapesTokenizer } from './batches.js';
import { captions } from './captions.js';
import { pairChainPicture, type ChainPicture } from './chain-pairs.js';
import { renderSceneFloat } from './render.js';
import { sampleScene, type Scene } from './world.js';

const S = 32;
const P = 3 * S * S;
const CTX = 32;

/** A chain picture: the scene's truth, half faded to grey and jittered, as a chain's blob would be. */
function chainPicture(seed: number): ChainPicture {
  const r = rng(seed);
  const scene = sampleScene(r);
  const truth = renderSceneFloat(scene, S);
  const caption = captions(scene, r);
  const ids = BigInt64Array.from(shapesTokenizer().encode(caption, CTX).ids, (id) => BigInt(id));
  return { pixels: truth.map((v) => 0.5 * v + 0.25 + 0.05 * (r() - 0.5)), truth, ids, scene, caption };
}

/** How many of the two scenes' attributes differ (the background, and each shape's kind, colour, size, cell). */
function changes(a: Scene, b: Scene): number {
  let n = a.background === b.background ? 0 : 1;
  a.shapes.forEach((s, i) => {
    const t = b.shapes[i]!;
    for (const k of ['kind', 'colour', 'size', 'position'] as const) if (s[k] !== t[k]) n++;
  });
  return n;
}

test('a chain picture is taken twice: with its own caption, and with a one-change partner whose direction is its own true picture minus the same pixels', () => {
  for (let seed = 1; seed <= 12; seed++) {
    const c = chainPicture(seed);
    const [own, partner] = pairChainPicture(c, S, rng(100 + seed));
    assert.deepEqual(own.pixels, c.pixels);
    assert.deepEqual(partner.pixels, c.pixels, 'the pair shares its picture');
    assert.deepEqual(own.ids, c.ids);
    assert.equal(own.caption, c.caption);
    for (let q = 0; q < P; q++) assert.ok(Math.abs(own.direction[q]! - (c.truth[q]! - c.pixels[q]!)) < 1e-7);
    assert.equal(partner.scene.shapes.length, c.scene.shapes.length);
    assert.equal(changes(c.scene, partner.scene), 1, `seed ${seed}: ${sceneKey(c.scene)} → ${sceneKey(partner.scene)} is one change`);
    const truth = renderSceneFloat(partner.scene, S);
    assert.deepEqual(partner.truth, truth);
    for (let q = 0; q < P; q++) assert.ok(Math.abs(partner.direction[q]! - (truth[q]! - c.pixels[q]!)) < 1e-7);
    assert.deepEqual(partner.ids, BigInt64Array.from(shapesTokenizer().encode(partner.caption, CTX).ids, (id) => BigInt(id)), 'the partner\'s ids encode its caption');
    // The shared pixels cancel: the pair's direction difference is the difference of the two true pictures.
    for (let q = 0; q < P; q += 31) assert.ok(Math.abs(own.direction[q]! - partner.direction[q]! - (c.truth[q]! - truth[q]!)) < 1e-6);
  }
});

test('chain pairs: the kind is the change most often, the draw is a pure function of the random stream, and excluded partners are never drawn', () => {
  const c = chainPicture(7);
  const kinds = Array.from({ length: 60 }, (_, i) => pairChainPicture(c, S, rng(i))[1]).filter((p) => p.scene.shapes.some((s, k) => s.kind !== c.scene.shapes[k]!.kind)).length;
  assert.ok(kinds >= 20 && kinds <= 40, `about half the partners change the kind: ${kinds} of 60`);
  assert.deepEqual(pairChainPicture(c, S, rng(5))[1].scene, pairChainPicture(c, S, rng(5))[1].scene);
  const sameKinds = (s: Scene): boolean => s.shapes.every((x, k) => x.kind === c.scene.shapes[k]!.kind);
  for (let i = 0; i < 20; i++) assert.ok(sameKinds(pairChainPicture(c, S, rng(i), (s) => !sameKinds(s))[1].scene), 'kind changes excluded');
  assert.throws(() => pairChainPicture(c, S, rng(1), () => true), /no one-change partner/);
  assert.throws(() => pairChainPicture({ ...c, pixels: new Float32Array(5) }, S, rng(1)), /must hold 3072 values/);
});
