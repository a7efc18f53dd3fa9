import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { GraphBuilder } from '../onnx/builder.js';
import { Tensor, numel } from '../onnx/tensor.js';
import { builtinConfig, type ClipConfig } from './config.js';
import { detectLayout, expectedTensors, inferConfig, openClipView } from './layout.js';
import { float32ToHalf, halfToFloat32, openSafetensors, writeSafetensors } from './safetensors.js';
import { bindWeights, randomTensors, textTower, visionTower, type TensorSource, type VitConfig } from './towers.js';
import type { ReadTensorOptions, TensorInfo, WeightReader } from './weights.js';

const dir = mkdtempSync(join(tmpdir(), 'layout-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A small CLIP with every structural feature: 2×2 patches grid, two layers each, different widths. */
const TINY: ClipConfig & { vision: VitConfig } = {
  arch: 'custom',
  embedDim: 6,
  vision: { imageSize: 8, patchSize: 4, width: 8, layers: 2, heads: 2, outputDim: 6, act: 'gelu' },
  text: { contextLength: 5, vocabSize: 11, width: 4, layers: 2, heads: 1, outputDim: 6, act: 'quick_gelu' },
  mean: [0.5, 0.5, 0.5],
  std: [0.5, 0.5, 0.5],
};

/** In-memory reader over named tensors; float16 becomes float32 unless keepF16, as the file readers do. */
class MemoryReader implements WeightReader {
  closed = false;
  constructor(readonly path: string, readonly tensors: Map<string, Tensor>) {}
  list(): TensorInfo[] {
    return [...this.tensors].map(([name, t]) => ({ name, dtype: t.dtype, shape: t.dims }));
  }
  async read(name: string, opts: ReadTensorOptions = {}): Promise<Tensor> {
    const t = this.tensors.get(name);
    if (!t) throw new Error(`${this.path}: no tensor named ${name}`);
    if (t.dtype === 'float16' && !opts.keepF16) return new Tensor('float32', t.dims, halfToFloat32(t.data as Uint16Array));
    return t;
  }
  async close(): Promise<void> {
    this.closed = true;
  }
}

/** A listing-only reader (shape checks never read data). */
function listing(path: string, infos: readonly TensorInfo[]): WeightReader {
  return {
    path,
    list: () => infos,
    read: () => Promise.reject(new Error('not expected to read')),
    close: () => Promise.resolve(),
  };
}

// ---------------------------------------------------------------------------------------------
// An independent open_clip → HF conversion (the direction transformers' converter goes), so the
// view's HF → open_clip mapping is checked against a second statement of the same facts.

function hfName(name: string): string {
  return name
    .replace(/^visual\.transformer\.resblocks\./, 'vision_model.encoder.layers.')
    .replace(/^transformer\.resblocks\./, 'text_model.encoder.layers.')
    .replace('.ln_1.', '.layer_norm1.')
    .replace('.ln_2.', '.layer_norm2.')
    .replace('.attn.out_proj.', '.self_attn.out_proj.')
    .replace('.mlp.c_fc.', '.mlp.fc1.')
    .replace('.mlp.c_proj.', '.mlp.fc2.')
    .replace(/^visual\.conv1\.weight$/, 'vision_model.embeddings.patch_embedding.weight')
    .replace(/^visual\.class_embedding$/, 'vision_model.embeddings.class_embedding')
    .replace(/^visual\.positional_embedding$/, 'vision_model.embeddings.position_embedding.weight')
    .replace(/^visual\.ln_pre\./, 'vision_model.pre_layrnorm.')
    .replace(/^visual\.ln_post\./, 'vision_model.post_layernorm.')
    .replace(/^token_embedding\.weight$/, 'text_model.embeddings.token_embedding.weight')
    .replace(/^positional_embedding$/, 'text_model.embeddings.position_embedding.weight')
    .replace(/^ln_final\./, 'text_model.final_layer_norm.');
}

/** HF tensors (name → shape and, when given, data) for open_clip ones. */
function toHf(openClip: ReadonlyArray<{ name: string; shape: readonly number[]; data?: Float32Array }>): Array<{ name: string; shape: number[]; data?: Float32Array }> {
  const out: Array<{ name: string; shape: number[]; data?: Float32Array }> = [];
  for (const { name, shape, data } of openClip) {
    const packed = /^(.*)\.attn\.in_proj_(weight|bias)$/.exec(name);
    if (packed) {
      const third = shape[0]! / 3;
      const part = numel(shape) / 3;
      ['q', 'k', 'v'].forEach((x, i) => out.push({
        name: `${hfName(`${packed[1]}.attn.`).replace('.attn.', '.self_attn.')}${x}_proj.${packed[2]}`,
        shape: [third, ...shape.slice(1)],
        data: data?.slice(i * part, (i + 1) * part),
      }));
    } else if (name === 'visual.proj' || name === 'text_projection') {
      const [rows, cols] = shape as [number, number];
      let t: Float32Array | undefined;
      if (data) {
        t = new Float32Array(data.length);
        for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = data[r * cols + c]!;
      }
      out.push({ name: name === 'visual.proj' ? 'visual_projection.weight' : 'text_projection.weight', shape: [cols, rows], data: t });
    } else {
      out.push({ name: hfName(name), shape: [...shape], data });
    }
  }
  return out;
}

const infosOf = (list: ReadonlyArray<{ name: string; shape: readonly number[] }>): TensorInfo[] =>
  list.map(({ name, shape }) => ({ name, dtype: 'float32', shape }));

/** Random open_clip tensors for a config (randomTensors: a function of seed and name). */
function randomOpenClip(cfg: ClipConfig, seed = 3): Map<string, Tensor> {
  const src = randomTensors({ seed, std: 1 });
  return new Map(expectedTensors(cfg).map((i) => [i.name, src(i.name, [...i.shape])]));
}

function hfReader(path: string, openClip: Map<string, Tensor>, extra: Record<string, Tensor> = {}): MemoryReader {
  const hf = toHf([...openClip].map(([name, t]) => ({ name, shape: t.dims, data: t.data as Float32Array })));
  const m = new Map(hf.map((h) => [h.name, new Tensor('float32', h.shape, h.data!)]));
  for (const [k, v] of Object.entries(extra)) m.set(k, v);
  return new MemoryReader(path, m);
}

/** assert.throws/rejects with the message also required to be one line. */
function oneLine(re: RegExp): (e: Error) => boolean {
  return (e) => {
    assert.match(e.message, re);
    assert.ok(!e.message.includes('\n'), `one line: ${e.message}`);
    return true;
  };
}

// ---------------------------------------------------------------------------------------------

describe('expectedTensors', () => {
  test('is exactly what the tower builders ask for, name and shape', () => {
    for (const cfg of [TINY, { ...TINY, vision: { ...TINY.vision, layers: 3, imageSize: 12 }, text: { ...TINY.text, layers: 1 } }]) {
      const asked = new Map<string, number[]>();
      const random = randomTensors({ seed: 1 });
      const recording: TensorSource = (name, shape) => {
        asked.set(name, shape);
        return random(name, shape);
      };
      const b = new GraphBuilder(17, 'record');
      const w = bindWeights(b, recording);
      visionTower(b, b.input('pixels', 'float32', [1, 3, cfg.vision.imageSize, cfg.vision.imageSize]), cfg.vision, w);
      textTower(b, b.input('ids', 'int64', [1, cfg.text.contextLength]), cfg.text, w);

      const expected = expectedTensors(cfg);
      assert.deepEqual(expected.at(-1), { name: 'logit_scale', dtype: 'float32', shape: [] }, 'logit_scale comes last (no tower reads it)');
      const towers = expected.slice(0, -1);
      assert.ok(towers.every((t) => t.dtype === 'float32'));
      assert.deepEqual(new Map(towers.map((t) => [t.name, [...t.shape]])), asked);
      assert.equal(towers.length, asked.size, 'no name twice');
    }
  });

  test('parameter counts of the built-ins are open_clip\'s (ViT-B-32 151.28M, ViT-B-16 149.62M, ViT-L-14 427.62M)', () => {
    const count = (arch: string) => expectedTensors(builtinConfig(arch)).reduce((n, t) => n + numel(t.shape), 0);
    assert.equal(count('ViT-B-32'), 151_277_313);
    assert.equal(count('ViT-B-16'), 149_620_737);
    assert.equal(count('ViT-L-14'), 427_616_513);
    assert.equal(expectedTensors(builtinConfig('ViT-B-32')).length, 302);
  });
});

describe('detectLayout', () => {
  const oc = infosOf(expectedTensors(TINY));
  const hf = infosOf(toHf(expectedTensors(TINY)));
  test('tells open_clip from Hugging Face names', () => {
    assert.equal(detectLayout(oc, 'a.pt'), 'open_clip');
    assert.equal(detectLayout(hf, 'model.safetensors'), 'hf');
    // One tower alone is enough to tell.
    assert.equal(detectLayout(oc.filter((i) => !i.name.startsWith('visual.')), 'a.pt'), 'open_clip');
    assert.equal(detectLayout(hf.filter((i) => i.name.startsWith('text_model.')), 'a.pt'), 'hf');
  });
  test('neither, both or nothing is one line naming the file', () => {
    assert.throws(() => detectLayout(infosOf([{ name: 'encoder.w', shape: [1] }, { name: 'decoder.w', shape: [1] }]), 'x.bin'),
      oneLine(/^x\.bin: neither an open_clip nor a Hugging Face CLIP state dict; its tensors are named encoder\.w, decoder\.w$/));
    assert.throws(() => detectLayout(infosOf(Array.from({ length: 9 }, (_, i) => ({ name: `t${i}`, shape: [1] }))), 'x.bin'),
      oneLine(/named t0, t1, t2, t3, … \(9 in all\)$/));
    assert.throws(() => detectLayout([...oc, ...hf], 'x.bin'), oneLine(/^x\.bin: has both open_clip \(visual\.\*\) and Hugging Face/));
    assert.throws(() => detectLayout([], 'x.bin'), oneLine(/^x\.bin: has no tensors$/));
  });
});

describe('openClipView', () => {
  test('an open_clip checkpoint passes through, listing exactly the expected tensors', async () => {
    const tensors = randomOpenClip(TINY);
    tensors.set('attn_mask', new Tensor('float32', [5, 5], new Float32Array(25))); // a harmless buffer
    const reader = new MemoryReader('ckpt.pt', tensors);
    const view = openClipView(reader, TINY);
    assert.equal(view.path, 'ckpt.pt');
    assert.deepEqual(view.list(), expectedTensors(TINY));
    for (const info of expectedTensors(TINY)) {
      const got = await view.read(info.name);
      assert.deepEqual(got.dims, info.shape);
      assert.equal(got.data, tensors.get(info.name)!.data, 'the same data, not a copy');
    }
    await view.close();
    assert.ok(reader.closed, 'close reaches the file');
  });

  test('Hugging Face tensors map back to the open_clip ones exactly', async () => {
    const original = randomOpenClip(TINY);
    const reader = hfReader('model.safetensors', original, {
      'text_model.embeddings.position_ids': Tensor.int64([1, 5], [0, 1, 2, 3, 4]),
      'vision_model.embeddings.position_ids': Tensor.int64([1, 5], [0, 1, 2, 3, 4]),
    });
    const view = openClipView(reader, TINY); // layout detected
    assert.deepEqual(view.list(), expectedTensors(TINY));
    for (const info of expectedTensors(TINY)) {
      const got = await view.read(info.name);
      const want = original.get(info.name)!;
      assert.equal(got.dtype, 'float32');
      assert.deepEqual(got.dims, want.dims, info.name);
      assert.deepEqual(got.data, want.data, info.name);
    }
    // The fused rows really are [q; k; v] and the projection really is transposed.
    const q = reader.tensors.get('vision_model.encoder.layers.1.self_attn.q_proj.weight')!.data as Float32Array;
    const v = reader.tensors.get('vision_model.encoder.layers.1.self_attn.v_proj.weight')!.data as Float32Array;
    const fused = (await view.read('visual.transformer.resblocks.1.attn.in_proj_weight')).data as Float32Array;
    assert.deepEqual(fused.subarray(0, 64), q);
    assert.deepEqual(fused.subarray(128, 192), v);
    const hfProj = reader.tensors.get('text_projection.weight')!; // [embed 6, width 4]
    const proj = await view.read('text_projection'); // [4, 6]
    assert.deepEqual(proj.dims, [4, 6]);
    assert.equal(proj.data[1 * 6 + 5], hfProj.data[5 * 4 + 1]);
    await assert.rejects(view.read('visual.attn_pool.query'), oneLine(/^model\.safetensors: no tensor visual\.attn_pool\.query among the \d+ open_clip tensors the config uses$/));
  });

  test('float16 stays float16 when asked, fused and transposed tensors included (through a real safetensors file)', async () => {
    const original = randomOpenClip(TINY);
    const hf = toHf([...original].map(([name, t]) => ({ name, shape: t.dims, data: t.data as Float32Array })));
    const bits = new Map(hf.map((h) => [h.name, float32ToHalf(h.data!)]));
    const path = join(dir, 'f16.safetensors');
    await writeSafetensors(path, Object.fromEntries(hf.map((h) => [h.name, new Tensor('float16', h.shape, bits.get(h.name)!)])));
    const file = await openSafetensors(path);
    const view = openClipView(file, TINY, 'hf');
    assert.ok(view.list().every((i) => i.dtype === 'float16'));

    const fusedName = 'transformer.resblocks.0.attn.in_proj_bias';
    const kept = await view.read(fusedName, { keepF16: true });
    assert.equal(kept.dtype, 'float16');
    const parts = ['q', 'k', 'v'].map((x) => bits.get(`text_model.encoder.layers.0.self_attn.${x}_proj.bias`)!);
    assert.deepEqual(kept.data, Uint16Array.from([...parts[0]!, ...parts[1]!, ...parts[2]!]));
    const widened = await view.read(fusedName);
    assert.equal(widened.dtype, 'float32');
    assert.deepEqual(widened.data, halfToFloat32(kept.data as Uint16Array));

    const proj = await view.read('visual.proj', { keepF16: true }); // [8, 6] from HF [6, 8]
    assert.equal(proj.dtype, 'float16');
    assert.deepEqual(proj.dims, [8, 6]);
    assert.equal(proj.data[3 * 6 + 2], bits.get('visual_projection.weight')![2 * 8 + 3]);
    await view.close();
  });

  test('fused parts of mixed types are read as float32', async () => {
    const original = randomOpenClip(TINY);
    const reader = hfReader('mixed.bin', original);
    const k = 'text_model.encoder.layers.1.self_attn.k_proj.weight';
    const kt = reader.tensors.get(k)!;
    reader.tensors.set(k, new Tensor('float16', kt.dims, float32ToHalf(kt.data as Float32Array)));
    const view = openClipView(reader, TINY, 'hf');
    const name = 'transformer.resblocks.1.attn.in_proj_weight';
    assert.equal(view.list().find((i) => i.name === name)!.dtype, 'float32');
    const t = await view.read(name, { keepF16: true });
    assert.equal(t.dtype, 'float32');
    assert.deepEqual(t.data.subarray(16, 32), halfToFloat32(float32ToHalf(kt.data as Float32Array)));
  });

  test('logit_scale stored as [1] is read as a scalar', async () => {
    const tensors = randomOpenClip(TINY);
    tensors.set('logit_scale', Tensor.float32([1], [4.6052]));
    const view = openClipView(new MemoryReader('a.pt', tensors), TINY);
    const t = await view.read('logit_scale');
    assert.deepEqual(t.dims, []);
    assert.equal(t.data[0], Math.fround(4.6052));
  });

  describe('checks at construction, one line naming the file', () => {
    const B32 = builtinConfig('ViT-B-32');
    const oc = expectedTensors(B32);
    const hf = infosOf(toHf(oc));
    const replace = (list: TensorInfo[], name: string, shape: number[]) => list.map((i) => (i.name === name ? { ...i, shape } : i));

    test('shape mismatch against the config', () => {
      assert.throws(() => openClipView(listing('CLIPAG_ViTB32.pt', replace(oc, 'visual.proj', [768, 256])), B32),
        oneLine(/^CLIPAG_ViTB32\.pt: tensor visual\.proj has shape \[768,256\], ViT-B-32 expects \[768,512\]$/));
      assert.throws(() => openClipView(listing('model.safetensors', replace(hf, 'visual_projection.weight', [768, 512])), B32),
        oneLine(/^model\.safetensors: tensor visual_projection\.weight has shape \[768,512\], ViT-B-32 expects \[512,768\]$/));
      assert.throws(() => openClipView(listing('model.safetensors', replace(hf, 'text_model.encoder.layers.3.self_attn.k_proj.weight', [512, 256])), B32),
        oneLine(/tensor text_model\.encoder\.layers\.3\.self_attn\.k_proj\.weight has shape \[512,256\], ViT-B-32 expects \[512,512\]$/));
      // A ViT-B-16 checkpoint read as ViT-B-32: the patch embedding says so first.
      assert.throws(() => openClipView(listing('b16.pt', expectedTensors(builtinConfig('ViT-B-16'))), B32),
        oneLine(/^b16\.pt: tensor visual\.conv1\.weight has shape \[768,3,16,16\], ViT-B-32 expects \[768,3,32,32\]$/));
      const custom = { ...TINY, vision: { ...TINY.vision, outputDim: 6 } };
      assert.throws(() => openClipView(listing('t.pt', replace(expectedTensors(TINY), 'visual.proj', [8, 7])), custom),
        oneLine(/^t\.pt: tensor visual\.proj has shape \[8,7\], the config expects \[8,6\]$/));
    });

    test('missing tensors, the first few listed', () => {
      const gone = oc.filter((i) => !i.name.startsWith('transformer.resblocks.11.'));
      assert.throws(() => openClipView(listing('a.pt', gone), B32),
        oneLine(/^a\.pt: 12 tensors that ViT-B-32 needs are missing: transformer\.resblocks\.11\.ln_1\.weight, transformer\.resblocks\.11\.ln_1\.bias, .*, … \(12 in all\); is it a checkpoint of another architecture\?$/));
      const noQ = hf.filter((i) => i.name !== 'vision_model.encoder.layers.0.self_attn.q_proj.bias');
      assert.throws(() => openClipView(listing('model.safetensors', noQ), B32),
        oneLine(/^model\.safetensors: 1 tensor that ViT-B-32 needs is missing: vision_model\.encoder\.layers\.0\.self_attn\.q_proj\.bias; /));
      // A ViT-L-14 config over ViT-B-32 weights: layers 12..23 are missing.
      assert.throws(() => openClipView(listing('a.pt', oc), builtinConfig('ViT-L-14')), oneLine(/^a\.pt: 144 tensors that ViT-L-14 needs are missing: visual\.transformer\.resblocks\.12\./));
    });

    test('unexpected tensors are listed; harmless buffers are not', () => {
      const extra = [...oc, { name: 'visual.attn_pool.query', dtype: 'float32' as const, shape: [256, 512] }, { name: 'logit_bias', dtype: 'float32' as const, shape: [] }];
      assert.throws(() => openClipView(listing('a.pt', extra), B32),
        oneLine(/^a\.pt: 2 tensors that ViT-B-32 does not use: visual\.attn_pool\.query, logit_bias; a different architecture, or an open_clip variant this engine does not implement$/));
      const buffers = [...hf, ...['text_model.embeddings.position_ids', 'vision_model.embeddings.position_ids'].map((name) => ({ name, dtype: 'int64' as const, shape: [1, 77] }))];
      assert.equal(openClipView(listing('model.safetensors', buffers), B32).list().length, 302);
      // A ViT-B-32 config over ViT-L-14 weights (after the shape checks, which fail first).
      const l14 = expectedTensors(builtinConfig('ViT-L-14'));
      assert.throws(() => openClipView(listing('l14.pt', l14), B32), oneLine(/^l14\.pt: tensor visual\.conv1\.weight has shape \[1024,3,14,14\]/));
    });

    test('a weight that is not a float tensor', () => {
      const ints = oc.map((i) => (i.name === 'visual.class_embedding' ? { ...i, dtype: 'int64' as const } : i));
      assert.throws(() => openClipView(listing('a.pt', ints), B32), oneLine(/^a\.pt: tensor visual\.class_embedding is int64, not a float tensor$/));
    });

    test('the view lists the source\'s dtype', () => {
      const bf = oc.map((i) => ({ ...i, dtype: 'bfloat16' as const }));
      assert.ok(openClipView(listing('a.safetensors', bf), B32).list().every((i) => i.dtype === 'bfloat16'));
    });
  });
});

describe('inferConfig', () => {
  test('ViT-B-32 shapes, in either layout, are ViT-B-32 (exact GELU assumed)', () => {
    const oc = expectedTensors(builtinConfig('ViT-B-32'));
    for (const [infos, layout] of [[oc, 'open_clip'], [infosOf(toHf(oc)), 'hf']] as const) {
      const r = inferConfig(infos, layout, 'ckpt');
      assert.equal(r.matches, 'ViT-B-32');
      assert.deepEqual(r.config, builtinConfig('ViT-B-32'));
    }
    const l14 = inferConfig(infosOf(toHf(expectedTensors(builtinConfig('ViT-L-14')))), 'hf');
    assert.equal(l14.matches, 'ViT-L-14');
    assert.equal(inferConfig(expectedTensors(builtinConfig('ViT-B-16')), 'open_clip').matches, 'ViT-B-16');
  });

  test('heads follow open_clip\'s head widths: ViT-H-14 (vision 1280 / 80, text 1024 / 64)', () => {
    // open_clip's ViT-H-14.json: embed 1024; vision 224/14, width 1280, head_width 80, 32 layers; text width 1024, 16 heads, 24 layers.
    const h14: ClipConfig = {
      arch: 'custom',
      embedDim: 1024,
      vision: { imageSize: 224, patchSize: 14, width: 1280, layers: 32, heads: 16, outputDim: 1024, act: 'gelu' },
      text: { contextLength: 77, vocabSize: 49408, width: 1024, layers: 24, heads: 16, outputDim: 1024, act: 'gelu' },
      mean: [0.48145466, 0.4578275, 0.40821073],
      std: [0.26862954, 0.26130258, 0.27577711],
    };
    assert.deepEqual(inferConfig(expectedTensors(h14), 'open_clip').config, h14);
  });

  test('other shapes give a custom config with every number read off the tensors', () => {
    const cfg: ClipConfig = {
      arch: 'custom',
      embedDim: 96,
      vision: { imageSize: 48, patchSize: 16, width: 128, layers: 3, heads: 2, outputDim: 96, act: 'gelu' },
      text: { contextLength: 16, vocabSize: 300, width: 192, layers: 2, heads: 3, outputDim: 96, act: 'gelu' },
      mean: [0.48145466, 0.4578275, 0.40821073],
      std: [0.26862954, 0.26130258, 0.27577711],
    };
    const r = inferConfig(expectedTensors(cfg), 'open_clip');
    assert.equal(r.matches, null);
    assert.deepEqual(r.config, cfg);
    assert.deepEqual(inferConfig(infosOf(toHf(expectedTensors(cfg))), 'hf').config, cfg);
  });

  test('what the shapes cannot tell is one line naming the file', () => {
    const oc = expectedTensors(builtinConfig('ViT-B-32'));
    assert.throws(() => inferConfig(oc.filter((i) => i.name !== 'visual.proj'), 'open_clip', 'x.pt'),
      oneLine(/^x\.pt: cannot tell the architecture from the tensor shapes: tensor visual\.proj is missing; pass --arch or --config$/));
    assert.throws(() => inferConfig(infosOf(toHf(oc)).filter((i) => !i.name.startsWith('text_model.encoder.')), 'hf', 'm.safetensors'),
      oneLine(/^m\.safetensors: .*tensor text_model\.encoder\.layers\.0\.layer_norm1\.weight is missing/));
    const bad = (name: string, shape: number[]) => oc.map((i) => (i.name === name ? { ...i, shape } : i));
    assert.throws(() => inferConfig(bad('visual.positional_embedding', [48, 768]), 'open_clip', 'x.pt'), oneLine(/48 vision positions are not a square grid/));
    assert.throws(() => inferConfig(bad('text_projection', [512, 256]), 'open_clip', 'x.pt'), oneLine(/the image projection gives 512 dimensions, the text projection 256/));
    assert.throws(() => inferConfig(bad('token_embedding.weight', [49408, 500]), 'open_clip', 'x.pt'), oneLine(/the text width 500 is not a multiple of 64-wide heads/));
    assert.throws(() => inferConfig(bad('visual.conv1.weight', [768, 3, 32]), 'open_clip', 'x.pt'), oneLine(/tensor visual\.conv1\.weight has shape \[768,3,32\]/));
  });
});
