/**
 * The demo model's architectures: tiny CLIPs sized for 64×64 Shapes-world pictures, built by the
 * same graph builders as real packs. The shipped one has clipag's conv tower; the open_clip ViT and
 * ResNet variants are the ones measured before it. Also the word tokenizer, built from the world's
 * closed vocabulary, and the synthesis recipes the packs ship.
 */
import { OPENAI_MEAN, OPENAI_STD, type ClipConfig } from '../clip/config.js';
import type { TokenizerSpec } from '../clip/tokenizer.js';
import { isConv } from '../clip/tower-types.js';
import { VOCABULARY } from './captions.js';
import { SHAPE_KINDS } from './world.js';

/**
 * 16-px patches on a 64-px picture (a 4×4 grid): each patch's embedding sees most of a shape's
 * outline. Places and colours are learnt within the first few hundred steps; kinds only because the
 * world centres each shape in its cell (a linear patch embedding must learn a kind at every offset
 * against the patch grid it can appear at). 8-px patches cost ~3.5× a step and learnt more slowly
 * (78.6 % caption retrieval after 2,000 steps against 94.8 % for 16-px after 3,000; MODEL_CARD.md).
 */
export const SHAPES_IMAGE_SIZE = 64;

/** Word ids: 0 is padding, then the vocabulary in order, then start and end of text. */
export const SHAPES_WORDS: readonly string[] = Object.freeze(['<pad>', ...VOCABULARY, '<start>', '<end>']);

export const SHAPES_TOKENIZER: TokenizerSpec = {
  kind: 'word',
  words: SHAPES_WORDS,
  sot: SHAPES_WORDS.length - 2,
  eot: SHAPES_WORDS.length - 1,
  pad: 0,
  vocabSize: SHAPES_WORDS.length,
};

const EMBED = 128;

const SHAPES_TEXT: ClipConfig['text'] = {
  // The longest caption is 23 words; 32 leaves room for the start/end ids and user prompts.
  contextLength: 32, vocabSize: SHAPES_WORDS.length, width: 128, layers: 2, heads: 4, outputDim: EMBED, act: 'gelu',
};

/** The ViT variant (the first demo models): 4×4 patches of 16 px. */
export const SHAPES_VIT_CONFIG: ClipConfig = {
  arch: 'custom',
  embedDim: EMBED,
  vision: { imageSize: SHAPES_IMAGE_SIZE, patchSize: 16, width: 128, layers: 4, heads: 4, outputDim: EMBED, act: 'gelu' },
  text: SHAPES_TEXT,
  mean: [...OPENAI_MEAN],
  std: [...OPENAI_STD],
};

/**
 * open_clip's ModifiedResNet at its smallest depth (one bottleneck per stage) and width 8 (its
 * attention pool works on 256 channels in 4 heads, as open_clip's heads = width·32/64): a 2×2 grid
 * at 64 px, whose receptive fields overlap every cell; the attention pool's positional embedding
 * keeps where things are. At 96 px (a 3×3 grid on the world's cells) and width 16 a training step
 * cost about 6× as much. GELU instead of open_clip's ReLU (recorded in the pack): with ReLU the
 * alignment term's cosine stayed at 0.02 after 500 steps (MODEL_CARD.md).
 */
export const SHAPES_RESNET_CONFIG: ClipConfig = {
  arch: 'custom',
  embedDim: EMBED,
  vision: { kind: 'resnet', imageSize: SHAPES_IMAGE_SIZE, width: 16, layers: [1, 1, 1, 1], heads: 8, outputDim: EMBED, act: 'gelu' },
  text: SHAPES_TEXT,
  mean: [...OPENAI_MEAN],
  std: [...OPENAI_STD],
};

/**
 * clipag's conv tower (not in open_clip's family): the CLIPAG authors' probe from issue 17, whose
 * flattened read-out gives every cell of the 8×8 map its own weights into the embedding. With the
 * alignment term on synthesis's own pictures it draws the named shape for 45 % of held-out one-shape
 * prompts, where the 8-px ViT levelled off at about 20 % (MODEL_CARD.md); the shipped demo model.
 * Pixels are read as (x − 0.5)·2, as the probe's.
 */
export const SHAPES_CONV_CONFIG: ClipConfig = {
  arch: 'custom',
  embedDim: EMBED,
  vision: {
    kind: 'conv',
    imageSize: SHAPES_IMAGE_SIZE,
    convs: [{ channels: 32, kernel: 4, stride: 2 }, { channels: 64, kernel: 3, stride: 2 }, { channels: 64, kernel: 3, stride: 1 }, { channels: 128, kernel: 3, stride: 2 }, { channels: 128, kernel: 3, stride: 1 }],
    groups: 8,
    headChannels: 32,
    outputDim: EMBED,
    act: 'gelu',
  },
  text: SHAPES_TEXT,
  mean: [0.5, 0.5, 0.5],
  std: [0.5, 0.5, 0.5],
};

/** What the shipped packs say they are (clipag.json's description; the bot's model list). */
export const SHAPES_DESCRIPTION = 'Demo: coloured shapes on coloured backgrounds, 64 px (knows only its own words)';
export const SHAPES_VANILLA_DESCRIPTION = 'Demo, contrastive training only: the same world without perceptually aligned gradients';

/** The architecture of the shipped demo packs (the conv tower since stop 27; the ViT before). */
export const SHAPES_CONFIG: ClipConfig = SHAPES_CONV_CONFIG;

/**
 * Synthesis settings tuned to this model (shipped in its clipag.json): a 64-px canvas takes far
 * fewer views and steps than the paper's 224-px ViT-B/32. Only the views this world's pictures keep
 * their meaning under: a shift, a cutout, a zoom or a colour jitter changes where or what colour a
 * shape is, and the true picture then scores 1 − cos ≈ 0.5 under DiffAugment's views against 0.08
 * with these (tools/view-tolerance.ts); synthesis climbed toward whatever survived those views
 * instead of toward the scene (background right in 40 % of held-out prompts, 87 % with these, on the
 * weights before the focus phase; 93 % on the shipped ones).
 * Pixel noise (robust models ignore σ 0.1) and large patch crops are kept as the regularisers.
 */
export const SHAPES_RECIPE: Record<string, number> = {
  steps: 60,
  globalViews: 8,
  patchViews: 8,
  patchFraction: 0.8,
  noiseStd: 0.05,
  translateRatio: 0,
  cutoutRatio: 0,
  zoomMin: 1,
  zoomMax: 1,
  colorAugment: 0,
};

/**
 * The conv tower's synthesis (shipped in its clipag.json): the climb its alignment training's chains
 * make (train/synthesis-chains.ts), since the gradient is trained where that climb goes: Adam at lr
 * 0.03 without decay, 80 steps, 4 global views with ±2 px shifts and pixel noise 0.03, clamping, one
 * random start. Moving away from it costs (tuning prompts, 1,600 alignment steps): no shifts 25 → 14 %
 * judged correct, ±4 px 19 %, 8 views 29 %, 160 steps 28 %, noise 0.06 25 %.
 * Plus the kind contrast (pag/contrast.ts over SHAPES_CONTRAST), which the chains do not climb: an
 * aligned gradient's difference between a caption and its other kinds points at the outline (the
 * chain pairs train exactly that; W5, without them, gains too), and synthesis pushing from the other
 * kinds follows it. On the 80 tuning prompts (stop 31
 * pack) weights 0.15–0.5 gave 44–49 % judged correct against 39 % without, 0.6 36 %, 0.7 18 %, 1 none.
 * On the held-out prompts the stop 32 pack draws 59 % with it and 42.5 % without.
 */
export const SHAPES_CONV_RECIPE: Record<string, number> = {
  ...SHAPES_RECIPE,
  steps: 80,
  globalViews: 4,
  patchViews: 0,
  lr: 0.03,
  weightDecay: 0,
  stepRule: 0,
  noiseStd: 0.03,
  translateRatio: 0.03125,
  threshold: 0,
  initCandidates: 1,
  contrastWeight: 0.3,
};

/** The groups a Shapes pack's prompts are contrasted over: the kinds, the part synthesis gets wrong most. */
export const SHAPES_CONTRAST: readonly (readonly string[])[] = Object.freeze([SHAPE_KINDS]);

/** The synthesis recipe a trained pack of this config ships with. */
export function shapesRecipeFor(cfg: ClipConfig): Record<string, number> {
  return isConv(cfg.vision) ? SHAPES_CONV_RECIPE : SHAPES_RECIPE;
}
