import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { WordTokenizer } from '../clip/tokenizer.js';
import { rng } from '../random.js';
import { VOCABULARY, allPhrasings, captions, parsePrompt, type PromptParts } from './captions.js';
import { POSITIONS, sampleScene, type Scene } from './world.js';

const scenes = (seed: number, n: number): Scene[] => {
  const r = rng(seed);
  return Array.from({ length: n }, () => sampleScene(r));
};

/** A scene's parts as parsePrompt gives them, shapes in reading order by cell (a caption may name either first). */
const parts = (p: PromptParts | Scene): unknown => ({
  background: p.background,
  shapes: p.shapes
    .map((s) => ({ kind: s.kind, colour: s.colour, size: s.size, position: s.position }))
    .sort((a, b) => POSITIONS.indexOf(a.position!) - POSITIONS.indexOf(b.position!)),
});

const words = (text: string): string[] => text.match(/[a-z]+/g) ?? [];

describe('allPhrasings', () => {
  it('includes the phrasings the world is specified with', () => {
    const one = (background: Scene['background'], shape: Scene['shapes'][number]): string[] => allPhrasings({ background, shapes: [shape] });
    assert.ok(one('blue', { kind: 'circle', colour: 'red', size: 'big', position: 'top left' }).includes('a big red circle in the top left on a blue background'));
    assert.ok(one('blue', { kind: 'star', colour: 'yellow', size: 'small', position: 'bottom right' }).includes('blue background, small yellow star at the bottom right'));
    assert.ok(one('white', { kind: 'triangle', colour: 'green', size: 'small', position: 'center' }).includes('a small green triangle at the center, on white'));
    assert.ok(one('orange', { kind: 'ring', colour: 'black', size: 'big', position: 'left' }).includes('an orange background with a big black ring on the left'));
    const two = allPhrasings({
      background: 'white',
      shapes: [
        { kind: 'circle', colour: 'red', size: 'big', position: 'top left' },
        { kind: 'cross', colour: 'blue', size: 'small', position: 'bottom' },
      ],
    });
    assert.ok(two.includes('a big red circle in the top left and a small blue cross at the bottom on a white background'));
    assert.ok(two.includes('a small blue cross at the bottom and a big red circle in the top left on a white background'), 'either order');
  });

  it('gives several distinct phrasings per scene, the same ones every time, ignoring jitter', () => {
    for (const s of scenes(1, 200)) {
      const all = allPhrasings(s);
      assert.ok(all.length >= (s.shapes.length === 2 ? 20 : 10), `${all.length} phrasings`);
      assert.equal(new Set(all).size, all.length);
      assert.deepEqual(allPhrasings({ ...s, shapes: s.shapes.map(({ jitter: _, ...rest }) => rest) }), all);
      assert.ok(all.every((c) => (c.match(/ and /g) ?? []).length === s.shapes.length - 1));
    }
  });
});

describe('captions', () => {
  it('draws one of the phrasings, deterministically, reaching all of them', () => {
    const [s] = scenes(2, 1) as [Scene];
    const all = allPhrasings(s);
    const draw = (seed: number): string[] => {
      const r = rng(seed);
      return Array.from({ length: 400 }, () => captions(s, r));
    };
    assert.deepEqual(draw(5), draw(5));
    assert.ok(draw(5).every((c) => all.includes(c)));
    assert.equal(new Set(draw(5)).size, all.length);
  });
});

describe('VOCABULARY', () => {
  it('is every word captions use and nothing else, sorted lowercase letters', () => {
    assert.ok(VOCABULARY.every((w) => /^[a-z]+$/.test(w)));
    assert.deepEqual([...VOCABULARY], [...new Set(VOCABULARY)].sort());
    const used = new Set<string>();
    let longest = 0;
    for (const s of scenes(3, 1500)) {
      for (const c of allPhrasings(s)) {
        const ws = words(c);
        longest = Math.max(longest, ws.length);
        for (const w of ws) used.add(w);
        assert.equal(c.replace(/[a-z, ]/g, ''), '', `only letters, commas and spaces in "${c}"`);
      }
    }
    assert.deepEqual([...used].sort(), [...VOCABULARY]);
    process.stderr.write(`# shapes captions: ${VOCABULARY.length} words, longest caption ${longest} words\n`);
    assert.ok(longest <= 30, 'fits a 32-token context with start and end');
  });

  it('builds a word tokenizer that encodes every caption', () => {
    const tok = new WordTokenizer({ words: ['<pad>', '<start>', '<end>', ...VOCABULARY], pad: 0, sot: 1, eot: 2 });
    for (const s of scenes(4, 50)) for (const c of allPhrasings(s)) assert.equal(tok.decode(tok.encode(c, 32).ids), `<start> ${words(c).join(' ')} <end>`);
  });
});

describe('parsePrompt', () => {
  it('reads every phrasing of every scene back into the scene\'s parts', () => {
    let n = 0;
    for (const s of scenes(5, 1500)) {
      for (const c of allPhrasings(s)) {
        assert.deepEqual(parts(parsePrompt(c)), parts(s), c);
        n++;
      }
    }
    assert.ok(n > 20000);
  });

  it('keeps the order the prompt names the shapes in', () => {
    const p = parsePrompt('a small blue cross at the bottom and a big red circle in the top left on a white background');
    assert.deepEqual(p.shapes.map((s) => s.kind), ['cross', 'circle']);
  });

  it('reads partial prompts and free word order around the parts', () => {
    assert.deepEqual(parsePrompt('a red star'), { shapes: [{ kind: 'star', colour: 'red' }] });
    assert.deepEqual(parsePrompt('on white'), { background: 'white', shapes: [] });
    assert.deepEqual(parsePrompt('Top-Left: a BIG circle!'), { shapes: [{ kind: 'circle', size: 'big', position: 'top left' }] });
    assert.deepEqual(parsePrompt('an orange ring in the top middle, on an orange background'.replace('orange ring', 'pink ring')), {
      background: 'orange',
      shapes: [{ kind: 'ring', colour: 'pink', position: 'top' }],
    });
    assert.deepEqual(parsePrompt('a square in the middle left and a cross'), { shapes: [{ kind: 'square', position: 'left' }, { kind: 'cross' }] });
    assert.deepEqual(parsePrompt('blue background blue background, a star'), { background: 'blue', shapes: [{ kind: 'star' }] });
  });

  const fails = (text: string, re: RegExp): void => {
    assert.throws(() => parsePrompt(text), (e: Error) => {
      assert.match(e.message, re);
      assert.ok(!e.message.includes('\n'), 'one line');
      return true;
    });
  };

  it('names unknown words once each and lists the vocabulary, in one line', () => {
    fails('a big red dragon near a red dragon', new RegExp(`^unknown words "dragon", "near" in "a big red dragon near a red dragon"; the shapes model knows only: ${VOCABULARY.join(' ')}$`));
    fails('a teal circle', /^unknown word "teal" in/);
  });

  it('refuses prompts that cannot be one scene, saying why', () => {
    fails('', /has no words/);
    fails('a red circle on blue on green', /two backgrounds, blue and green/);
    fails('a circle, a square and a star', /names 3 shapes; a shapes-world image holds one or two/);
    fails('a circle in the top left and a star in the top left', /puts both shapes at the top left/);
    fails('a blue circle on blue', /blue circle on a blue background, which would be invisible/);
    fails('a big in the top left', /"big" in .* is not followed by a shape .* but by "in"/);
    fails('a red big circle', /"red big" in "a red big circle": name a shape as size, colour, kind, e.g. "a big red circle"/);
    fails('a red blue circle', /"red blue" in/);
    fails('a small', /"small" in .* but by "the end of the prompt"/);
    fails('a circle in the top left at the bottom', /position "bottom" in .* does not belong to any shape/);
    fails('in the top, at the left, a circle', /two positions \(top, left\) for one shape/);
    fails('a circle at the top bottom', /"top bottom" in .* names two rows/);
    fails('a circle at the left right', /names two columns/);
    fails('a circle at the top left middle', /"top left middle" in .* is not a position/);
    fails('a background', /"background" in .* needs a colour before it/);
    fails('the and with', /names no shape and no background/);
  });
});
