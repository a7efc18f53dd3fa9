import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { readManifest } from '../../src/engine/pack/manifest.js';
import { openSafetensors } from '../../src/engine/clip/safetensors.js';
import { Tensor } from '../../src/engine/onnx/tensor.js';
import { ClipModel } from '../../src/engine/pack/model.js';
import { recipeFor } from '../../src/engine/pag/recipe.js';
import { SHAPES_CONTRAST, SHAPES_CONV_RECIPE } from '../../src/engine/shapes/model-config.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'clipag-train-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function train(args: string[]): { status: number | null; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'tools/train-shapes.ts'), ...args], { cwd: ROOT, encoding: 'utf8', timeout: 300_000 });
  return { status: r.status, stderr: r.stderr };
}

function readLog(): Array<Record<string, unknown>> {
  return readFileSync(join(dir, 'work', 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** A run small enough for CI: 32-px pictures, 8 pictures a step. */
const COMMON = ['--image-size', '32', '--batch', '8', '--every', '1', '--threads', '1',
  '--work', join(dir, 'work'), '--out', join(dir, 'robust'), '--vanilla-out', join(dir, 'vanilla')];
/** The ViT tower with one 16-px patch grid. */
const SMALL = ['--tower', 'vit', '--patch-size', '16', ...COMMON];

test('train-shapes: all four phases, packs at the asked size; a finished run resumes to nothing new', async () => {
  const args = [...SMALL, '--contrastive-steps', '2', '--focus-steps', '1', '--align-steps', '1', '--align-items', '2', '--adversarial-steps', '1', '--pgd-steps', '1', '--group', '4', '--mix', 'kind=2,position=1'];
  const first = train(args);
  assert.equal(first.status, 0, first.stderr);
  const log = readLog();
  assert.deepEqual(log.filter((e) => e.phase && e.step && e.loss !== undefined).map((e) => `${String(e.phase)}:${String(e.step)}`),
    ['contrastive:1', 'contrastive:2', 'focus:1', 'align:1', 'adversarial:1']);
  assert.ok(log.every((e) => e.loss === undefined || Number.isFinite(e.loss)), 'finite losses');
  assert.equal(log.find((e) => e.event === 'start')?.provider, 'cpu', 'trains on the CPU unless --device says otherwise');
  for (const p of ['robust', 'vanilla']) {
    const m = await readManifest(join(dir, p));
    assert.equal(m.config.vision.imageSize, 32);
    assert.equal(m.config.vision.patchSize, 16);
  }
  const again = train(args);
  assert.equal(again.status, 0, again.stderr);
  assert.equal(readLog().filter((e) => e.loss !== undefined).length, 5, 'no step trained twice');
});

test('train-shapes: --over-eps adds over-scored pictures in the adversarial phase only, and logs how often they rank below', async () => {
  rmSync(join(dir, 'work'), { recursive: true, force: true });
  const args = [...SMALL, '--contrastive-steps', '1', '--focus-steps', '1', '--align-steps', '0', '--adversarial-steps', '2', '--pgd-steps', '1', '--over-eps', '32', '--over-steps', '2', '--over-from', 'partner,noise,chain', '--group', '4'];
  const r = train(args);
  assert.equal(r.status, 0, r.stderr);
  const steps = readLog().filter((e) => e.loss !== undefined);
  assert.deepEqual(steps.map((e) => `${String(e.phase)}:${e.ownAboveOver === undefined ? '-' : 'ranked'}`),
    ['contrastive:-', 'focus:-', 'adversarial:ranked', 'adversarial:ranked']);
  for (const e of steps.filter((x) => x.phase === 'adversarial')) {
    assert.ok(Number.isFinite(e.loss), 'finite loss');
    assert.ok(typeof e.ownAboveOver === 'number' && e.ownAboveOver >= 0 && e.ownAboveOver <= 1, `share ${String(e.ownAboveOver)}`);
  }
  const m = await readManifest(join(dir, 'robust'));
  assert.match(String(m.source?.note), /over-scored pictures from partner\+noise\+chain, PGD-2 L∞ 32\/255/);
});

test('train-shapes: a ResNet trains contrastively, then with the shape-weighted alignment term (one item from synthesis chains); its running statistics move and the vanilla twin is the model before alignment', async () => {
  rmSync(join(dir, 'work'), { recursive: true, force: true });
  const r = train(['--tower', 'resnet', ...COMMON, '--contrastive-steps', '2', '--focus-steps', '0', '--align-steps', '2', '--align-items', '2', '--align-chains', '1', '--align-shape-weight', '10', '--adversarial-steps', '0']);
  assert.equal(r.status, 0, r.stderr);
  const steps = readLog().filter((e) => e.loss !== undefined);
  assert.deepEqual(steps.map((e) => `${String(e.phase)}:${e.alignCos === undefined ? '-' : 'aligned'}`), ['contrastive:-', 'contrastive:-', 'align:aligned', 'align:aligned']);
  for (const e of steps) assert.ok(Number.isFinite(e.loss), 'finite loss');
  for (const e of steps.filter((x) => x.phase === 'align')) {
    assert.ok(typeof e.alignCos === 'number' && Math.abs(e.alignCos) <= 1, `cosine ${String(e.alignCos)}`);
    // A chain's picture (grey or smooth noise, 10 Adam steps on) is some way from its caption's true picture.
    assert.ok(typeof e.chainGap === 'number' && e.chainGap > 0.01 && e.chainGap < 1, `chain gap ${String(e.chainGap)}`);
  }
  const robust = await openSafetensors(join(dir, 'robust', 'weights.safetensors'));
  const vanilla = await openSafetensors(join(dir, 'vanilla', 'weights.safetensors'));
  try {
    const m = await readManifest(join(dir, 'robust'));
    assert.equal(m.config.vision.kind, 'resnet');
    assert.match(String(m.source?.note), /2 gradient-alignment steps \(2 items, weight 2, shape pixels ×10, 1 from synthesis chains\)/);
    // Four steps of batch statistics have moved the stem's running mean off its initial 0.
    const mean = (await robust.read('visual.bn1.running_mean')).data as Float32Array;
    assert.ok(mean.some((v) => Math.abs(v) > 1e-3), 'running mean updated');
    const before = (await vanilla.read('visual.bn1.running_mean')).data as Float32Array;
    assert.ok(mean.some((v, i) => v !== before[i]), 'the vanilla twin was saved before the alignment steps');
  } finally {
    await robust.close();
    await vanilla.close();
  }
});

test('train-shapes: the conv tower (issue 17\'s probe) trains contrastively and with the alignment term on chain items, in two lr cycles; its pack opens with the normal loader and embeds a picture', async () => {
  rmSync(join(dir, 'work'), { recursive: true, force: true });
  const r = train(['--tower', 'conv', ...COMMON, '--contrastive-steps', '2', '--focus-steps', '0', '--align-steps', '4', '--align-cycle', '2', '--align-lr', '1e-3', '--align-items', '2', '--align-chains', '1', '--align-views', '--pair-steps', '0', '--adversarial-steps', '0']);
  assert.equal(r.status, 0, r.stderr);
  const steps = readLog().filter((e) => e.loss !== undefined);
  assert.deepEqual(steps.map((e) => `${String(e.phase)}:${e.alignCos === undefined ? '-' : 'aligned'}`), ['contrastive:-', 'contrastive:-', 'align:aligned', 'align:aligned', 'align:aligned', 'align:aligned']);
  // Two cycles of two steps, no warm-up at that length: half the peak, then 0, then again.
  const lrs = steps.filter((e) => e.phase === 'align').map((e) => Number(e.lr));
  assert.deepEqual(lrs.map((x) => Math.round(x * 1e6) / 1e6), [5e-4, 0, 5e-4, 0]);
  for (const e of steps) assert.ok(Number.isFinite(e.loss), 'finite loss');
  const m = await readManifest(join(dir, 'robust'));
  assert.equal(m.config.vision.kind, 'conv');
  assert.match(String(m.source?.note), /^Shapes world, clipag conv tower, .*1 from synthesis chains, seen through synthesis's views, in 2 lr cycles\)/);
  assert.equal(m.config.vision.imageSize, 32);
  assert.deepEqual([m.config.mean, m.config.std], [[0.5, 0.5, 0.5], [0.5, 0.5, 0.5]], 'pixels read as (x − 0.5)·2, as the probe');
  // Both packs synthesise as the alignment chains climbed; the engine takes the recipe as it is.
  assert.deepEqual(m.recipe, SHAPES_CONV_RECIPE);
  assert.deepEqual((await readManifest(join(dir, 'vanilla'))).recipe, SHAPES_CONV_RECIPE);
  // And both contrast a prompt with its other kinds (pag/contrast.ts).
  assert.deepEqual(m.contrast, SHAPES_CONTRAST);
  assert.deepEqual((await readManifest(join(dir, 'vanilla'))).contrast, SHAPES_CONTRAST);
  const r80 = recipeFor(m);
  assert.deepEqual([r80.steps, r80.globalViews, r80.patchViews, r80.lr, r80.stepRule, r80.threshold], [80, 4, 0, 0.03, 0, 0]);
  const model = await ClipModel.open(join(dir, 'robust'), { device: 'cpu' });
  try {
    const e = (await model.embedPixels(Tensor.float32([1, 3, 32, 32], new Array(3 * 32 * 32).fill(0)))).toNumbers();
    assert.equal(e.length, 128);
    assert.ok(e.every(Number.isFinite) && e.some((x) => x !== 0), 'a finite, non-zero embedding');
  } finally {
    await model.close();
  }
});

test('train-shapes: --head-channels sets the conv head, and the pack opens and embeds with it', async () => {
  const out = join(dir, 'head-pack');
  const r = train(['--tower', 'conv', ...COMMON.slice(0, 8), '--work', join(dir, 'head'), '--out', out, '--vanilla-out', join(dir, 'head-vanilla'),
    '--contrastive-steps', '1', '--focus-steps', '0', '--align-steps', '0', '--pair-steps', '0', '--adversarial-steps', '0', '--head-channels', '8']);
  assert.equal(r.status, 0, r.stderr);
  const m = await readManifest(out);
  assert.equal((m.config.vision as { headChannels?: number }).headChannels, 8);
  const model = await ClipModel.open(out, { device: 'cpu' });
  try {
    const S = m.config.vision.imageSize;
    const e = (await model.embedPixels(Tensor.float32([1, 3, S, S], new Array(3 * S * S).fill(0.5)))).toNumbers();
    assert.ok(e.length === m.config.embedDim && e.every(Number.isFinite));
  } finally {
    await model.close();
  }
});
test('train-shapes: --align-views, --align-chain-lr, chain pairs and --align-chain-visit change what the term sees (the same run without them logs the same contrastive steps and a different alignment cosine); the pack synthesises with the chains\' lr and steps', async () => {
  const run = (name: string, extra: string[]): Array<Record<string, unknown>> => {
    const work = join(dir, name);
    rmSync(work, { recursive: true, force: true });
    const r = train(['--tower', 'conv', ...COMMON, '--work', work, '--out', join(dir, `${name}-pack`), '--vanilla-out', join(dir, `${name}-vanilla`),
      '--contrastive-steps', '2', '--focus-steps', '0', '--align-steps', '1', '--align-items', '2', '--align-chains', '1', '--pair-steps', '0', '--adversarial-steps', '0', ...extra]);
    assert.equal(r.status, 0, r.stderr);
    return readFileSync(join(work, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>).filter((e) => e.loss !== undefined);
  };
  const off = run('plain', []);
  const cos = (log: Array<Record<string, unknown>>): number => Number(log.find((e) => e.phase === 'align')!.alignCos);
  const variants = [['views', ['--align-views']], ['chain-lr', ['--align-chain-lr', '0.3', '--align-chain-steps', '20']], ['chain-pairs', ['--align-items', '4', '--align-chains', '2', '--align-pairs']], ['chain-visit', ['--align-chain-visit', '5']]] as const;
  for (const [name, extra] of variants) {
    const on = run(name, [...extra]);
    if (name === 'chain-pairs') assert.ok(Number.isFinite(Number(on.find((e) => e.phase === 'align')!.pairCos)), 'a chain picture and its partner make a pair the term scores');
    assert.deepEqual(on.filter((e) => e.phase === 'contrastive').map((e) => e.loss), off.filter((e) => e.phase === 'contrastive').map((e) => e.loss), `${name}: the runs agree up to the alignment phase`);
    assert.ok(Number.isFinite(cos(on)) && Number.isFinite(cos(off)));
    assert.notEqual(cos(on), cos(off), `${name} changes the term`);
  }
  assert.deepEqual((await readManifest(join(dir, 'plain-pack'))).recipe, SHAPES_CONV_RECIPE);
  for (const pack of ['chain-lr-pack', 'chain-lr-vanilla']) {
    assert.deepEqual((await readManifest(join(dir, pack))).recipe, { ...SHAPES_CONV_RECIPE, lr: 0.3, steps: 20 }, `${pack} climbs as its chains did`);
  }
  assert.match(String((await readManifest(join(dir, 'chain-lr-pack'))).source?.note), /1 from synthesis chains \(Adam lr 0\.3, 20 steps\)/);
  assert.doesNotMatch(String((await readManifest(join(dir, 'plain-pack'))).source?.note), /Adam lr|a visit/);
  assert.match(String((await readManifest(join(dir, 'chain-visit-pack'))).source?.note), /1 from synthesis chains \(5 a visit\)/);
  assert.deepEqual((await readManifest(join(dir, 'chain-visit-pack'))).recipe, SHAPES_CONV_RECIPE, 'synthesis still climbs its 80 steps');
  const pairsNote = String((await readManifest(join(dir, 'chain-pairs-pack'))).source?.note);
  assert.match(pairsNote, /in pairs one change apart.*2 from synthesis chains/);
  // A stage --from that pack carries its history on, so a staged model's note names every stage.
  const staged = run('staged', ['--from', join(dir, 'chain-pairs-pack'), '--from-phase', 'align', '--contrastive-steps', '0', '--align-steps', '1']);
  assert.equal(staged.filter((e) => e.phase === 'align').length, 1);
  const stagedNote = String((await readManifest(join(dir, 'staged-pack'))).source?.note);
  assert.equal(stagedNote, `${pairsNote.replace(/, batch 8$/, '')}, then 1 gradient-alignment steps (2 items, weight 2, 1 from synthesis chains), batch 8`);
  assert.match(String((await readManifest(join(dir, 'staged-vanilla'))).source?.note), /^Shapes world, the weights this run started from \(2 contrastive steps × 8, then 1 gradient-alignment steps \(4 items/);
});

test('train-shapes: the chain-pair phase follows the alignment phase in one command, with its own lr cycles, and trains as a stage resumed --from the pack before it does (same losses, same note)', async () => {
  const run = (name: string, extra: string[]): Array<Record<string, unknown>> => {
    const work = join(dir, name);
    rmSync(work, { recursive: true, force: true });
    const r = train(['--tower', 'conv', ...COMMON, '--work', work, '--out', join(dir, `${name}-pack`), '--vanilla-out', join(dir, `${name}-vanilla`),
      '--focus-steps', '0', '--align-items', '4', '--align-chains', '1', '--pair-chains', '2', '--adversarial-steps', '0', ...extra]);
    assert.equal(r.status, 0, r.stderr);
    return readFileSync(join(work, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>).filter((e) => e.loss !== undefined);
  };
  const whole = run('one', ['--contrastive-steps', '1', '--align-steps', '2', '--pair-steps', '4', '--pair-cycle', '2']);
  assert.deepEqual(whole.map((e) => `${String(e.phase)}:${e.pairCos === undefined ? '-' : 'paired'}`), ['contrastive:-', 'align:-', 'align:-', 'pairs:paired', 'pairs:paired', 'pairs:paired', 'pairs:paired']);
  const pairs = whole.filter((e) => e.phase === 'pairs');
  for (const e of pairs) assert.ok(Number.isFinite(Number(e.alignCos)) && Number.isFinite(Number(e.chainGap)), 'the pairs phase logs its term and how far its chains are');
  // Two cycles of two steps under the alignment phase's peak lr (5e-4), no warm-up at that length: half the peak, then 0, then again.
  assert.deepEqual(pairs.map((e) => Math.round(Number(e.lr) * 1e7) / 1e7), [2.5e-4, 0, 2.5e-4, 0]);
  const note = String((await readManifest(join(dir, 'one-pack'))).source?.note);
  assert.equal(note, 'Shapes world, clipag conv tower, 1 contrastive steps × 8, then 2 gradient-alignment steps (4 items, weight 2, 1 from synthesis chains), then 4 gradient-alignment steps (4 items, weight 2, in pairs one change apart, 2 from synthesis chains (5 a visit), in 2 lr cycles), batch 8');
  // The same recipe in two commands: up to the pairs, then the pairs --from that pack.
  const before = run('upto', ['--contrastive-steps', '1', '--align-steps', '2', '--pair-steps', '0']);
  assert.deepEqual(before.map((e) => e.loss), whole.slice(0, 3).map((e) => e.loss), 'the runs agree up to the pairs');
  // The alignment phase as a stage --from the vanilla twin (as the shipped weights were made) trains as the one command's does.
  const aligned = run('align', ['--from', join(dir, 'upto-vanilla'), '--from-phase', 'align', '--contrastive-steps', '0', '--align-steps', '2', '--pair-steps', '0']);
  assert.deepEqual(aligned.map((e) => `${String(e.phase)}:${String(e.step)}`), ['align:1', 'align:2']);
  for (const [i, e] of aligned.entries()) {
    for (const k of ['loss', 'alignCos', 'chainGap']) assert.ok(Math.abs(Number(e[k]) - Number(whole[i + 1]![k])) <= 1e-5 * (1 + Math.abs(Number(whole[i + 1]![k]))), `align step ${i + 1}: ${k} ${String(e[k])} vs ${String(whole[i + 1]![k])}`);
  }
  const staged = run('then', ['--from', join(dir, 'upto-pack'), '--from-phase', 'pairs', '--contrastive-steps', '0', '--align-steps', '0', '--pair-steps', '4', '--pair-cycle', '2']);
  assert.deepEqual(staged.map((e) => `${String(e.phase)}:${String(e.step)}`), ['pairs:1', 'pairs:2', 'pairs:3', 'pairs:4']);
  for (const [i, e] of staged.entries()) {
    for (const k of ['loss', 'alignCos', 'pairCos', 'chainGap']) assert.ok(Math.abs(Number(e[k]) - Number(pairs[i]![k])) <= 1e-5 * (1 + Math.abs(Number(pairs[i]![k]))), `pairs step ${i + 1}: ${k} ${String(e[k])} vs ${String(pairs[i]![k])}`);
  }
  assert.equal(String((await readManifest(join(dir, 'then-pack'))).source?.note), note, 'the staged note names every stage as the one command does');
  // --pair-chain-visit: the pairs' chains climb 5 steps a visit by default (the alignment phase's 10 are untouched), named in the pairs' words only; 10 as the alignment's is another climb, and unnamed.
  const visit10 = run('visit10', ['--from', join(dir, 'upto-pack'), '--from-phase', 'pairs', '--contrastive-steps', '0', '--align-steps', '0', '--pair-steps', '4', '--pair-cycle', '2', '--pair-chain-visit', '10']);
  assert.notDeepEqual(visit10.map((e) => e.chainGap), staged.map((e) => e.chainGap), 'the chains climb otherwise');
  assert.match(String((await readManifest(join(dir, 'visit10-pack'))).source?.note), /then 2 gradient-alignment steps \(4 items, weight 2, 1 from synthesis chains\), then 4 gradient-alignment steps \(4 items, weight 2, in pairs one change apart, 2 from synthesis chains, in 2 lr cycles\), batch 8$/);
  // --pair-drop: two-shape chain pictures are paired with their scene less a shape, which changes the term and is named in the note.
  const dropped = run('drop', ['--from', join(dir, 'upto-pack'), '--from-phase', 'pairs', '--contrastive-steps', '0', '--align-steps', '0', '--pair-steps', '4', '--pair-cycle', '2', '--pair-drop', '1']);
  assert.notDeepEqual(dropped.map((e) => e.pairCos), staged.map((e) => e.pairCos), 'leaving shapes out changes the pairs');
  assert.match(String((await readManifest(join(dir, 'drop-pack'))).source?.note), /in pairs one change apart, a shape left out of 100 % of two-shape partners, 2 from synthesis chains \(5 a visit\), in 2 lr cycles\), batch 8$/);
  // --pair-mix: the default written out trains as without it; another mix changes the pairs and is named.
  const sameMix = run('same-mix', ['--from', join(dir, 'upto-pack'), '--from-phase', 'pairs', '--contrastive-steps', '0', '--align-steps', '0', '--pair-steps', '4', '--pair-cycle', '2', '--pair-mix', 'colour=1,size=1,position=1,kind=3']);
  assert.deepEqual(sameMix.map((e) => e.pairCos), staged.map((e) => e.pairCos));
  assert.equal(String((await readManifest(join(dir, 'same-mix-pack'))).source?.note), note);
  const swaps = run('swap-mix', ['--from', join(dir, 'upto-pack'), '--from-phase', 'pairs', '--contrastive-steps', '0', '--align-steps', '0', '--pair-steps', '4', '--pair-cycle', '2', '--pair-mix', 'swap=4,colour=1']);
  assert.notDeepEqual(swaps.map((e) => e.pairCos), staged.map((e) => e.pairCos), 'other partners, other pairs');
  assert.match(String((await readManifest(join(dir, 'swap-mix-pack'))).source?.note), /in pairs one change apart, partners' changes colour=1,swap=4, 2 from synthesis chains \(5 a visit\), in 2 lr cycles\), batch 8$/);
  // --align-truth: the truth ranking joins the term (a larger loss, the share of items above their truth logged) and is named.
  const stage = ['--from', join(dir, 'upto-pack'), '--from-phase', 'pairs', '--contrastive-steps', '0', '--align-steps', '0', '--pair-steps', '4', '--pair-cycle', '2'];
  const ranked = run('truth', [...stage, '--align-truth', '1']);
  for (const [i, e] of ranked.entries()) {
    assert.ok(Number(e.loss) > Number(staged[i]!.loss), `step ${i + 1}: loss ${String(e.loss)} with the ranking vs ${String(staged[i]!.loss)}`);
    assert.ok(Number(e.aboveTruth) >= 0 && Number(e.aboveTruth) <= 1, 'the share above the truth is logged');
  }
  assert.equal(staged[0]!.aboveTruth, undefined);
  assert.match(String((await readManifest(join(dir, 'truth-pack'))).source?.note), /2 from synthesis chains \(5 a visit\), true pictures ranked above the items' at weight 1, in 2 lr cycles\), batch 8$/);
  // --chain-two-shapes: restarted chains take two-shape captions (the chains climb otherwise), named in the note.
  const twos = run('twos', [...stage, '--chain-two-shapes', '1']);
  assert.notDeepEqual(twos.map((e) => e.chainGap), staged.map((e) => e.chainGap), 'other captions, other chains');
  assert.match(String((await readManifest(join(dir, 'twos-pack'))).source?.note), /2 from synthesis chains \(5 a visit\), 100 % of them with two-shape captions, in 2 lr cycles\), batch 8$/);
});

test('train-shapes: --device cuda trains on CUDA where ONNX Runtime can start it, and otherwise stops with one line instead of training on the CPU', () => {
  const work = join(dir, 'cuda');
  const r = train([...SMALL, '--work', work, '--device', 'cuda', '--contrastive-steps', '1', '--focus-steps', '0', '--adversarial-steps', '0']);
  if (r.status !== 0) {
    assert.match(r.stderr, /train-shapes: --device cuda: ONNX Runtime could not start its cuda provider .* so the run would train on the CPU/);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    return;
  }
  const start = readFileSync(join(work, 'log.jsonl'), 'utf8').split('\n').map((l) => (l ? JSON.parse(l) as Record<string, unknown> : {})).find((e) => e.event === 'start');
  assert.equal(start?.provider, 'cuda');
});

test('train-shapes: a truncated or foreign checkpoint at resume is one line, and the file is left as it was', () => {
  const work = join(dir, 'resume');
  mkdirSync(work, { recursive: true });
  const state = join(work, 'state.safetensors');
  const args = ['--tower', 'vit', ...COMMON.slice(0, 8), '--work', work, '--out', join(dir, 'r-out'), '--vanilla-out', join(dir, 'r-van'), '--contrastive-steps', '1', '--focus-steps', '0', '--align-steps', '0', '--adversarial-steps', '0'];
  // A finished ResNet run's checkpoint, resumed as a ViT run.
  const first = train(['--tower', 'resnet', ...args.slice(2)]);
  assert.equal(first.status, 0, first.stderr);
  const whole = readFileSync(state);
  const foreign = train(args);
  assert.equal(foreign.status, 1, foreign.stderr);
  assert.match(foreign.stderr, /^train-shapes: [^\n]*state\.safetensors cannot be resumed: [^\n]*another --tower[^\n]*\n$/);
  assert.deepEqual(readFileSync(state), whole, 'the checkpoint is untouched');
  // The same file cut short.
  writeFileSync(state, whole.subarray(0, Math.floor(whole.length / 2)));
  const cut = train(['--tower', 'resnet', ...args.slice(2)]);
  assert.equal(cut.status, 1, cut.stderr);
  assert.match(cut.stderr, /^train-shapes: [^\n]*state\.safetensors cannot be resumed: [^\n]+\n$/);
  assert.equal(readFileSync(state).length, Math.floor(whole.length / 2), 'the cut file is left for the user to look at');
});

test('train-shapes: bad options are refused by name', () => {
  for (const [args, message] of [
    [['--mix', 'shape=1'], /unknown near-miss change "shape"/],
    [['--group', '0'], /--group must be a whole number ≥ 1, got 0/],
    [['--over-eps', '-4'], /--over-eps must be a number ≥ 0, got -4/],
    [['--adversarial-steps', 'many'], /--adversarial-steps must be a number ≥ 0, got many/],
    [['--over-from', 'elsewhere'], /--over-from takes own, partner, noise or chain, got "elsewhere"/],
    [['--tower', 'vit', '--image-size', '30', '--patch-size', '16'], /--patch-size must divide the 30-px picture, got 16/],
    [['--from-phase', 'warmup', '--from', 'models/shapes'], /--from-phase must be contrastive, focus, align, pairs, adversarial, got warmup/],
    [['--tower', 'mlp'], /--tower must be conv, vit or resnet, got mlp/],
    // The conv tower is the default, and its recipe's 1,600 alignment steps are what an unsplittable cycle count is checked against.
    [['--align-cycle', '300'], /--align-cycle must be a whole number of steps that divides --align-steps \(1600\), got 300/],
    [['--tower', 'vit', '--align-steps', '10', '--align-cycle', '4'], /divides --align-steps \(10\), got 4/],
    [['--tower', 'conv', '--patch-size', '8'], /--patch-size is for --tower vit; the conv tower has no patches/],
    [['--tower', 'conv', '--width', '8'], /--width is for --tower resnet/],
    [['--tower', 'conv', '--head-channels', '0'], /--head-channels must be a whole number from 1 to 512, got 0/],
    [['--tower', 'vit', '--head-channels', '64'], /--head-channels is for --tower conv; the vit tower has no such head/],
    [['--tower', 'resnet', '--patch-size', '16'], /--patch-size is for --tower vit; a ResNet has no patches/],
    [['--tower', 'resnet', '--image-size', '48'], /--image-size: image size 48 is not a multiple of 32/],
    [['--align-steps', '2', '--align-items', '0'], /--align-items must be a whole number ≥ 1, got 0/],
    [['--align-steps', '2', '--align-items', '4', '--align-chains', '5'], /--align-chains must be a whole number from 0 to --align-items \(4\), got 5/],
    [['--align-steps', '2', '--align-items', '4', '--align-chains', '1', '--align-pairs'], /with --align-pairs, --align-chains must be even/],
    [['--align-steps', '2', '--align-items', '4', '--align-chains', '0', '--align-pairs', '--align-views'], /--align-pairs and --align-views cannot be combined/],
    // The conv recipe's 2,400 chain-pair steps are what a cycle that does not divide them is checked against.
    [['--pair-cycle', '700'], /--pair-cycle must be a whole number of steps that divides --pair-steps \(2400\), got 700/],
    [['--align-steps', '0', '--align-items', '3'], /--pair-steps needs an even --align-items \(the items come in pairs\), got 3/],
    [['--align-steps', '0', '--align-items', '4', '--pair-chains', '3'], /--pair-chains must be an even whole number from 0 to --align-items \(4\), got 3/],
    [['--align-steps', '0', '--align-items', '4', '--pair-chains', '6'], /--pair-chains must be an even whole number from 0 to --align-items \(4\), got 6/],
    [['--align-chain-visit', '0'], /--align-chain-visit must be a whole number of steps from 1 to 100, got 0/],
    [['--align-chain-visit', '3'], /--align-chain-steps must be a multiple of 3 from 3 to 1000, got 80/],
    [['--pair-chain-visit', '3'], /--pair-chain-visit must be a whole number of steps from 1 to 100 that divides --align-chain-steps \(80\), got 3$/m],
    [['--align-chain-visit', '3', '--align-chain-steps', '81'], /--pair-chain-visit must be a whole number of steps from 1 to 100 that divides --align-chain-steps \(81\), got 5 \(its default\)/],
    [['--pair-drop', '2'], /--pair-drop must be a probability from 0 to 1, got 2/],
    [['--align-truth', '-1'], /--align-truth must be a number ≥ 0, got -1/],
    [['--chain-two-shapes', '1.5'], /--chain-two-shapes must be a probability in \[0, 1\], got 1\.5/],
    [['--pair-mix', 'kind=-1'], /--pair-mix: the weight of "kind" must be a number ≥ 0, got "-1"/],
    [['--pair-mix', 'shape=1'], /--pair-mix: unknown near-miss change "shape"/],
    [['--pair-mix', 'swap=1,kind=0'], /--pair-mix needs a change besides swap \(one-shape pictures cannot swap colours\)/],
    [['--align-chain-lr', '0'], /--align-chain-lr must be a number in \(0, 1\], got 0/],
    [['--device', 'tpu'], /--device must be one of auto, cpu, cuda, webgpu, got tpu/],
    [['--align-chain-steps', '85'], /--align-chain-steps must be a multiple of 10 from 10 to 1000, got 85/],
    [['--align-steps', '2', '--align-items', '4', '--align-chains', '3', '--align-trajectory', '2'], /with --align-trajectory, --align-chains can take at most the second half of the items \(2\)/],
  ] as const) {
    const r = train([...args, '--work', join(dir, 'bad')]);
    assert.equal(r.status, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.match(r.stderr, /^train-shapes: [^\n]+\n$/, 'one line, no stack trace');
  }
});
