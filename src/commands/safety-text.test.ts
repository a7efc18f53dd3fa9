import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bounded, describeSafety } from './safety-text.js';

const DEFAULTS = [{ text: 'gore', image: 0.24, prompt: 0.86 }, { text: 'nudity', image: 0.24, prompt: 0.86 }, { text: 'suicide', image: 0.24, prompt: 0.86 }];

test('the list shows the defaults a server kept, its removals and its own concepts with their thresholds', () => {
  const text = describeSafety({ mode: 'spoiler', removed: ['Nudity'], concepts: [{ text: 'gore', image: 0.2 }, { text: 'spiders' }] }, DEFAULTS, ['clipag-vitb32']);
  assert.equal(text, [
    '**Mode:** spoiler (a flagged picture is posted behind a spoiler cover)',
    '**Default concepts** (for clipag-vitb32): "suicide"',
    '**Removed defaults:** "Nudity"',
    '**This server\'s concepts (2):** "gore" (picture > 0.2 · prompt default), "spiders" (picture default · prompt default)',
  ].join('\n'));
  assert.match(describeSafety({ mode: 'off', removed: [], concepts: [] }, DEFAULTS, []), /Default concepts:\*\* none \(this bot's models have closed vocabularies/);
});

test('concept texts are quoted safely: markdown escaped, mentions broken', () => {
  const text = describeSafety({ mode: 'block', removed: [], concepts: [{ text: '**@everyone**' }] }, [], []);
  assert.match(text, /"\\\*\\\*@\u200Beveryone\\\*\\\*"/);
});

test('long lists stop with a count', () => {
  assert.equal(bounded(['aaaa', 'bbbb', 'cccc'], 12), 'aaaa, bbbb … and 1 more');
  assert.equal(bounded(['aaaa', 'bbbb'], 12), 'aaaa, bbbb');
});
