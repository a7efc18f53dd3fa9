/**
 * Trains the bundled Shapes-world demo model with our own autodiff on onnxruntime-node. Phases, in
 * order (each can be turned off with 0 steps; the defaults are each tower's recipe, the conv tower's
 * being the shipped demo model's: 1, 3 and 3b):
 *   1. contrastive CLIP training from scratch (learned temperature) → the vanilla model. Batches
 *      are groups of near-miss scenes (batches.ts hardScenes): with unrelated scenes, colours
 *      alone tell captions apart and the model never learns kinds or places;
 *   2. focus: more contrastive training on groups that share one change, mostly the kind or the
 *      cell (--mix), which the ViT models needed to tell kinds apart;
 *   3. gradient alignment (the conv tower's; Ganz, Kawar & Elad 2023): the contrastive loss plus a
 *      term asking the input gradient ∂cos(f(x), g(t))/∂x to point from x toward the true picture
 *      of t (train/align-term.ts, shapes/align-items.ts), items partly from synthesis chains;
 *   3b. chain pairs (the conv tower's): the same term on chain pictures each taken with two captions
 *      one change apart, the difference of their gradients pointing from one true picture to the
 *      other (shapes/chain-pairs.ts): what taught the shipped model outlines;
 *   4. CLIPAG-style adversarial finetuning (the ViT's recipe; the demo shipped that way before): each batch's pictures are attacked
 *      with PGD inside an L2 ball of radius 2 per picture (--norm linf for an L∞ ball), and the
 *      contrastive loss is minimised on the attacked pictures. With --over-eps a second attack in
 *      each step looks for pictures the model scores *above* the caption's own, which then rank
 *      below it. All measured in models/shapes/MODEL_CARD.md.
 * The image tower is clipag's conv tower (--tower conv, shipped), open_clip's ViT (--tower vit) or
 * its ModifiedResNet with GELU (--tower resnet). The gradient-aligned ResNet run measured in models/shapes/MODEL_CARD.md is
 *   --tower resnet --contrastive-steps 1200 --lr 2e-3 --focus-steps 0 --align-steps 1500 --adversarial-steps 0
 * No training batch or alignment target is a scene evaluation keeps to itself (shapes/held-out.ts).
 * Resumable: the state is checkpointed every --every steps into --work; running the same command
 * again continues where it stopped. Both models are written as packs (robust → --out, vanilla →
 * --vanilla-out). Logs: one JSON object per line in <work>/log.jsonl, a readable line on stderr.
 *
 *   node --import tsx tools/train-shapes.ts            # reproduces models/shapes and models/shapes-vanilla
 *   node --import tsx tools/train-shapes.ts --export   # rewrite both packs from the finished state
 *   node --import tsx tools/train-shapes.ts --from PACK --from-phase adversarial --work .train/x --out …   # finetune only
 */
import { appendFileSync, existsSync, mkdirSync } from 'node:fs';
import { expectedTensors } from '../src/engine/clip/layout.js';
import { Tensor } from '../src/engine/onnx/tensor.js';
import { AdamW, assertFinite } from '../src/engine/pag/optim.js';
import { hashName, rng } from '../src/engine/random.js';
import { Session } from '../src/engine/runtime.js';
import { makeBatch, makeHardBatch, mixText, UNIFORM_MIX, type ShapesBatch } from '../src/engine/shapes/batches.js';
import { SHAPES_CONTRAST, SHAPES_CONV_RECIPE, SHAPES_DESCRIPTION, SHAPES_VANILLA_DESCRIPTION, SHAPES_TOKENIZER, shapesRecipeFor } from '../src/engine/shapes/model-config.js';
import { buildTrainModel, MAX_LOGIT_SCALE, paramGradName, TRAIN_OUTPUTS } from '../src/engine/train/contrastive-graph.js';
import { writeTrainedPack } from '../src/engine/train/export-pack.js';
import { decays, initParams, isBuffer, packParams, paramTensors, type Params } from '../src/engine/train/params.js';
import { readManifest } from '../src/engine/pack/manifest.js';
import { isConv, isResNet } from '../src/engine/clip/towers.js';
import { pgdAttack, pgdDescent } from '../src/engine/train/pgd.js';
import { descend } from '../src/engine/train/trajectory.js';
import { SynthesisChains } from '../src/engine/train/synthesis-chains.js';
import { withViews } from '../src/engine/train/chain-views.js';
import { viewItems } from '../src/engine/train/item-views.js';
import { loadTrainState, saveTrainState, stateMismatch, type TrainState } from '../src/engine/train/train-state.js';
import { inBatchAccuracy, mean, ownAbove } from '../src/engine/train/metrics.js';
import { cycleOf, lrAt } from '../src/engine/train/schedule.js';
import { batchStatOutputs, updateRunningStats } from '../src/engine/train/running-stats.js';
import { ALIGN_INPUTS, ALIGN_OUTPUTS } from '../src/engine/train/align-term.js';
import { alignItems, type AlignItems } from '../src/engine/shapes/align-items.js';
import type { Scene } from '../src/engine/shapes/world.js';
import { alignPairs } from '../src/engine/shapes/align-pairs.js';
import { isHeldOut } from '../src/engine/shapes/held-out.js';
import { overStarts } from '../src/engine/shapes/over-starts.js';
import { CHAIN_VISIT_STEPS, fail, PAIR_MIX_TEXT, parseTrainOptions, PHASES } from './train-shapes/options.js';
import { chainItemTaker, chainPictures } from './train-shapes/chain-items.js';
import { alignPhaseText } from './train-shapes/note.js';

const {
  o, num, imageSize, cfg, work, B, N1, NF, N2, NA, NP, pairCycles, pairChains, pairDrop, pairMix, alignA, alignWeight, alignCycles, alignViews, alignShapeWeight, alignTrajectory, alignTruth, chainTwoShapes,
  alignChains, alignChainLr, alignChainSteps, chainVisit, pairVisit, alignPaired, every, seed, eps, pgdSteps, overEps, overSteps, overFrom, overStartOf, extra, group, mix,
  device, fromPhase, pictureSize, trainAlpha, attackOpts, ballName, statePath, vanillaPath, logPath,
} = parseTrainOptions();

/** A trajectory step's move, as synthesis's normalised step (stepRule 1) takes it. */
const TRAJECTORY_LR = 0.03;
/** Synthesis's views per chain step (the probe's: 4, ±2 px, noise 0.03). */
const CHAIN_VIEWS = 4;
/** Pixel noise of synthesis's views, for the chains and for --align-views (their shift scales with the picture: ±2 px at 64). */
const VIEW_NOISE = 0.03;
/** A chain slot starts again from fresh noise with this chance each step (as persistent samplers reset a few). */
const CHAIN_RESET = 0.05;
/** The chain slots' last over-scored pictures (not checkpointed: a resumed run restarts them from noise). */
let chains: Float32Array | undefined;
/** An alignment phase's term graph, and its chain items' taker when it takes any. */
interface AlignRun {
  session: Session;
  paired: boolean;
  take?: (items: AlignItems, batch: ShapesBatch) => Promise<number>;
}
/** Batches of the first phase: groups of 4, every change alike, one per variant (how the first models learnt). */
const UNIFORM = { group: 4, mix: UNIFORM_MIX };
mkdirSync(work, { recursive: true });

function log(entry: Record<string, unknown>): void {
  appendFileSync(logPath, `${JSON.stringify({ time: new Date().toISOString(), ...entry })}\n`);
  const parts = Object.entries(entry).map(([k, v]) => `${k}=${typeof v === 'number' && !Number.isInteger(v) ? v.toFixed(4) : String(v)}`);
  process.stderr.write(`${parts.join(' ')}\n`);
}

function makeOptim(name: string, size: number): AdamW {
  const shape = expectedTensors(cfg).find((t) => t.name === name)?.shape ?? [size];
  // CLIP's settings: β2 0.98 and eps 1e-6 keep the temperature's updates stable.
  return new AdamW(size, { lr: 0, betas: [0.9, 0.98], eps: 1e-6, weightDecay: decays(name, shape) ? 0.1 : 0 });
}

function freshOptims(params: Params): Map<string, AdamW> {
  return new Map([...params].filter(([n]) => !isBuffer(n)).map(([n, p]) => [n, makeOptim(n, p.length)]));
}

const batchSeed = (phase: string, step: number): number => hashName(`${phase}:${seed}:${step}`);
// Held-out batches of unrelated scenes, and of near-miss groups (what training batches are made of).
const heldOut: Array<{ name: string; batch: ShapesBatch }> = [
  ...[0, 1].map((i) => ({ name: 'random', batch: makeBatch(hashName(`heldout:${i}`), B, {}, imageSize) })),
  ...[0, 1].map((i) => ({ name: 'hard', batch: makeHardBatch(hashName(`heldout-hard:${i}`), B, { size: imageSize }) })),
];

const feedsOf = (params: Params, pixels: Float32Array, ids: BigInt64Array): Record<string, Tensor> => ({
  ...paramTensors(cfg, params),
  pixels: new Tensor('float32', [pixels.length / pictureSize, 3, cfg.vision.imageSize, cfg.vision.imageSize], pixels),
  ids: new Tensor('int64', [ids.length / cfg.text.contextLength, cfg.text.contextLength], ids),
});

const alignFeeds = (items: AlignItems): Record<string, Tensor> => {
  const S = cfg.vision.imageSize;
  return {
    [ALIGN_INPUTS.pixels]: new Tensor('float32', [alignA, 3, S, S], items.pixels),
    [ALIGN_INPUTS.ids]: new Tensor('int64', [alignA, cfg.text.contextLength], items.ids),
    [ALIGN_INPUTS.direction]: new Tensor('float32', [alignA, 3, S, S], items.direction),
    ...(items.weight ? { [ALIGN_INPUTS.weight]: new Tensor('float32', [alignA, 3, S, S], items.weight) } : {}),
  };
};

function concatPictures(a: Float32Array, b: Float32Array): Float32Array {
  const all = new Float32Array(a.length + b.length);
  all.set(a);
  all.set(b, a.length);
  return all;
}

/** The checkpoint to continue from; a file that is not one of this architecture's is refused before anything is written. */
async function resumeState(): Promise<TrainState> {
  let state: TrainState;
  try {
    state = await loadTrainState(statePath, makeOptim);
  } catch (e) {
    return fail(`${statePath} cannot be resumed: ${(e as Error).message}. Move it away (or pick another --work) to start afresh`);
  }
  const problem = stateMismatch(state, expectedTensors(cfg));
  if (problem) fail(`${statePath} cannot be resumed: ${problem}. Move it away (or pick another --work) to start afresh`);
  return state;
}

async function main(): Promise<void> {
  let state = existsSync(statePath)
    ? await resumeState()
    : o.from
      ? { params: await packParams(String(o.from), cfg), optim: new Map<string, AdamW>(), meta: { phase: fromPhase, step: '0' } }
      : { params: initParams(cfg, seed), optim: new Map<string, AdamW>(), meta: { phase: 'contrastive', step: '0' } };
  const fromIndex = (PHASES as readonly string[]).indexOf(fromPhase);
  // From the alignment phase on, the vanilla twin is the weights the run started from.
  if (o.from && fromIndex >= PHASES.indexOf('align') && !existsSync(vanillaPath)) await saveTrainState(vanillaPath, { params: state.params, optim: new Map(), meta: { phase: 'vanilla', step: 'from' } });
  // A fresh run, or a state saved between phases, has no moments yet.
  if (state.optim.size === 0) state.optim = freshOptims(state.params);
  // A run --from one of our packs carries on that pack's history, so a staged model's note names every stage.
  const fromHistory = o.from && fromIndex >= PHASES.indexOf('align') ? /^Shapes world, [^,]+, (.+), batch \d+$/.exec(String((await readManifest(String(o.from))).source?.note ?? ''))?.[1] : undefined;
  const history = fromHistory ?? [
    o.from ? `from ${String(o.from)}` : '',
    !o.from || fromIndex <= 0 ? `${N1} contrastive steps` : '',
    (!o.from || fromIndex <= 1) && NF > 0 ? `${NF} focus steps (${String(o.mix)})` : '',
  ].filter(Boolean).join(', ') + ` × ${B}`;
  // The chains' climb is named only where it is not synthesis's own (the conv recipe's lr and steps, 10 a visit).
  const chainClimb = (visit: number): string => {
    const climb = [
      alignChainLr !== SHAPES_CONV_RECIPE.lr || alignChainSteps !== SHAPES_CONV_RECIPE.steps ? `Adam lr ${alignChainLr}, ${alignChainSteps} steps` : '',
      visit !== CHAIN_VISIT_STEPS ? `${visit} a visit` : '',
    ].filter(Boolean).join(', ');
    return climb ? ` (${climb})` : '';
  };
  const pairMixText = mixText(pairMix);
  const termWords = { items: alignA, weight: alignWeight, shapeWeight: alignShapeWeight, truth: alignTruth, twoShapes: chainTwoShapes, drop: pairDrop, mix: pairMixText === PAIR_MIX_TEXT ? '' : pairMixText };
  const later = [
    (!o.from || fromIndex <= PHASES.indexOf('align')) && NA > 0 ? alignPhaseText(NA, { ...termWords, chainClimb: chainClimb(chainVisit), paired: alignPaired, trajectory: alignTrajectory, chains: alignChains, views: alignViews, cycles: alignCycles }) : '',
    (!o.from || fromIndex <= PHASES.indexOf('pairs')) && NP > 0 ? alignPhaseText(NP, { ...termWords, chainClimb: chainClimb(pairVisit), paired: true, trajectory: 0, chains: pairChains, views: false, cycles: pairCycles }) : '',
    N2 > 0 ? `${N2} adversarial steps (PGD-${pgdSteps}, ${ballName}${extra > 0 ? `; over-scored pictures from ${overFrom.join('+')}, PGD-${overSteps} L∞ ${num('overEps')}/255, ranked below` : ''})` : '',
  ].filter(Boolean).join(', then ');
  // The pack's synthesis is the climb its chains trained on (the conv recipe's lr and steps by default).
  const packRecipe = isConv(cfg.vision) ? { ...shapesRecipeFor(cfg), lr: alignChainLr, steps: alignChainSteps } : shapesRecipeFor(cfg);
  const exportPacks = async (): Promise<void> => {
    const vanilla = await loadTrainState(vanillaPath, makeOptim);
    await writeTrainedPack(String(o.vanillaOut), cfg, vanilla.params, {
      name: 'shapes-vanilla', description: SHAPES_VANILLA_DESCRIPTION, tokenizer: SHAPES_TOKENIZER, recipe: packRecipe, contrast: SHAPES_CONTRAST,
      note: fromHistory ? `Shapes world, the weights this run started from (${history}); the comparison twin of models/shapes` : `Shapes world, contrastive only (${history}); the comparison twin of models/shapes`,
    });
    await writeTrainedPack(String(o.out), cfg, state.params, {
      name: 'shapes', description: SHAPES_DESCRIPTION, tokenizer: SHAPES_TOKENIZER, recipe: packRecipe, contrast: SHAPES_CONTRAST,
      note: `Shapes world, ${isResNet(cfg.vision) ? `ModifiedResNet${cfg.vision.act === 'gelu' ? ' (GELU)' : ''}` : isConv(cfg.vision) ? 'clipag conv tower' : 'ViT'}, ${history}${later ? `, then ${later}` : ''}, batch ${B}`,
    });
    log({ event: 'exported', robust: o.out, vanilla: o.vanillaOut });
  };
  if (o.export) {
    if (state.meta.phase !== 'done') throw new Error(`${statePath}: training is not finished (phase ${state.meta.phase}, step ${state.meta.step})`);
    await exportPacks();
    return;
  }

  const threads = num('threads');
  const t0 = Date.now();
  const runOn = { device, intraOpThreads: threads };
  const train = await Session.create(buildTrainModel(cfg, { batch: B, wrt: 'params' }), runOn);
  // Hours of training on the CPU that were meant for a GPU are worse than stopping here.
  if ((device === 'cuda' || device === 'webgpu') && train.provider !== device) fail(`--device ${device}: ONNX Runtime could not start its ${device} provider (the warning above says why), so the run would train on the CPU`);
  // With --over-eps the adversarial phase trains on the batch's pictures followed by as many that no caption owns.
  const trainOver = extra > 0 && N2 > 0
    ? await Session.create(buildTrainModel(cfg, { batch: B, wrt: 'params', extraImages: extra }), runOn)
    : undefined;
  const attack = await Session.create(buildTrainModel(cfg, { batch: B, wrt: 'pixels' }), runOn);
  const viewShift = Math.round(imageSize / 32);
  // Graphs are built once each: the two alignment phases share the ones they agree on.
  const built = new Map<string, Promise<Session>>();
  const graph = (key: string, make: () => Promise<Session>): Promise<Session> => {
    if (!built.has(key)) built.set(key, make());
    return built.get(key)!;
  };
  /** An alignment phase's term graph and chains (not checkpointed: a resumed run starts the chains afresh). */
  const alignRun = async (prefix: string, paired: boolean, fromChains: number, visit: number): Promise<AlignRun> => {
    const session = await graph(`align:${paired}`, () => Session.create(buildTrainModel(cfg, { batch: B, wrt: 'params', align: alignA, alignWeight, alignWeighted: alignShapeWeight > 0, alignPaired: paired, alignTruthWeight: alignTruth }), runOn));
    if (fromChains === 0) return { session, paired };
    const pictures = chainPictures({ chains: fromChains, paired });
    // The chains' own graph: synthesis's gradient, each view of each chain against its own caption.
    const cosine = await graph(`chains:${pictures}`, () => Session.create(buildTrainModel(cfg, { batch: CHAIN_VIEWS * pictures, wrt: 'pixels', pixelObjective: 'cosine' }), runOn));
    const cosineGrad = async (views: Float32Array, ids: BigInt64Array): Promise<Float32Array> =>
      (await cosine.run(feedsOf(state.params, views, ids), [TRAIN_OUTPUTS.pixelGrad]))[TRAIN_OUTPUTS.pixelGrad]!.data as Float32Array;
    // Four slots per picture taken, so a slot is visited every fourth step.
    const slots = new SynthesisChains<{ scene: Scene; caption: string }>({ slots: 4 * pictures, size: imageSize, context: cfg.text.contextLength, stepsPerVisit: visit, age: alignChainSteps / visit, lr: alignChainLr, seed: hashName(`${prefix}-chains:${seed}`) });
    const grad = withViews(cosineGrad, { views: CHAIN_VIEWS, shift: viewShift, noise: VIEW_NOISE, size: imageSize, rand: rng(hashName(`${prefix}-chain-views:${seed}`)) });
    const take = chainItemTaker({ chains: fromChains, paired, items: alignA, size: imageSize, context: cfg.text.contextLength, shapeWeight: alignShapeWeight, slots, grad, pairRand: rng(hashName(`${prefix}-chain-pairs:${seed}`)), drop: pairDrop, mix: pairMix,
      ...(chainTwoShapes === undefined ? {} : { twoShapes: chainTwoShapes, countRand: rng(hashName(`${prefix}-chain-counts:${seed}`)) }) });
    return { session, paired, take };
  };
  const alignRuns = {
    align: NA > 0 ? await alignRun('align', alignPaired, alignChains, chainVisit) : undefined,
    pairs: NP > 0 ? await alignRun('pair', true, pairChains, pairVisit) : undefined,
  };
  log({ event: 'start', phase: state.meta.phase, step: Number(state.meta.step), provider: train.provider, sessionsMs: Date.now() - t0 });
  const trainable = [...state.params.keys()].filter((n) => !isBuffer(n));
  const statOutputs = batchStatOutputs(state.params.keys());
  const gradOutputs = [TRAIN_OUTPUTS.loss, TRAIN_OUTPUTS.logits, ...trainable.map(paramGradName), ...statOutputs];

  /** d(loss)/d(pixels) for one batch's captions at the current parameters: what PGD climbs. */
  const pixelGrad = (ids: BigInt64Array) => async (px: Float32Array): Promise<Float32Array> =>
    (await attack.run(feedsOf(state.params, px, ids), [TRAIN_OUTPUTS.pixelGrad]))[TRAIN_OUTPUTS.pixelGrad]!.data as Float32Array;

  /**
   * The first half of the items moved `alignTrajectory` steps down the batch's contrastive loss (the
   * graph takes B pictures: the items, then the batch's last pictures as fillers), their directions
   * taken again from where they land: render(t) − x, render(t) being x + d before the move.
   */
  const moveAlongTrajectories = async (items: AlignItems, batch: ShapesBatch): Promise<void> => {
    const moved = Math.floor(alignA / 2);
    const ctx = cfg.text.contextLength;
    const px = new Float32Array(B * pictureSize);
    px.set(items.pixels);
    px.set(batch.pixels.subarray(alignA * pictureSize, B * pictureSize), alignA * pictureSize);
    const ids = new BigInt64Array(B * ctx);
    ids.set(items.ids);
    ids.set(batch.ids.subarray(alignA * ctx, B * ctx), alignA * ctx);
    const out = await descend(px, pixelGrad(ids), { steps: alignTrajectory, lr: TRAJECTORY_LR, size: pictureSize, pictures: moved });
    for (let i = 0; i < moved * pictureSize; i++) {
      const target = items.pixels[i]! + items.direction[i]!;
      items.pixels[i] = out[i]!;
      items.direction[i] = target - out[i]!;
    }
  };

  const evaluate = async (phase: string, step: number): Promise<void> => {
    const acc: Record<string, number> = {};
    const robust: Record<string, number> = {};
    for (const [i, { name, batch: h }] of heldOut.entries()) {
      const share = 1 / heldOut.filter((x) => x.name === name).length;
      const out = await train.run(feedsOf(state.params, h.pixels, h.ids), [TRAIN_OUTPUTS.logits]);
      acc[name] = (acc[name] ?? 0) + share * inBatchAccuracy(out[TRAIN_OUTPUTS.logits]!, B);
      const adv = await pgdAttack(h.pixels, pixelGrad(h.ids), attackOpts(10, eps / 4, rng(hashName(`eval-attack:${i}`))));
      const outAdv = await train.run(feedsOf(state.params, adv, h.ids), [TRAIN_OUTPUTS.logits]);
      robust[name] = (robust[name] ?? 0) + share * inBatchAccuracy(outAdv[TRAIN_OUTPUTS.logits]!, B);
    }
    log({ event: 'eval', phase, step, heldOutAcc: acc.random, hardAcc: acc.hard, pgd10Acc: robust.random, pgd10HardAcc: robust.hard });
  };

  const focused = { group, mix };
  const phases: Array<{ name: string; steps: number; lr: number; warmup: number; adversarial: boolean; align?: AlignRun; batches: typeof focused; cycles?: number }> = [
    { name: 'contrastive', steps: N1, lr: num('lr'), warmup: Math.min(200, Math.floor(N1 / 10)), adversarial: false, batches: UNIFORM },
    { name: 'focus', steps: NF, lr: num('focusLr'), warmup: Math.min(200, Math.floor(NF / 10)), adversarial: false, batches: focused },
    { name: 'align', steps: NA, lr: num('alignLr'), warmup: Math.min(100, Math.floor(NA / alignCycles / 10)), adversarial: false, align: alignRuns.align, batches: focused, cycles: alignCycles },
    { name: 'pairs', steps: NP, lr: num('alignLr'), warmup: Math.min(100, Math.floor(NP / pairCycles / 10)), adversarial: false, align: alignRuns.pairs, batches: focused, cycles: pairCycles },
    { name: 'adversarial', steps: N2, lr: num('advLr'), warmup: Math.min(50, Math.floor(N2 / 10)), adversarial: true, batches: focused },
  ];
  for (const [pi, phase] of phases.entries()) {
    const current = phases.findIndex((p) => p.name === state.meta.phase);
    if (state.meta.phase === 'done' || pi < current) continue;
    let window = { loss: 0, acc: 0, n: 0, ms: 0, ranked: 0, alignCos: 0, pairCos: 0, chainGap: 0, aboveTruth: 0 };
    for (let step = Number(state.meta.step) + 1; step <= phase.steps; step++) {
      const started = Date.now();
      const batch = makeHardBatch(batchSeed(phase.name, step), B, { ...phase.batches, size: imageSize, exclude: isHeldOut });
      let pixels = batch.pixels;
      let chainGap = 0;
      let session = train;
      let feeds = feedsOf(state.params, pixels, batch.ids);
      const run = phase.align;
      if (run) {
        // Trajectories and views are the alignment phase's options; the chain-pair phase takes neither.
        const first = phase.name === 'align';
        const items = (run.paired ? alignPairs : alignItems)(batchSeed(first ? 'align-items' : 'pair-items', step), alignA, { size: imageSize, exclude: isHeldOut, shapeWeight: alignShapeWeight });
        if (first && alignTrajectory > 0) await moveAlongTrajectories(items, batch);
        if (run.take) chainGap = await run.take(items, batch);
        if (first && alignViews) viewItems(items, { shift: viewShift, noise: VIEW_NOISE, size: imageSize, rand: rng(batchSeed('align-views', step)) });
        session = run.session;
        feeds = { ...feeds, ...alignFeeds(items) };
      }
      if (phase.adversarial) {
        pixels = await pgdAttack(batch.pixels, pixelGrad(batch.ids), attackOpts(pgdSteps, trainAlpha, rng(batchSeed(`${phase.name}-attack`, step))));
        if (trainOver) {
          // Descending the loss finds what synthesis finds: pictures that score a caption above its own
          // picture, here without drawing what it names (the ball is too small to draw a shape).
          const start = overStarts(batch, rng(batchSeed(`${phase.name}-over-start`, step)), { size: imageSize, startOf: overStartOf, chainReset: CHAIN_RESET, ...(chains ? { chains } : {}) });
          const over = await pgdDescent(start, pixelGrad(batch.ids), {
            eps: overEps, alpha: (1.25 * overEps) / Math.max(1, overSteps), steps: overSteps, norm: 'linf', size: pictureSize,
            rand: rng(batchSeed(`${phase.name}-over`, step)),
          });
          chains = over;
          pixels = concatPictures(pixels, over);
          session = trainOver;
        }
        feeds = feedsOf(state.params, pixels, batch.ids);
      }
      const wanted = session === trainOver ? [...gradOutputs, TRAIN_OUTPUTS.extraLogits] : run ? [...gradOutputs, ALIGN_OUTPUTS.cos, ...(run.paired ? [ALIGN_OUTPUTS.pairCos] : []), ...(alignTruth > 0 ? [ALIGN_OUTPUTS.truthGap] : [])] : gradOutputs;
      const out = await session.run(feeds, wanted);
      const loss = (out[TRAIN_OUTPUTS.loss]!.data as Float32Array)[0]!;
      if (!Number.isFinite(loss)) throw new Error(`${phase.name} step ${step}: the loss is ${loss}; lower --lr and resume from the last checkpoint`);
      const cycle = cycleOf(step, phase.steps, phase.cycles ?? 1);
      const lr = lrAt(phase.lr, cycle.step, cycle.length, phase.warmup);
      // Each cycle starts with fresh moments, as a stage resumed from the last one's pack did.
      if (cycle.restart) state.optim = freshOptims(state.params);
      updateRunningStats(state.params, out);
      for (const name of trainable) {
        const p = state.params.get(name)!;
        const g = out[paramGradName(name)]!.data as Float32Array;
        assertFinite(g, `gradient of ${name}`);
        const opt = state.optim.get(name)!;
        opt.lr = lr;
        opt.step(p, g);
      }
      // open_clip clamps the parameter itself after each step, so it rests at the cap where its gradient still flows.
      const logScale = state.params.get('logit_scale')!;
      logScale[0] = Math.min(Math.max(logScale[0]!, 0), MAX_LOGIT_SCALE);
      const ranked = session === trainOver ? ownAbove(out[TRAIN_OUTPUTS.logits]!, out[TRAIN_OUTPUTS.extraLogits]!, B) : undefined;
      window = {
        loss: window.loss + loss, acc: window.acc + inBatchAccuracy(out[TRAIN_OUTPUTS.logits]!, B), n: window.n + 1, ms: window.ms + Date.now() - started,
        ranked: window.ranked + (ranked ?? 0), alignCos: window.alignCos + (run ? mean(out[ALIGN_OUTPUTS.cos]!.data as Float32Array) : 0),
        pairCos: window.pairCos + (run?.paired ? mean(out[ALIGN_OUTPUTS.pairCos]!.data as Float32Array) : 0),
        chainGap: window.chainGap + chainGap,
        // The share of items that score their caption above its true picture: what the truth ranking lowers.
        aboveTruth: window.aboveTruth + (run && alignTruth > 0 ? mean((out[ALIGN_OUTPUTS.truthGap]!.data as Float32Array).map((v) => (v > 0 ? 1 : 0))) : 0),
      };
      state.meta = { phase: phase.name, step: String(step) };
      if (step % every === 0 || step === phase.steps) {
        const temperature = Math.exp(Math.min(state.params.get('logit_scale')![0]!, Math.log(100)));
        log({
          phase: phase.name, step, loss: window.loss / window.n, batchAcc: window.acc / window.n,
          // Every step of the adversarial phase ranks over-scored pictures when the attack is on; no other step does.
          ...(phase.adversarial && trainOver ? { ownAboveOver: window.ranked / window.n } : {}),
          ...(run ? { alignCos: window.alignCos / window.n } : {}),
          ...(run?.paired ? { pairCos: window.pairCos / window.n } : {}),
          ...(run?.take ? { chainGap: window.chainGap / window.n } : {}),
          ...(run && alignTruth > 0 ? { aboveTruth: window.aboveTruth / window.n } : {}),
          logitScale: temperature, lr, msPerStep: Math.round(window.ms / window.n),
        });
        window = { loss: 0, acc: 0, n: 0, ms: 0, ranked: 0, alignCos: 0, pairCos: 0, chainGap: 0, aboveTruth: 0 };
        await saveTrainState(statePath, state);
      }
      if (step % (every * 10) === 0 || step === phase.steps) await evaluate(phase.name, step);
    }
    // The vanilla twin is the model before any gradient or robustness training.
    if (phase.name === 'contrastive' || phase.name === 'focus') await saveTrainState(vanillaPath, { params: state.params, optim: new Map(), meta: { phase: 'vanilla', step: String(phase.steps) } });
    const next = phases[pi + 1];
    // A new phase starts with fresh optimizer moments, as finetuning does.
    state = { params: state.params, optim: freshOptims(state.params), meta: { phase: next ? next.name : 'done', step: '0' } };
    await saveTrainState(statePath, state);
  }
  await exportPacks();
}

main().catch((e: unknown) => {
  process.stderr.write(`train-shapes: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
