import assert from 'node:assert/strict';
import { test } from 'node:test';
import { descend } from './trajectory.js';

test('descend moves each of the first pictures toward the loss minimum by lr per step, clamped to [0, 1]; the rest stay', async () => {
  const size = 4;
  // Loss ½‖x − target‖² per picture: its gradient is x − target.
  const target = Float32Array.of(0.9, 0.1, 0.6, 0.4, 0.9, 0.1, 0.6, 0.4, 0, 0, 0, 0);
  const start = new Float32Array(12).fill(0.5);
  const grad = async (x: Float32Array): Promise<Float32Array> => x.map((v, i) => v - target[i]!);
  const one = await descend(start, grad, { steps: 1, lr: 0.05, size, pictures: 2 });
  for (let p = 0; p < 2; p++) {
    const d = [...one.subarray(p * size, (p + 1) * size)].map((v, i) => v - 0.5);
    const rms = Math.sqrt(d.reduce((a, v) => a + v * v, 0) / size);
    assert.ok(Math.abs(rms - 0.05) < 1e-6, `picture ${p}: moved ${rms}`);
    d.forEach((v, i) => assert.equal(Math.sign(v), Math.sign(target[p * size + i]! - 0.5), 'toward the target'));
  }
  assert.deepEqual([...one.subarray(8)], [0.5, 0.5, 0.5, 0.5], 'pictures past `pictures` do not move');
  const far = await descend(start, async (x) => x.map(() => -1), { steps: 40, lr: 0.1, size, pictures: 3 });
  assert.ok(far.every((v) => v <= 1), 'clamped at 1');
  assert.deepEqual([...start], new Array(12).fill(0.5), 'the start is not changed');
  await assert.rejects(descend(start, grad, { steps: 1, lr: 0.1, size: 5, pictures: 1 }), /do not fit/);
});
