import assert from 'node:assert/strict';
import { test } from 'node:test';
import { rng } from '../random.js';
import { sceneKey, shapesTokenizer, variantOf, type Change } from './batches.js';
import { captions } from './captions.js';
import { PAIR_MIX, pairChainPicture, type ChainPicture } from './chain-pairs.js';
import { renderSceneFloat } from './render.js';
import { cellBox, sampleScene, type Scene } from './world.js';

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
  for (let i = 0; i < 20; i++) assert.ok(sameKinds(pairChainPicture(c, S, rng(i), { exclude: (s) => !sameKinds(s) })[1].scene), 'kind changes excluded');
  assert.throws(() => pairChainPicture(c, S, rng(1), { exclude: () => true }), /no partner outside the excluded scenes/);
  assert.throws(() => pairChainPicture(c, S, rng(1), { drop: 1.5 }), /drop must be a probability in \[0, 1\], got 1.5/);
  assert.throws(() => pairChainPicture({ ...c, pixels: new Float32Array(5) }, S, rng(1)), /must hold 3072 values/);
});

test('chain pairs with drop: a two-shape picture\'s partner is its scene less one shape, so the pair\'s target is that shape alone in its cell; one-shape pictures and drop 0 pair as before', () => {
  let dropped = 0;
  for (let seed = 1; seed <= 40; seed++) {
    const c = chainPicture(seed);
    // Drop 0 reads the random stream as the call without options does.
    assert.deepEqual(pairChainPicture(c, S, rng(seed), { drop: 0 })[1].scene, pairChainPicture(c, S, rng(seed))[1].scene);
    const [own, partner] = pairChainPicture(c, S, rng(200 + seed), { drop: 1 });
    if (c.scene.shapes.length === 1) {
      assert.equal(changes(c.scene, partner.scene), 1, 'a one-shape picture keeps its one-change partner');
      continue;
    }
    dropped++;
    assert.equal(partner.scene.background, c.scene.background);
    assert.equal(partner.scene.shapes.length, 1);
    const kept = partner.scene.shapes[0]!;
    const gone = c.scene.shapes.find((s) => s.position !== kept.position)!;
    assert.ok(c.scene.shapes.some((s) => JSON.stringify(s) === JSON.stringify(kept)), 'the kept shape is one of the two, unchanged');
    // The pair's target, own − partner direction, is the left-out shape: zero outside its cell, not zero inside.
    const box = cellBox(gone.position, S);
    let inside = 0;
    for (let ch = 0; ch < 3; ch++) {
      for (let y = 0; y < S; y++) {
        for (let x = 0; x < S; x++) {
          const q = ch * S * S + y * S + x;
          const d = own.direction[q]! - partner.direction[q]!;
          if (x >= box.x0 && x < box.x1 && y >= box.y0 && y < box.y1) inside += Math.abs(d);
          else assert.ok(Math.abs(d) < 1e-6, `seed ${seed}: outside the left-out shape's cell the targets agree`);
        }
      }
    }
    assert.ok(inside > 1, `seed ${seed}: the left-out shape is the target`);
  }
  assert.ok(dropped >= 8, `enough two-shape pictures seen: ${dropped}`);
});

test('chain pairs: the default mix reads the random stream as the first pair runs did (a partner per six-way draw), so their checkpoints resume to the same pairs', () => {
  // The first runs' draw, written out: one number picks among kind ×3, position, size, colour.
  const first: readonly Change[] = ['kind', 'kind', 'kind', 'position', 'size', 'colour'];
  for (let seed = 1; seed <= 40; seed++) {
    const c = chainPicture(seed);
    const r = rng(500 + seed);
    let want: Scene | null = null;
    while (!want) want = variantOf(c.scene, first[Math.floor(r() * first.length)]!, r);
    assert.deepEqual(pairChainPicture(c, S, rng(500 + seed))[1].scene, want, `seed ${seed}`);
    assert.deepEqual(pairChainPicture(c, S, rng(500 + seed), { mix: PAIR_MIX })[1].scene, want);
  }
});

test('chain pairs with a swap mix: a two-shape picture\'s partner has its two colours exchanged (the binding), and a one-shape picture, which cannot swap, takes the mix\'s other change', () => {
  const mix = { weights: { swap: 1000, size: 1 }, perGroup: false };
  let swapped = 0;
  let single = 0;
  for (let seed = 1; seed <= 40; seed++) {
    const c = chainPicture(seed);
    const partner = pairChainPicture(c, S, rng(900 + seed), { mix })[1].scene;
    if (c.scene.shapes.length === 1) {
      single++;
      assert.notEqual(partner.shapes[0]!.size, c.scene.shapes[0]!.size, 'a size change instead');
      continue;
    }
    const [a, b] = c.scene.shapes as [Scene['shapes'][0], Scene['shapes'][0]];
    if (a.colour === b.colour) continue;
    swapped++;
    assert.deepEqual(partner.shapes.map((s) => s.colour), [b.colour, a.colour]);
    assert.deepEqual(partner.shapes.map((s) => [s.kind, s.size, s.position]), [a, b].map((s) => [s.kind, s.size, s.position]));
  }
  assert.ok(swapped >= 8 && single >= 8, `both kinds of picture seen: ${swapped} swapped, ${single} one-shape`);
  const one = Array.from({ length: 40 }, (_, s) => chainPicture(s + 1)).find((c) => c.scene.shapes.length === 1)!;
  assert.throws(() => pairChainPicture(one, S, rng(1), { mix: { weights: { swap: 1 }, perGroup: false } }), /the mix has no change this scene can take \(a swap needs two shapes of two colours\)/);
});
