import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { AdamW } from '../pag/optim.js';
import { gaussian, rng } from '../random.js';
import type { Params } from './params.js';
import { loadTrainState, saveTrainState, stateMismatch, type TrainState } from './train-state.js';

let dir: string;
before(async () => { dir = await mkdtemp(join(tmpdir(), 'clipag-train-state-')); });
after(async () => { await rm(dir, { recursive: true, force: true }); });

/** Sizes of a few parameters; `frozen.weight` has no optimizer (it is not trained). */
const SIZES: Record<string, number> = { 'visual.proj': 24, 'transformer.resblocks.0.ln_1.bias': 7, logit_scale: 1, 'frozen.weight': 5 };
const TRAINED = ['visual.proj', 'transformer.resblocks.0.ln_1.bias', 'logit_scale'];

/** Each parameter's optimizer; hyper-parameters differ per name so a mix-up would show. */
function makeOptim(name: string, size: number): AdamW {
  const k = TRAINED.indexOf(name);
  return new AdamW(size, { lr: 0.01 * (k + 1), weightDecay: name === 'logit_scale' ? 0 : 0.1, betas: [0.9, 0.98] });
}

function freshState(): TrainState {
  const r = rng(1);
  const params: Params = new Map(Object.entries(SIZES).map(([n, s]) => [n, Float32Array.from({ length: s }, () => gaussian(r))]));
  const optim = new Map(TRAINED.map((n) => [n, makeOptim(n, SIZES[n]!)]));
  return { params, optim, meta: {} };
}

/** A gradient that depends on the parameter's current value and the step, as a real one would. */
function grad(name: string, p: Float32Array, step: number): Float32Array {
  const r = rng(step * 7919 + name.length);
  return Float32Array.from(p, (v) => 0.3 * Math.sin(3 * v) + gaussian(r));
}

function train(s: TrainState, from: number, to: number): void {
  for (let step = from; step < to; step++) {
    for (const [name, o] of s.optim) o.step(s.params.get(name)!, grad(name, s.params.get(name)!, step));
  }
}

function assertSameState(a: TrainState, b: TrainState): void {
  assert.deepEqual([...a.params.keys()].sort(), [...b.params.keys()].sort());
  for (const [name, p] of a.params) assert.deepEqual(b.params.get(name), p, `parameter ${name}`);
  assert.deepEqual([...a.optim.keys()].sort(), [...b.optim.keys()].sort());
  for (const [name, o] of a.optim) {
    const x = o.state();
    const y = b.optim.get(name)!.state();
    assert.equal(y.steps, x.steps, `${name}: step count`);
    assert.deepEqual(y.m, x.m, `${name}: first moments`);
    assert.deepEqual(y.v, x.v, `${name}: second moments`);
  }
}

test('round trip: parameters, AdamW moments and step counts, metadata', async () => {
  const s = freshState();
  train(s, 0, 3);
  s.meta = { phase: 'adversarial', step: '3', note: 'ε = 4/255, ünïcode' };
  const path = join(dir, 'roundtrip.safetensors');
  await saveTrainState(path, s);
  const made: Array<[string, number]> = [];
  const loaded = await loadTrainState(path, (name, size) => {
    made.push([name, size]);
    return makeOptim(name, size);
  });
  assertSameState(s, loaded);
  assert.deepEqual(loaded.meta, s.meta);
  assert.deepEqual(made.sort(), TRAINED.map((n) => [n, SIZES[n]!] as [string, number]).sort(), 'one optimizer per trained parameter, of its size');
  assert.equal(loaded.optim.has('frozen.weight'), false, 'an untrained parameter gets no optimizer');
  assert.equal(loaded.optim.get('visual.proj')!.t, 3);
  // The optimizer's hyper-parameters are the caller's, not the file's.
  assert.equal(loaded.optim.get('transformer.resblocks.0.ln_1.bias')!.lr, 0.02);
});

test('continuing after a reload is bit-identical to an uninterrupted run', async () => {
  const straight = freshState();
  train(straight, 0, 7);

  const first = freshState();
  train(first, 0, 3);
  const path = join(dir, 'resume.safetensors');
  await saveTrainState(path, first);
  // Training on in memory after the save must not leak into what was saved.
  train(first, 3, 5);
  const resumed = await loadTrainState(path, makeOptim);
  train(resumed, 3, 7);

  assertSameState(straight, resumed);
  // Not vacuous: a run restarted with fresh moments (as if they were not saved) ends elsewhere.
  const amnesiac = await loadTrainState(path, makeOptim);
  for (const name of TRAINED) amnesiac.optim.set(name, makeOptim(name, SIZES[name]!));
  train(amnesiac, 3, 7);
  assert.notDeepEqual(amnesiac.params.get('visual.proj'), straight.params.get('visual.proj'));
});

test('step counts beyond 32 bits survive', async () => {
  const s = freshState();
  const o = s.optim.get('logit_scale')!;
  o.restore({ steps: 2 ** 33 + 5, m: Float32Array.of(0.25), v: Float32Array.of(0.5) });
  const path = join(dir, 'steps.safetensors');
  await saveTrainState(path, s);
  const loaded = await loadTrainState(path, makeOptim);
  assert.equal(loaded.optim.get('logit_scale')!.t, 2 ** 33 + 5);
  assert.deepEqual(loaded.optim.get('logit_scale')!.state().m, Float32Array.of(0.25));
});

test('a state of parameters alone loads with no optimizers and empty metadata', async () => {
  const s = freshState();
  s.optim = new Map();
  const path = join(dir, 'params-only.safetensors');
  await saveTrainState(path, s);
  let calls = 0;
  const loaded = await loadTrainState(path, (n, size) => { calls++; return makeOptim(n, size); });
  assert.equal(calls, 0);
  assert.equal(loaded.optim.size, 0);
  assert.deepEqual(loaded.meta, {});
  for (const [name, p] of s.params) assert.deepEqual(loaded.params.get(name), p);
});

test('written atomically: an overwrite replaces the file whole and leaves no temporary files', async () => {
  const sub = join(dir, 'atomic');
  await mkdir(sub);
  const path = join(sub, 'state.safetensors');
  const s = freshState();
  s.meta = { step: '0' };
  await saveTrainState(path, s);
  train(s, 0, 2);
  s.meta = { step: '2' };
  await saveTrainState(path, s);
  assert.deepEqual(await readdir(sub), ['state.safetensors']);
  const loaded = await loadTrainState(path, makeOptim);
  assert.deepEqual(loaded.meta, { step: '2' });
  assertSameState(s, loaded);
});

test('a save that cannot be completed leaves what was there and no temporary files', async () => {
  const sub = join(dir, 'blocked');
  // The target is a folder with something in it: the final rename must fail.
  const path = join(sub, 'state.safetensors');
  await mkdir(path, { recursive: true });
  await writeFile(join(path, 'keep.txt'), 'x');
  await assert.rejects(saveTrainState(path, freshState()));
  assert.deepEqual(await readdir(sub), ['state.safetensors']);
  assert.deepEqual(await readdir(path), ['keep.txt']);
});

test('stateMismatch names what does not fit: a missing tensor, a wrong size, a stranger, an empty file', () => {
  const s = freshState();
  const expected = Object.entries(SIZES).map(([name, n]) => ({ name, shape: [n] }));
  assert.equal(stateMismatch(s, expected), null);
  assert.match(stateMismatch(s, [...expected, { name: 'visual.bn1.running_mean', shape: [4] }])!, /lacks visual\.bn1\.running_mean/);
  assert.match(stateMismatch(s, expected.map((t) => (t.name === 'visual.proj' ? { ...t, shape: [4, 8] } : t)))!, /visual\.proj has 24 values, this architecture needs 32/);
  assert.match(stateMismatch(s, expected.filter((t) => t.name !== 'frozen.weight'))!, /holds frozen\.weight/);
  assert.match(stateMismatch({ params: new Map(), optim: new Map(), meta: {} }, expected)!, /no training parameters/);
});
