import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { builtinRegistry, findEntry, loadRegistry, OPEN_CLIP_BPE, type RegistryEntry } from './registry.js';

describe('builtinRegistry', () => {
  const reg = builtinRegistry();

  test('lists the robust CLIPs users pick by name', () => {
    assert.deepEqual(reg.map((e) => e.name).sort(), [
      'clipag-vit-b-32', 'fare2-vit-l-14', 'fare4-vit-b-32', 'fare4-vit-l-14',
      'tecoa2-vit-l-14', 'tecoa4-vit-b-32', 'tecoa4-vit-l-14',
    ]);
  });

  test('entries are well-formed: unique names, https URLs, plain file names, checkpoint and config among files', () => {
    assert.equal(new Set(reg.map((e) => e.name)).size, reg.length);
    for (const e of reg) {
      assert.match(e.name, /^[a-z0-9][a-z0-9.-]*$/);
      assert.ok(e.description.length > 10, e.name);
      const names = e.files.map((f) => f.name);
      assert.equal(new Set(names).size, names.length, e.name);
      assert.ok(names.includes(e.checkpoint), e.name);
      if (e.config) assert.ok(names.includes(e.config), e.name);
      for (const f of [...e.files, ...(e.tokenizer ? [e.tokenizer] : [])]) {
        const u = new URL(f.url);
        assert.equal(u.protocol, 'https:', f.url);
        assert.match(f.name, /^[\w.-]+$/);
        if (f.sha256) assert.match(f.sha256, /^[0-9a-f]{64}$/);
      }
      // open_clip checkpoints carry no tokenizer: every entry brings open_clip's BPE.
      assert.deepEqual(e.tokenizer, OPEN_CLIP_BPE, e.name);
    }
  });

  test('passes the same validation as a user registry (round trip through loadRegistry)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'clipag-reg-'));
    try {
      const file = join(dir, 'builtin.json');
      await writeFile(file, JSON.stringify(reg));
      assert.deepEqual(await loadRegistry(file), reg);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('pins the facts: URLs, arches (QuickGELU for the OpenAI-based ViT-L/14), BPE size and digest', () => {
    const clipag = findEntry(reg, 'clipag-vit-b-32');
    assert.equal(clipag.files[0]!.url, 'https://zenodo.org/records/10446026/files/CLIPAG_ViTB32.pt?download=1');
    assert.equal(clipag.checkpoint, 'CLIPAG_ViTB32.pt');
    assert.equal(clipag.arch, 'ViT-B-32');
    const fare = findEntry(reg, 'fare4-vit-b-32');
    assert.deepEqual(fare.files.map((f) => f.url), [
      'https://huggingface.co/chs20/FARE4-ViT-B-32-laion2B-s34B-b79K/resolve/main/open_clip_pytorch_model.bin',
      'https://huggingface.co/chs20/FARE4-ViT-B-32-laion2B-s34B-b79K/resolve/main/open_clip_config.json',
    ]);
    assert.equal(fare.checkpoint, 'open_clip_pytorch_model.bin');
    assert.equal(fare.config, 'open_clip_config.json');
    assert.equal(fare.arch, 'ViT-B-32');
    assert.equal(findEntry(reg, 'tecoa4-vit-b-32').files[0]!.url,
      'https://huggingface.co/chs20/TeCoA4-ViT-B-32-laion2B-s34B-b79K/resolve/main/open_clip_pytorch_model.bin');
    for (const [name, repo] of [['fare2-vit-l-14', 'fare2-clip'], ['tecoa2-vit-l-14', 'tecoa2-clip'], ['fare4-vit-l-14', 'fare4-clip'], ['tecoa4-vit-l-14', 'tecoa4-clip']] as const) {
      const e = findEntry(reg, name);
      assert.equal(e.arch, 'ViT-L-14-quickgelu', name);
      assert.equal(e.files[0]!.url, `https://huggingface.co/chs20/${repo}/resolve/main/open_clip_pytorch_model.bin`);
    }
    assert.equal(OPEN_CLIP_BPE.url, 'https://github.com/mlfoundations/open_clip/raw/main/src/open_clip/bpe_simple_vocab_16e6.txt.gz');
    assert.equal(OPEN_CLIP_BPE.size, 1356917);
    assert.equal(OPEN_CLIP_BPE.sha256, '924691ac288e54409236115652ad4aa250f48203de50a9e4722a6ecd48d6804a');
  });

  test('returns a copy: editing it leaves the built-in list alone', () => {
    const a = builtinRegistry();
    a[0]!.files[0]!.url = 'https://example.invalid/x';
    assert.notEqual(builtinRegistry()[0]!.files[0]!.url, 'https://example.invalid/x');
  });
});

describe('findEntry', () => {
  const reg = builtinRegistry();

  test('finds by exact name', () => {
    assert.equal(findEntry(reg, 'tecoa2-vit-l-14').name, 'tecoa2-vit-l-14');
  });

  test('unknown name: one line listing the known ones and suggesting the closest', () => {
    assert.throws(() => findEntry(reg, 'fare4-vit-b32'), (e: Error) => {
      assert.match(e.message, /^unknown model "fare4-vit-b32" \(did you mean "fare4-vit-b-32"\?\); known: clipag-vit-b-32, fare4-vit-b-32, /);
      assert.ok(!e.message.includes('\n'));
      return true;
    });
    assert.throws(() => findEntry(reg, 'CLIPAG-ViT-B-32'), /did you mean "clipag-vit-b-32"/);
  });

  test('no suggestion for a name that resembles nothing', () => {
    assert.throws(() => findEntry(reg, 'stable-diffusion'), (e: Error) => {
      assert.match(e.message, /^unknown model "stable-diffusion"; known: clipag-vit-b-32/);
      assert.ok(!e.message.includes('did you mean'));
      return true;
    });
  });

  test('an empty registry says so', () => {
    assert.throws(() => findEntry([], 'x'), /^Error: unknown model "x"; known: none$/);
  });
});

describe('loadRegistry', () => {
  let dir: string;
  before(async () => { dir = await mkdtemp(join(tmpdir(), 'clipag-reg-')); });
  after(async () => { await rm(dir, { recursive: true, force: true }); });

  const good = (): RegistryEntry[] => [{
    name: 'mirror-b-32', description: 'a mirror',
    files: [{ url: 'http://127.0.0.1:8000/ck.pt', name: 'ck.pt', size: 10, sha256: 'AB'.repeat(32) }],
    checkpoint: 'ck.pt', arch: 'ViT-B-32',
  }];

  async function load(json: unknown, raw?: string): Promise<RegistryEntry[]> {
    const file = join(dir, 'reg.json');
    await writeFile(file, raw ?? JSON.stringify(json));
    return loadRegistry(file);
  }

  async function rejects(json: unknown, pattern: RegExp): Promise<void> {
    await assert.rejects(load(json), (e: Error) => {
      assert.match(e.message, pattern);
      assert.ok(e.message.startsWith(join(dir, 'reg.json')), e.message);
      assert.ok(!e.message.includes('\n'), e.message);
      return true;
    });
  }

  test('accepts a valid registry, lowercases digests, defaults the description', async () => {
    const json = good();
    delete (json[0] as Partial<RegistryEntry>).description;
    const reg = await load(json);
    assert.equal(reg[0]!.files[0]!.sha256, 'ab'.repeat(32));
    assert.equal(reg[0]!.description, '');
  });

  test('relative paths become file: URLs beside the registry (offline copies)', async () => {
    const json = good();
    json[0]!.files[0]!.url = 'weights/ck.pt';
    json[0]!.tokenizer = { url: '/abs/bpe.txt.gz', name: 'bpe.txt.gz' };
    const reg = await load(json);
    assert.equal(reg[0]!.files[0]!.url, pathToFileURL(join(dir, 'weights/ck.pt')).href);
    assert.equal(reg[0]!.tokenizer!.url, 'file:///abs/bpe.txt.gz');
  });

  test('errors name the file and the field', async () => {
    await rejects({ models: [] }, /reg\.json: .*expected a JSON array of models/);
    let j = good();
    j[0]!.files[0]!.sha256 = 'abc';
    await rejects(j, /reg\.json: \[0\]\.files\[0\]\.sha256: must be 64 hex digits$/);
    j = good();
    j[0]!.files[0]!.name = '../evil';
    await rejects(j, /\[0\]\.files\[0\]\.name: must be a plain file name/);
    j = good();
    j[0]!.checkpoint = 'other.pt';
    await rejects(j, /\[0\]\.checkpoint: "other\.pt" is not among files/);
    j = good();
    j[0]!.files[0]!.url = 'ftp://host/ck.pt';
    await rejects(j, /\[0\]\.files\[0\]\.url: "ftp:" URLs are not supported/);
    j = good();
    j[0]!.files[0]!.size = -1;
    await rejects(j, /\[0\]\.files\[0\]\.size: /);
    j = good();
    j.push({ ...good()[0]! });
    await rejects(j, /\[1\]\.name: model "mirror-b-32" is listed twice/);
    j = good();
    j[0]!.name = 'a/b';
    await rejects(j, /\[0\]\.name: must be letters/);
    j = good();
    (j[0]!.files[0] as unknown as Record<string, unknown>).sha = 'x';
    await rejects(j, /\[0\]\.files\[0\]: .*sha/);
    j = good();
    j[0]!.files = [];
    await rejects(j, /\[0\]\.files: must list at least one file/);
    j = good();
    j[0]!.tokenizer = { url: 'https://x/ck.pt', name: 'ck.pt' };
    await rejects(j, /\[0\]\.tokenizer\.name: "ck\.pt" is also among files/);
  });

  test('unreadable file and bad JSON: one line naming the file', async () => {
    await assert.rejects(loadRegistry(join(dir, 'missing.json')), /^Error: cannot read registry .*missing\.json: ENOENT/);
    await assert.rejects(load(undefined, '{ nope'), (e: Error) => {
      assert.match(e.message, /reg\.json: not valid JSON/);
      assert.ok(!e.message.includes('\n'));
      return true;
    });
  });
});
