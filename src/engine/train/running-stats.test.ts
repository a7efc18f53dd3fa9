import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Tensor } from '../onnx/tensor.js';
import { batchMeanName, batchVarName } from './contrastive-graph.js';
import { batchStatOutputs, updateRunningStats } from './running-stats.js';

test('batchStatOutputs: one mean and one variance output per BatchNorm, none for other tensors', () => {
  assert.deepEqual(batchStatOutputs(['visual.bn1.weight', 'visual.bn1.running_mean', 'visual.bn1.running_var', 'visual.proj']),
    [batchMeanName('visual.bn1'), batchVarName('visual.bn1')]);
});

test('updateRunningStats: torch\'s momentum 0.1 toward the batch, only on running buffers', () => {
  const params = new Map([
    ['visual.bn1.running_mean', Float32Array.of(0, 1)],
    ['visual.bn1.running_var', Float32Array.of(1, 1)],
    ['visual.bn1.weight', Float32Array.of(5, 5)],
  ]);
  updateRunningStats(params, {
    [batchMeanName('visual.bn1')]: Tensor.float32([2], [2, -1]),
    [batchVarName('visual.bn1')]: Tensor.float32([2], [3, 0]),
  });
  const close = (a: Float32Array, b: number[]) => b.forEach((v, i) => assert.ok(Math.abs(a[i]! - v) < 1e-6, `${a[i]} vs ${v}`));
  close(params.get('visual.bn1.running_mean')!, [0.2, 0.8]);
  close(params.get('visual.bn1.running_var')!, [1.2, 0.9]);
  close(params.get('visual.bn1.weight')!, [5, 5]);
  assert.throws(() => updateRunningStats(params, {}), /no 2-value batch_mean\.visual\.bn1 for visual\.bn1\.running_mean/);
});
