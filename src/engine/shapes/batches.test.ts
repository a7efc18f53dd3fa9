import assert from 'node:assert/strict';
import { test } from 'node:test';
import { rng } from '../random.js';
import { batchOf, distinctScenes, hardScenes, makeBatch, makeHardBatch, parseMix, sceneKey, shapesTokenizer, variantOf } from './batches.js';
import { VOCABULARY, allPhrasings } from './captions.js';
import { SHAPES_CONFIG, SHAPES_TOKENIZER, SHAPES_WORDS } from './model-config.js';
import { renderSceneFloat } from './render.js';
import { checkScene, sampleScene, type Scene, type SceneOptions } from './world.js';

const S = SHAPES_CONFIG.vision.imageSize;
const CTX = SHAPES_CONFIG.text.contextLength;
const spec = SHAPES_TOKENIZER as Extract<typeof SHAPES_TOKENIZER, { kind: 'word' }>;

const idsRow = (ids: BigInt64Array, i: number): number[] => Array.from(ids.subarray(i * CTX, (i + 1) * CTX), Number);

/** The scenes sampleScene draws from `seed`, duplicates by key dropped, in order: what distinctScenes promises. */
function firstDistinct(seed: number, n: number, opts: SceneOptions = {}): { scenes: Scene[]; skipped: number } {
  const r = rng(seed);
  const seen = new Set<string>();
  const scenes: Scene[] = [];
  let skipped = 0;
  while (scenes.length < n) {
    const s = sampleScene(r, opts);
    if (seen.has(sceneKey(s))) { skipped++; continue; }
    seen.add(sceneKey(s));
    scenes.push(s);
  }
  return { scenes, skipped };
}

test('makeBatch is a pure function of its seed', () => {
  const a = makeBatch(7, 12);
  assert.deepEqual(makeBatch(7, 12), a);
  const b = makeBatch(8, 12);
  assert.notDeepEqual(b.scenes, a.scenes);
  assert.notDeepEqual(b.captions, a.captions);
  assert.equal(a.pixels.length, 12 * 3 * S * S);
  assert.equal(a.ids.length, 12 * CTX);
  assert.equal(a.captions.length, 12);
  assert.equal(a.scenes.length, 12);
});

test('distinctScenes: the seed\'s scenes in order with repeats (by sceneKey) skipped', () => {
  // A seed whose first single-shape scenes repeat one (likely within 200 of 9,720 possible), so the
  // skipping is exercised, not assumed.
  const opts: SceneOptions = { count: 1 };
  let seed = 1;
  while (firstDistinct(seed, 200, opts).skipped === 0) {
    seed++;
    assert.ok(seed < 50, 'no seed in 1..50 repeats a scene within 200 draws; is sceneKey telling apart what captions cannot?');
  }
  const want = firstDistinct(seed, 200, opts).scenes;
  const got = distinctScenes(seed, 200, opts);
  assert.deepEqual(got, want);
  assert.equal(new Set(got.map(sceneKey)).size, 200);
  assert.ok(got.every((s) => s.shapes.length === 1), 'the scene options are passed on');
});

test('scenes within a batch differ in what a caption can say; the options reach the sampler', () => {
  const b = makeBatch(3, 64);
  assert.equal(new Set(b.scenes.map(sceneKey)).size, 64);
  const plain = makeBatch(4, 16, { count: 2, jitter: false });
  for (const s of plain.scenes) {
    assert.equal(s.shapes.length, 2);
    assert.ok(s.shapes.every((sh) => sh.jitter === undefined), 'no jitter');
  }
});

test('pixels are renderSceneFloat of each scene, image after image', () => {
  const b = makeBatch(5, 6);
  const plane = 3 * S * S;
  b.scenes.forEach((scene, i) => {
    assert.deepEqual(b.pixels.subarray(i * plane, (i + 1) * plane), renderSceneFloat(scene, S), `image ${i}`);
  });
});

test('ids: each row is start, the caption\'s words, end, then padding; decode gives the words back', () => {
  const tok = shapesTokenizer();
  const b = makeBatch(6, 24);
  b.captions.forEach((caption, i) => {
    assert.ok(allPhrasings(b.scenes[i]!).includes(caption), `caption ${i} "${caption}" is a phrasing of its scene`);
    const row = idsRow(b.ids, i);
    const words = caption.toLowerCase().match(/\p{L}+/gu)!;
    assert.equal(tok.decode(row), ['<start>', ...words, '<end>'].join(' '), `row ${i}`);
    assert.equal(row[0], spec.sot);
    assert.equal(row[words.length + 1], spec.eot);
    assert.ok(row.slice(words.length + 2).every((id) => id === spec.pad), `row ${i} is padded after its end`);
    // The text tower pools at argmax(ids): the end of text must be the largest id, and the first at it.
    assert.equal(Math.max(...row), spec.eot);
    assert.equal(row.indexOf(Math.max(...row)), words.length + 1);
  });
});

test('batchOf: the given scenes, one phrasing each chosen by the seed; pixels do not depend on it', () => {
  const scenes = distinctScenes(9, 16);
  const a = batchOf(scenes, 1);
  assert.deepEqual(a.scenes, scenes);
  assert.notEqual(a.scenes, scenes, 'a copy of the list');
  assert.deepEqual(batchOf(scenes, 1), a);
  const b = batchOf(scenes, 2);
  assert.deepEqual(b.pixels, a.pixels);
  assert.notDeepEqual(b.captions, a.captions);
  // Captions spread over the phrasings rather than always the first.
  const firsts = a.captions.filter((c, i) => c === allPhrasings(scenes[i]!)[0]).length;
  assert.ok(firsts < 8, `${firsts} of 16 captions are the first phrasing`);
});

test('sceneKey ignores the drawing jitter and the order of the shapes, and nothing else', () => {
  const scene: Scene = {
    background: 'blue',
    shapes: [
      { kind: 'circle', colour: 'red', size: 'big', position: 'top left', jitter: { scale: 0.1, angle: 0.9 } },
      { kind: 'star', colour: 'yellow', size: 'small', position: 'bottom right' },
    ],
  };
  const key = sceneKey(scene);
  const swapped: Scene = { background: 'blue', shapes: [{ ...scene.shapes[1]!, jitter: { scale: -1, angle: 0 } }, { ...scene.shapes[0]!, jitter: undefined }] };
  assert.equal(sceneKey(swapped), key);
  const changes: Array<(s: Scene) => void> = [
    (s) => { s.background = 'green'; },
    (s) => { s.shapes[0]!.kind = 'square'; },
    (s) => { s.shapes[0]!.colour = 'pink'; },
    (s) => { s.shapes[0]!.size = 'small'; },
    (s) => { s.shapes[1]!.position = 'bottom'; },
    (s) => { s.shapes.pop(); },
    // Same parts, shared out differently between the two shapes.
    (s) => { s.shapes[0]!.colour = 'yellow'; s.shapes[1]!.colour = 'red'; },
  ];
  for (const change of changes) {
    const other = structuredClone(scene);
    change(other);
    assert.notEqual(sceneKey(other), key, JSON.stringify(other));
  }
});

test('shapesTokenizer: one instance, the model\'s vocabulary, every caption word known, end of text the largest id', () => {
  const tok = shapesTokenizer();
  assert.equal(shapesTokenizer(), tok);
  assert.equal(tok.vocabSize, SHAPES_CONFIG.text.vocabSize);
  assert.equal(spec.eot, SHAPES_WORDS.length - 1);
  for (const word of VOCABULARY) {
    const ids = tok.encode(word, CTX).ids;
    assert.equal(ids[1], SHAPES_WORDS.indexOf(word), word);
  }
  assert.throws(() => tok.encode('a purple dragon', CTX), /unknown word "dragon"/);
});

/** What one scene changed from another, by the words a caption would use. */
function changeBetween(a: Scene, b: Scene): string[] {
  const diff: string[] = [];
  if (a.background !== b.background) diff.push('background');
  a.shapes.forEach((s, i) => {
    const t = b.shapes[i]!;
    for (const k of ['kind', 'position', 'size', 'colour'] as const) if (s[k] !== t[k]) diff.push(k);
  });
  return diff;
}

test('variantOf changes exactly the one thing asked, and refuses what is impossible', () => {
  const r = rng(21);
  const changes = ['kind', 'position', 'size', 'colour', 'background', 'swap'] as const;
  for (let n = 0; n < 200; n++) {
    const base = sampleScene(r, { count: n % 2 === 0 ? 1 : 2 });
    for (const change of changes) {
      const v = variantOf(base, change, r);
      if (v === null) {
        assert.ok(change === 'swap' && (base.shapes.length === 1 || base.shapes[0]!.colour === base.shapes[1]!.colour), `${change} refused on ${sceneKey(base)}`);
        continue;
      }
      checkScene(v);
      assert.notEqual(sceneKey(v), sceneKey(base), change);
      const diffs = changeBetween(base, v);
      v.shapes.forEach((s, i) => assert.deepEqual(s.jitter, base.shapes[i]!.jitter, 'the drawing jitter is kept'));
      if (change === 'swap') assert.deepEqual(diffs, ['colour', 'colour']);
      else assert.deepEqual(diffs, [change]);
    }
  }
});

test('hardScenes: distinct scenes in groups of near misses', () => {
  const scenes = hardScenes(5, 64, 4);
  assert.equal(scenes.length, 64);
  assert.equal(new Set(scenes.map(sceneKey)).size, 64);
  assert.deepEqual(hardScenes(5, 64, 4), scenes, 'deterministic by seed');
  // Most members of a group share the first one's background or a shape colour with it.
  let related = 0;
  for (let i = 0; i < 64; i++) {
    const base = scenes[i - (i % 4)]!;
    const s = scenes[i]!;
    if (s.background === base.background || s.shapes.some((x) => base.shapes.some((y) => y.colour === x.colour))) related++;
  }
  assert.ok(related >= 60, `${related}/64 related to their group's first scene`);
  assert.throws(() => hardScenes(1, 20_000, 4, { count: 1 }), /could not draw 20000 distinct scenes/);
});

test('hardScenes: a mix with one change makes every variant differ in that alone; per group, a group shares its change', () => {
  const kindOnly = hardScenes(9, 48, 6, { count: 1 }, parseMix('kind', false));
  for (let i = 0; i < 48; i++) {
    if (i % 6 === 0) continue;
    assert.deepEqual(changeBetween(kindOnly[i - (i % 6)]!, kindOnly[i]!), ['kind'], `scene ${i}`);
  }
  const grouped = hardScenes(9, 60, 6, { count: 1 }, parseMix('kind=1,position=1', true));
  const perGroup = new Set<string>();
  for (let g = 0; g < 60; g += 6) {
    const changes = new Set(grouped.slice(g + 1, g + 6).flatMap((s) => changeBetween(grouped[g]!, s)));
    assert.equal(changes.size, 1, `group ${g / 6} mixes ${[...changes].join(', ')}`);
    perGroup.add([...changes][0]!);
  }
  assert.deepEqual([...perGroup].sort(), ['kind', 'position'], 'both changes drawn across groups');
  // Zero weight: never drawn (a one-shape scene has one other size, so groups of two).
  const noKind = hardScenes(9, 48, 2, { count: 1 }, parseMix('kind=0,size=1', false));
  for (let i = 1; i < 48; i += 2) assert.deepEqual(changeBetween(noKind[i - 1]!, noKind[i]!), ['size']);
});

test('makeHardBatch: each picture\'s partner is another of its group (one change away), every group a cycle', () => {
  const b = makeHardBatch(4, 60, { group: 6, size: 16, scene: { count: 1 }, mix: parseMix('kind=1,position=1,background=1', true) });
  assert.equal(b.partners.length, 60);
  assert.deepEqual([...b.partners].sort((x, y) => x - y), Array.from({ length: 60 }, (_, i) => i), 'a permutation');
  let moved = 0;
  b.partners.forEach((j, i) => {
    if (j === i) return;
    moved++;
    assert.equal(changeBetween(b.scenes[i]!, b.scenes[j]!).length, 1, `scene ${i} and its partner ${j} differ in one thing`);
  });
  assert.ok(moved >= 55, `${moved}/60 pictures have a partner other than themselves`);
  // Without hard groups, every scene is alone: its own partner.
  const alone = makeHardBatch(4, 12, { group: 1, size: 16 });
  assert.deepEqual(alone.partners, Array.from({ length: 12 }, (_, i) => i));
});

test('parseMix: names and weights checked', () => {
  assert.deepEqual(parseMix('kind=3, position=2,size', true), { weights: { kind: 3, position: 2, size: 1 }, perGroup: true });
  assert.throws(() => parseMix('shape=2', false), /unknown near-miss change "shape"; the changes are kind, position/);
  assert.throws(() => parseMix('kind=-1', false), /weight of "kind" must be a number ≥ 0/);
  assert.throws(() => parseMix('kind=x', false), /weight of "kind"/);
  assert.throws(() => parseMix('kind=0', false), /at least one change/);
});

test('makeHardBatch: pictures at the asked size', () => {
  const b = makeHardBatch(3, 8, { size: 48, group: 2 });
  assert.equal(b.pixels.length, 8 * 3 * 48 * 48);
  assert.equal(makeBatch(3, 4, {}, 32).pixels.length, 4 * 3 * 32 * 32);
});
