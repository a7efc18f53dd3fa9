import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SynthesisChains, type ChainGradient, type ChainSource } from './synthesis-chains.js';

const SIZE = 4;
const P = 3 * SIZE * SIZE;
const CTX = 3;

/** Five captions: caption j's ids are all j, its true picture all (j + 1) / 10, its tag `scene j`. */
function source(): ChainSource<string> {
  const n = 5;
  const pixels = new Float32Array(n * P);
  const ids = new BigInt64Array(n * CTX);
  for (let j = 0; j < n; j++) {
    pixels.fill((j + 1) / 10, j * P, (j + 1) * P);
    ids.fill(BigInt(j), j * CTX, (j + 1) * CTX);
  }
  return { pixels, ids, tags: Array.from({ length: n }, (_, j) => `scene ${j}`) };
}

/** The gradient of ½‖x − truth(caption)‖², each picture toward its own caption's true picture. */
const towardTruth: ChainGradient = async (x, ids) => x.map((v, i) => v - (Number(ids[Math.floor(i / P) * CTX]) + 1) / 10);
const still: ChainGradient = async (x) => new Float32Array(x.length);
const chains = (o: Partial<ConstructorParameters<typeof SynthesisChains>[0]> = {}) =>
  new SynthesisChains<string>({ slots: 4, size: SIZE, context: CTX, stepsPerVisit: 5, age: 3, seed: 7, ...o });

test('each item carries its slot\'s caption, tag and the exact direction to that caption\'s true picture', async () => {
  const c = chains();
  const src = source();
  const items = await c.advance(3, src, towardTruth);
  assert.equal(items.restarted, 3, 'every slot starts afresh at its first visit');
  for (let i = 0; i < 3; i++) {
    const j = Number(items.ids[i * CTX]);
    assert.deepEqual([...items.ids.subarray(i * CTX, (i + 1) * CTX)], [BigInt(j), BigInt(j), BigInt(j)]);
    assert.equal(items.tags[i], `scene ${j}`);
    for (let k = 0; k < P; k++) {
      assert.equal(items.truth[i * P + k], Math.fround((j + 1) / 10), 'the caption\'s own true picture');
      assert.equal(items.direction[i * P + k], Math.fround(Math.fround((j + 1) / 10) - items.pixels[i * P + k]!));
    }
  }
});

test('the chains climb toward their true pictures over visits, clamped to [0, 1]', async () => {
  const c = chains({ slots: 2, age: 1000, stepsPerVisit: 10, lr: 0.05 });
  const src = source();
  const first = await c.advance(2, src, towardTruth);
  const gapOf = (items: typeof first): number => Math.sqrt(items.direction.reduce((a, d) => a + d * d, 0) / items.direction.length);
  let last = first;
  for (let v = 0; v < 20; v++) last = await c.advance(2, src, towardTruth);
  assert.ok(gapOf(last) < 0.02 && gapOf(last) < gapOf(first) / 3, `rms gap ${gapOf(first)} → ${gapOf(last)}`);
  assert.ok(last.pixels.every((v) => v >= 0 && v <= 1));
  const up = chains({ slots: 1, age: 1000, lr: 0.5 });
  const pushed = await up.advance(1, src, async (x) => new Float32Array(x.length).fill(-1));
  assert.ok(pushed.pixels.every((v) => v === 1), 'a push past 1 is clamped');
});

test('slots are visited in turn, keep their pictures between visits and start again after `age` visits from grey or smooth noise', async () => {
  const c = chains({ slots: 4, age: 2 });
  const src = source();
  const visits = [];
  for (let v = 0; v < 6; v++) visits.push(await c.advance(2, src, still));
  // Slots 0–1, 2–3, 0–1, 2–3, 0–1 (third visit: afresh), 2–3 (afresh).
  assert.deepEqual(visits.map((v) => v.restarted), [2, 2, 0, 0, 2, 2]);
  assert.deepEqual([...visits[2]!.pixels], [...visits[0]!.pixels], 'with no gradient a slot is where it was left');
  assert.deepEqual([...visits[2]!.ids], [...visits[0]!.ids]);
  for (const v of visits) {
    for (let i = 0; i < 2; i++) {
      const x = v.pixels.subarray(i * P, (i + 1) * P);
      const grey = x.every((p) => p === 0.5);
      const smooth = !grey && x.every((p) => p >= 0 && p <= 1) && new Set(x).size > 1;
      assert.ok(grey || smooth, 'a start is flat grey or a non-constant picture in [0, 1]');
    }
  }
  const again = chains({ slots: 4, age: 2 });
  for (let v = 0; v < 6; v++) assert.deepEqual([...(await again.advance(2, src, still)).pixels], [...visits[v]!.pixels], 'the same seed, the same chains');
});

test('bad sizes and gradients are named', async () => {
  assert.throws(() => chains({ slots: 0 }), /slots must be a whole number ≥ 1, got 0/);
  assert.throws(() => chains({ lr: -1 }), /lr must be > 0, got -1/);
  const c = chains();
  await assert.rejects(c.advance(5, source(), still), /n must be a whole number in 1\.\.4, got 5/);
  await assert.rejects(c.advance(1, { pixels: new Float32Array(P), ids: new BigInt64Array(2 * CTX) }, still), /must hold 2 pictures/);
  await assert.rejects(c.advance(1, source(), async () => new Float32Array(3)), /the gradient has 3 values for 48 pixels/);
});
