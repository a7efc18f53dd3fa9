import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tensor } from '../onnx/tensor.js';
import {
  openSafetensors, writeSafetensors, writeSafetensorsLazy, halfBitsToNumber, float32ToHalfBits, float32ToHalf, MAX_HEADER_BYTES,
} from './safetensors.js';
import { createHash } from 'node:crypto';

const dir = mkdtempSync(join(tmpdir(), 'safetensors-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Writes a file by hand: u64 header length (or `len` to lie), header text, data bytes. */
function rawFile(name: string, header: unknown, data: Uint8Array = new Uint8Array(0), len?: bigint): string {
  const text = typeof header === 'string' ? header : JSON.stringify(header);
  const json = Buffer.from(text, 'utf8');
  const n = Buffer.alloc(8);
  n.writeBigUInt64LE(len ?? BigInt(json.byteLength));
  const p = join(dir, name);
  writeFileSync(p, Buffer.concat([n, json, data]));
  return p;
}

test('round trip of several tensors with metadata', async () => {
  const p = join(dir, 'round.safetensors');
  const a = Tensor.float32([2, 3], [1, 2, 3, 4, 5, 6.5]);
  const ids = Tensor.int64([4], [0, -1, 2n ** 40n, 7]);
  const half = new Tensor('float16', [2], Uint16Array.from([0x3c00, 0xc000]));
  const i32 = new Tensor('int32', [1, 2], Int32Array.from([-5, 9]));
  const scalar = Tensor.float32([], [3.25]);
  const empty = Tensor.float32([0, 4], []);
  await writeSafetensors(p, { a, ids, half, i32, scalar, empty }, { format: 'pt', note: 'hi' });
  assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith('.tmp')), [], 'temp file renamed away');

  const bytes = readFileSync(p);
  assert.equal(Number(bytes.readBigUInt64LE(0)) % 8, 0, 'header padded to 8 bytes');

  const f = await openSafetensors(p);
  assert.deepEqual(f.names, ['a', 'ids', 'half', 'i32', 'scalar', 'empty']);
  assert.deepEqual(f.metadata, { format: 'pt', note: 'hi' });
  assert.equal(f.tensors.get('a')!.dtype, 'F32');
  assert.deepEqual(f.tensors.get('a')!.shape, [2, 3]);

  const ra = await f.readTensor('a');
  assert.equal(ra.dtype, 'float32');
  assert.deepEqual(ra.dims, [2, 3]);
  assert.deepEqual(Array.from(ra.data as Float32Array), [1, 2, 3, 4, 5, 6.5]);
  const rids = await f.readTensor('ids');
  assert.equal(rids.dtype, 'int64');
  assert.deepEqual(Array.from(rids.data as BigInt64Array), [0n, -1n, 2n ** 40n, 7n]);
  const rh = await f.readTensor('half');
  assert.equal(rh.dtype, 'float32');
  assert.deepEqual(Array.from(rh.data as Float32Array), [1, -2]);
  const rk = await f.readTensor('half', { keep: 'f16' });
  assert.equal(rk.dtype, 'float16');
  assert.deepEqual(Array.from(rk.data as Uint16Array), [0x3c00, 0xc000]);
  const ri = await f.readTensor('i32');
  assert.equal(ri.dtype, 'int32');
  assert.deepEqual(Array.from(ri.data as Int32Array), [-5, 9]);
  assert.deepEqual((await f.readTensor('scalar')).toNumbers(), [3.25]);
  const re = await f.readTensor('empty');
  assert.deepEqual(re.dims, [0, 4]);
  assert.equal(re.size, 0);

  await assert.rejects(f.readTensor('nope'), /round\.safetensors: no tensor named nope/);

  // Overwriting an existing file goes through the same temp + rename.
  await writeSafetensors(p, { a });
  const g = await openSafetensors(p);
  assert.deepEqual(g.names, ['a']);
  assert.deepEqual(g.metadata, {});
});

test('F16 bits convert to hand-computed values', async () => {
  // 0x3c00 = 1.0, 0xc000 = -2.0, 0x7bff = 65504 (largest normal), 0x0001 = 2^-24 (smallest subnormal),
  // 0x03ff = 1023 × 2^-24 (largest subnormal), 0x0400 = 2^-14 (smallest normal), 0x8000 = -0,
  // 0x7c00 = +inf, 0xfc00 = -inf, 0x7e00 = NaN, 0x3555 = 0.333251953125.
  const bits = [0x3c00, 0xc000, 0x7bff, 0x0001, 0x03ff, 0x0400, 0x8000, 0x7c00, 0xfc00, 0x7e00, 0x3555];
  const want = [1, -2, 65504, 2 ** -24, 1023 * 2 ** -24, 2 ** -14, -0, Infinity, -Infinity, NaN, 0.333251953125];
  for (let i = 0; i < bits.length; i++) assert.ok(Object.is(halfBitsToNumber(bits[i]!), want[i]), `0x${bits[i]!.toString(16)}`);

  const p = join(dir, 'f16.safetensors');
  await writeSafetensors(p, { h: new Tensor('float16', [bits.length], Uint16Array.from(bits)) });
  const t = await (await openSafetensors(p)).readTensor('h');
  assert.equal(t.dtype, 'float32');
  const got = Array.from(t.data as Float32Array);
  for (let i = 0; i < want.length; i++) assert.ok(Object.is(got[i], Math.fround(want[i]!)), `element ${i}: ${got[i]} vs ${want[i]}`);
});

test('BF16 bits convert to hand-computed values', async () => {
  // bfloat16 = top half of float32: 1.0 = 0x3F80, -2.5 = 0xC020, 0x7F80 = inf, 0xFF80 = -inf,
  // 0x7FC0 = NaN, 0x0001 = 2^-133 (float32 subnormal), 0x4049 = 3.140625.
  const bits = [0x3f80, 0xc020, 0x7f80, 0xff80, 0x7fc0, 0x0001, 0x4049];
  const want = [1, -2.5, Infinity, -Infinity, NaN, 2 ** -133, 3.140625];
  const p = join(dir, 'bf16.safetensors');
  await writeSafetensors(p, { b: new Tensor('bfloat16', [bits.length], Uint16Array.from(bits)) });
  const f = await openSafetensors(p);
  assert.equal(f.tensors.get('b')!.dtype, 'BF16');
  const got = Array.from((await f.readTensor('b')).data as Float32Array);
  for (let i = 0; i < want.length; i++) assert.ok(Object.is(got[i], want[i]), `element ${i}: ${got[i]} vs ${want[i]}`);
});

test('reading one tensor reads only its bytes', async () => {
  const p = join(dir, 'lazy.safetensors');
  const big = Tensor.float32([1000], new Float32Array(1000).fill(7));
  const small = Tensor.float32([3], [1, 2, 3]);
  await writeSafetensors(p, { big, small });
  const size = readFileSync(p).byteLength;
  const f = await openSafetensors(p);
  const headerEnd = size - 4000 - 12;
  assert.equal(f.bytesRead, headerEnd, 'open reads only the header');
  assert.deepEqual((await f.readTensor('small')).toNumbers(), [1, 2, 3]);
  assert.equal(f.bytesRead, headerEnd + 12, 'only the 12 bytes of small');

  // And honestly from the file's side: garbage in big's range does not disturb reading small.
  const bytes = readFileSync(p);
  bytes.fill(0xff, headerEnd, headerEnd + 4000);
  writeFileSync(p, bytes);
  assert.deepEqual((await (await openSafetensors(p)).readTensor('small')).toNumbers(), [1, 2, 3]);
});

test('every malformed input gets its own message naming the file', async () => {
  const f32 = (shape: number[], offs: unknown, dtype: unknown = 'F32'): unknown => ({ dtype, shape, data_offsets: offs });
  const cases: Array<[string, () => string, RegExp]> = [
    ['short', () => { const p = join(dir, 'short.safetensors'); writeFileSync(p, Buffer.alloc(5)); return p; },
      /^Error: short\.safetensors: file is 5 bytes, shorter than the 8-byte header length$/],
    ['toolong', () => rawFile('toolong.safetensors', '{}', undefined, 1000n),
      /toolong\.safetensors: header length 1000 is larger than the file \(10 bytes\)/],
    ['absurd', () => rawFile('absurd.safetensors', '{}', undefined, BigInt(MAX_HEADER_BYTES) + 1n),
      /absurd\.safetensors: header length 104857601 is absurd/],
    ['huge u64', () => rawFile('u64.safetensors', '{}', undefined, 2n ** 64n - 1n),
      /u64\.safetensors: header length 18446744073709551615 is absurd/],
    ['not json', () => rawFile('notjson.safetensors', '{"a": '), /notjson\.safetensors: header is not JSON/],
    ['not utf8', () => {
      const p = join(dir, 'utf8.safetensors');
      writeFileSync(p, Buffer.from([3, 0, 0, 0, 0, 0, 0, 0, 0x7b, 0xff, 0x7d]));
      return p;
    }, /^Error: utf8\.safetensors: header is not valid UTF-8$/],
    ['entry', () => rawFile('entry.safetensors', { w: 3 }), /entry\.safetensors: tensor w: entry is not an object/],
    ['not object', () => rawFile('array.safetensors', '[1,2]'), /array\.safetensors: header is not a JSON object/],
    ['metadata', () => rawFile('meta.safetensors', { __metadata__: { a: 1 } }), /meta\.safetensors: __metadata__\.a is not a string/],
    ['dtype', () => rawFile('dtype.safetensors', { w: f32([1], [0, 4], 'F8_E4M3') }),
      /dtype\.safetensors: tensor w: unknown dtype "F8_E4M3"/],
    ['shape negative', () => rawFile('shape.safetensors', { w: f32([2, -1], [0, 0]) }),
      /shape\.safetensors: tensor w: shape \[2,-1\] is not a list of non-negative integers/],
    ['shape fraction', () => rawFile('shape2.safetensors', { w: f32([1.5], [0, 0]) }),
      /shape2\.safetensors: tensor w: shape \[1\.5\] is not a list/],
    ['offsets count', () => rawFile('offs.safetensors', { w: f32([1], [0]) }),
      /offs\.safetensors: tensor w: data_offsets \[0\] are not two non-negative integers/],
    ['offsets order', () => rawFile('order.safetensors', { w: f32([1], [8, 4]) }),
      /order\.safetensors: tensor w: data_offsets \[8,4\] are not .* begin <= end/],
    ['byte length', () => rawFile('model.safetensors', { 'visual.proj': f32([2, 3], [0, 12]) }, new Uint8Array(24)),
      /^Error: model\.safetensors: tensor visual\.proj: data_offsets \[0, 12\] hold 12 bytes, shape \[2,3\] F32 needs 24$/],
    ['out of range', () => rawFile('range.safetensors', { w: f32([2], [4, 12]) }, new Uint8Array(8)),
      /range\.safetensors: tensor w: data_offsets \[4, 12\] run past the end of the data \(8 bytes\)/],
    ['overlap', () => rawFile('overlap.safetensors', { b: f32([2], [4, 12]), a: f32([2], [0, 8]) }, new Uint8Array(12)),
      /overlap\.safetensors: tensors a \[0, 8\] and b \[4, 12\] overlap/],
  ];
  for (const [what, make, re] of cases) {
    const p = make();
    await assert.rejects(openSafetensors(p), (err: Error) => {
      assert.match(String(err), re, what);
      return true;
    });
  }
  // Touching tensors and zero-length tensors are not overlaps.
  const ok = rawFile('ok.safetensors', { a: f32([2], [0, 8]), z: f32([0], [4, 4]), b: f32([1], [8, 12]) }, new Uint8Array(12));
  assert.deepEqual((await openSafetensors(ok)).names, ['a', 'z', 'b']);
});

test('writer refuses what it cannot write', async () => {
  const p = join(dir, 'bad-write.safetensors');
  await assert.rejects(writeSafetensors(p, { s: new Tensor('int16', [1], Int16Array.from([1])) }),
    /bad-write\.safetensors: tensor s: cannot write dtype int16/);
  assert.deepEqual(readdirSync(dir).filter((f) => f.includes('bad-write')), []);
});

test('float32 → half rounds to nearest even: every half value maps back to its own bits', () => {
  // An independent check: halfBitsToNumber decodes by formula; encoding each decoded value must give
  // the same bits (NaNs aside), and values halfway between two halves go to the even one.
  for (let h = 0; h < 0x10000; h++) {
    const exp = (h >> 10) & 0x1f;
    if (exp === 0x1f && (h & 0x3ff)) continue;
    assert.equal(float32ToHalfBits(halfBitsToNumber(h)), h, `half bits ${h.toString(16)}`);
  }
  assert.equal(float32ToHalfBits(1 + 2 ** -11), 0x3c00, '1 + half an ulp → even (1.0)');
  assert.equal(float32ToHalfBits(1 + 3 * 2 ** -11), 0x3c02, '1 + 1.5 ulp → even (1 + 2 ulp)');
  assert.equal(float32ToHalfBits(65519), 0x7bff, 'below the rounding edge stays max');
  assert.equal(float32ToHalfBits(65520), 0x7c00, 'rounds up to infinity');
  assert.equal(float32ToHalfBits(2 ** -25), 0, 'half the smallest subnormal → 0 (even)');
  assert.equal(float32ToHalfBits(2 ** -25 * 1.01), 1, 'just above → smallest subnormal');
  assert.equal(float32ToHalfBits(-0), 0x8000);
  assert.equal(float32ToHalfBits(NaN) & 0x7c00, 0x7c00);
  assert.deepEqual([...float32ToHalf(Float32Array.from([1, -2, 0.5]))], [0x3c00, 0xc000, 0x3800]);
});

test('lazy writer: header first, tensors produced one at a time in order, byte spans and hash reported', async () => {
  const p = join(dir, 'lazy.safetensors');
  const order: string[] = [];
  const make = (name: string, t: Tensor) => ({ name, dtype: t.dtype, shape: t.dims, data: () => { order.push(name); return t; } });
  const chunks: Uint8Array[] = [];
  const a = Tensor.float32([2], [1.5, -2]);
  const b = new Tensor('float16', [3], Uint16Array.from([1, 2, 3]));
  const w = await writeSafetensorsLazy(p, [make('a', a), make('b', b)], undefined, (c) => chunks.push(Uint8Array.from(c)));
  assert.deepEqual(order, ['a', 'b']);
  const bytes = readFileSync(p);
  assert.equal(w.bytes, bytes.byteLength);
  assert.deepEqual(Buffer.concat(chunks), bytes, 'onChunk saw exactly the file');
  const f = await openSafetensors(p);
  for (const [name, [begin, end]] of w.spans) {
    assert.equal(f.tensors.get(name)!.begin, begin);
    assert.equal(f.tensors.get(name)!.end, end);
  }
  assert.equal(createHash('sha256').update(bytes).digest('hex').length, 64);
  // WeightReader view of the same file.
  assert.deepEqual(f.list(), [{ name: 'a', dtype: 'float32', shape: [2] }, { name: 'b', dtype: 'float16', shape: [3] }]);
  assert.equal((await f.read('b', { keepF16: true })).dtype, 'float16');
  assert.equal((await f.read('b')).dtype, 'float32');
});

test('lazy writer: a tensor that is not what was declared fails and leaves no file', async () => {
  const p = join(dir, 'liar.safetensors');
  const t = Tensor.float32([2], [1, 2]);
  await assert.rejects(
    writeSafetensorsLazy(p, [{ name: 'x', dtype: 'float32', shape: [3], data: () => t }]),
    /tensor x was declared float32 \[3\] but is float32 \[2\]/,
  );
  assert.ok(!readdirSync(dir).some((f) => f.startsWith('liar') || f.includes('liar.safetensors')));
});
