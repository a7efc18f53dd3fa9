/**
 * Hugging Face `CLIPModel` config.json files (with preprocessor_config.json when present) read
 * into a ClipConfig: configFromHf, with transformers' CLIP defaults for keys left out. open_clip
 * configs and the built-ins are in config.ts; the shared parsing helpers in config-parse.ts.
 */
import { dirname, join } from 'node:path';
import { z } from 'zod';
import type { Activation } from './towers.js';
import { OPENAI_MEAN, OPENAI_STD, withArch, type ClipConfig } from './config.js';
import { asObject, channels, checkShapes, fail, isNull, parseWith, posInt, type Json } from './config-parse.js';

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
