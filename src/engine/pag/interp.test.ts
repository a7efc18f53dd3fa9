import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { bilinearMatrix, resampleTaps } from './interp.js';

// Made by tools/torch/make_view_fixtures.py: torch's F.interpolate(bilinear, align_corners=False) matrices.
interface MatrixCase { in: number; out: number; antialias: boolean; rows: string; cols: string; weights: string }
const fixtures = JSON.parse(readFileSync(new URL('../../../test/fixtures/pag/views.json', import.meta.url), 'utf8')) as {
  matrices: MatrixCase[];
};

const int32 = (b64: string): Int32Array => {
  const buf = Buffer.from(b64, 'base64');
  return new Int32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
};
const float32 = (b64: string): Float32Array => {
  const buf = Buffer.from(b64, 'base64');
  return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
};

describe('resampling matrices', () => {
  for (const m of fixtures.matrices) {
    it(`${m.in} → ${m.out}${m.antialias ? ' antialiased' : ''} equals torch's F.interpolate to 1e-7`, () => {
      const expected = new Float32Array(m.out * m.in);
      const rows = int32(m.rows);
      const cols = int32(m.cols);
      const weights = float32(m.weights);
      rows.forEach((r, k) => { expected[r * m.in + cols[k]!] = weights[k]!; });
      const got = bilinearMatrix(m.in, m.out, { antialias: m.antialias });
      assert.equal(got.length, expected.length);
      for (let k = 0; k < got.length; k++) {
        const diff = Math.abs(got[k]! - expected[k]!);
        assert.ok(diff <= 1e-7, `entry [${Math.floor(k / m.in)}, ${k % m.in}]: ${got[k]} vs torch ${expected[k]}`);
      }
    });
  }

  it('every row sums to 1 (a resample preserves a constant image)', () => {
    for (const [a, b, aa] of [[224, 179, false], [179, 224, false], [448, 224, true], [5, 2, true], [1, 9, true]] as const) {
      const t = resampleTaps(a, b, { antialias: aa });
      for (let i = 0; i < b; i++) {
        let s = 0;
        for (let k = t.start[i]!; k < t.start[i + 1]!; k++) s += t.weight[k]!;
        assert.ok(Math.abs(s - 1) < 1e-6, `${a} → ${b} row ${i} sums to ${s}`);
      }
    }
  });

  it('antialiasing is a no-op when enlarging and widens the filter when shrinking', () => {
    const aa = bilinearMatrix(50, 90, { antialias: true });
    const plain = bilinearMatrix(50, 90);
    // Equal up to float32 rounding (torch rounds the two paths differently).
    aa.forEach((v, k) => assert.ok(Math.abs(v - plain[k]!) < 1e-5, `entry ${k}: ${v} vs ${plain[k]}`));
    const narrow = resampleTaps(448, 224);
    const wide = resampleTaps(448, 224, { antialias: true });
    // At ratio 2 plain bilinear reads 2 pixels per output; the triangle widened ×2 reads 4.
    assert.equal(narrow.start[101]! - narrow.start[100]!, 2);
    assert.equal(wide.start[101]! - wide.start[100]!, 4);
  });

  it('rejects sizes that are not positive integers', () => {
    assert.throws(() => resampleTaps(0, 4), /input size must be a positive integer, got 0/);
    assert.throws(() => resampleTaps(4, 2.5), /output size must be a positive integer, got 2.5/);
  });
});
