/**
 * CLIP architectures as data. The built-in ones are open_clip's own model configs (configs/*.json,
 * in open_clip's format); user configs come as open_clip model configs (bare or the HF-hub
 * `open_clip_config.json` form) or as Hugging Face `CLIPModel` config.json files.
 *
 * The engine implements open_clip's plain CLIP exactly: a `VisionTransformer` with default options
 * or a `ModifiedResNet` (RN50 family), and a default `TextTransformer`. A config that asks open_clip
 * for anything that changes
 * what a tower computes (layer scale, attentional pooling, a timm or HF tower, ...) is refused with
 * one line naming the file and the key, never approximated.
 */
import { dirname, join } from 'node:path';
import { z } from 'zod';
import type { Activation, ResNetConfig, TextConfig, VisionConfig } from './towers.js';
import { resnetShapeError } from './tower-resnet.js';
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

const fail = (file: string, what: string): never => {
  throw new Error(`${file}: ${what}`);
};

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

const withArch = (cfg: ClipConfig): ClipConfig => ({ ...cfg, arch: matchBuiltin(cfg) ?? 'custom' });

// ---------------------------------------------------------------------------------------------
// Shared helpers

type Json = Record<string, unknown>;

function asObject(v: unknown, file: string, key: string): Json {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    return fail(file, key ? `${key} should be an object` : 'should be a JSON object');
  }
  return v as Json;
}

/** zod's first issue as one line: `file: key.path: problem`. */
function parseWith<T extends z.ZodType>(schema: T, v: unknown, file: string, prefix: string): z.infer<T> {
  const r = schema.safeParse(v);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const path = issue?.path ?? [];
  const where = `${prefix}${path.join('.')}`;
  const given = path.reduce<unknown>((o, k) => (typeof o === 'object' && o !== null ? (o as Json)[String(k)] : undefined), v);
  if (given === undefined) return fail(file, `${where} is missing`);
  return fail(file, `${where}: ${issue?.message ?? 'invalid'}`);
}

/** mean/std as three numbers; open_clip and transformers both accept one number for all channels. */
function channels(v: unknown, file: string, key: string, positive: boolean): [number, number, number] {
  const list = typeof v === 'number' ? [v, v, v] : v;
  if (!Array.isArray(list) || list.length !== 3 || !list.every((x) => typeof x === 'number' && Number.isFinite(x))) {
    return fail(file, `${key} should be three numbers (one per RGB channel), got ${JSON.stringify(v)}`);
  }
  if (positive && !list.every((x: number) => x > 0)) return fail(file, `${key} should be positive, got ${JSON.stringify(v)}`);
  return [list[0], list[1], list[2]] as [number, number, number];
}

/** Divisibility the towers rely on, checked once for every config source. */
function checkShapes(cfg: ClipConfig, file: string, keys: { vision: string; imageSize: string; visionHeads: string; textHeads: string }): ClipConfig {
  const { vision: v, text: t } = cfg;
  if (v.kind === 'resnet') {
    const bad = resnetShapeError(v);
    if (bad) fail(file, `${keys.vision}: ${bad}`);
  } else {
    if (v.imageSize % v.patchSize !== 0) fail(file, `${keys.imageSize} ${v.imageSize} is not a multiple of the patch size ${v.patchSize}`);
    if (v.heads < 1 || v.width % v.heads !== 0) fail(file, `${keys.visionHeads}: vision width ${v.width} does not split into ${v.heads} heads`);
  }
  if (t.width % t.heads !== 0) fail(file, `${keys.textHeads}: text width ${t.width} does not split into ${t.heads} heads`);
  return cfg;
}

// ---------------------------------------------------------------------------------------------
// open_clip model configs

/**
 * What to do with each key open_clip's CLIP, CLIPVisionCfg and CLIPTextCfg accept:
 * 'value' — read below; 'ignored' — no effect on what inference computes (training, tokenizer or
 * output plumbing); otherwise the value(s) that keep the tower plain, and what the option is.
 * A key open_clip does not have is refused as well: open_clip itself rejects it (dataclass kwargs).
 */
type Rule = 'value' | 'ignored' | { plain: (v: unknown) => boolean; what: string };

const isNull = (v: unknown): boolean => v === null || v === undefined;
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

const posInt = z.number().int().positive();

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

// ---------------------------------------------------------------------------------------------
// Hugging Face CLIPModel config.json

// Defaults as transformers' CLIPTextConfig / CLIPVisionConfig, for keys a config.json leaves out.
const hfText = z.object({
  vocab_size: posInt.default(49408),
  hidden_size: posInt.default(512),
  intermediate_size: posInt.default(2048),
  num_hidden_layers: posInt.default(12),
  num_attention_heads: posInt.default(8),
  max_position_embeddings: posInt.default(77),
  hidden_act: z.string().default('quick_gelu'),
  layer_norm_eps: z.number().default(1e-5),
  eos_token_id: z.number().int().default(49407),
});

const hfVision = z.object({
  hidden_size: posInt.default(768),
  intermediate_size: posInt.default(3072),
  num_hidden_layers: posInt.default(12),
  num_attention_heads: posInt.default(12),
  num_channels: posInt.default(3),
  image_size: posInt.default(224),
  patch_size: posInt.default(32),
  hidden_act: z.string().default('quick_gelu'),
  layer_norm_eps: z.number().default(1e-5),
});

const hfTop = z.object({
  projection_dim: posInt.default(512),
  model_type: z.string().optional(),
});

function hfActivation(act: string, file: string, key: string): Activation {
  // transformers' ACT2FN: "gelu" is the exact erf GELU, "quick_gelu" is x·σ(1.702x).
  if (act === 'gelu' || act === 'quick_gelu') return act;
  return fail(file, `${key} "${act}" is not supported; only "gelu" (exact) and "quick_gelu"`);
}

/** The blocks HF and open_clip share: 4× MLP, LayerNorm eps 1e-5 (torch's default, which open_clip uses). */
function checkHfBlock(c: { hidden_size: number; intermediate_size: number; layer_norm_eps: number }, file: string, p: string): void {
  if (c.intermediate_size !== 4 * c.hidden_size) {
    fail(file, `${p}intermediate_size ${c.intermediate_size} is not 4 × hidden_size (${4 * c.hidden_size}); only CLIP's 4× MLP is supported`);
  }
  if (c.layer_norm_eps !== 1e-5) fail(file, `${p}layer_norm_eps ${c.layer_norm_eps} is not supported; only 1e-5`);
}

/**
 * A tower's effective settings, as transformers' CLIPConfig resolves them: an old-style
 * `<tower>_config_dict` (over the defaults) replaces `<tower>_config` entirely when present.
 */
function hfTower(root: Json, tower: 'text' | 'vision', file: string): { json: Json; prefix: string } {
  const legacy = root[`${tower}_config_dict`];
  if (!isNull(legacy)) return { json: asObject(legacy, file, `${tower}_config_dict`), prefix: `${tower}_config_dict.` };
  const cfg = root[`${tower}_config`];
  return { json: isNull(cfg) ? {} : asObject(cfg, file, `${tower}_config`), prefix: `${tower}_config.` };
}

/**
 * A Hugging Face CLIPModel config.json, with preprocessor_config.json (image_mean/image_std) when
 * the folder has one. Keys left out take transformers' CLIP defaults.
 */
export function configFromHf(configJson: unknown, preprocessorJson: unknown | undefined, source: string): ClipConfig {
  const root = asObject(configJson, source, '');
  const top = parseWith(hfTop, root, source, '');
  if (top.model_type !== undefined && top.model_type !== 'clip') {
    fail(source, `model_type "${top.model_type}" is not a CLIP model; only CLIPModel configs (model_type "clip") are supported`);
  }
  const tj = hfTower(root, 'text', source);
  const vj = hfTower(root, 'vision', source);
  const t = parseWith(hfText, tj.json, source, tj.prefix);
  const v = parseWith(hfVision, vj.json, source, vj.prefix);
  checkHfBlock(t, source, tj.prefix);
  checkHfBlock(v, source, vj.prefix);
  if (v.num_channels !== 3) fail(source, `${vj.prefix}num_channels ${v.num_channels}: only RGB (3) is supported`);
  // transformers pools text at the first eos_token_id (or at argmax(ids) when it is the legacy 2); the
  // engine pools at argmax(ids) as open_clip does. The two agree when eos is the largest id.
  if (t.eos_token_id !== 2 && t.eos_token_id !== t.vocab_size - 1) {
    fail(source, `${tj.prefix}eos_token_id ${t.eos_token_id}: text is pooled at the largest token id (open_clip's argmax), which is the end-of-text token only when it is vocab_size − 1 (${t.vocab_size - 1})`);
  }

  let mean: [number, number, number] = [...OPENAI_MEAN];
  let std: [number, number, number] = [...OPENAI_STD];
  if (preprocessorJson !== undefined) {
    // transformers reads it from beside config.json, so that is the file to name.
    const preFile = join(dirname(source), 'preprocessor_config.json');
    const pre = asObject(preprocessorJson, preFile, '');
    if (pre.do_normalize === false) {
      // Pixels in [0,1] go in as they are.
      [mean, std] = [[0, 0, 0], [1, 1, 1]];
    } else {
      if (!isNull(pre.image_mean)) mean = channels(pre.image_mean, preFile, 'image_mean', false);
      if (!isNull(pre.image_std)) std = channels(pre.image_std, preFile, 'image_std', true);
    }
  }

  const embedDim = top.projection_dim;
  const cfg: ClipConfig = {
    arch: 'custom',
    embedDim,
    vision: {
      imageSize: v.image_size,
      patchSize: v.patch_size,
      width: v.hidden_size,
      layers: v.num_hidden_layers,
      heads: v.num_attention_heads,
      outputDim: embedDim,
      act: hfActivation(v.hidden_act, source, `${vj.prefix}hidden_act`),
    },
    text: {
      contextLength: t.max_position_embeddings,
      vocabSize: t.vocab_size,
      width: t.hidden_size,
      layers: t.num_hidden_layers,
      heads: t.num_attention_heads,
      outputDim: embedDim,
      act: hfActivation(t.hidden_act, source, `${tj.prefix}hidden_act`),
    },
    mean,
    std,
  };
  return withArch(checkShapes(cfg, source, {
    vision: vj.prefix.slice(0, -1),
    imageSize: `${vj.prefix}image_size`,
    visionHeads: `${vj.prefix}num_attention_heads`,
    textHeads: `${tj.prefix}num_attention_heads`,
  }));
}
