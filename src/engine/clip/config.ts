/**
 * CLIP architectures as data. The built-in ones are open_clip's own model configs (configs/*.json,
 * in open_clip's format); user configs come as open_clip model configs (bare or the HF-hub
 * `open_clip_config.json` form), read here, or as Hugging Face `CLIPModel` config.json files, read
 * by config-hf.ts (configFromHf). The parsing helpers both share are in config-parse.ts.
 *
 * The engine implements open_clip's plain CLIP exactly: a `VisionTransformer` with default options
 * or a `ModifiedResNet` (RN50 family), and a default `TextTransformer`. A config that asks open_clip
 * for anything that changes
 * what a tower computes (layer scale, attentional pooling, a timm or HF tower, ...) is refused with
 * one line naming the file and the key, never approximated.
 */
import { z } from 'zod';
import type { Activation, ResNetConfig, TextConfig, VisionConfig } from './towers.js';
import { asObject, channels, checkShapes, fail, isNull, parseWith, posInt, type Json } from './config-parse.js';
import vitB32 from './configs/ViT-B-32.json' with { type: 'json' };
import vitB32Quick from './configs/ViT-B-32-quickgelu.json' with { type: 'json' };
import vitB16 from './configs/ViT-B-16.json' with { type: 'json' };
import vitL14 from './configs/ViT-L-14.json' with { type: 'json' };
import vitL14Quick from './configs/ViT-L-14-quickgelu.json' with { type: 'json' };
import rn50 from './configs/RN50.json' with { type: 'json' };
import rn50Quick from './configs/RN50-quickgelu.json' with { type: 'json' };
import rn101 from './configs/RN101.json' with { type: 'json' };
import rn101Quick from './configs/RN101-quickgelu.json' with { type: 'json' };
import { closestName } from '../suggest.js';

export interface ClipConfig {
  /** A built-in architecture name, or 'custom'. */
  arch: string;
  embedDim: number;
  vision: VisionConfig;
  text: TextConfig;
  /** Per-channel normalisation (open_clip's OPENAI_DATASET_MEAN/STD unless the config says otherwise). */
  mean: [number, number, number];
  std: [number, number, number];
}

/** open_clip's OPENAI_DATASET_MEAN / _STD (transformers' OPENAI_CLIP_MEAN / _STD are the same numbers). */
export const OPENAI_MEAN: readonly [number, number, number] = [0.48145466, 0.4578275, 0.40821073];
export const OPENAI_STD: readonly [number, number, number] = [0.26862954, 0.26130258, 0.27577711];

const BUILTIN_JSON: Readonly<Record<string, unknown>> = {
  'ViT-B-32': vitB32,
  'ViT-B-32-quickgelu': vitB32Quick,
  'ViT-B-16': vitB16,
  'ViT-L-14': vitL14,
  'ViT-L-14-quickgelu': vitL14Quick,
  'RN50': rn50,
  'RN50-quickgelu': rn50Quick,
  'RN101': rn101,
  'RN101-quickgelu': rn101Quick,
};

export const BUILTIN_ARCHS: readonly string[] = Object.keys(BUILTIN_JSON);

// ---------------------------------------------------------------------------------------------
// Built-in architectures

let builtins: Map<string, ClipConfig> | undefined;

function builtinTable(): Map<string, ClipConfig> {
  builtins ??= new Map(BUILTIN_ARCHS.map((name) => [name, { ...parseOpenClip(BUILTIN_JSON[name], `built-in config ${name}`), arch: name }]));
  return builtins;
}

/** A built-in architecture's config (a fresh copy the caller may change). */
export function builtinConfig(name: string): ClipConfig {
  const hit = builtinTable().get(name);
  if (hit) return structuredClone(hit);
  const near = closestName(name, BUILTIN_ARCHS);
  const hint = near ? `; did you mean ${near}?` : '';
  throw new Error(`unknown architecture "${name}"; known: ${BUILTIN_ARCHS.join(', ')}${hint}`);
}

/** The built-in architecture a config is, number for number (its arch field aside), or null. */
export function matchBuiltin(cfg: ClipConfig): string | null {
  for (const [name, b] of builtinTable()) if (sameArchitecture(cfg, b)) return name;
  return null;
}

function sameArchitecture(a: ClipConfig, b: ClipConfig): boolean {
  // Key order differs between sources (a manifest, a literal), so compare sorted entries.
  const canon = (x: object): string => JSON.stringify(Object.entries(x).sort(([k], [l]) => (k < l ? -1 : 1)));
  return a.embedDim === b.embedDim && canon(a.vision) === canon(b.vision) && canon(a.text) === canon(b.text)
    && canon(a.mean) === canon(b.mean) && canon(a.std) === canon(b.std);
}

/** The config with its arch set: the built-in it equals, else 'custom'. */
export const withArch = (cfg: ClipConfig): ClipConfig => ({ ...cfg, arch: matchBuiltin(cfg) ?? 'custom' });

// ---------------------------------------------------------------------------------------------
// open_clip model configs

/**
 * What to do with each key open_clip's CLIP, CLIPVisionCfg and CLIPTextCfg accept:
 * 'value' — read below; 'ignored' — no effect on what inference computes (training, tokenizer or
 * output plumbing); otherwise the value(s) that keep the tower plain, and what the option is.
 * A key open_clip does not have is refused as well: open_clip itself rejects it (dataclass kwargs).
 */
type Rule = 'value' | 'ignored' | { plain: (v: unknown) => boolean; what: string };

const isFalse = (v: unknown): boolean => v === false || isNull(v);
const isEmpty = (v: unknown): boolean => isNull(v) || v === '';
const isNoKwargs = (v: unknown): boolean => isNull(v) || (typeof v === 'object' && v !== null && Object.keys(v).length === 0);
const is = (...ok: unknown[]) => (v: unknown): boolean => isNull(v) || ok.includes(v);

/** Options of open_clip's Transformer / ResidualAttentionBlock, shared by both towers. */
const BLOCK_RULES: Record<string, Rule> = {
  layers: 'value',
  width: 'value',
  mlp_ratio: { plain: is(4), what: 'MLP width other than 4×' },
  ls_init_value: { plain: isNull, what: 'layer scale' },
  act_kwargs: { plain: isNoKwargs, what: 'activation arguments' },
  norm_kwargs: { plain: isNoKwargs, what: 'LayerNorm arguments' },
  block_type: { plain: is('default'), what: 'custom attention block' },
  qk_norm: { plain: isFalse, what: 'q/k normalisation' },
  scaled_cosine_attn: { plain: isFalse, what: 'scaled cosine attention' },
  scale_heads: { plain: isFalse, what: 'per-head attention scales' },
  scale_attn_inner: { plain: isFalse, what: 'attention inner LayerNorm' },
  scale_attn: { plain: isFalse, what: 'attention output LayerNorm' },
  scale_fc: { plain: isFalse, what: 'MLP inner LayerNorm' },
  final_ln_after_pool: { plain: isFalse, what: 'final LayerNorm after pooling' },
  output_tokens: 'ignored',
};

const VISION_RULES: Record<string, Rule> = {
  ...BLOCK_RULES,
  head_width: 'value',
  patch_size: 'value',
  image_size: 'value',
  image_seq_len: 'ignored', // only read by NaFlex towers
  patch_dropout: 'ignored', // PatchDropout is the identity outside training
  attentional_pool: { plain: isFalse, what: 'attentional pooling' },
  attn_pooler_queries: 'ignored',
  attn_pooler_heads: 'ignored',
  no_ln_pre: { plain: isFalse, what: 'no LayerNorm before the transformer' },
  pos_embed_type: { plain: is('learnable'), what: 'fixed positional embedding' },
  pool_type: { plain: is('tok'), what: 'pooling other than the class token' },
  timm_model_name: { plain: isEmpty, what: 'timm vision tower' },
  timm_model_pretrained: 'ignored',
  timm_pool: 'ignored',
  timm_proj: 'ignored',
  timm_proj_bias: 'ignored',
  timm_drop: 'ignored',
  timm_drop_path: 'ignored',
  timm_model_kwargs: 'ignored',
};

/** Keys of open_clip's `text_arch: "modern"` tower, which open_clip reads for no other tower. */
const MODERN_TEXT_KEYS = [
  'attention_mode', 'pos_embed', 'rope_temperature', 'mlp_type', 'norm_type', 'norm_eps', 'attn_gated', 'pre_norm',
  'norm_placement', 'zero_init_residual', 'reg_tokens', 'value_residual', 'attention_bias', 'mlp_bias', 'gate_bias',
];

const TEXT_RULES: Record<string, Rule> = {
  ...BLOCK_RULES,
  heads: 'value',
  context_length: 'value',
  vocab_size: 'value',
  text_arch: { plain: is('clip'), what: 'text tower other than CLIP\'s' },
  variable_text: { plain: isFalse, what: 'variable-length text' },
  // The tokenizer is chosen and checked by the import (a CLIP BPE file), not by the tower.
  hf_tokenizer_name: 'ignored',
  tokenizer_mode: 'ignored',
  tokenizer_kwargs: 'ignored',
  tokenizer_type: { plain: isEmpty, what: 'non-CLIP tokenizer' },
  tiktoken_name: 'ignored',
  embed_cls: { plain: isFalse, what: 'learned CLS token' },
  pad_id: 'ignored', // only read for a CLS token or a padding mask
  bos_id: 'ignored',
  eos_id: 'ignored', // only read for pool_type "eos"
  no_causal_mask: { plain: isFalse, what: 'bidirectional text attention' },
  pool_type: { plain: is('argmax'), what: 'pooling other than at the end-of-text token' },
  proj_bias: { plain: isFalse, what: 'text projection with bias' },
  proj_type: { plain: is('linear'), what: 'text projection other than linear' },
  hf_model_name: { plain: isEmpty, what: 'Hugging Face text tower' },
  hf_model_pretrained: 'ignored',
  hf_proj_type: 'ignored',
  hf_pooler_type: 'ignored',
  hf_model_config: 'ignored',
  ...Object.fromEntries(MODERN_TEXT_KEYS.map((k) => [k, 'ignored' as const])),
};

const MODEL_RULES: Record<string, Rule> = {
  embed_dim: 'value',
  vision_cfg: 'value',
  text_cfg: 'value',
  quick_gelu: 'value',
  init_logit_scale: 'ignored', // the checkpoint carries logit_scale
  nonscalar_logit_scale: 'ignored', // logit_scale stored as [1]; the weight view accepts it
  init_logit_bias: { plain: isNull, what: 'sigmoid (SigLIP-style) logit bias' },
  custom_text: { plain: isFalse, what: 'CustomTextCLIP, whose text weights are named text.*' },
  cast_dtype: 'ignored',
  output_dict: 'ignored',
};

/** open_clip's PreprocessCfg; keys it does not have are dropped by open_clip too (merge_preprocess_dict). */
const PREPROCESS_RULES: Record<string, Rule> = {
  mean: 'value',
  std: 'value',
  size: 'ignored', // open_clip replaces it with the vision tower's image size
  fill_color: 'ignored', // only for resize_mode "longest"
  mode: { plain: is('RGB'), what: 'colour mode other than RGB' },
  interpolation: { plain: is('bicubic'), what: 'resize other than bicubic' },
  resize_mode: { plain: is('shortest'), what: 'resize other than short side + centre crop' },
};

function checkKeys(o: Json, rules: Record<string, Rule>, file: string, prefix: string, unknown: 'refuse' | 'ignore'): void {
  for (const [key, v] of Object.entries(o)) {
    const rule = rules[key];
    if (!rule) {
      if (unknown === 'ignore') continue;
      fail(file, `${prefix}${key} is not an option of open_clip's CLIP ViT or ResNet; only plain CLIPs are supported`);
    } else if (typeof rule === 'object' && !rule.plain(v)) {
      fail(file, `${prefix}${key} = ${JSON.stringify(v)} (${rule.what}) is not supported; only plain CLIP ViTs and ResNets are`);
    }
  }
}

// Defaults as open_clip's CLIPVisionCfg / CLIPTextCfg dataclasses.
const visionNumbers = z.object({
  layers: posInt.default(12),
  width: posInt.default(768),
  head_width: posInt.default(64),
  patch_size: posInt.default(16),
  image_size: z.union([posInt, z.tuple([posInt, posInt])]).default(224),
});

/** A ModifiedResNet's numbers; open_clip's RN configs set patch_size null, which it never reads. */
const resnetNumbers = z.object({
  layers: z.tuple([posInt, posInt, posInt, posInt]),
  width: posInt.default(64),
  head_width: posInt.default(64),
  image_size: z.union([posInt, z.tuple([posInt, posInt])]).default(224),
});

const textNumbers = z.object({
  context_length: posInt.default(77),
  vocab_size: posInt.default(49408),
  width: posInt.default(512),
  heads: posInt.default(8),
  layers: posInt.default(12),
});

const modelNumbers = z.object({ embed_dim: posInt, quick_gelu: z.boolean().default(false) });

/** An open_clip config read as it is (arch 'custom'); the public functions name the architecture. */
function parseOpenClip(json: unknown, file: string): ClipConfig {
  const root = asObject(json, file, '');
  // The HF-hub form (open_clip_config.json) wraps the model config and adds preprocessing.
  const hub = 'model_cfg' in root;
  const model = hub ? asObject(root.model_cfg, file, 'model_cfg') : root;
  const p = hub ? 'model_cfg.' : '';
  checkKeys(model, MODEL_RULES, file, p, 'refuse');
  if (!('vision_cfg' in model)) fail(file, `${p}vision_cfg is missing; is this an open_clip model config?`);
  if (!('text_cfg' in model)) fail(file, `${p}text_cfg is missing; is this an open_clip model config?`);
  const vcfg = asObject(model.vision_cfg, file, `${p}vision_cfg`);
  const tcfg = asObject(model.text_cfg, file, `${p}text_cfg`);
  // open_clip builds a ModifiedResNet when vision_cfg.layers is a list (and no timm tower is named,
  // which the rules below refuse anyway).
  const resnet = Array.isArray(vcfg.layers);
  checkKeys(vcfg, VISION_RULES, file, `${p}vision_cfg.`, 'refuse');
  checkKeys(tcfg, TEXT_RULES, file, `${p}text_cfg.`, 'refuse');

  const m = parseWith(modelNumbers, model, file, p);
  const t = parseWith(textNumbers, tcfg, file, `${p}text_cfg.`);
  const square = (size: number | [number, number]): number => {
    if (typeof size === 'number') return size;
    if (size[0] === size[1]) return size[0];
    return fail(file, `${p}vision_cfg.image_size ${JSON.stringify(size)}: only square images are supported`);
  };
  const act: Activation = m.quick_gelu ? 'quick_gelu' : 'gelu';
  let vision: VisionConfig;
  if (resnet) {
    const r = parseWith(resnetNumbers, vcfg, file, `${p}vision_cfg.`);
    vision = {
      kind: 'resnet',
      imageSize: square(r.image_size),
      width: r.width,
      layers: r.layers,
      // open_clip: vision_heads = width * 32 // head_width (the pool is 32·width wide)
      heads: Math.floor((r.width * 32) / r.head_width),
      outputDim: m.embed_dim,
    } satisfies ResNetConfig;
  } else {
    const v = parseWith(visionNumbers, vcfg, file, `${p}vision_cfg.`);
    vision = {
      imageSize: square(v.image_size),
      patchSize: v.patch_size,
      width: v.width,
      layers: v.layers,
      // open_clip: vision_heads = width // head_width
      heads: Math.floor(v.width / v.head_width),
      outputDim: m.embed_dim,
      act,
    };
  }

  let mean: [number, number, number] = [...OPENAI_MEAN];
  let std: [number, number, number] = [...OPENAI_STD];
  if (hub && !isNull(root.preprocess_cfg)) {
    const pre = asObject(root.preprocess_cfg, file, 'preprocess_cfg');
    checkKeys(pre, PREPROCESS_RULES, file, 'preprocess_cfg.', 'ignore');
    // open_clip skips null overrides, so null means the default.
    if (!isNull(pre.mean)) mean = channels(pre.mean, file, 'preprocess_cfg.mean', false);
    if (!isNull(pre.std)) std = channels(pre.std, file, 'preprocess_cfg.std', true);
  }

  const cfg: ClipConfig = {
    arch: 'custom',
    embedDim: m.embed_dim,
    vision,
    text: {
      contextLength: t.context_length,
      vocabSize: t.vocab_size,
      width: t.width,
      layers: t.layers,
      heads: t.heads,
      outputDim: m.embed_dim,
      act,
    },
    mean,
    std,
  };
  return checkShapes(cfg, file, {
    vision: `${p}vision_cfg`,
    imageSize: `${p}vision_cfg.image_size`,
    visionHeads: `${p}vision_cfg.head_width`,
    textHeads: `${p}text_cfg.heads`,
  });
}

/**
 * An open_clip model config: bare ({embed_dim, vision_cfg, text_cfg, quick_gelu?}) or the HF-hub
 * open_clip_config.json form ({model_cfg, preprocess_cfg}). `source` names the file in messages.
 * The result's arch is the built-in it equals, else 'custom'.
 */
export function configFromOpenClip(json: unknown, source: string): ClipConfig {
  return withArch(parseOpenClip(json, source));
}
