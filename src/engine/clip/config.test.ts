import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import {
  BUILTIN_ARCHS, OPENAI_MEAN, OPENAI_STD, builtinConfig, configFromOpenClip, matchBuiltin, type ClipConfig,
} from './config.js';
import { configFromHf } from './config-hf.js';
import { isVit, type VitConfig } from './tower-types.js';

const OPENAI = { mean: [0.48145466, 0.4578275, 0.40821073], std: [0.26862954, 0.26130258, 0.27577711] };

/** The numbers of open_clip's model configs (model_configs/*.json), written out by hand. */
function expected(arch: string, embed: number, v: [number, number, number, number], t: [number, number, number], quick: boolean): ClipConfig {
  const [patchSize, width, layers, heads] = v;
  const [tWidth, tLayers, tHeads] = t;
  const act = quick ? 'quick_gelu' : 'gelu';
  return {
    arch,
    embedDim: embed,
    vision: { imageSize: 224, patchSize, width, layers, heads, outputDim: embed, act },
    text: { contextLength: 77, vocabSize: 49408, width: tWidth, layers: tLayers, heads: tHeads, outputDim: embed, act },
    mean: [...OPENAI.mean] as [number, number, number],
    std: [...OPENAI.std] as [number, number, number],
  };
}

/** open_clip's RN configs: image 224, stem width 64, head_width 64 (so 32 pool heads), text as ViT-B-32's. */
function expectedResNet(arch: string, embed: number, layers: [number, number, number, number], quick: boolean): ClipConfig {
  const base = expected(arch, embed, [32, 768, 12, 12], [512, 12, 8], quick);
  return { ...base, vision: { kind: 'resnet', imageSize: 224, width: 64, layers, heads: 32, outputDim: embed } };
}

const BUILTINS: Record<string, ClipConfig> = {
  'ViT-B-32': expected('ViT-B-32', 512, [32, 768, 12, 12], [512, 12, 8], false),
  'ViT-B-32-quickgelu': expected('ViT-B-32-quickgelu', 512, [32, 768, 12, 12], [512, 12, 8], true),
  'ViT-B-16': expected('ViT-B-16', 512, [16, 768, 12, 12], [512, 12, 8], false),
  'ViT-L-14': expected('ViT-L-14', 768, [14, 1024, 24, 16], [768, 12, 12], false),
  'ViT-L-14-quickgelu': expected('ViT-L-14-quickgelu', 768, [14, 1024, 24, 16], [768, 12, 12], true),
  'RN50': expectedResNet('RN50', 1024, [3, 4, 6, 3], false),
  'RN50-quickgelu': expectedResNet('RN50-quickgelu', 1024, [3, 4, 6, 3], true),
  'RN101': expectedResNet('RN101', 512, [3, 4, 23, 3], false),
  'RN101-quickgelu': expectedResNet('RN101-quickgelu', 512, [3, 4, 23, 3], true),
};

const configJson = (name: string): Record<string, unknown> =>
  JSON.parse(readFileSync(new URL(`./configs/${name}.json`, import.meta.url), 'utf8')) as Record<string, unknown>;

/** assert.throws with the message also required to be one line. */
function refuses(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (e: Error) => {
    assert.match(e.message, re);
    assert.ok(!e.message.includes('\n'), `one line: ${e.message}`);
    return true;
  });
}

describe('built-in architectures', () => {
  test('each built-in has open_clip\'s numbers', () => {
    assert.deepEqual([...BUILTIN_ARCHS], Object.keys(BUILTINS));
    for (const [name, want] of Object.entries(BUILTINS)) assert.deepEqual(builtinConfig(name), want, name);
    assert.deepEqual([...OPENAI_MEAN], OPENAI.mean);
    assert.deepEqual([...OPENAI_STD], OPENAI.std);
  });

  test('the shipped JSON is open_clip\'s own format', () => {
    const j = configJson('ViT-B-32-quickgelu');
    assert.deepEqual(j, {
      embed_dim: 512,
      quick_gelu: true,
      vision_cfg: { image_size: 224, layers: 12, width: 768, patch_size: 32 },
      text_cfg: { context_length: 77, vocab_size: 49408, width: 512, heads: 8, layers: 12 },
    });
  });

  test('a caller may change its copy', () => {
    const a = builtinConfig('ViT-B-32');
    assert.ok(isVit(a.vision));
    a.vision.layers = 1;
    a.mean[0] = 0;
    assert.equal((builtinConfig('ViT-B-32').vision as VitConfig).layers, 12);
    assert.equal(builtinConfig('ViT-B-32').mean[0], OPENAI.mean[0]);
  });

  test('an unknown name lists the known ones and suggests a near one', () => {
    refuses(() => builtinConfig('ViT-B/32'),
      /^unknown architecture "ViT-B\/32"; known: ViT-B-32, ViT-B-32-quickgelu, ViT-B-16, ViT-L-14, ViT-L-14-quickgelu, RN50, RN50-quickgelu, RN101, RN101-quickgelu; did you mean ViT-B-32\?$/);
    refuses(() => builtinConfig('vit-l-14-quickgelu '), /did you mean ViT-L-14-quickgelu\?$/);
    refuses(() => builtinConfig('convnext_base'), /^unknown architecture "convnext_base"; known: [^;]*$/);
  });

  test('matchBuiltin compares every number, activation and normalisation', () => {
    assert.equal(matchBuiltin(builtinConfig('ViT-B-16')), 'ViT-B-16');
    const c = builtinConfig('ViT-B-32');
    c.vision.act = 'quick_gelu';
    assert.equal(matchBuiltin(c), null, 'one tower quick, the other not');
    c.text.act = 'quick_gelu';
    assert.equal(matchBuiltin(c), 'ViT-B-32-quickgelu');
    c.std = [0.5, 0.5, 0.5];
    assert.equal(matchBuiltin(c), null);
  });
});

describe('open_clip model configs', () => {
  test('the bare form of a built-in is named after it', () => {
    for (const name of BUILTIN_ARCHS) assert.deepEqual(configFromOpenClip(configJson(name), `${name}.json`), BUILTINS[name]);
  });

  test('keys left out take CLIPVisionCfg / CLIPTextCfg defaults', () => {
    const c = configFromOpenClip({ embed_dim: 256, vision_cfg: { width: 256, head_width: 32 }, text_cfg: {} }, 'small.json');
    assert.deepEqual(c, {
      arch: 'custom',
      embedDim: 256,
      // patch_size 16, image_size 224, layers 12; heads = width // head_width
      vision: { imageSize: 224, patchSize: 16, width: 256, layers: 12, heads: 8, outputDim: 256, act: 'gelu' },
      text: { contextLength: 77, vocabSize: 49408, width: 512, layers: 12, heads: 8, outputDim: 256, act: 'gelu' },
      mean: OPENAI.mean,
      std: OPENAI.std,
    });
    // open_clip floors width / head_width, as here (96 // 64 = 1 head).
    assert.equal((configFromOpenClip({ embed_dim: 8, vision_cfg: { width: 96 }, text_cfg: {} }, 'f.json').vision as VitConfig).heads, 1);
    // A square image size given as a pair.
    assert.equal(configFromOpenClip({ embed_dim: 8, vision_cfg: { image_size: [64, 64], patch_size: 8 }, text_cfg: {} }, 'f.json').vision.imageSize, 64);
  });

  test('the HF-hub form reads model_cfg and the preprocessing mean/std', () => {
    const hub = {
      model_cfg: configJson('ViT-B-32'),
      preprocess_cfg: { mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25], interpolation: 'bicubic', resize_mode: 'shortest', size: 224, fill_color: 0, unknown_key: 1 },
    };
    const c = configFromOpenClip(hub, 'open_clip_config.json');
    assert.deepEqual(c, { ...BUILTINS['ViT-B-32']!, arch: 'custom', mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] });
    // With OpenAI's numbers (as FARE/TeCoA uploads have) it is the built-in; null means the default; one number means all channels.
    assert.equal(configFromOpenClip({ model_cfg: configJson('ViT-B-32'), preprocess_cfg: { mean: OPENAI.mean, std: OPENAI.std } }, 'f').arch, 'ViT-B-32');
    assert.equal(configFromOpenClip({ model_cfg: configJson('ViT-B-32'), preprocess_cfg: { mean: null } }, 'f').arch, 'ViT-B-32');
    assert.equal(configFromOpenClip({ model_cfg: configJson('ViT-B-32') }, 'f').arch, 'ViT-B-32');
    assert.deepEqual(configFromOpenClip({ model_cfg: configJson('ViT-B-32'), preprocess_cfg: { std: 0.5 } }, 'f').std, [0.5, 0.5, 0.5]);
  });

  test('options that do not change inference are accepted', () => {
    const json = configJson('ViT-B-32');
    const cfg = {
      ...json,
      init_logit_scale: 2.65,
      nonscalar_logit_scale: false,
      output_dict: true,
      cast_dtype: null,
      custom_text: false,
      vision_cfg: {
        ...(json.vision_cfg as object), patch_dropout: 0.5, output_tokens: false, attn_pooler_heads: 8, ls_init_value: null,
        pool_type: 'tok', block_type: 'default', mlp_ratio: 4.0, act_kwargs: {}, timm_model_name: null, timm_pool: 'avg',
      },
      text_cfg: { ...(json.text_cfg as object), hf_tokenizer_name: 'someone/ViT-B-32', pad_id: 0, eos_id: null, proj_type: 'linear', text_arch: 'clip', norm_type: 'rmsnorm' },
    };
    assert.deepEqual(configFromOpenClip(cfg, 'f.json'), BUILTINS['ViT-B-32']);
  });

  test('each option the engine does not implement is refused, naming the file and the key', () => {
    const base = configJson('ViT-B-32');
    const vision = (o: object) => ({ ...base, vision_cfg: { ...(base.vision_cfg as object), ...o } });
    const text = (o: object) => ({ ...base, text_cfg: { ...(base.text_cfg as object), ...o } });
    const cases: Array<[object, RegExp]> = [
      [vision({ ls_init_value: 0.1 }), /^cfg\.json: vision_cfg\.ls_init_value = 0\.1 \(layer scale\) is not supported/],
      [vision({ attentional_pool: true }), /vision_cfg\.attentional_pool = true \(attentional pooling\)/],
      [vision({ no_ln_pre: true }), /vision_cfg\.no_ln_pre = true/],
      [vision({ final_ln_after_pool: true }), /vision_cfg\.final_ln_after_pool = true/],
      [vision({ pool_type: 'avg' }), /vision_cfg\.pool_type = "avg"/],
      [vision({ pos_embed_type: 'sin_cos_2d' }), /vision_cfg\.pos_embed_type = "sin_cos_2d"/],
      [vision({ timm_model_name: 'vit_base_patch16_224' }), /vision_cfg\.timm_model_name = "vit_base_patch16_224" \(timm vision tower\)/],
      [vision({ mlp_ratio: 2.6667 }), /vision_cfg\.mlp_ratio = 2\.6667/],
      [vision({ act_kwargs: { approximate: 'tanh' } }), /vision_cfg\.act_kwargs = \{"approximate":"tanh"\}/],
      [vision({ norm_kwargs: { eps: 1e-6 } }), /vision_cfg\.norm_kwargs/],
      [vision({ block_type: 'custom' }), /vision_cfg\.block_type = "custom"/],
      [vision({ qk_norm: true }), /vision_cfg\.qk_norm/],
      [vision({ scaled_cosine_attn: true }), /vision_cfg\.scaled_cosine_attn/],
      [vision({ scale_heads: true }), /vision_cfg\.scale_heads/],
      [vision({ scale_attn_inner: true }), /vision_cfg\.scale_attn_inner/],
      [vision({ scale_attn: true }), /vision_cfg\.scale_attn = true/],
      [vision({ scale_fc: true }), /vision_cfg\.scale_fc/],
      [vision({ layers: [3, 4, 6] }), /^cfg\.json: vision_cfg\.layers: /],
      [vision({ layers: [3, 4, 6, 3], width: 65 }), /^cfg\.json: vision_cfg: ResNet width 65 is odd; the stem halves it$/],
      [vision({ layers: [3, 4, 6, 3], image_size: 200 }), /^cfg\.json: vision_cfg: image size 200 is not a multiple of 32/],
      [vision({ layers: [3, 4, 6, 3], timm_model_name: 'resnet50' }), /vision_cfg\.timm_model_name = "resnet50" \(timm vision tower\)/],
      [vision({ image_size: [224, 160] }), /vision_cfg\.image_size \[224,160\]: only square images are supported/],
      [vision({ patch_size: 30 }), /vision_cfg\.image_size 224 is not a multiple of the patch size 30/],
      [vision({ width: 32 }), /vision_cfg\.head_width: vision width 32 does not split into 0 heads/],
      [vision({ warp_speed: 9 }), /^cfg\.json: vision_cfg\.warp_speed is not an option of open_clip's CLIP ViT/],
      [text({ proj_type: 'mlp' }), /text_cfg\.proj_type = "mlp" \(text projection other than linear\)/],
      [text({ proj_bias: true }), /text_cfg\.proj_bias = true/],
      [text({ hf_model_name: 'roberta-base' }), /text_cfg\.hf_model_name = "roberta-base" \(Hugging Face text tower\)/],
      [text({ pool_type: 'last' }), /text_cfg\.pool_type = "last"/],
      [text({ no_causal_mask: true }), /text_cfg\.no_causal_mask/],
      [text({ embed_cls: true }), /text_cfg\.embed_cls/],
      [text({ text_arch: 'modern' }), /text_cfg\.text_arch = "modern"/],
      [text({ variable_text: true }), /text_cfg\.variable_text/],
      [text({ tokenizer_type: 'tiktoken' }), /text_cfg\.tokenizer_type = "tiktoken" \(non-CLIP tokenizer\)/],
      [text({ ls_init_value: 1e-4 }), /text_cfg\.ls_init_value/],
      [text({ heads: 7 }), /text_cfg\.heads: text width 512 does not split into 7 heads/],
      [text({ width: '512' }), /^cfg\.json: text_cfg\.width: .*number/],
      [{ ...base, init_logit_bias: -10 }, /^cfg\.json: init_logit_bias = -10 \(sigmoid \(SigLIP-style\) logit bias\)/],
      [{ ...base, custom_text: true }, /^cfg\.json: custom_text = true \(CustomTextCLIP/],
      [{ ...base, multimodal_cfg: {} }, /^cfg\.json: multimodal_cfg is not an option of open_clip's CLIP ViT/],
      [{ vision_cfg: base.vision_cfg, text_cfg: base.text_cfg }, /^cfg\.json: embed_dim is missing$/],
      [{ embed_dim: 512, text_cfg: {} }, /^cfg\.json: vision_cfg is missing/],
      [{ embed_dim: 512, vision_cfg: {} }, /^cfg\.json: text_cfg is missing/],
      [{ ...base, quick_gelu: 'yes' }, /^cfg\.json: quick_gelu: /],
      [[1, 2], /^cfg\.json: should be a JSON object$/],
      [{ ...base, vision_cfg: 3 }, /^cfg\.json: vision_cfg should be an object$/],
    ];
    for (const [json, re] of cases) refuses(() => configFromOpenClip(json, 'cfg.json'), re);
  });

  test('the hub form names keys under model_cfg and checks the preprocessing', () => {
    const base = configJson('ViT-B-32');
    const hub = (model: object, pre: object = {}) => ({ model_cfg: model, preprocess_cfg: pre });
    const cases: Array<[object, RegExp]> = [
      [hub({ ...base, vision_cfg: { ...(base.vision_cfg as object), attentional_pool: true } }), /^oc\.json: model_cfg\.vision_cfg\.attentional_pool = true/],
      [hub({ ...base, text_cfg: { ...(base.text_cfg as object), layers: 0 } }), /^oc\.json: model_cfg\.text_cfg\.layers: /],
      [hub(base, { interpolation: 'bilinear' }), /^oc\.json: preprocess_cfg\.interpolation = "bilinear" \(resize other than bicubic\)/],
      [hub(base, { resize_mode: 'squash' }), /^oc\.json: preprocess_cfg\.resize_mode = "squash"/],
      [hub(base, { mean: [0.5, 0.5] }), /^oc\.json: preprocess_cfg\.mean should be three numbers/],
      [hub(base, { std: [0.5, 0, 0.5] }), /^oc\.json: preprocess_cfg\.std should be positive/],
      [{ model_cfg: 'ViT-B-32' }, /^oc\.json: model_cfg should be an object$/],
    ];
    for (const [json, re] of cases) refuses(() => configFromOpenClip(json, 'oc.json'), re);
  });
});

describe('Hugging Face config.json', () => {
  // As openai/clip-vit-base-patch32 ships it: every PretrainedConfig field dumped into each tower,
  // the legacy eos_token_id 2, QuickGELU.
  const generic = { add_cross_attention: false, architectures: null, attention_dropout: 0.0, chunk_size_feed_forward: 0, do_sample: false, dropout: 0.0, initializer_factor: 1.0, initializer_range: 0.02, output_hidden_states: false, torchscript: false, use_bfloat16: false };
  const hfB32 = {
    _name_or_path: 'openai/clip-vit-base-patch32',
    architectures: ['CLIPModel'],
    initializer_factor: 1.0,
    logit_scale_init_value: 2.6592,
    model_type: 'clip',
    projection_dim: 512,
    text_config: {
      ...generic, bos_token_id: 0, eos_token_id: 2, pad_token_id: 1, hidden_act: 'quick_gelu', hidden_size: 512, intermediate_size: 2048,
      layer_norm_eps: 1e-5, max_position_embeddings: 77, model_type: 'clip_text_model', num_attention_heads: 8, num_hidden_layers: 12,
      projection_dim: 512, vocab_size: 49408,
    },
    text_config_dict: null,
    torch_dtype: 'float32',
    transformers_version: null,
    vision_config: {
      ...generic, hidden_act: 'quick_gelu', hidden_size: 768, image_size: 224, intermediate_size: 3072, layer_norm_eps: 1e-5,
      model_type: 'clip_vision_model', num_attention_heads: 12, num_channels: 3, num_hidden_layers: 12, patch_size: 32, projection_dim: 512,
    },
    vision_config_dict: null,
  };
  // A LAION-style ViT-L/14 conversion: exact GELU, defaults left out, eos at the vocabulary's end.
  const hfL14 = {
    architectures: ['CLIPModel'],
    model_type: 'clip',
    projection_dim: 768,
    text_config: { hidden_act: 'gelu', hidden_size: 768, intermediate_size: 3072, num_attention_heads: 12, eos_token_id: 49407, model_type: 'clip_text_model' },
    vision_config: { hidden_act: 'gelu', hidden_size: 1024, intermediate_size: 4096, num_attention_heads: 16, num_hidden_layers: 24, patch_size: 14, model_type: 'clip_vision_model' },
  };
  const processor = { crop_size: 224, do_center_crop: true, do_normalize: true, do_resize: true, feature_extractor_type: 'CLIPFeatureExtractor', image_mean: OPENAI.mean, image_std: OPENAI.std, resample: 3, size: 224 };

  test('an OpenAI ViT-B/32 config is ViT-B-32-quickgelu', () => {
    assert.deepEqual(configFromHf(hfB32, processor, 'config.json'), BUILTINS['ViT-B-32-quickgelu']);
    assert.deepEqual(configFromHf(hfB32, undefined, 'config.json'), BUILTINS['ViT-B-32-quickgelu']);
  });

  test('a GELU ViT-L/14 config is ViT-L-14; the processor\'s mean/std are used', () => {
    assert.deepEqual(configFromHf(hfL14, undefined, 'config.json'), BUILTINS['ViT-L-14']);
    const c = configFromHf(hfL14, { ...processor, image_mean: [0.5, 0.5, 0.5], image_std: [0.5, 0.5, 0.5] }, 'config.json');
    assert.deepEqual(c, { ...BUILTINS['ViT-L-14']!, arch: 'custom', mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] });
    // do_normalize false: pixels in [0,1] go in unchanged.
    const raw = configFromHf(hfL14, { ...processor, do_normalize: false }, 'config.json');
    assert.deepEqual([raw.mean, raw.std], [[0, 0, 0], [1, 1, 1]]);
  });

  test('old-style configs: defaults for what is left out, *_config_dict over *_config', () => {
    // Nothing at all: transformers' CLIPConfig() is OpenAI's ViT-B/32.
    assert.deepEqual(configFromHf({}, undefined, 'config.json'), BUILTINS['ViT-B-32-quickgelu']);
    // openai/clip-vit-large-patch14 style: the *_config_dict values (over the defaults) replace *_config entirely,
    // so text_config's hidden_act "gelu" and vocab_size are overridden by the defaults, as transformers does.
    const old = {
      projection_dim: 768,
      text_config: { hidden_act: 'gelu', hidden_size: 512, vocab_size: 1000 },
      text_config_dict: { hidden_size: 768, intermediate_size: 3072, num_attention_heads: 12, num_hidden_layers: 12, projection_dim: 768 },
      vision_config_dict: { hidden_size: 1024, intermediate_size: 4096, num_attention_heads: 16, num_hidden_layers: 24, patch_size: 14, projection_dim: 768 },
    };
    assert.deepEqual(configFromHf(old, processor, 'config.json'), BUILTINS['ViT-L-14-quickgelu']);
    // Mixed activations are representable: each tower keeps its own.
    const mixed = configFromHf({ text_config: { hidden_act: 'gelu' } }, undefined, 'config.json');
    assert.deepEqual([mixed.arch, mixed.vision.act, mixed.text.act], ['custom', 'quick_gelu', 'gelu']);
  });

  test('what the towers do not compute is refused, naming the file and the key', () => {
    const cases: Array<[object, object | undefined, RegExp]> = [
      [{ text_config: { intermediate_size: 1000 } }, undefined, /^config\.json: text_config\.intermediate_size 1000 is not 4 × hidden_size \(2048\)/],
      [{ vision_config: { layer_norm_eps: 1e-6 } }, undefined, /^config\.json: vision_config\.layer_norm_eps 0\.000001 is not supported; only 1e-5$/],
      [{ vision_config: { hidden_act: 'gelu_new' } }, undefined, /^config\.json: vision_config\.hidden_act "gelu_new" is not supported/],
      [{ text_config: { hidden_act: 'relu' } }, undefined, /^config\.json: text_config\.hidden_act "relu"/],
      [{ vision_config: { num_channels: 1 } }, undefined, /^config\.json: vision_config\.num_channels 1: only RGB/],
      [{ vision_config: { image_size: 200 } }, undefined, /^config\.json: vision_config\.image_size 200 is not a multiple of the patch size 32/],
      [{ vision_config: { num_attention_heads: 5 } }, undefined, /^config\.json: vision_config\.num_attention_heads: vision width 768 does not split into 5 heads/],
      [{ text_config: { eos_token_id: 7 } }, undefined, /^config\.json: text_config\.eos_token_id 7: text is pooled at the largest token id/],
      [{ text_config_dict: { num_hidden_layers: -1 } }, undefined, /^config\.json: text_config_dict\.num_hidden_layers: /],
      [{ model_type: 'siglip' }, undefined, /^config\.json: model_type "siglip" is not a CLIP model/],
      [{ projection_dim: 'big' }, undefined, /^config\.json: projection_dim: /],
      [{ vision_config: [] }, undefined, /^config\.json: vision_config should be an object$/],
      [{}, { image_std: [0.5, 0.5, -1] }, /^preprocessor_config\.json: image_std should be positive/],
      [{}, { image_mean: 'imagenet' }, /^preprocessor_config\.json: image_mean should be three numbers/],
    ];
    for (const [json, pre, re] of cases) refuses(() => configFromHf(json, pre, 'config.json'), re);
    refuses(() => configFromHf({}, [], '/models/clip/config.json'), /^\/models\/clip\/preprocessor_config\.json: should be a JSON object$/);
    // eos at vocab_size − 1 of a smaller vocabulary is the largest id, so argmax pooling agrees.
    assert.equal(configFromHf({ text_config: { vocab_size: 1000, eos_token_id: 999 } }, undefined, 'c').text.vocabSize, 1000);
  });
});
