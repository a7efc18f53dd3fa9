import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tensor } from '../onnx/tensor.js';
import { openTorchCheckpoint } from './torch-checkpoint.js';
import { PyCall, storageOf, tensorOf, TorchTensor, type PickleValue } from './testing/torch-zip-writer.js';
import { assertValues, checkpointWriter, expected, fixture, num, openError, scratchDir, tiny, withCheckpoint } from './testing/torch-checkpoint-checks.js';

const dir = scratchDir();
const written = checkpointWriter(dir);

// Bad input: each a single line naming the file.

const FORBIDDEN = '(only tensors, storages and plain containers are allowed)';

test('forbidden globals are refused, naming the global', async () => {
  assert.equal(await openError(fixture('forbidden_os_system.pt')), `forbidden_os_system.pt: refuses to unpickle forbidden global posix.system ${FORBIDDEN}`);
  assert.equal(await openError(fixture('forbidden_eval.pt')), `forbidden_eval.pt: refuses to unpickle forbidden global __builtin__.eval ${FORBIDDEN}`);
  assert.equal(await openError(fixture('forbidden_namespace.pt')), `forbidden_namespace.pt: refuses to unpickle forbidden global argparse.Namespace ${FORBIDDEN}`);
  for (const [module, name] of [['os', 'system'], ['builtins', 'exec'], ['subprocess', 'Popen'], ['torch', 'load'], ['torch._utils', '_rebuild_device_tensor_from_numpy']]) {
    // Hidden deep in the optimizer state, which is otherwise never looked at.
    const optimizer = new Map<string, PickleValue>([['state', new Map([[0, [new PyCall(module!, name!, ['true'])]]])]]);
    const path = await written(`evil-${name}.pt`, new Map<string, PickleValue>([['state_dict', new Map([['w', tiny()]])], ['optimizer', optimizer]]));
    assert.equal(await openError(path), `evil-${name}.pt: refuses to unpickle forbidden global ${module}.${name} ${FORBIDDEN}`);
  }
});

test('whitelisted names are stand-ins that cannot be called or constructed', async () => {
  // A storage type called as a function (REDUCE), as a hostile file might try.
  const called = await written('call-storage.pt', new Map<string, PickleValue>([['w', tiny()], ['x', new PyCall('torch', 'FloatStorage', [3])]]));
  assert.match(await openError(called), /^call-storage\.pt: call-storage\/data\.pkl is not a readable pickle \(.*\); the checkpoint is truncated or corrupt$/);
  // NEWOBJ on a whitelisted function: GLOBAL collections OrderedDict, empty tuple, NEWOBJ (0x81).
  const newobj = await written('newobj.pt', new Map([['w', tiny()]]), {
    editPickle: (p) => Buffer.concat([p.subarray(0, 2), Buffer.from('ccollections\nOrderedDict\n)\x810', 'latin1'), p.subarray(2)]),
  });
  assert.match(await openError(newobj), /^newobj\.pt: .* is not a readable pickle/);
});

test('bad files: one line naming the file and the problem', async () => {
  const cases: [string, string][] = [
    ['legacy.pt', 'legacy.pt: is in PyTorch\'s legacy (pre-1.6, non-zip) serialization format, which clipag does not read; load and re-save it with a current torch: torch.save(torch.load(src, map_location="cpu"), "converted.pt")'],
    ['torchscript.pt', 'torchscript.pt: is a TorchScript archive (torch.jit.save), not a state dict; in Python run torch.save(torch.jit.load(src, map_location="cpu").state_dict(), "state_dict.pt") and import that'],
    ['bare_pickle.pkl', 'bare_pickle.pkl: is a bare pickle, not a torch.save zip checkpoint; save the state dict with torch.save from torch 1.6 or later'],
    ['no_data_pkl.pt', 'no_data_pkl.pt: zip archive has no data.pkl, so it is not a torch.save checkpoint (entries: plain_state_dict/data/0, plain_state_dict/data/1, plain_state_dict/data/2, plain_state_dict/data/3, plain_state_dict/data/4, …)'],
    ['missing_storage.pt', 'missing_storage.pt: tensor text_projection refers to storage plain_state_dict/data/0, which the archive does not contain; the file is truncated or corrupt'],
    ['short_storage.pt', 'short_storage.pt: storage plain_state_dict/data/1 has 2 bytes but tensor logit_scale needs bytes 0..4; the file is truncated or corrupt'],
  ];
  for (const [name, message] of cases) assert.equal(await openError(fixture(name)), message);
  assert.match(await openError(fixture('truncated_pickle.pt')),
    /^truncated_pickle\.pt: plain_state_dict\/data\.pkl is not a readable pickle \(.*end of file.*\); the checkpoint is truncated or corrupt$/);

  writeFileSync(join(dir, 'notes.txt'), 'hello, not a checkpoint\n');
  assert.equal(await openError(join(dir, 'notes.txt')), 'notes.txt: is not a PyTorch checkpoint: not a zip archive (torch.save\'s format since 1.6) nor a legacy torch file');
  writeFileSync(join(dir, 'empty.pt'), '');
  assert.equal(await openError(join(dir, 'empty.pt')), 'empty.pt: is empty');
  assert.equal(await openError(join(dir, 'absent.pt')), 'absent.pt: no such file');
  assert.equal(await openError(await written('odd-order.pt', new Map([['w', tiny()]]), { records: { byteorder: 'middle' } })),
    'odd-order.pt: byteorder record says "middle", expected "little" or "big"');
  assert.match(await openError(await written('ts-like.pt', new Map([['w', tiny()]]), { records: { 'constants.pkl': '' } })), /^ts-like\.pt: is a TorchScript archive/);
});

test('a storage declared shorter than its tensor is refused', async () => {
  // Rewrites the storage numel in the persistent id: ('storage', FloatStorage, '0', 'cpu', 2) → 1.
  const path = await written('declared.pt', new Map([['w', tiny()]]), {
    editPickle: (p) => {
      const b = Buffer.from(p);
      const at = b.indexOf(Buffer.from('cpuK\x02', 'latin1'));
      b[at + 4] = 1;
      return b;
    },
  });
  assert.equal(await openError(path), 'declared.pt: tensor w reaches byte 8 of storage declared/data/0, which data.pkl declares as 4 bytes; the file is corrupt');
});

test('a zip cut short anywhere fails with one clear line, never a crash or hang', { timeout: 20_000 }, async () => {
  const whole = readFileSync(fixture('training_checkpoint.pt'));
  const cuts = [1, 4, 30, 200, Math.floor(whole.length / 3), Math.floor(whole.length / 2), whole.length - 200, whole.length - 40, whole.length - 22, whole.length - 1];
  for (const cut of cuts) {
    const name = `cut-${cut}.pt`;
    writeFileSync(join(dir, name), whole.subarray(0, cut));
    const message = await openError(join(dir, name));
    assert.match(message, new RegExp(`^${name.replace('.', '\\.')}: (is not a readable zip archive|is a corrupt zip archive|is not a PyTorch checkpoint)`), message);
  }
});

test('corrupt zip structures: central directory at open, local header at read', { timeout: 20_000 }, async () => {
  const whole = readFileSync(fixture('plain_state_dict.pt'));
  const central = Buffer.from(whole);
  central[central.indexOf(Buffer.from('PK\x01\x02', 'latin1')) + 2] = 0x09;
  writeFileSync(join(dir, 'bad-central.pt'), central);
  assert.match(await openError(join(dir, 'bad-central.pt')), /^bad-central\.pt: is a corrupt zip archive \(.*\); the file is truncated or damaged, download it again$/);

  const local = Buffer.from(whole);
  const name = local.indexOf(Buffer.from('plain_state_dict/data/0'));
  local[local.lastIndexOf(Buffer.from('PK\x03\x04', 'latin1'), name) + 3] = 0x09;
  writeFileSync(join(dir, 'bad-local.pt'), local);
  await withCheckpoint(join(dir, 'bad-local.pt'), async (c) => {
    await assert.rejects(c.read('text_projection'), (e: Error) => {
      assert.match(e.message, /^bad-local\.pt: tensor text_projection: zip entry plain_state_dict\/data\/0 cannot be read \(.*\); the file is truncated or corrupt$/);
      return true;
    });
    assertValues(await c.read('logit_scale'), expected.files['plain_state_dict.pt']!.tensors[1]!.values.map(num), 'other tensors still read');
  });
});

test('reading an unknown name, or after close, says so', async () => {
  const c = await openTorchCheckpoint(fixture('plain_state_dict.pt'));
  await assert.rejects(c.read('visual.proj'), { message: 'plain_state_dict.pt: no tensor named visual.proj (it has 8: text_projection, logit_scale, position_ids, counts, attn_mask, …)' });
  await c.close();
  await assert.rejects(c.read('logit_scale'), { message: 'plain_state_dict.pt: cannot read tensor logit_scale, the checkpoint is closed' });
});

test('element types we cannot read fail only when the state dict holds them', async () => {
  const asComplex = (from: string) => (p: Uint8Array): Uint8Array =>
    Buffer.from(Buffer.from(p).toString('latin1').replaceAll(`torch\n${from}\n`, 'torch\nComplexFloatStorage\n'), 'latin1');
  const obj = new Map<string, PickleValue>([
    ['state_dict', new Map([['w', tiny()]])],
    ['optimizer', new Map([['q', tensorOf(new Tensor('int16', [4], new Int16Array(4)))]])],
  ]);
  await withCheckpoint(await written('complex-opt.pt', obj, { editPickle: asComplex('ShortStorage') }), async (c) => {
    assertValues(await c.read('w'), [1, 2], 'w');
  });
  assert.equal(await openError(await written('complex-sd.pt', obj, { editPickle: asComplex('FloatStorage') })),
    'complex-sd.pt: tensor w has element type complex64, which clipag cannot read');
});

test('an expanded view claiming too many elements is refused before anything is allocated', async () => {
  const huge = new TorchTensor(storageOf(Tensor.float32([1], [1])), 0, [2 ** 16, 2 ** 16], [0, 0]);
  assert.equal(await openError(await written('huge.pt', new Map([['w', huge]]))),
    `huge.pt: tensor w has ${2 ** 32} elements, more than the ${2 ** 31} clipag reads in one tensor`);
});
