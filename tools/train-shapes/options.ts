/**
 * train-shapes' command line: every flag with its default, checked, and the settings derived from
 * them. A bad flag ends the process with its message alone (tools/train-shapes.ts runs the phases).
 */
import { join } from 'node:path';
import { Command } from 'commander';
import { mixText, parseMix, type NearMissMix } from '../../src/engine/shapes/batches.js';
import { PAIR_MIX } from '../../src/engine/shapes/chain-pairs.js';
import { SHAPES_CONV_CONFIG, SHAPES_CONV_RECIPE, SHAPES_RESNET_CONFIG, SHAPES_VIT_CONFIG } from '../../src/engine/shapes/model-config.js';
import type { ClipConfig } from '../../src/engine/clip/config.js';
import { isConv, isResNet } from '../../src/engine/clip/towers.js';
import { resnetShapeError } from '../../src/engine/clip/tower-resnet.js';
import { convShapeError } from '../../src/engine/clip/tower-conv.js';
import { OVER_STARTS, type OverStart } from '../../src/engine/shapes/over-starts.js';
import { DEVICES, type Device } from '../../src/engine/runtime.js';

/**
 * The focus phase's near misses: mostly the kind and the cell, the two things a model trained on
 * every change alike picks worst (caption-probe: 53 % and 43 % after 3,000 steps); per group, so
 * a batch holds the same scene in all six kinds, or in six cells.
 */
const FOCUS_MIX = 'kind=3,position=2,size=1,colour=1,background=1,swap=1';
/** The chain pairs' mix in --mix's words. */
export const PAIR_MIX_TEXT = mixText(PAIR_MIX);

/**
 * Each tower's recipe: what `npm run train:shapes -- --tower T` runs when these flags are left out.
 * conv is the shipped demo model's (models/shapes/MODEL_CARD.md): contrastive, then the alignment
 * term with synthesis-chain items in two warm-restart cycles, then three cycles of chain pairs whose
 * chains climb 5 steps a visit. Two alignment cycles rather than four, and the cheaper pair steps,
 * keep the run inside issue 17's 3 hours on 2 cores. vit and resnet keep the recipe of the
 * adversarially finetuned ViT the demo shipped before.
 */
const VIT_DEFAULTS = { contrastiveSteps: 3000, lr: 1e-3, focusSteps: 5500, alignSteps: 0, alignCycle: 0, alignChains: 0, pairSteps: 0, pairCycle: 0, pairChainVisit: 10, adversarialSteps: 2000 } as const;
const TOWER_DEFAULTS = {
  // Three pair cycles at 5 chain steps a visit: 0.67× the step time of 10, so the third cycle fits the 3-hour budget (MODEL_CARD.md).
  conv: { contrastiveSteps: 2000, lr: 2e-3, focusSteps: 0, alignSteps: 1600, alignCycle: 800, alignChains: 16, pairSteps: 2400, pairCycle: 800, pairChainVisit: 5, adversarialSteps: 0 },
  vit: VIT_DEFAULTS,
  resnet: VIT_DEFAULTS,
} as const;
type TowerKind = keyof typeof TOWER_DEFAULTS;
type TowerDefaulted = keyof (typeof TOWER_DEFAULTS)['conv'];

/** The help text's default, per tower. */
function towerDefault(k: TowerDefaulted): string {
  const { conv, vit } = TOWER_DEFAULTS;
  return conv[k] === vit[k] ? `(default ${conv[k]})` : `(default: conv ${conv[k]}, vit and resnet ${vit[k]})`;
}

/** --align-chains: Adam steps a chain takes per visit by default; --align-chain-steps must be a whole number of visits. */
export const CHAIN_VISIT_STEPS = 10;

/** The phases in order; a state names the one it is in, --from-phase the one to enter. */
export const PHASES = ['contrastive', 'focus', 'align', 'pairs', 'adversarial'] as const;

/** A bad option: its message alone, not a stack trace. */
export function fail(message: string): never {
  process.stderr.write(`train-shapes: ${message}\n`);
  process.exit(1);
}

/**
 * Parses process.argv and checks each flag in turn. The per-phase learning rates, --threads and
 * --over-eps's label are read with `num` where the run uses them, as they always were.
 */
export function parseTrainOptions() {
  const program = new Command('train-shapes')
    .option('--work <dir>', 'checkpoints and logs', '.train/shapes')
    .option('--out <dir>', 'the robust pack', 'models/shapes')
    .option('--vanilla-out <dir>', 'the vanilla pack (the model after contrastive training, before alignment or adversarial finetuning)', 'models/shapes-vanilla')
    .option('--contrastive-steps <n>', `steps of contrastive training ${towerDefault('contrastiveSteps')}`)
    .option('--adversarial-steps <n>', `steps of adversarial finetuning ${towerDefault('adversarialSteps')}`)
    .option('--tower <kind>', 'the image tower: conv (clipag\'s conv stack with a flattened read-out, issue 17\'s probe; not in open_clip\'s family; the shipped demo model\'s), vit or resnet (open_clip ModifiedResNet, with GELU)', 'conv')
    .option('--image-size <n>', 'picture side in pixels the model sees (default: the tower\'s)')
    .option('--patch-size <n>', 'vit: patch side in pixels (default: the tower\'s)')
    .option('--head-channels <n>', 'conv: channels of the head\'s 1×1 convolution, whose whole map feeds the last linear layer (default: the tower\'s, 32)')
    .option('--width <n>', 'resnet: stem and stage width (default: the tower\'s); the attention pool gets open_clip\'s heads = width·32/64')
    .option('--batch <n>', 'pictures per step', '128')
    .option('--lr <x>', `peak learning rate, contrastive phase ${towerDefault('lr')}`)
    .option('--focus-steps <n>', `steps of contrastive training on groups that differ mostly in kind and cell ${towerDefault('focusSteps')}`)
    .option('--focus-lr <x>', 'peak learning rate, focus phase', '4e-4')
    .option('--adv-lr <x>', 'peak learning rate, adversarial phase', '2e-4')
    .option('--align-steps <n>', `steps of gradient-alignment training (the contrastive loss plus the alignment term) ${towerDefault('alignSteps')}`)
    .option('--align-items <n>', 'alignment items per step, beside the contrastive batch', '32')
    .option('--align-weight <x>', 'weight of the alignment term', '2')
    .option('--align-lr <x>', 'peak learning rate, alignment phase', '5e-4')
    .option('--align-cycle <steps>', `alignment phase: restart the warm-up-and-cosine schedule, with fresh optimizer moments, every this many steps (as resuming --from each stage's pack); must divide --align-steps; 0, or longer than the phase: one schedule ${towerDefault('alignCycle')}`)
    .option('--align-trajectory <k>', 'alignment phase: half of each step\'s items are first moved k normalised steps (lr 0.03) down the current model\'s own pixel gradient, so the term also trains the gradient where synthesis goes; 0: off', '0')
    .option('--align-chains <n>', `alignment phase: the last n of each step's items are pictures from persistent synthesis chains (synthesis's own climb: Adam up the caption's cosine over 4 views, 10 steps a visit, afresh after --align-chain-steps) with the direction to their caption's true picture, so the term trains the gradient where whole syntheses go; 0: off ${towerDefault('alignChains')}`)
    .option('--align-chain-lr <x>', 'with --align-chains: the chains\' Adam step size in pixel units (synthesis\'s recipe lr; a conv pack\'s recipe takes it)', String(SHAPES_CONV_RECIPE.lr))
    .option('--align-chain-steps <n>', `with --align-chains: Adam steps a chain climbs before it starts again, a multiple of --align-chain-visit (synthesis's recipe steps; a conv pack's recipe takes it)`, String(SHAPES_CONV_RECIPE.steps))
    .option('--pair-chain-visit <k>', `the chain-pair phase's --align-chain-visit ${towerDefault('pairChainVisit')}`)
    .option('--align-chain-visit <k>', 'with --align-chains: Adam steps a chain climbs each time its slot is taken (every fourth training step); fewer make a training step cheaper, as the climb is most of its cost, and the chains follow the model more slowly', String(CHAIN_VISIT_STEPS))
    .option('--align-views', 'alignment phase: each item is seen through one of synthesis\'s views (its own shift of up to ±2 px at 64 px, edges repeated, and pixel noise 0.03), its direction and weights shifted alike, so the term trains the gradient where synthesis takes it (train/item-views.ts)')
    .option('--align-pairs', 'alignment phase: items come in pairs, two captions one change apart (mostly the kind) at one picture, and the term adds that the difference of their gradients points from one picture to the other (shapes/align-pairs.ts); with --align-chains n, n/2 chain pictures are each taken with their caption and a one-change partner (shapes/chain-pairs.ts)')
    .option('--pair-steps <n>', `steps of the chain-pair phase after the alignment phase: the alignment term (its items, weight, lr, chains' climb and shape weight) with every item's picture taken twice, with its caption and one a change away, and the difference of the two gradients pointing from one true picture to the other (as --align-pairs) ${towerDefault('pairSteps')}`)
    .option('--pair-cycle <steps>', `chain-pair phase: restart its schedule, with fresh moments, every this many steps (as --align-cycle) ${towerDefault('pairCycle')}`)
    .option('--pair-chains <n>', 'chain-pair phase: the last n items come from synthesis chains, two per chain picture (even; default: all of --align-items)')
    .option('--pair-drop <p>', 'chain pairs (the chain-pair phase, and --align-pairs with --align-chains): the chance that a two-shape picture\'s partner is its scene with one shape left out, so the pair\'s target is that shape alone (shapes/chain-pairs.ts)', '0')
    .option('--pair-mix <weights>', 'chain pairs: relative weights of the partner\'s one change, as --mix (swap: the two shapes\' colours exchanged, for two-shape pictures only)', PAIR_MIX_TEXT)
    .option('--align-truth <w>', 'alignment phases: weight of a term ranking each item\'s true picture above the item\'s own picture for its caption, at the model\'s temperature (train/align-term.ts); with chain items, the model\'s own syntheses pushed below the truth; 0: off', '0')
    .option('--chain-two-shapes <p>', 'synthesis chains: the chance a restarted chain is given a two-shape caption (default: the batch\'s own mix, half)')
    .option('--align-shape-weight <x>', 'weight of shape pixels in the alignment term\'s cosine (background 1); 0: unweighted', '0')
    .option('--norm <linf|l2>', 'the attack\'s ball', 'l2')
    .option('--eps <n>', 'radius of the attack: L∞ in 1/255 steps, L2 in pixel units of [0, 1] per picture', '2')
    .option('--pgd-steps <n>', 'attack iterations per batch', '3')
    .option('--over-eps <n>', 'adversarial phase: L∞ radius (1/255 steps) of a second attack that looks for pictures the model scores above the clean one for their own caption, which then rank below every caption\'s own picture; 0 turns it off', '0')
    .option('--over-steps <n>', 'iterations of that attack', '3')
    .option('--over-from <starts>', 'where that attack starts, one or more of own (each caption\'s own picture), partner (its near-miss partner\'s, one change away), noise (synthesis\'s smooth random start) and chain (the last step\'s over-scored picture in that slot, so it keeps climbing across steps), comma-separated: the batch is split between them', 'partner')
    .option('--every <n>', 'checkpoint and log interval (steps)', '50')
    .option('--threads <n>', 'ONNX Runtime threads', '2')
    .option('--device <name>', `where the training graphs run: ${DEVICES.join(', ')} (cuda needs onnxruntime-node installed with ONNXRUNTIME_NODE_INSTALL=cuda12); a run that asked for a GPU and would get the CPU stops instead`, 'cpu')
    .option('--seed <n>', 'seed of the initial weights and every batch', '1')
    .option('--from <pack>', 'start from this pack\'s weights (a fresh run only), in the phase --from-phase names')
    .option('--from-phase <phase>', 'with --from: the phase its weights enter (contrastive, focus, align, pairs or adversarial)', 'focus')
    .option('--group <n>', 'scenes per near-miss group, focus and adversarial phases', '6')
    .option('--mix <weights>', 'relative weights of the near-miss changes, focus and adversarial phases', FOCUS_MIX)
    .option('--no-per-group', 'draw each variant\'s change on its own instead of one change for a whole group')
    .option('--export', 'only write the packs from the finished state')
    .parse();
  const o = program.opts<Record<string, string | boolean | undefined>>();
  const num = (k: string): number => {
    const v = Number(o[k]);
    // commander's keys are camelCase; the message names the option as it is typed.
    if (!Number.isFinite(v) || v < 0) fail(`--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} must be a number ≥ 0, got ${String(o[k])}`);
    return v;
  };
  const tower = String(o.tower);
  if (tower !== 'vit' && tower !== 'resnet' && tower !== 'conv') fail(`--tower must be conv, vit or resnet, got ${tower}`);
  /** The flags the user typed (the tower's recipe fills the rest). */
  const given = new Set(Object.keys(o).filter((k) => o[k] !== undefined));
  // Flags left out take the tower's recipe; \`num\` then checks them as if typed.
  for (const [k, v] of Object.entries(TOWER_DEFAULTS[tower as TowerKind])) o[k] ??= String(v);
  const base = tower === 'resnet' ? SHAPES_RESNET_CONFIG : tower === 'conv' ? SHAPES_CONV_CONFIG : SHAPES_VIT_CONFIG;
  const imageSize = o.imageSize === undefined ? base.vision.imageSize : num('imageSize');
  if (!Number.isInteger(imageSize) || imageSize < 8) fail(`--image-size must be a whole number ≥ 8, got ${String(o.imageSize)}`);
  if (o.headChannels !== undefined && tower !== 'conv') fail(`--head-channels is for --tower conv; the ${tower} tower has no such head`);
  const cfg: ClipConfig = ((): ClipConfig => {
    const v = base.vision;
    if (isResNet(v)) {
      if (o.patchSize !== undefined) fail('--patch-size is for --tower vit; a ResNet has no patches');
      const width = o.width === undefined ? v.width : num('width');
      if (!Number.isInteger(width) || width < 2 || width % 2 !== 0) fail(`--width must be an even whole number ≥ 2, got ${String(o.width)}`);
      const c = { ...base, vision: { ...v, imageSize, width, heads: o.width === undefined ? v.heads : Math.max(1, (width * 32) / 64) } };
      const problem = resnetShapeError(c.vision);
      if (problem) fail(`--image-size: ${problem}`);
      return c;
    }
    if (o.width !== undefined) fail('--width is for --tower resnet');
    if (isConv(v)) {
      if (o.patchSize !== undefined) fail('--patch-size is for --tower vit; the conv tower has no patches');
      const headChannels = o.headChannels === undefined ? v.headChannels : num('headChannels');
      if (!Number.isInteger(headChannels) || headChannels < 1 || headChannels > 512) fail(`--head-channels must be a whole number from 1 to 512, got ${String(o.headChannels)}`);
      const c = { ...base, vision: { ...v, imageSize, headChannels } };
      const problem = convShapeError(c.vision);
      if (problem) fail(`--image-size: ${problem}`);
      return c;
    }
    const patchSize = o.patchSize === undefined ? v.patchSize : num('patchSize');
    if (!Number.isInteger(patchSize) || patchSize < 1 || imageSize % patchSize !== 0) {
      fail(`--patch-size must divide the ${imageSize}-px picture, got ${String(o.patchSize)}`);
    }
    return { ...base, vision: { ...v, imageSize, patchSize } };
  })();
  const work = String(o.work);
  const device = String(o.device) as Device;
  if (!DEVICES.includes(device)) fail(`--device must be one of ${DEVICES.join(', ')}, got ${String(o.device)}`);
  const B = num('batch');
  const N1 = num('contrastiveSteps');
  const NF = num('focusSteps');
  const N2 = num('adversarialSteps');
  const NA = num('alignSteps');
  const alignA = num('alignItems');
  if (NA > 0 && (!Number.isInteger(alignA) || alignA < 1)) fail(`--align-items must be a whole number ≥ 1, got ${String(o.alignItems)}`);
  const alignWeight = num('alignWeight');
  const alignCycle = num('alignCycle');
  if (!Number.isInteger(alignCycle) || (alignCycle > 0 && alignCycle < NA && NA % alignCycle !== 0)) fail(`--align-cycle must be a whole number of steps that divides --align-steps (${NA}), got ${String(o.alignCycle)}`);
  /** Equal cycles the alignment phase runs as. */
  const alignCycles = alignCycle > 0 && alignCycle < NA ? NA / alignCycle : 1;
  const alignShapeWeight = num('alignShapeWeight');
  const alignTruth = num('alignTruth');
  const chainTwoShapes = o.chainTwoShapes === undefined ? undefined : num('chainTwoShapes');
  if (chainTwoShapes !== undefined && !(chainTwoShapes >= 0 && chainTwoShapes <= 1)) fail(`--chain-two-shapes must be a probability in [0, 1], got ${String(o.chainTwoShapes)}`);
  if (!(alignTruth >= 0 && Number.isFinite(alignTruth))) fail(`--align-truth must be a number ≥ 0, got ${String(o.alignTruth)}`);
  const alignTrajectory = num('alignTrajectory');
  if (!Number.isInteger(alignTrajectory)) fail(`--align-trajectory must be a whole number of steps, got ${String(o.alignTrajectory)}`);
  const alignPaired = Boolean(o.alignPairs);
  const alignViews = Boolean(o.alignViews);
  if (alignPaired && alignA % 2 !== 0) fail(`--align-pairs needs an even --align-items, got ${alignA}`);
  if (alignPaired && alignViews) fail('--align-pairs and --align-views cannot be combined: each item\'s own shift would split a pair\'s shared picture');
  if (alignPaired && alignTrajectory > 0) fail('--align-pairs and --align-trajectory cannot be combined: moving items along their own trajectories would split a pair\'s shared picture');
  const alignChains = num('alignChains');
  if (!Number.isInteger(alignChains) || alignChains < 0 || (NA > 0 && alignChains > alignA)) fail(`--align-chains must be a whole number from 0 to --align-items (${alignA}), got ${String(o.alignChains)}`);
  // --align-items is even already (above), so an even --align-chains leaves whole pairs before it too.
  if (alignChains > 0 && alignPaired && alignChains % 2 !== 0) fail(`with --align-pairs, --align-chains must be even (each chain picture is taken with two captions), got ${alignChains}`);
  if (alignChains > 0 && alignTrajectory > 0 && alignChains > alignA - Math.floor(alignA / 2)) fail(`with --align-trajectory, --align-chains can take at most the second half of the items (${alignA - Math.floor(alignA / 2)})`);
  const NP = num('pairSteps');
  if (NP > 0 && (!Number.isInteger(alignA) || alignA < 2 || alignA % 2 !== 0)) fail(`--pair-steps needs an even --align-items (the items come in pairs), got ${String(o.alignItems)}`);
  const pairCycle = num('pairCycle');
  if (!Number.isInteger(pairCycle) || (pairCycle > 0 && pairCycle < NP && NP % pairCycle !== 0)) fail(`--pair-cycle must be a whole number of steps that divides --pair-steps (${NP}), got ${String(o.pairCycle)}`);
  /** Equal cycles the chain-pair phase runs as. */
  const pairCycles = pairCycle > 0 && pairCycle < NP ? NP / pairCycle : 1;
  const pairChains = o.pairChains === undefined ? alignA : num('pairChains');
  if (NP > 0 && (!Number.isInteger(pairChains) || pairChains % 2 !== 0 || pairChains > alignA)) fail(`--pair-chains must be an even whole number from 0 to --align-items (${alignA}), got ${String(o.pairChains)}`);
  const pairDrop = num('pairDrop');
  if (pairDrop > 1) fail(`--pair-drop must be a probability from 0 to 1, got ${String(o.pairDrop)}`);
  const pairMix = ((): NearMissMix => {
    let m: NearMissMix;
    try {
      m = parseMix(String(o.pairMix), false);
    } catch (e) {
      return fail(`--pair-mix: ${(e as Error).message}`);
    }
    // A one-shape picture can take every change but the swap, so a mix of swaps alone pairs none of them.
    if (!Object.entries(m.weights).some(([c, w]) => c !== 'swap' && w! > 0)) fail('--pair-mix needs a change besides swap (one-shape pictures cannot swap colours)');
    return m;
  })();
  const alignChainLr = num('alignChainLr');
  if (!(alignChainLr > 0 && alignChainLr <= 1)) fail(`--align-chain-lr must be a number in (0, 1], got ${String(o.alignChainLr)}`);
  const chainVisit = num('alignChainVisit');
  if (!Number.isInteger(chainVisit) || chainVisit < 1 || chainVisit > 100) fail(`--align-chain-visit must be a whole number of steps from 1 to 100, got ${String(o.alignChainVisit)}`);
  const alignChainSteps = num('alignChainSteps');
  if (!Number.isInteger(alignChainSteps) || alignChainSteps < chainVisit || alignChainSteps % chainVisit !== 0 || alignChainSteps > 1000) fail(`--align-chain-steps must be a multiple of ${chainVisit} from ${chainVisit} to 1000, got ${String(o.alignChainSteps)}`);
  const pairVisit = num('pairChainVisit');
  if (!Number.isInteger(pairVisit) || pairVisit < 1 || pairVisit > 100 || (NP > 0 && alignChainSteps % pairVisit !== 0)) {
    fail(`--pair-chain-visit must be a whole number of steps from 1 to 100 that divides --align-chain-steps (${alignChainSteps}), got ${String(o.pairChainVisit)}${given.has('pairChainVisit') ? '' : ' (its default)'}`);
  }
  if ((NA > 0 || NP > 0) && alignA > B) fail(`--align-items (${alignA}) must be at most --batch (${B})`);
  const every = Math.max(1, num('every'));
  const seed = num('seed');
  const norm = String(o.norm);
  if (norm !== 'linf' && norm !== 'l2') fail(`--norm must be linf or l2, got ${norm}`);
  const eps = norm === 'linf' ? num('eps') / 255 : num('eps');
  const pgdSteps = num('pgdSteps');
  const overEps = num('overEps') / 255;
  const overSteps = num('overSteps');
  const overFrom = String(o.overFrom).split(',').map((x) => x.trim());
  for (const f of overFrom) if (!(OVER_STARTS as readonly string[]).includes(f)) fail(`--over-from takes own, partner, noise or chain, got "${f}"`);
  /** Which start each picture slot's over-scored picture comes from: the batch split evenly between the listed ones. */
  const overStartOf = (i: number): OverStart => overFrom[Math.floor((i * overFrom.length) / B)] as OverStart;
  /** Pictures after each batch that no caption owns: the over-scored ones, when that attack is on. */
  const extra = overEps > 0 ? B : 0;
  const group = num('group');
  if (!Number.isInteger(group) || group < 1) fail(`--group must be a whole number ≥ 1, got ${String(o.group)}`);
  const mix = ((): NearMissMix => {
    try {
      return parseMix(String(o.mix), o.perGroup !== false);
    } catch (e) {
      return fail(`--mix: ${(e as Error).message}`);
    }
  })();
  const fromPhase = String(o.fromPhase);
  if (!(PHASES as readonly string[]).includes(fromPhase)) fail(`--from-phase must be ${PHASES.join(', ')}, got ${fromPhase}`);
  const pictureSize = 3 * cfg.vision.imageSize ** 2;
  /** The training attack's step size: 1.25·ε/steps for L∞ (as before), 2.5·ε/steps for L2 (Madry et al.'s robustness library's rule). */
  const trainAlpha = ((norm === 'linf' ? 1.25 : 2.5) * eps) / Math.max(1, pgdSteps);
  const attackOpts = (steps: number, alpha: number, rand: () => number) => ({ eps, alpha, steps, rand, norm, size: pictureSize } as const);
  const ballName = norm === 'linf' ? `L∞ ${num('eps')}/255` : `L2 ${num('eps')}`;
  const statePath = join(work, 'state.safetensors');
  const vanillaPath = join(work, 'vanilla.safetensors');
  const logPath = join(work, 'log.jsonl');
  return {
    o, num, imageSize, cfg, work, B, N1, NF, N2, NA, NP, pairCycles, pairChains, pairDrop, pairMix, alignA, alignWeight, alignCycles, alignViews, alignShapeWeight, alignTrajectory, alignTruth, chainTwoShapes,
    alignChains, alignChainLr, alignChainSteps, chainVisit, pairVisit, alignPaired, every, seed, eps, pgdSteps, overEps, overSteps, overFrom, overStartOf, extra, group, mix,
    device, fromPhase, pictureSize, trainAlpha, attackOpts, ballName, statePath, vanillaPath, logPath,
  };
}
