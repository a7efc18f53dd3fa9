import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Tensor } from '../onnx/tensor.js';
import {
  centerCrop,
  cropPlacement,
  pixelsToRgb,
  preprocessImage,
  readImage,
  resizeBicubic,
  resizeNearest,
  resizeShortSide,
  shortSideSize,
  toPixels,
  writePng,
  type RgbImage,
} from './image.js';

// Made by tools/torch/make_image_fixtures.py with PIL 9.4 (and torch 1.13 for ToTensor+Normalize).
const FIX = fileURLToPath(new URL('../../../test/fixtures/images/', import.meta.url));
const fixture = <T>(name: string): T => JSON.parse(readFileSync(join(FIX, name), 'utf8')) as T;

const OPENAI_MEAN = [0.48145466, 0.4578275, 0.40821073] as const;
const OPENAI_STD = [0.26862954, 0.26130258, 0.27577711] as const;

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

// ---------------------------------------------------------------------------------------------
// The fixture script's pattern, restated (integer arithmetic, so both sides build the same bytes;
// each case's inputSha256 proves it).

function h32(x: number, y: number, c: number, seed: number): number {
  let h = (x * 0x9e3779b1 + y * 0x85ebca77 + c * 0xc2b2ae3d + seed * 0x27d4eb2f) >>> 0;
  h = (h ^ (h >>> 15)) >>> 0;
  h = Math.imul(h, 0x2c1b3c6d) >>> 0;
  h = (h ^ (h >>> 12)) >>> 0;
  h = Math.imul(h, 0x297a2d39) >>> 0;
  return (h ^ (h >>> 15)) >>> 0;
}

function patternValue(x: number, y: number, c: number, w: number, h: number, seed: number): number {
  if (c === 3) {
    if ((x + y) % 5 === 0) return 0;
    if (y < Math.floor(h / 4)) return 255;
    return h32(x, y, c, seed) & 255;
  }
  const n = h32(x, y, c, seed);
  if (x < Math.floor(w / 3)) return n & 255;
  if (y > Math.floor(h / 2) && (Math.floor(x / 5) + Math.floor(y / 7)) % 4 === 0) return c % 2 ? 255 : 0;
  const g = c === 0 ? Math.floor((x * 255) / Math.max(1, w - 1))
    : c === 1 ? Math.floor((y * 255) / Math.max(1, h - 1))
    : Math.floor(((x + y) * 255) / Math.max(1, w + h - 2));
  return Math.min(255, Math.max(0, g + (n % 41) - 20));
}

function pattern(w: number, h: number, seed: number): RgbImage {
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let c = 0; c < 3; c++) data[(y * w + x) * 3 + c] = patternValue(x, y, c, w, h, seed);
  return { width: w, height: h, data };
}

interface Stored { sha256: string; b64?: string }

/** Equality with a PIL reference; on failure, how far off (when the reference is stored whole). */
function assertBytes(actual: Uint8Array, ref: Stored, what: string): void {
  if (sha256(actual) === ref.sha256) return;
  let detail = 'reference stored as a hash only';
  if (ref.b64) {
    const exp = Buffer.from(ref.b64, 'base64');
    let diff = 0;
    let max = 0;
    for (let i = 0; i < exp.length; i++) {
      const d = Math.abs((actual[i] ?? -999) - exp[i]!);
      if (d) diff++;
      max = Math.max(max, d);
    }
    detail = `${diff} of ${exp.length} bytes differ (max ${max}), length ${actual.length} vs ${exp.length}`;
  }
  assert.fail(`${what}: differs from PIL (${detail})`);
}

// ---------------------------------------------------------------------------------------------

describe('PIL-exact resampling', () => {
  interface ResizeCase extends Stored { op: 'bicubic' | 'nearest' | 'clip224'; seed: number; in: [number, number]; out: [number, number]; inputSha256: string }
  const { cases } = fixture<{ cases: ResizeCase[] }>('resize.json');

  for (const c of cases) {
    test(`${c.op} ${c.in.join('x')} -> ${c.out.join('x')} equals PIL byte for byte`, () => {
      const src = pattern(c.in[0], c.in[1], c.seed);
      assert.equal(sha256(src.data), c.inputSha256, 'the restated pattern must build the fixture script\'s input');
      const out = c.op === 'bicubic' ? resizeBicubic(src, c.out[0], c.out[1])
        : c.op === 'nearest' ? resizeNearest(src, c.out[0], c.out[1])
        : centerCrop(resizeShortSide(src, 224), 224);
      assert.deepEqual([out.width, out.height], c.out);
      assertBytes(out.data, c, `${c.op} ${c.in.join('x')} -> ${c.out.join('x')}`);
    });
  }

  test('the cases cover strong down-, up- and one-axis scaling', () => {
    const has = (a: number[], b: number[]) => cases.some((c) => c.op === 'bicubic' && c.in.join() === a.join() && c.out.join() === b.join());
    assert.ok(has([97, 61], [17, 23]) && has([40, 40], [224, 224]) && has([300, 200], [336, 224]));
    assert.ok(has([33, 20], [33, 47]) && has([20, 33], [47, 33]));
  });

  test('same-size resize copies; sizes are validated', () => {
    const img = pattern(6, 4, 1);
    const same = resizeBicubic(img, 6, 4);
    assert.notEqual(same.data, img.data);
    assert.deepEqual(same.data, img.data);
    assert.throws(() => resizeBicubic(img, 0, 4), /width must be a positive integer/);
    assert.throws(() => resizeBicubic(img, 3, 2.5), /height must be a positive integer/);
    assert.throws(() => resizeBicubic({ width: 6, height: 4, data: new Uint8Array(5) }, 3, 2), /needs 72 bytes/);
  });
});

describe('torchvision geometry', () => {
  const crop = fixture<{ placements: number[][]; sizes: number[][] }>('crop.json');

  test('Resize(int) output size matches the rule computed in Python', () => {
    for (const [w, h, s, nw, nh] of crop.sizes) assert.deepEqual(shortSideSize(w!, h!, s!), { width: nw, height: nh }, `${w}x${h} S=${s}`);
  });

  test('CenterCrop placement (padding and half-to-even offsets) matches torchvision for every w,h<=10, S<=8', () => {
    for (const [w, h, s, padLeft, padTop, padRight, padBottom, top, left] of crop.placements) {
      assert.deepEqual(cropPlacement(w!, h!, s!), { padLeft, padTop, padRight, padBottom, top, left }, `${w}x${h} S=${s}`);
    }
    // The banker's-rounding cases are in the table: a difference of 1 gives offset 0, of 5 gives 2.
    const at = (w: number, h: number, s: number) => crop.placements.find((p) => p[0] === w && p[1] === h && p[2] === s)!;
    assert.equal(at(8, 7, 7)[8], 0);
    assert.equal(at(7, 8, 3)[7], 2);
    assert.equal(at(10, 3, 3)[8], 4); // 3.5 -> 4
  });

  test('centerCrop cuts and zero-pads at the placement the table gives', () => {
    for (const [w, h, s, padLeft, padTop, , , top, left] of crop.placements) {
      const img = pattern(w!, h!, w! * 100 + h!);
      const out = centerCrop(img, s!);
      assert.deepEqual([out.width, out.height], [s, s]);
      for (let y = 0; y < s!; y++) {
        for (let x = 0; x < s!; x++) {
          // Independent restatement: pad the image into a canvas, then index the canvas.
          const sx = x + left! - padLeft!;
          const sy = y + top! - padTop!;
          const inside = sx >= 0 && sy >= 0 && sx < w! && sy < h!;
          for (let c = 0; c < 3; c++) {
            const exp = inside ? img.data[(sy * w! + sx) * 3 + c] : 0;
            if (out.data[(y * s! + x) * 3 + c] !== exp) assert.fail(`${w}x${h} S=${s}: pixel ${x},${y} channel ${c}`);
          }
        }
      }
    }
  });

  test('an image already at the size is used as is (no resampling, no copy)', () => {
    const img = pattern(24, 24, 3);
    assert.equal(resizeShortSide(img, 24), img);
    assert.equal(centerCrop(img, 24), img);
    const tall = pattern(24, 40, 4);
    assert.equal(resizeShortSide(tall, 24), tall, 'short side already S: torchvision returns the image untouched');
  });
});

describe('preprocessImage against PIL + open_clip', () => {
  interface PreCase { file: string; mode: string; size: [number, number]; S: number; rule: string; rgb: Stored; decoded: Stored; tensor?: Stored }
  const ref = fixture<{ mean: number[]; std: number[]; cases: PreCase[] }>('preprocess.json');

  /** ToTensor + Normalize written as the plain formula in double, for cases stored as uint8 crops. */
  function naiveTensor(rgb: Uint8Array, s: number): Float64Array {
    const out = new Float64Array(3 * s * s);
    for (let c = 0; c < 3; c++) for (let i = 0; i < s * s; i++) out[c * s * s + i] = (rgb[i * 3 + c]! / 255 - ref.mean[c]!) / ref.std[c]!;
    return out;
  }

  for (const c of ref.cases) {
    test(`${c.file} (PIL mode ${c.mode}, ${c.size.join('x')}) at S=${c.S}${c.rule === 'pil' ? '' : ` [rule: ${c.rule}]`}`, async () => {
      const path = join(FIX, c.file);
      const decoded = await readImage(path);
      assert.deepEqual([decoded.width, decoded.height], c.size, 'decoded size (EXIF orientation is not applied)');
      assertBytes(decoded.data, c.decoded, `${c.file} decoded`);

      const t = await preprocessImage(path, { imageSize: c.S, mean: ref.mean, std: ref.std });
      assert.equal(t.dtype, 'float32');
      assert.deepEqual(t.dims, [1, 3, c.S, c.S]);
      const got = t.data as Float32Array;
      if (c.tensor?.b64) {
        const exp = new Float32Array(new Uint8Array(Buffer.from(c.tensor.b64, 'base64')).buffer);
        let max = 0;
        for (let i = 0; i < exp.length; i++) max = Math.max(max, Math.abs(got[i]! - exp[i]!));
        assert.ok(max <= 1e-6, `max |ours - torch| = ${max}`);
      } else if (c.tensor) {
        assert.equal(sha256(t.bytes()), c.tensor.sha256, 'float32 tensor differs from torch\'s');
      }
      if (c.rgb.b64) {
        const exp = naiveTensor(Buffer.from(c.rgb.b64, 'base64'), c.S);
        let max = 0;
        for (let i = 0; i < exp.length; i++) max = Math.max(max, Math.abs(got[i]! - exp[i]!));
        assert.ok(max <= 1e-6, `max |ours - PIL's crop normalised| = ${max}`);
      }
    });
  }

  test('the cases cover PNG in modes RGB, RGBA, LA, L, P, 1 and 16-bit, JPEG RGB and grey, GIF, WebP', () => {
    const seen = new Set(ref.cases.map((c) => `${c.file.split('.').pop()}:${c.mode}`));
    const want = ['png:RGB', 'png:RGBA', 'png:LA', 'png:L', 'png:P', 'png:1', 'png:I', 'jpg:RGB', 'jpg:L', 'gif:P', 'webp:RGBA'];
    for (const k of want) assert.ok(seen.has(k), k);
  });

  test('an embedded ICC profile is ignored: icc.png decodes to the raw samples', async () => {
    assert.deepEqual((await readImage(join(FIX, 'icc.png'))).data, pattern(36, 40, 15).data);
  });

  test('an S×S RGBA file is not resampled: its tensor is the RGB samples normalised', async () => {
    const path = join(FIX, 'square.png');
    const img = await readImage(path);
    const t = await preprocessImage(path, { imageSize: 24, mean: OPENAI_MEAN, std: OPENAI_STD });
    assert.deepEqual(t.data, toPixels([img], OPENAI_MEAN, OPENAI_STD).data);
  });
});

describe('toPixels', () => {
  test('normalises like a naive float32 loop, batch-first CHW', () => {
    const a = pattern(5, 3, 7);
    const b = pattern(5, 3, 8);
    const mean = [0.5, 0.25, 0.125];
    const std = [0.3, 0.2, 0.7];
    const t = toPixels([a, b], mean, std);
    assert.equal(t.dtype, 'float32');
    assert.deepEqual(t.dims, [2, 3, 3, 5]);
    const got = t.data as Float32Array;
    [a, b].forEach((img, n) => {
      for (let c = 0; c < 3; c++) {
        for (let y = 0; y < 3; y++) {
          for (let x = 0; x < 5; x++) {
            const v = img.data[(y * 5 + x) * 3 + c]!;
            const f32 = Math.fround(Math.fround(Math.fround(v / 255) - Math.fround(mean[c]!)) / Math.fround(std[c]!));
            const g = got[((n * 3 + c) * 3 + y) * 5 + x]!;
            assert.equal(g, f32, `n${n} c${c} y${y} x${x}`);
            assert.ok(Math.abs(g - (v / 255 - mean[c]!) / std[c]!) < 1e-6);
          }
        }
      }
    });
  });

  test('refuses mixed sizes, bad statistics and an empty batch', () => {
    assert.throws(() => toPixels([pattern(2, 2, 1), pattern(3, 2, 1)], OPENAI_MEAN, OPENAI_STD), /image 1 is 3x2, image 0 is 2x2/);
    assert.throws(() => toPixels([pattern(2, 2, 1)], [0.5, 0.5], OPENAI_STD), /mean must be 3 finite numbers/);
    assert.throws(() => toPixels([pattern(2, 2, 1)], OPENAI_MEAN, [1, 0, 1]), /std must not contain 0/);
    assert.throws(() => toPixels([], OPENAI_MEAN, OPENAI_STD), /at least one image/);
  });
});

describe('writePng and readImage', () => {
  let dir = '';
  before(async () => { dir = await mkdtemp(join(tmpdir(), 'clipag-image-')); });
  after(async () => { await rm(dir, { recursive: true, force: true }); });

  /** Values that probe clamping and the rounding rule: out of range, exact steps, half steps. */
  function probe(h: number, w: number): Float32Array {
    const v = new Float32Array(3 * h * w);
    const specials = [-0.5, 0, 1, 1.7, 0.5, 1 / 255, 254.5 / 255, 0.5 / 255, 0.49 / 255, 100.5 / 255, 200 / 255, -Infinity, Infinity];
    for (let i = 0; i < v.length; i++) v[i] = i < specials.length ? specials[i]! : ((i * 7919) % 1000) / 999;
    return v;
  }

  /** The quantisation rule restated: clamp to [0,1], then floor(x·255 + 0.5) in float32. */
  const quant = (x: number): number => {
    const c = Math.min(1, Math.max(0, x));
    return Math.floor(Math.fround(Math.fround(Math.fround(c) * 255) + 0.5));
  };

  test('[1,3,H,W] and [3,H,W] round-trip through a PNG to the rounded 8-bit values', async () => {
    const [h, w] = [5, 7];
    const v = probe(h, w);
    for (const dims of [[1, 3, h, w], [3, h, w]]) {
      const path = join(dir, `out${dims.length}.png`);
      await writePng(new Tensor('float32', dims, v), path);
      const img = await readImage(path);
      assert.deepEqual([img.width, img.height], [w, h]);
      for (let c = 0; c < 3; c++) {
        for (let i = 0; i < h * w; i++) assert.equal(img.data[i * 3 + c], quant(v[c * h * w + i]!), `channel ${c} pixel ${i}`);
      }
    }
    assert.deepEqual((await readdir(dir)).sort(), ['out3.png', 'out4.png'], 'no temporary files are left');
  });

  test('pixelsToRgb rounds half up, clamps, and is what writePng writes', () => {
    const t = Tensor.float32([3, 1, 4], [0.5, 127.5 / 255, 2, -1, 0, 0, 0, 0, 1, 1, 1, 1]);
    const img = pixelsToRgb(t);
    assert.deepEqual(Array.from(img.data.subarray(0, 12)), [128, 0, 255, 128, 0, 255, 255, 0, 255, 0, 0, 255]);
    assert.deepEqual(pixelsToRgb(Tensor.float64([3, 1, 1], [0.25, 0.75, 1])).data, Uint8Array.from([64, 191, 255]));
  });

  test('bad pixel tensors are refused with one line naming the file, and nothing is written', async () => {
    const path = join(dir, 'bad.png');
    const nan = new Float32Array(12).fill(0.5);
    nan[3] = NaN;
    await assert.rejects(writePng(new Tensor('float32', [3, 2, 2], nan), path), (e: Error) => {
      assert.equal(e.message, `${path}: cannot write the image: pixels contain 1 NaN value(s) of 12`);
      return true;
    });
    await assert.rejects(writePng(Tensor.float32([2, 2, 2], new Float32Array(8)), path), /\[3,H,W\] or \[1,3,H,W\], got \[2,2,2\]/);
    await assert.rejects(writePng(new Tensor('int32', [3, 1, 1], new Int32Array(3)), path), /float32 or float64, got int32/);
    const missing = join(dir, 'no-such-dir', 'x.png');
    await assert.rejects(writePng(Tensor.float32([3, 1, 1], [0, 0, 0]), missing), (e: Error) => {
      assert.equal(e.message, `${missing}: cannot write the PNG (its directory does not exist)`);
      return true;
    });
    assert.ok(!(await readdir(dir)).includes('bad.png'));
  });

  test('unreadable inputs fail with one line naming the file', async () => {
    const cases: Array<[string, Uint8Array | null, RegExp]> = [
      ['missing.png', null, /: no such file$/],
      ['text.png', Buffer.from('this is not a picture\n'), /: not an image \(clipag reads PNG, JPEG/],
      ['truncated.png', readFileSync(join(FIX, 'rgb.png')).subarray(0, 3000), /: cannot decode the image, the file is corrupt or truncated \(/],
      ['truncated.jpg', readFileSync(join(FIX, 'rgb.jpg')).subarray(0, 2000), /: cannot decode the image, the file is corrupt or truncated \(/],
      ['empty.jpg', new Uint8Array(0), /: the file is empty, not an image$/],
      ['drawing.svg', Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"><rect width="4" height="4"/></svg>'), /: not an image \(clipag reads/],
    ];
    for (const [name, bytes, re] of cases) {
      const path = join(dir, name);
      if (bytes) await writeFile(path, bytes);
      for (const run of [() => readImage(path), () => preprocessImage(path, { imageSize: 8, mean: OPENAI_MEAN, std: OPENAI_STD })]) {
        await assert.rejects(run(), (e: Error) => {
          assert.ok(e.message.startsWith(`${path}: `), e.message);
          assert.match(e.message, re);
          assert.ok(!e.message.includes('\n'), 'one line');
          return true;
        });
      }
    }
    const sub = join(dir, 'folder.png');
    await mkdir(sub);
    await assert.rejects(readImage(sub), { message: `${sub}: is a directory, not an image file` });
  });
});
