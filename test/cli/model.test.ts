/**
 * The pack commands through the real binary: import → embed/score/tokenize, model fetch from a
 * local HTTP server, and every bad input the issue lists (one line naming the file and the problem,
 * exit code 2, nothing left where --out pointed).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { openSafetensors, writeSafetensors } from '../../src/engine/clip/safetensors.js';
import type { Tensor } from '../../src/engine/onnx/tensor.js';
import { clipag, clipagAsync, type CliResult } from '../helpers/cli.js';

const FIX = fileURLToPath(new URL('../fixtures/clip/', import.meta.url));
const SHARED_CLIP = fileURLToPath(new URL('../../../shared/clip/', import.meta.url));
const BPE = join(SHARED_CLIP, 'bpe_simple_vocab_16e6.txt.gz');
const noShared = !existsSync(BPE) && `../shared/clip is absent (a user's clone): the BPE vocabulary lives there`;

const work = mkdtempSync(join(tmpdir(), 'clipag-model-cli-'));
after(() => rmSync(work, { recursive: true, force: true }));

const expected = JSON.parse(readFileSync(join(FIX, 'expected.json'), 'utf8')) as {
  checkpoints: Record<string, { png_embeddings: number[][]; logit_scale: number }>;
};

function relErr(actual: number[], want: number[]): number {
  let d = 0;
  let s = 0;
  want.forEach((w, i) => { d = Math.max(d, Math.abs(actual[i]! - w)); s = Math.max(s, Math.abs(w)); });
  return d / s;
}

/** A user error: exit 2, exactly one line on stderr matching `re`, nothing at --out or beside it. */
function assertUserError(r: CliResult, re: RegExp, out?: string): void {
  assert.equal(r.status, 2, `exit code (stderr: ${r.stderr})`);
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `one line: ${r.stderr}`);
  assert.match(lines[0]!, re);
  assert.equal(r.stdout, '');
  if (out) {
    assert.ok(!existsSync(out), `${out} must not exist`);
    const base = out.split('/').pop()!;
    assert.deepEqual(readdirSync(join(out, '..')).filter((f) => f.includes(`${base}.import-`)), [], 'no temporary folder left');
  }
}

const hfPack = join(work, 'hf-pack');
before(() => {
  const r = clipag(['model', 'import', join(FIX, 'hf-gelu'), '--out', hfPack]);
  assert.equal(r.status, 0, r.stderr);
});

test('import → embed --image --json gives the reference embedding, normalized alongside', () => {
  const r = clipag(['embed', '--image', join(FIX, 'landscape-43x37.png'), '--model', hfPack, '--json']);
  assert.equal(r.status, 0, r.stderr);
  const { embedding, normalized } = JSON.parse(r.stdout) as { embedding: number[]; normalized: number[] };
  assert.ok(relErr(embedding, expected.checkpoints['hf-gelu']!.png_embeddings[0]!) <= 1e-4);
  const norm = Math.hypot(...embedding);
  normalized.forEach((x, i) => assert.ok(Math.abs(x - embedding[i]! / norm) < 1e-7));
  assert.equal(r.stdout.trim().split('\n').length, 1, 'one JSON object on stdout, nothing else');
});

test('a pack without a tokenizer: image commands work, text commands say how to add one', () => {
  const r = clipag(['embed', '--text', 'a red circle', '--model', hfPack]);
  assertUserError(r, /has no tokenizer: re-import it with --tokenizer FILE/);
});

test('import with --tokenizer; tokenize --json and score --json', { skip: noShared }, () => {
  // The fixture's text tower has 512 ids; CLIP's BPE has 49,408, so import must refuse the pairing.
  const out = join(work, 'tok-pack');
  const bad = clipag(['model', 'import', join(FIX, 'hf-gelu'), '--out', out, '--tokenizer', BPE]);
  assertUserError(bad, /the tokenizer has 49408 ids but the text tower only 512/, out);

  const ids = clipag(['tokenize', 'a diagram', '--tokenizer', BPE, '--json']);
  assert.equal(ids.status, 0, ids.stderr);
  const got = JSON.parse(ids.stdout) as { ids: number[] };
  assert.equal(got.ids.length, 77);
  assert.deepEqual(got.ids.slice(0, 5), [49406, 320, 22697, 49407, 0]);
});

test('score --json: cosine and logit = exp(logit_scale)·cosine', () => {
  // Text needs a tokenizer the tiny model can read: a word list over its 512 ids, written into the pack.
  const pack = join(work, 'word-pack');
  cpSync(hfPack, pack, { recursive: true });
  const manifest = JSON.parse(readFileSync(join(pack, 'clipag.json'), 'utf8')) as Record<string, unknown>;
  // Word i is i written in base 26 with letters (the word tokenizer takes letters only): a, b, …, z, ba, bb, …
  const word = (i: number): string => (i < 26 ? '' : word(Math.floor(i / 26))) + String.fromCharCode(97 + (i % 26));
  writeFileSync(join(pack, 'words.json'), JSON.stringify(Array.from({ length: 510 }, (_, i) => word(i))));
  manifest.tokenizer = { kind: 'word', words: 'words.json', sot: 510, eot: 511, pad: 0 };
  writeFileSync(join(pack, 'clipag.json'), JSON.stringify(manifest));
  const r = clipag(['score', '--image', join(FIX, 'square-32x32.png'), '--text', 'd r', '--model', pack, '--json']);
  assert.equal(r.status, 0, r.stderr);
  const s = JSON.parse(r.stdout) as { cosine: number; logit: number; logitScale: number };
  assert.ok(s.cosine >= -1 && s.cosine <= 1);
  assert.ok(Math.abs(s.logitScale - Math.exp(expected.checkpoints['hf-gelu']!.logit_scale)) < 1e-4);
  assert.ok(Math.abs(s.logit - s.logitScale * s.cosine) < 1e-9);
  const t = clipag(['tokenize', 'd r', '--model', pack, '--json']);
  assert.deepEqual((JSON.parse(t.stdout) as { ids: number[] }).ids.slice(0, 5), [510, 3, 17, 511, 0]);
  const empty = clipag(['embed', '--text', '   ', '--model', pack]);
  assertUserError(empty, /clipag embed: the text is empty/);
});

test('bad checkpoints: truncated zip, forbidden global, bad safetensors header, overlapping offsets', () => {
  const truncated = join(work, 'truncated.pt');
  const whole = readFileSync(join(FIX, 'openclip-gelu.bin'));
  writeFileSync(truncated, whole.subarray(0, Math.floor(whole.length * 0.6)));
  const cfg = join(FIX, 'openclip-gelu.json');
  let out = join(work, 'out-truncated');
  assertUserError(clipag(['model', 'import', truncated, '--config', cfg, '--out', out]), /truncated\.pt/, out);

  out = join(work, 'out-forbidden');
  const evil = fileURLToPath(new URL('../fixtures/torch-ckpt/forbidden_os_system.pt', import.meta.url));
  assertUserError(clipag(['model', 'import', evil, '--config', cfg, '--out', out]), /forbidden_os_system\.pt: refuses to unpickle forbidden global (os|posix)\.system/, out);

  const garbage = join(work, 'garbage.safetensors');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(5n);
  writeFileSync(garbage, Buffer.concat([len, Buffer.from('{"a":')]));
  out = join(work, 'out-garbage');
  assertUserError(clipag(['model', 'import', garbage, '--config', cfg, '--out', out]), /garbage\.safetensors: header is not JSON/, out);

  const overlap = join(work, 'overlap.safetensors');
  const header = Buffer.from(JSON.stringify({
    a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] },
  }));
  const hl = Buffer.alloc(8);
  hl.writeBigUInt64LE(BigInt(header.length));
  writeFileSync(overlap, Buffer.concat([hl, header, Buffer.alloc(12)]));
  out = join(work, 'out-overlap');
  assertUserError(clipag(['model', 'import', overlap, '--config', cfg, '--out', out]), /overlap\.safetensors: tensors a .* and b .* overlap/, out);
});

async function hfVariant(name: string, edit: (t: Record<string, Tensor>) => void): Promise<string> {
  const dir = join(work, name);
  mkdirSync(dir);
  for (const f of ['config.json', 'preprocessor_config.json']) copyFileSync(join(FIX, 'hf-gelu', f), join(dir, f));
  const st = await openSafetensors(join(FIX, 'hf-gelu', 'model.safetensors'));
  const tensors: Record<string, Tensor> = {};
  for (const n of st.names) tensors[n] = await st.readTensor(n);
  edit(tensors);
  await writeSafetensors(join(dir, 'model.safetensors'), tensors);
  return dir;
}

test('bad weights: missing tensor, extra tensor, shape mismatch with the config, unknown architecture', async () => {
  const missing = await hfVariant('hf-missing', (t) => { delete t['vision_model.post_layernorm.weight']; });
  let out = join(work, 'out-missing');
  assertUserError(clipag(['model', 'import', missing, '--out', out]), /model\.safetensors.*missing.*vision_model\.post_layernorm\.weight|model\.safetensors.*missing.*visual\.ln_post\.weight/, out);

  const extra = await hfVariant('hf-extra', (t) => { t['vision_model.head.weight'] = t['logit_scale']!; });
  out = join(work, 'out-extra');
  assertUserError(clipag(['model', 'import', extra, '--out', out]), /model\.safetensors.*vision_model\.head\.weight/, out);

  // The right tensors with one size wrong in the config: embed_dim 32 instead of the checkpoint's 24.
  const cfg = JSON.parse(readFileSync(join(FIX, 'openclip-gelu.json'), 'utf8')) as { embed_dim: number };
  cfg.embed_dim = 32;
  const wrongCfg = join(work, 'wrong-embed.json');
  writeFileSync(wrongCfg, JSON.stringify(cfg));
  out = join(work, 'out-shape');
  assertUserError(
    clipag(['model', 'import', join(FIX, 'openclip-gelu.bin'), '--config', wrongCfg, '--out', out]),
    /openclip-gelu\.bin: tensor (visual\.proj|text_projection) has shape \[32,24\], (the config|\S+) expects \[32,32\]/,
    out,
  );
  out = join(work, 'out-other-arch');
  assertUserError(
    clipag(['model', 'import', join(FIX, 'openclip-gelu.bin'), '--arch', 'ViT-B-32', '--out', out]),
    /openclip-gelu\.bin: \d+ tensors that ViT-B-32 needs are missing: .*another architecture/,
    out,
  );

  out = join(work, 'out-arch');
  assertUserError(clipag(['model', 'import', join(FIX, 'openclip-gelu.bin'), '--arch', 'ViT-B-31', '--out', out]), /unknown architecture "ViT-B-31"/, out);
});

test('bad images and options', () => {
  const notImage = join(work, 'notes.png');
  writeFileSync(notImage, 'these are not pixels');
  assertUserError(clipag(['embed', '--image', notImage, '--model', hfPack]), /notes\.png/);
  assertUserError(clipag(['embed', '--image', join(work, 'nope.png'), '--model', hfPack]), /nope\.png/);
  assertUserError(clipag(['embed', '--model', hfPack]), /give exactly one of --text or --image/);
  assertUserError(clipag(['embed', '--image', notImage, '--model', join(work, 'no-such-pack')]), /is not a model pack/);
  const out = join(work, 'out-dtype');
  assertUserError(clipag(['model', 'import', join(FIX, 'hf-gelu'), '--out', out, '--dtype', 'fp8']), /--dtype fp8: expected fp32 or fp16/, out);
  assertUserError(clipag(['model', 'import', join(FIX, 'hf-gelu'), '--out', hfPack]), /already exists and is not empty/);
});

test('model fetch downloads from a registry (a local server here), verifies, imports', async () => {
  const files: Record<string, Buffer> = {
    'open_clip_pytorch_model.bin': readFileSync(join(FIX, 'openclip-quickgelu-train.pt')),
    'open_clip_config.json': Buffer.from(JSON.stringify({
      model_cfg: JSON.parse(readFileSync(join(FIX, 'openclip-quickgelu.json'), 'utf8')) as unknown,
      preprocess_cfg: { mean: [0.48145466, 0.4578275, 0.40821073], std: [0.26862954, 0.26130258, 0.27577711] },
    })),
  };
  const requests: string[] = [];
  const server = createServer((req, res) => {
    requests.push(req.url ?? '');
    const body = files[(req.url ?? '').slice(1)];
    if (!body) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-length': body.length }).end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
    const registry = join(work, 'registry.json');
    writeFileSync(registry, JSON.stringify([{
      name: 'tiny-robust',
      description: 'fixture',
      checkpoint: 'open_clip_pytorch_model.bin',
      config: 'open_clip_config.json',
      files: Object.entries(files).map(([name, b]) => ({ name, url: `${base}/${name}`, size: b.length, sha256: sha(b) })),
    }]));
    const out = join(work, 'fetched');
    const r = await clipagAsync(['model', 'fetch', 'tiny-robust', '--out', out, '--registry', registry, '--cache', join(work, 'cache')]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, '');
    assert.deepEqual(requests.sort(), ['/open_clip_config.json', '/open_clip_pytorch_model.bin']);
    const e = clipag(['embed', '--image', join(FIX, 'square-32x32.png'), '--model', out, '--json']);
    assert.equal(e.status, 0, e.stderr);
    const got = (JSON.parse(e.stdout) as { embedding: number[] }).embedding;
    assert.ok(relErr(got, expected.checkpoints['openclip-quickgelu-train']!.png_embeddings[2]!) <= 1e-4);

    const bad = clipag(['model', 'fetch', 'tiny-robustt', '--out', join(work, 'x'), '--registry', registry]);
    assertUserError(bad, /unknown model "tiny-robustt"/, join(work, 'x'));
  } finally {
    server.close();
  }
});
