import assert from 'node:assert/strict';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { MIGRATIONS } from './migrations.js';
import { DEFAULT_SAFETY, MAX_CONCEPTS, SafetyError, validateSafetyPatch } from './safety.js';
import { addConcepts, removeConcepts, setThresholds } from './safety-edits.js';
import { migrate, openStore } from './store.js';

const G = '111111111111111111';
const MOD = '222222222222222222';
const U = '333333333333333333';

test('a server nobody configured blocks, with the model\'s default concepts', () => {
  const s = openStore(':memory:');
  assert.deepEqual(s.safety.get(G), DEFAULT_SAFETY);
  assert.equal(DEFAULT_SAFETY.mode, 'block');
  s.close();
});

test('the safety step migrates a database made by the first schema, keeping its data', () => {
  const db = new Database(':memory:');
  migrate(db, MIGRATIONS.slice(0, 1));
  db.prepare("INSERT INTO guild_limits VALUES ('g', '{}', 1)").run();
  assert.equal(migrate(db), MIGRATIONS.length);
  assert.deepEqual(db.prepare('SELECT guild_id FROM guild_limits').all(), [{ guild_id: 'g' }]);
  assert.deepEqual(db.prepare('SELECT count(*) AS n FROM guild_safety').get(), { n: 0 });
  db.close();
});

test('changes apply at once, are cleaned, and audit who changed which field from what to what', () => {
  let t = 1_700_000_000_000;
  const s = openStore(':memory:', { now: () => t });
  const a = s.safety.set(G, { concepts: [{ text: '  red   star ', image: 0.7 }, { text: 'gore' }] }, MOD);
  assert.deepEqual(a.concepts, [{ text: 'red star', image: 0.7 }, { text: 'gore' }]);
  assert.deepEqual(s.safety.get(G), { mode: 'block', concepts: a.concepts, removed: [] });
  assert.deepEqual(s.safety.get('999999999999999999'), DEFAULT_SAFETY, 'other servers keep theirs');
  t += 1000;
  s.safety.set(G, { mode: 'spoiler', removed: ['Nudity'] }, U);
  const log = s.audit.list(G);
  assert.equal(log.length, 2);
  assert.deepEqual(log[0], {
    id: 2, guildId: G, actorId: U, action: 'safety.set', at: t,
    change: { mode: { from: 'block', to: 'spoiler' }, removed: { from: [], to: ['Nudity'] } },
  });
  assert.deepEqual(log[1]!.change, { concepts: { from: [], to: [{ text: 'red star', image: 0.7 }, { text: 'gore' }] } });
  s.safety.set(G, { mode: 'spoiler' }, MOD);
  assert.equal(s.audit.list(G).length, 2, 'a change that changes nothing is not audited');
  assert.deepEqual(s.safety.resetConcepts(G, MOD), { mode: 'spoiler', concepts: [], removed: [] }, 'reset keeps the mode');
  assert.equal(s.audit.list(G)[0]!.action, 'safety.set');
  s.close();
});

test('update reads and writes in one transaction; a refusal inside it writes nothing', () => {
  const s = openStore(':memory:');
  s.safety.set(G, { concepts: [{ text: 'gore' }] }, MOD);
  const r = s.safety.update(G, MOD, (cur) => ({ concepts: [...cur.concepts, { text: 'blood', prompt: 0.9 }] }));
  assert.deepEqual(r.before.concepts, [{ text: 'gore' }]);
  assert.deepEqual(r.after.concepts, [{ text: 'gore' }, { text: 'blood', prompt: 0.9 }]);
  assert.throws(() => s.safety.update(G, MOD, () => { throw new SafetyError('no concept "x" on this server\'s list'); }), /no concept "x"/);
  assert.throws(() => s.safety.update(G, MOD, (cur) => ({ mode: 'spoiler', concepts: [...cur.concepts, { text: 'GORE' }] })), /"gore" is listed twice/);
  assert.deepEqual(s.safety.get(G), { mode: 'block', concepts: r.after.concepts, removed: [] }, 'the valid part of a refused change is not applied');
  assert.equal(s.audit.list(G).length, 2);
  s.close();
});

test('bad lists get one clear line: thousands of entries, empty strings, long texts, thresholds out of range', () => {
  const one = (patch: Parameters<typeof validateSafetyPatch>[0]): string => {
    try {
      validateSafetyPatch(patch);
    } catch (e) {
      assert.ok(e instanceof SafetyError);
      assert.ok(!e.message.includes('\n'), e.message);
      return e.message;
    }
    return 'accepted';
  };
  const many = Array.from({ length: 5000 }, (_, i) => ({ text: `concept ${i}` }));
  assert.equal(one({ concepts: many }), `concepts: at most ${MAX_CONCEPTS} concepts, got 5,000`);
  assert.equal(one({ concepts: Array.from({ length: MAX_CONCEPTS }, (_, i) => ({ text: `c${i}` })) }), 'accepted');
  assert.equal(one({ concepts: [{ text: 'gore' }, { text: ' \u3000 ' }] }), 'concept 2 is empty: each concept needs at least one word');
  assert.equal(one({ concepts: [{ text: '' }] }), 'concept 1 is empty: each concept needs at least one word');
  assert.match(one({ concepts: [{ text: 'x'.repeat(101) }] }), /^the concept "x{39}…" is 101 characters; the most is 100$/);
  assert.equal(one({ concepts: [{ text: 'gore', image: 1.5 }] }), 'the image threshold of "gore" must be a number from 0.01 to 0.99, got 1.5');
  assert.equal(one({ concepts: [{ text: 'gore', prompt: Number.NaN }] }), 'the prompt threshold of "gore" must be a number from 0.01 to 0.99, got NaN');
  assert.equal(one({ concepts: [{ text: 42 as unknown as string }] }), 'concept 1 is not text');
  assert.equal(one({ removed: Array.from({ length: 101 }, () => 'x') }), 'removed defaults: at most 100 concepts, got 101');
  assert.equal(one({ removed: ['gore', ''] }), 'concept 2 is empty: each concept needs at least one word');
  assert.equal(one({ mode: 'hide' as 'off' }), 'mode must be one of block, spoiler, off, got hide');
});

test('a caught picture is audited under its member, with the concept and the scores', () => {
  const s = openStore(':memory:');
  s.safety.recordFlag({
    guildId: G, jobId: 'ab12cd34', userId: U, mode: 'block', model: 'shapes', concept: 'green background',
    image: { score: 0.87, threshold: 0.82 }, prompt: { score: 0.95, threshold: 0.89 },
  });
  s.safety.recordFlag({ guildId: G, jobId: 'ef56gh78', userId: U, mode: 'spoiler', concept: 'gore', image: { score: 0.3, threshold: 0.24 } });
  const [spoiler, withheld] = s.audit.list(G);
  assert.deepEqual([withheld!.action, withheld!.actorId], ['safety.withheld', U]);
  assert.deepEqual(withheld!.change, {
    verdict: { from: null, to: { jobId: 'ab12cd34', model: 'shapes', concept: 'green background', image: { score: 0.87, threshold: 0.82 }, prompt: { score: 0.95, threshold: 0.89 } } },
  });
  assert.equal(spoiler!.action, 'safety.spoilered');
  s.close();
});

test('list edits: add keeps thresholds not named again; remove drops own concepts and marks defaults; thresholds go on own or default ones', () => {
  const defaults = new Set(['gore', 'nudity']);
  const cur = { mode: 'block' as const, concepts: [{ text: 'red star', image: 0.7 }], removed: ['Nudity'] };
  assert.deepEqual(addConcepts(cur, ['Red Star', 'nudity'], { prompt: 0.9 }), {
    concepts: [{ text: 'Red Star', image: 0.7, prompt: 0.9 }, { text: 'nudity', prompt: 0.9 }],
    removed: [],
  });
  assert.deepEqual(removeConcepts(cur, ['RED STAR', 'gore'], defaults), { concepts: [], removed: ['Nudity', 'gore'] });
  assert.throws(() => removeConcepts(cur, ['nudity'], defaults), /^SafetyError: "nudity" is not on this server's list/, 'already removed');
  assert.throws(() => removeConcepts(cur, ['blue star'], defaults), /"blue star" is not on this server's list/);
  const over = { ...cur, concepts: [...cur.concepts, { text: 'gore', image: 0.2 }] };
  assert.deepEqual(removeConcepts(over, ['gore'], defaults), { concepts: cur.concepts, removed: ['Nudity', 'gore'] }, 'an override and its default go together');
  assert.deepEqual(setThresholds(cur, 'red star', { prompt: 0.8 }, defaults), { concepts: [{ text: 'red star', image: 0.7, prompt: 0.8 }] });
  assert.deepEqual(setThresholds(cur, 'Gore', { image: 0.3 }, defaults), { concepts: [cur.concepts[0], { text: 'Gore', image: 0.3 }] });
  assert.throws(() => setThresholds(cur, 'nudity', { image: 0.3 }, defaults), /"nudity" is not on this server's list: add it/);
});
