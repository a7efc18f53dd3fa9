/**
 * Weight name layouts. The engine stores and builds with open_clip's state-dict names; a Hugging
 * Face CLIPModel checkpoint is read through a view that renames its tensors, fuses the separate
 * q/k/v projections into open_clip's packed in-projection and transposes the two output projections
 * (HF keeps them as nn.Linear weights [out, in], open_clip as matrices [in, out] applied x·P).
 *
 * The view checks everything it can from headers alone, before any tensor byte is read: missing and
 * unexpected tensors and every shape against the config.
 */
import { allocate, Tensor, isFloat, type DType } from '../onnx/tensor.js';
import { matchBuiltin, OPENAI_MEAN, OPENAI_STD, type ClipConfig } from './config.js';
import type { ReadTensorOptions, TensorInfo, WeightReader } from './weights.js';
import { isConv, isResNet, type ResNetConfig, type VisionConfig } from './towers.js';
import { convTensors } from './tower-conv.js';
import { RESNET_REDUCTION, resnetTensors } from './tower-resnet.js';

export type Layout = 'open_clip' | 'hf';

/**
 * Buffers some checkpoints carry that no tower reads: HF's position ids, older open_clip's causal
 * mask, and the three sizes OpenAI's TorchScript models keep in their state_dict().
 */
const HARMLESS = new Set([
  'text_model.embeddings.position_ids', 'vision_model.embeddings.position_ids', 'attn_mask',
  'input_resolution', 'context_length', 'vocab_size',
]);

/** BatchNorm's step counter: only used with momentum=None, which open_clip's ResNets do not set. */
const isBatchCounter = (name: string, used: ReadonlySet<string>): boolean =>
  name.endsWith('.num_batches_tracked') && used.has(`${name.slice(0, -'num_batches_tracked'.length)}running_mean`);

const shapeText = (s: readonly number[]): string => `[${s.join(',')}]`;

/** The first few names of a list, for one-line messages. */
function some(names: readonly string[], n = 5): string {
  const head = names.slice(0, n).join(', ');
  return names.length > n ? `${head}, … (${names.length} in all)` : head;
}

/** Which layout a checkpoint's names are in: open_clip (`visual.*`, `transformer.*`) or HF (`vision_model.*`, `text_model.*`). */
export function detectLayout(infos: readonly TensorInfo[], path: string): Layout {
  const openClip = infos.some((i) => i.name.startsWith('visual.') || i.name.startsWith('transformer.resblocks.') || i.name === 'token_embedding.weight');
  const hf = infos.some((i) => i.name.startsWith('vision_model.') || i.name.startsWith('text_model.'));
  if (openClip && hf) throw new Error(`${path}: has both open_clip (visual.*) and Hugging Face (vision_model.*) tensor names; cannot tell which to read`);
  if (openClip) return 'open_clip';
  if (hf) return 'hf';
  if (infos.length === 0) throw new Error(`${path}: has no tensors`);
  throw new Error(`${path}: neither an open_clip nor a Hugging Face CLIP state dict; its tensors are named ${some(infos.map((i) => i.name), 4)}`);
}

// ---------------------------------------------------------------------------------------------
// The open_clip names the towers read

/** Every open_clip tensor the towers of `cfg` read, with its shape (float32), then logit_scale. */
export function expectedTensors(cfg: ClipConfig): TensorInfo[] {
  const out: TensorInfo[] = [];
  const add = (name: string, shape: number[]): void => {
    out.push({ name, dtype: 'float32', shape });
  };
  const layerNorm = (name: string, w: number): void => {
    add(`${name}.weight`, [w]);
    add(`${name}.bias`, [w]);
  };
  const blocks = (name: string, w: number, layers: number): void => {
    for (let i = 0; i < layers; i++) {
      const p = `${name}.resblocks.${i}`;
      layerNorm(`${p}.ln_1`, w);
      add(`${p}.attn.in_proj_weight`, [3 * w, w]);
      add(`${p}.attn.in_proj_bias`, [3 * w]);
      add(`${p}.attn.out_proj.weight`, [w, w]);
      add(`${p}.attn.out_proj.bias`, [w]);
      layerNorm(`${p}.ln_2`, w);
      add(`${p}.mlp.c_fc.weight`, [4 * w, w]);
      add(`${p}.mlp.c_fc.bias`, [4 * w]);
      add(`${p}.mlp.c_proj.weight`, [w, 4 * w]);
      add(`${p}.mlp.c_proj.bias`, [w]);
    }
  };

  const v = cfg.vision;
  if (isResNet(v)) {
    for (const t of resnetTensors(v)) out.push({ name: t.name, dtype: 'float32', shape: t.shape, ...(t.buffer ? { buffer: true } : {}) });
  } else if (isConv(v)) {
    for (const t of convTensors(v)) add(t.name, t.shape);
  } else {
    const grid = v.imageSize / v.patchSize;
    add('visual.conv1.weight', [v.width, 3, v.patchSize, v.patchSize]);
    add('visual.class_embedding', [v.width]);
    add('visual.positional_embedding', [grid * grid + 1, v.width]);
    layerNorm('visual.ln_pre', v.width);
    blocks('visual.transformer', v.width, v.layers);
    layerNorm('visual.ln_post', v.width);
    add('visual.proj', [v.width, v.outputDim]);
  }

  const t = cfg.text;
  add('token_embedding.weight', [t.vocabSize, t.width]);
  add('positional_embedding', [t.contextLength, t.width]);
  blocks('transformer', t.width, t.layers);
  layerNorm('ln_final', t.width);
  add('text_projection', [t.width, t.outputDim]);

  add('logit_scale', []);
  return out;
}

// ---------------------------------------------------------------------------------------------
// open_clip name → where its data is in a checkpoint

/** How one open_clip tensor is made from source tensors. */
interface Source {
  op: 'copy' | 'transpose' | 'concat';
  from: string[];
}

/** HF CLIPModel names of open_clip's per-tower tensors (an entry ending in '.' renames a prefix). */
const HF_TOWER_NAMES: Readonly<Record<string, string>> = {
  'visual.conv1.weight': 'vision_model.embeddings.patch_embedding.weight',
  'visual.class_embedding': 'vision_model.embeddings.class_embedding',
  'visual.positional_embedding': 'vision_model.embeddings.position_embedding.weight',
  'visual.ln_pre.': 'vision_model.pre_layrnorm.', // sic: transformers' spelling
  'visual.ln_post.': 'vision_model.post_layernorm.',
  'token_embedding.weight': 'text_model.embeddings.token_embedding.weight',
  'positional_embedding': 'text_model.embeddings.position_embedding.weight',
  'ln_final.': 'text_model.final_layer_norm.',
  'logit_scale': 'logit_scale',
};

/** HF names inside one encoder layer (the packed in-projection is handled apart). */
const HF_BLOCK_NAMES: Readonly<Record<string, string>> = {
  'ln_1.': 'layer_norm1.',
  'ln_2.': 'layer_norm2.',
  'attn.out_proj.': 'self_attn.out_proj.',
  'mlp.c_fc.': 'mlp.fc1.',
  'mlp.c_proj.': 'mlp.fc2.',
};

function rename(name: string, table: Readonly<Record<string, string>>): string {
  for (const [from, to] of Object.entries(table)) {
    if (name === from) return to;
    if (from.endsWith('.') && name.startsWith(from)) return to + name.slice(from.length);
  }
  throw new Error(`internal: no Hugging Face name for open_clip tensor ${name}`);
}

function hfSource(name: string): Source {
  // open_clip applies x·P with P [width, embed]; HF's Linear stores [embed, width].
  if (name === 'visual.proj') return { op: 'transpose', from: ['visual_projection.weight'] };
  if (name === 'text_projection') return { op: 'transpose', from: ['text_projection.weight'] };
  const block = /^(visual\.)?transformer\.resblocks\.(\d+)\.(.+)$/.exec(name);
  if (!block) return { op: 'copy', from: [rename(name, HF_TOWER_NAMES)] };
  const [, visual, i, rest] = block;
  const layer = `${visual ? 'vision_model' : 'text_model'}.encoder.layers.${i}.`;
  // nn.MultiheadAttention packs the in-projection as rows [q; k; v] (weight and bias alike).
  const packed = /^attn\.in_proj_(weight|bias)$/.exec(rest!);
  if (packed) return { op: 'concat', from: ['q', 'k', 'v'].map((x) => `${layer}self_attn.${x}_proj.${packed[1]}`) };
  return { op: 'copy', from: [layer + rename(rest!, HF_BLOCK_NAMES)] };
}

const sourceOf = (name: string, layout: Layout): Source => (layout === 'hf' ? hfSource(name) : { op: 'copy', from: [name] });

/** The shape each source tensor must have for the open_clip tensor `want` to come out right. */
function partShape(op: Source['op'], want: readonly number[]): number[] {
  if (op === 'transpose') return [...want].reverse();
  if (op === 'concat') return [want[0]! / 3, ...want.slice(1)];
  return [...want];
}

function shapeFits(got: readonly number[], want: readonly number[]): boolean {
  if (got.length === want.length && got.every((d, k) => d === want[k])) return true;
  // A scalar stored as [1] (open_clip's nonscalar_logit_scale) holds the same one value.
  return want.length === 0 && got.length === 1 && got[0] === 1;
}

interface Recipe extends Source {
  info: TensorInfo;
}

// ---------------------------------------------------------------------------------------------
// The open_clip view

/**
 * A reader whose list() is exactly expectedTensors(cfg) (dtype: the source's) and whose read()
 * returns open_clip tensors, from a checkpoint in either layout (detected when not given).
 */
export function openClipView(reader: WeightReader, cfg: ClipConfig, layout?: Layout): WeightReader {
  const path = reader.path;
  const sourceInfos = reader.list();
  const lay = layout ?? detectLayout(sourceInfos, path);
  const have = new Map(sourceInfos.map((i) => [i.name, i]));
  const who = cfg.arch === 'custom' ? 'the config' : cfg.arch;
  if (lay === 'hf' && isResNet(cfg.vision)) {
    throw new Error(`${path}: a Hugging Face CLIPModel checkpoint has no ResNet image tower, but ${who} is a ResNet; is it a checkpoint of another architecture?`);
  }

  const recipes = expectedTensors(cfg).map((info): Recipe => ({ info, ...sourceOf(info.name, lay) }));
  const used = new Set(recipes.flatMap((r) => r.from));

  const missing = recipes.flatMap((r) => r.from).filter((n) => !have.has(n));
  if (missing.length) {
    throw new Error(`${path}: ${missing.length} tensor${missing.length > 1 ? 's' : ''} that ${who} needs ${missing.length > 1 ? 'are' : 'is'} missing: ${some(missing)}; is it a checkpoint of another architecture?`);
  }
  for (const r of recipes) {
    const want = partShape(r.op, r.info.shape);
    for (const name of r.from) {
      const got = have.get(name)!;
      if (!shapeFits(got.shape, want)) throw new Error(`${path}: tensor ${name} has shape ${shapeText(got.shape)}, ${who} expects ${shapeText(want)}`);
      if (!isFloat(got.dtype)) throw new Error(`${path}: tensor ${name} is ${got.dtype}, not a float tensor`);
    }
  }
  const extra = sourceInfos.map((i) => i.name).filter((n) => !used.has(n) && !HARMLESS.has(n) && !isBatchCounter(n, used));
  if (extra.length) {
    throw new Error(`${path}: ${extra.length} tensor${extra.length > 1 ? 's' : ''} that ${who} does not use: ${some(extra)}; a different architecture, or an open_clip variant this engine does not implement`);
  }

  const dtypeOf = (r: Recipe): DType => {
    const types = new Set(r.from.map((n) => have.get(n)!.dtype));
    // Parts of mixed types are read as float32 (see read), so that is what the fused tensor is.
    return types.size === 1 ? [...types][0]! : 'float32';
  };
  const byName = new Map(recipes.map((r) => [r.info.name, r]));
  const list: TensorInfo[] = recipes.map((r) => ({ name: r.info.name, dtype: dtypeOf(r), shape: r.info.shape, ...(r.info.buffer ? { buffer: true } : {}) }));

  async function read(name: string, opts: ReadTensorOptions = {}): Promise<Tensor> {
    const r = byName.get(name);
    if (!r) throw new Error(`${path}: no tensor ${name} among the ${list.length} open_clip tensors ${who} uses`);
    const shape = r.info.shape;
    // Fused parts must share one element type: keep float16 only when every part is float16.
    const keepF16 = opts.keepF16 === true && r.from.every((n) => have.get(n)!.dtype === 'float16');
    // One at a time: readers need not support overlapping reads, and import reads serially anyway.
    const parts: Tensor[] = [];
    for (const n of r.from) parts.push(await reader.read(n, { keepF16 }));
    const first = parts[0]!;
    if (r.op === 'copy') return new Tensor(first.dtype, shape, first.data);
    if (r.op === 'transpose') return transpose2d(first, shape);
    return concatRows(parts, shape);
  }

  return { path, list: () => list, read, close: () => reader.close() };
}

/** [rows, cols] → [cols, rows]; elements move as they are (float16 bits stay float16 bits). */
function transpose2d(t: Tensor, shape: readonly number[]): Tensor {
  const [rows, cols] = t.dims as [number, number];
  const src = t.data as Float32Array | Uint16Array;
  const out = allocate(t.dtype, src.length) as Float32Array | Uint16Array;
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = src[r * cols + c]!;
  return new Tensor(t.dtype, shape, out);
}

/** Row-major tensors stacked along the first axis. */
function concatRows(parts: readonly Tensor[], shape: readonly number[]): Tensor {
  const dtype = parts[0]!.dtype;
  const out = allocate(dtype, parts.reduce((n, p) => n + p.data.length, 0)) as Float32Array | Uint16Array;
  let at = 0;
  for (const p of parts) {
    out.set(p.data as Float32Array | Uint16Array, at);
    at += p.data.length;
  }
  return new Tensor(dtype, shape, out);
}

// ---------------------------------------------------------------------------------------------
// Architecture from shapes

/**
 * Vision head widths other than 64 among open_clip's ViT configs, by tower width (H: 1280/80,
 * g: 1408/88, bigG: 1664/104, 1792/112). Every open_clip ViT config pairs a vision width with one
 * head width, and every text tower there has 64-wide heads (as OpenAI's CLIP).
 */
const VISION_HEAD_WIDTH: Readonly<Record<number, number>> = { 1280: 80, 1408: 88, 1664: 104, 1792: 112 };

/**
 * The config a checkpoint's shapes imply. Shapes fix every number but two: the activation, taken as
 * exact GELU (the caller tells the user), and the attention heads, taken from open_clip's head
 * widths (VISION_HEAD_WIDTH, else 64). `matches` is the built-in architecture the result equals.
 */
export function inferConfig(infos: readonly TensorInfo[], layout: Layout, path = 'checkpoint'): { config: ClipConfig; matches: string | null } {
  const shapes = new Map(infos.map((i) => [i.name, i.shape]));
  const cannot = (why: string): never => {
    throw new Error(`${path}: cannot tell the architecture from the tensor shapes: ${why}; pass --arch or --config`);
  };
  /** The open_clip shape of `name`, from whichever layout the file is in. */
  const dims = (name: string, rank: number): number[] => {
    const src = sourceOf(name, layout);
    const file = src.from[0]!;
    const got = shapes.get(file);
    if (!got) return cannot(`tensor ${file} is missing`);
    if (got.length !== rank) return cannot(`tensor ${file} has shape ${shapeText(got)}`);
    return src.op === 'transpose' ? [...got].reverse() : [...got];
  };
  const layers = (name: string): number => {
    let n = 0;
    while (shapes.has(sourceOf(`${name}.resblocks.${n}.ln_1.weight`, layout).from[0]!)) n++;
    return n > 0 ? n : cannot(`tensor ${sourceOf(`${name}.resblocks.0.ln_1.weight`, layout).from[0]!} is missing`);
  };
  const heads = (width: number, tower: 'vision' | 'text'): number => {
    const headWidth = (tower === 'vision' ? VISION_HEAD_WIDTH[width] : undefined) ?? 64;
    return width % headWidth === 0 ? width / headWidth : cannot(`the ${tower} width ${width} is not a multiple of ${headWidth}-wide heads`);
  };

  const gridOf = (name: string): number => {
    const [tokens] = dims(name, 2) as [number];
    const grid = Math.round(Math.sqrt(tokens - 1));
    return grid * grid === tokens - 1 ? grid : cannot(`${tokens} vision positions are not a square grid plus the class token`);
  };
  let vision: VisionConfig;
  if (layout === 'open_clip' && shapes.has('visual.layer1.0.conv1.weight')) {
    vision = inferResNet(shapes, dims, gridOf, cannot);
  } else {
    const [width, channels, patch, patchW] = dims('visual.conv1.weight', 4) as [number, number, number, number];
    if (channels !== 3 || patch !== patchW) cannot(`the patch embedding has shape ${shapeText([width, channels, patch, patchW])}`);
    const grid = gridOf('visual.positional_embedding');
    const [, outputDim] = dims('visual.proj', 2) as [number, number];
    vision = { imageSize: grid * patch, patchSize: patch, width, layers: layers('visual.transformer'), heads: heads(width, 'vision'), outputDim, act: 'gelu' };
  }
  const embedDim = vision.outputDim;
  const [vocabSize, textWidth] = dims('token_embedding.weight', 2) as [number, number];
  const [contextLength] = dims('positional_embedding', 2) as [number];
  const [, textEmbed] = dims('text_projection', 2) as [number, number];
  if (textEmbed !== embedDim) cannot(`the image projection gives ${embedDim} dimensions, the text projection ${textEmbed}`);

  const inferred: ClipConfig = {
    arch: 'custom',
    embedDim,
    vision,
    text: {
      contextLength, vocabSize, width: textWidth, layers: layers('transformer'), heads: heads(textWidth, 'text'), outputDim: embedDim, act: 'gelu',
    },
    mean: [...OPENAI_MEAN],
    std: [...OPENAI_STD],
  };
  const matches = matchBuiltin(inferred);
  return { config: { ...inferred, arch: matches ?? 'custom' }, matches };
}

/**
 * A ModifiedResNet from its shapes: the stem's last conv gives the width, the blocks present give
 * the stage depths, the attention pool's positions the grid (imageSize / 32), its c_proj the
 * embedding. Heads are open_clip's width·32 / 64, as OpenAI's build_model sets them too.
 */
function inferResNet(
  shapes: ReadonlyMap<string, readonly number[]>,
  dims: (name: string, rank: number) => number[],
  gridOf: (name: string) => number,
  cannot: (why: string) => never,
): ResNetConfig {
  const [width] = dims('visual.conv3.weight', 4) as [number];
  const count = (stage: number): number => {
    let n = 0;
    while (shapes.has(`visual.layer${stage}.${n}.conv1.weight`)) n++;
    return n > 0 ? n : cannot(`tensor visual.layer${stage}.0.conv1.weight is missing`);
  };
  const [outputDim, poolWidth] = dims('visual.attnpool.c_proj.weight', 2) as [number, number];
  if (poolWidth !== width * RESNET_REDUCTION) cannot(`the attention pool is ${poolWidth} wide, a ResNet of width ${width} gives ${width * RESNET_REDUCTION}`);
  if (poolWidth % 64 !== 0) cannot(`the attention pool width ${poolWidth} is not a multiple of 64-wide heads`);
  return {
    kind: 'resnet',
    imageSize: gridOf('visual.attnpool.positional_embedding') * RESNET_REDUCTION,
    width,
    layers: [count(1), count(2), count(3), count(4)],
    heads: poolWidth / 64,
    outputDim,
  };
}
