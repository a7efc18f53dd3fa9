import assert from 'node:assert/strict';
import { test } from 'node:test';
import { auc, calibrateChannel, overRate, thresholdForFpr } from './calibrate.js';
import { cleanConcept, conceptKey, resolveConcepts, THRESHOLD_RANGE, type SafetyDefaults } from './concepts.js';
import { DEFAULT_CONCEPTS_FILE, defaultsForTokenizer, loadDefaultConcepts, parseDefaultConcepts } from './defaults.js';
import { sceneShows } from './shapes-labels.js';

const DEFAULTS: SafetyDefaults = {
  threshold: { image: 0.3, prompt: 0.8 },
  concepts: [{ text: 'gore', image: 0.25, prompt: 0.85 }, { text: 'nudity', image: 0.26, prompt: 0.86 }],
};

test('concepts are compared without regard to case or spacing', () => {
  assert.equal(cleanConcept('  graphic\t\n violence '), 'graphic violence');
  assert.equal(conceptKey(' Graphic  VIOLENCE'), 'graphic violence');
  assert.equal(cleanConcept('cafe\u0301'), 'café', 'NFC');
});

test('a server list resolves over the model defaults: removed ones go, own ones override or add, missing thresholds are filled', () => {
  assert.deepEqual(resolveConcepts(DEFAULTS, { concepts: [], removed: [] }), DEFAULTS.concepts);
  const r = resolveConcepts(DEFAULTS, {
    removed: ['NUDITY'],
    concepts: [{ text: 'Gore', image: 0.2 }, { text: ' red  star ', prompt: 0.9 }, { text: 'spiders' }],
  });
  assert.deepEqual(r, [
    { text: 'Gore', image: 0.2, prompt: 0.85 }, // the default concept's own prompt threshold
    { text: 'red star', image: 0.3, prompt: 0.9 }, // the model's image threshold
    { text: 'spiders', image: 0.3, prompt: 0.8 },
  ]);
  assert.deepEqual(resolveConcepts(DEFAULTS, { concepts: [{ text: 'nudity' }], removed: ['nudity'] }), [
    DEFAULTS.concepts[0], { text: 'nudity', image: 0.26, prompt: 0.86 },
  ], 'added back after a removal, with its default thresholds');
});

test('threshold for a false-positive rate: at most ⌊fpr·n⌋ negatives strictly over it, ties included', () => {
  const neg = Array.from({ length: 100 }, (_, i) => i / 100);
  assert.equal(thresholdForFpr(neg, 0.01), 0.98);
  assert.equal(overRate(neg, 0.98), 0.01);
  assert.equal(thresholdForFpr(neg, 0), 0.99);
  assert.equal(overRate(neg, 0.99), 0);
  const ties = [0.5, 0.5, 0.5, 0.1];
  assert.equal(thresholdForFpr(ties, 0.25), 0.5);
  assert.equal(overRate(ties, 0.5), 0, 'ties at the threshold are not over it');
  assert.throws(() => thresholdForFpr([], 0.01), /no negatives/);
  assert.throws(() => thresholdForFpr([1], 1), /\[0, 1\)/);
});

test('AUC by ranks agrees with counting every pair', () => {
  const pos = [0.9, 0.8, 0.8, 0.3, 0.6];
  const neg = [0.1, 0.8, 0.5, 0.2, 0.95, 0.3];
  let wins = 0;
  for (const p of pos) for (const n of neg) wins += p > n ? 1 : p === n ? 0.5 : 0;
  assert.ok(Math.abs(auc(pos, neg) - wins / (pos.length * neg.length)) < 1e-12);
  assert.equal(auc([1, 2], [0]), 1);
  assert.ok(Number.isNaN(auc([], [1])));
});

test('a calibrated threshold is kept inside the range moderators can set', () => {
  const c = calibrateChannel([0.999, 0.9995], [0.9991, 0.9992, 0.9999], 0.01)!;
  assert.equal(c.threshold, THRESHOLD_RANGE[1]);
  assert.equal(c.fpr, 1, 'the clamp shows in the reported rate');
  assert.equal(calibrateChannel([], [0.1], 0.01), undefined);
});

test('the shipped defaults: a list for real CLIP packs, none for closed vocabularies', async () => {
  const d = await loadDefaultConcepts();
  assert.ok(d.clip.concepts.length >= 10 && d.clip.concepts.length <= 100);
  assert.deepEqual(d.closedVocabulary.concepts, []);
  assert.equal(defaultsForTokenizer(d, 'clip-bpe'), d.clip);
  assert.equal(defaultsForTokenizer(d, 'word'), d.closedVocabulary);
  for (const c of d.clip.concepts) {
    for (const t of [c.image, c.prompt]) assert.ok(t >= THRESHOLD_RANGE[0] && t <= THRESHOLD_RANGE[1], `${c.text}: ${t}`);
  }
  assert.ok(d.clip.concepts.some((c) => c.text === 'graphic violence'));
  assert.match(DEFAULT_CONCEPTS_FILE, /models[/\\]safety[/\\]default-concepts\.json$/);
});

test('a broken defaults file is refused by name', () => {
  const ok = { threshold: { image: 0.2, prompt: 0.8 }, concepts: [] };
  assert.throws(() => parseDefaultConcepts({ clip: ok }, 'f.json'), /f\.json: closedVocabulary: /);
  assert.throws(() => parseDefaultConcepts({ clip: { ...ok, threshold: { image: 2, prompt: 0.8 } }, closedVocabulary: ok }, 'f.json'), /clip\.threshold\.image/);
  assert.throws(() => parseDefaultConcepts({ clip: { ...ok, concepts: [{ text: 'Gore' }, { text: 'gore ' }] }, closedVocabulary: ok }, 'f.json'), /"gore" is listed twice/);
  assert.throws(() => parseDefaultConcepts({ clip: { ...ok, concepts: [{ text: '  ' }] }, closedVocabulary: ok }, 'f.json'), /clip\.concepts\.0\.text/);
});

test('scene labels: a concept in the demo words matches the scenes that show it', () => {
  const scene = { background: 'black', shapes: [{ kind: 'star', colour: 'red', size: 'big', position: 'center' }, { kind: 'circle', colour: 'blue', size: 'small', position: 'top left' }] } as const;
  const s = { background: scene.background, shapes: scene.shapes.map((x) => ({ ...x })) };
  for (const c of ['red star', 'star', 'big red star', 'black background', 'blue circle and red star', 'a small circle in the top left']) assert.ok(sceneShows(s, c), c);
  for (const c of ['blue star', 'small star', 'red background', 'red star and blue star', 'a circle in the center']) assert.ok(!sceneShows(s, c), c);
  assert.throws(() => sceneShows(s, 'nudity'), /unknown word "nudity"/);
});
