import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { VIT_B_32 } from '../clip/towers.js';
import { MANIFEST_FILE, PACK_FORMAT, PACK_VERSION, readManifest, writeManifest, type Manifest } from './manifest.js';

const dir = mkdtempSync(join(tmpdir(), 'manifest-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const good: Manifest = {
  format: PACK_FORMAT,
  version: PACK_VERSION,
  name: 'b32',
  config: {
    arch: 'ViT-B-32', embedDim: 512, vision: VIT_B_32.vision, text: VIT_B_32.text,
    mean: [0.48145466, 0.4578275, 0.40821073], std: [0.26862954, 0.26130258, 0.27577711],
  },
  weights: { file: 'weights.safetensors', dtype: 'fp32', bytes: 10, sha256: 'a'.repeat(64) },
  logitScale: 100,
  tokenizer: { kind: 'clip-bpe', bpeGz: 'bpe_simple_vocab_16e6.txt.gz' },
};

function withManifest(name: string, edit: (m: Record<string, unknown>) => void): string {
  const d = join(dir, name);
  rmSync(d, { recursive: true, force: true });
  const m = structuredClone(good) as unknown as Record<string, unknown>;
  edit(m);
  mkdirSync(d, { recursive: true });
  writeFileSync(join(d, MANIFEST_FILE), JSON.stringify(m));
  return d;
}

test('write → read round trip', async () => {
  const d = join(dir, 'rt');
  mkdirSync(d);
  await writeManifest(d, good);
  assert.deepEqual(await readManifest(d), good);
  assert.ok(readFileSync(join(d, MANIFEST_FILE), 'utf8').endsWith('}\n'));
});

test('each problem is one line naming the file and the field', async () => {
  const cases: [string, (m: Record<string, unknown>) => void, RegExp][] = [
    ['format', (m) => { m.format = 'other'; }, /clipag\.json: format: /],
    ['heads', (m) => { (m.config as { vision: { heads: number } }).vision.heads = 7; }, /config\.vision: width must be divisible by heads/],
    ['dim', (m) => { (m.config as { embedDim: number }).embedDim = 256; }, /config: vision\.outputDim and text\.outputDim must equal embedDim/],
    ['sha', (m) => { (m.weights as { sha256: string }).sha256 = 'xyz'; }, /weights\.sha256: must be 64 lowercase hex digits/],
    ['escape', (m) => { (m.weights as { file: string }).file = '../../etc/passwd'; }, /weights\.file: must be a plain file name inside the pack/],
    ['act', (m) => { (m.config as { text: { act: string } }).text.act = 'relu'; }, /config\.text\.act: /],
  ];
  for (const [name, edit, re] of cases) {
    const d = withManifest(name, edit);
    await assert.rejects(readManifest(d), (e: Error) => {
      assert.match(e.message, re, name);
      assert.ok(e.message.includes(join(d, MANIFEST_FILE)), `${name}: names the file`);
      assert.ok(!e.message.includes('\n'), `${name}: one line`);
      return true;
    });
  }
});

test('a folder without a manifest, and a manifest that is not JSON', async () => {
  await assert.rejects(readManifest(join(dir, 'nothing-here')), /is not a model pack \(no clipag\.json\); make one with `clipag model import`/);
  const d = join(dir, 'notjson');
  mkdirSync(d);
  writeFileSync(join(d, MANIFEST_FILE), '{"format": ');
  await assert.rejects(readManifest(d), /clipag\.json: not valid JSON/);
});

test('a ResNet pack may name its activation (relu, or gelu as the demo model); anything else is refused by field', async () => {
  const resnet = { kind: 'resnet', imageSize: 64, width: 8, layers: [1, 1, 1, 1], heads: 4, outputDim: 512 };
  for (const act of [undefined, 'relu', 'gelu']) {
    const d = withManifest(`rn-${String(act)}`, (m) => { (m.config as { vision: unknown }).vision = { ...resnet, ...(act ? { act } : {}) }; });
    const read = await readManifest(d);
    assert.equal(read.config.vision.act, act);
  }
  const d = withManifest('rn-tanh', (m) => { (m.config as { vision: unknown }).vision = { ...resnet, act: 'tanh' }; });
  await assert.rejects(readManifest(d), /config\.vision\.act: /);
});

test('a conv-tower pack (clipag\'s, issue 17\'s probe) is read whole; a stack its groups cannot split is refused by field', async () => {
  const conv = { kind: 'conv', imageSize: 64, convs: [{ channels: 32, kernel: 4, stride: 2 }, { channels: 64, kernel: 3, stride: 2 }], groups: 8, headChannels: 32, outputDim: 512, act: 'gelu' };
  const ok = await readManifest(withManifest('conv-ok', (m) => { (m.config as { vision: unknown }).vision = conv; }));
  assert.deepEqual(ok.config.vision, conv);
  const uneven = withManifest('conv-groups', (m) => { (m.config as { vision: unknown }).vision = { ...conv, groups: 12 }; });
  await assert.rejects(readManifest(uneven), /config\.vision: convs\[0\]: 32 channels do not split into 12 groups/);
  const empty = withManifest('conv-empty', (m) => { (m.config as { vision: unknown }).vision = { ...conv, convs: [] }; });
  await assert.rejects(readManifest(empty), /config\.vision\.convs: /);
});

test('contrast groups (pag/contrast.ts) are read whole; a one-word group or a phrase is refused by field', async () => {
  const groups = [['circle', 'square', 'triangle'], ['big', 'small']];
  assert.deepEqual((await readManifest(withManifest('contrast-ok', (m) => { m.contrast = groups; }))).contrast, groups);
  await assert.rejects(readManifest(withManifest('contrast-one', (m) => { m.contrast = [['circle']]; })), /clipag\.json: contrast\.0: /);
  await assert.rejects(readManifest(withManifest('contrast-phrase', (m) => { m.contrast = [['circle', 'red square']]; })), /contrast\.0\.1: must be one word/);
});
