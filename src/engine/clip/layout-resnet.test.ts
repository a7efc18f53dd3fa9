/**
 * ResNet (ModifiedResNet) image towers in the name layout: which tensors a config reads, the
 * architecture read back from a checkpoint's shapes, and what open_clip / OpenAI state dicts carry
 * beside them (num_batches_tracked, the TorchScript sizes).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { GraphBuilder } from '../onnx/builder.js';
import { numel } from '../onnx/tensor.js';
import { OPENAI_MEAN, OPENAI_STD, builtinConfig, type ClipConfig } from './config.js';
import { expectedTensors, inferConfig, openClipView } from './layout.js';
import { textTower, visionTower, type ResNetConfig, type Weights } from './towers.js';
import type { TensorInfo, WeightReader } from './weights.js';

const TINY_RN: ClipConfig = {
  arch: 'custom',
  embedDim: 6,
  vision: { kind: 'resnet', imageSize: 64, width: 8, layers: [1, 2, 1, 1], heads: 4, outputDim: 6 },
  text: { contextLength: 5, vocabSize: 11, width: 4, layers: 1, heads: 1, outputDim: 6, act: 'quick_gelu' },
  mean: [0.5, 0.5, 0.5],
  std: [0.5, 0.5, 0.5],
};

function listing(path: string, infos: readonly TensorInfo[]): WeightReader {
  return { path, list: () => infos, read: () => Promise.reject(new Error('not expected to read')), close: () => Promise.resolve() };
}

/** What torch.save(model.state_dict()) of an open_clip ResNet CLIP lists: every BN also has its step counter. */
function stateDictOf(cfg: ClipConfig): TensorInfo[] {
  return expectedTensors(cfg).flatMap((t): TensorInfo[] => {
    const plain = { name: t.name, dtype: t.dtype, shape: t.shape };
    if (!t.name.endsWith('.running_var')) return [plain];
    return [plain, { name: t.name.replace(/running_var$/, 'num_batches_tracked'), dtype: 'int64', shape: [] }];
  });
}

const oneLine = (re: RegExp) => (e: Error): boolean => {
  assert.match(e.message, re);
  assert.ok(!e.message.includes('\n'), `one line: ${e.message}`);
  return true;
};

describe('expectedTensors of a ResNet', () => {
  test('is exactly what the tower builders ask for, and flags the running statistics as buffers', () => {
    for (const [cfg, withText] of [[TINY_RN, true], [builtinConfig('RN50'), false]] as const) {
      const asked = new Map<string, number[]>();
      const b = new GraphBuilder(17, 'record');
      // Parameters as graph inputs: only names and shapes are recorded, nothing is allocated or run.
      const w: Weights = (name, shape) => {
        if (b.has(name)) return b.value(name);
        asked.set(name, shape);
        return b.input(name, 'float32', shape);
      };
      const S = cfg.vision.imageSize;
      visionTower(b, b.input('pixels', 'float32', [1, 3, S, S]), cfg.vision, w);
      if (withText) textTower(b, b.input('ids', 'int64', [1, cfg.text.contextLength]), cfg.text, w);

      const expected = expectedTensors(cfg).filter((t) => t.name !== 'logit_scale' && (withText || t.name.startsWith('visual.')));
      assert.deepEqual(new Map(expected.map((t) => [t.name, [...t.shape]])), asked);
      assert.equal(expected.length, asked.size, 'no name twice');
      for (const t of expected) assert.equal(t.buffer === true, /\.running_(mean|var)$/.test(t.name), t.name);
    }
  });

  test('RN50 has OpenAI\'s 102,007,137 parameters (buffers aside); RN101 119.69M as open_clip lists it', () => {
    const count = (arch: string) => expectedTensors(builtinConfig(arch)).filter((t) => !t.buffer).reduce((n, t) => n + numel(t.shape), 0);
    assert.equal(count('RN50'), 102_007_137);
    assert.equal(Math.round(count('RN101') / 1e4) / 100, 119.69);
    const rn50 = expectedTensors(builtinConfig('RN50'));
    const shape = (name: string) => rn50.find((t) => t.name === name)?.shape;
    assert.deepEqual(shape('visual.conv1.weight'), [32, 3, 3, 3]);
    assert.deepEqual(shape('visual.layer1.0.downsample.0.weight'), [256, 64, 1, 1]);
    assert.deepEqual(shape('visual.layer4.2.bn3.running_var'), [2048]);
    assert.deepEqual(shape('visual.attnpool.positional_embedding'), [50, 2048]);
    assert.deepEqual(shape('visual.attnpool.c_proj.weight'), [1024, 2048]);
    assert.equal(shape('visual.layer1.1.downsample.0.weight'), undefined, 'only a stage\'s first block has a shortcut conv');
  });
});

describe('inferConfig of a ResNet', () => {
  for (const arch of ['RN50', 'RN101']) {
    test(`a state dict of ${arch}'s shapes is ${arch} (exact GELU assumed)`, () => {
      const r = inferConfig(stateDictOf(builtinConfig(arch)), 'open_clip', `${arch}.pt`);
      assert.equal(r.matches, arch);
      assert.deepEqual(r.config, builtinConfig(arch));
    });
  }

  test('other shapes give a custom config with every number read off the tensors', () => {
    // Heads are not in the shapes: open_clip's 64-wide ones (text width 64: one head; pool 256: four).
    const cfg: ClipConfig = { ...TINY_RN, text: { ...TINY_RN.text, width: 64, heads: 1, act: 'gelu' }, mean: [...OPENAI_MEAN], std: [...OPENAI_STD] };
    const r = inferConfig(stateDictOf(cfg), 'open_clip');
    assert.equal(r.matches, null);
    assert.deepEqual(r.config, cfg);
    assert.deepEqual((r.config.vision as ResNetConfig).layers, [1, 2, 1, 1]);
  });

  test('a pool that does not fit the stem is one line naming the file', () => {
    const bad = stateDictOf(TINY_RN).map((t) => (t.name === 'visual.attnpool.c_proj.weight' ? { ...t, shape: [6, 100] } : t));
    assert.throws(() => inferConfig(bad, 'open_clip', 'r.pt'), oneLine(/^r\.pt: cannot tell the architecture from the tensor shapes: the attention pool is 100 wide, a ResNet of width 8 gives 256; pass --arch or --config$/));
  });
});

describe('openClipView over a ResNet state dict', () => {
  test('num_batches_tracked and OpenAI\'s TorchScript sizes are accepted and not listed', () => {
    const openai = [
      ...stateDictOf(builtinConfig('RN50')),
      ...['input_resolution', 'context_length', 'vocab_size'].map((name): TensorInfo => ({ name, dtype: 'int64', shape: [] })),
    ];
    const view = openClipView(listing('RN50.pt', openai), builtinConfig('RN50'));
    assert.deepEqual(view.list().map((t) => t.name), expectedTensors(builtinConfig('RN50')).map((t) => t.name));
    assert.ok(view.list().filter((t) => t.buffer).every((t) => /running_(mean|var)$/.test(t.name)));
  });

  test('a step counter without its BN, a missing BN statistic, and a ResNet over HF names are refused', () => {
    const cfg = TINY_RN;
    const stray = [...stateDictOf(cfg), { name: 'visual.layer9.0.bn1.num_batches_tracked', dtype: 'int64' as const, shape: [] }];
    assert.throws(() => openClipView(listing('a.pt', stray), cfg), oneLine(/^a\.pt: 1 tensor that the config does not use: visual\.layer9\.0\.bn1\.num_batches_tracked; /));
    const noVar = stateDictOf(cfg).filter((t) => t.name !== 'visual.layer2.1.bn2.running_var');
    assert.throws(() => openClipView(listing('a.pt', noVar), cfg), oneLine(/^a\.pt: 1 tensor that the config needs is missing: visual\.layer2\.1\.bn2\.running_var; /));
    assert.throws(() => openClipView(listing('model.safetensors', stateDictOf(cfg)), cfg, 'hf'), oneLine(/no ResNet image tower/));
  });
});
