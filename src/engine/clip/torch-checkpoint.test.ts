import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PyCall, PyOrderedDict, PyTuple, type PickleValue } from './testing/torch-zip-writer.js';
import { assertValues, checkpointWriter, expected, fixture, num, OUT, openError, scratchDir, tiny, withCheckpoint } from './testing/torch-checkpoint-checks.js';

const dir = scratchDir();
const written = checkpointWriter(dir);

// ---------------------------------------------------------------------------------------------
// Files torch 1.13 wrote (tools/torch/make_checkpoint_fixtures.py), compared element by element.

for (const [file, want] of Object.entries(expected.files)) {
  test(`${file}: every tensor equals what torch saved`, async () => {
    await withCheckpoint(fixture(file), async (c) => {
      assert.equal(c.bytesRead, 0, 'opening reads no tensor bytes');
      assert.deepEqual(c.list(), want.tensors.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape })));
      assert.deepEqual(c.skipped, want.skipped);
      assert.equal(c.strippedPrefix, want.stripped_prefix);
      for (const t of want.tensors) {
        const before: number = c.bytesRead;
        const got = await c.read(t.name);
        assert.equal(c.bytesRead - before, t.span_bytes, `${t.name}: reads exactly the bytes its view covers`);
        assert.equal(got.dtype, OUT[t.dtype] ?? t.dtype, `${t.name}: dtype`);
        assert.deepEqual(got.dims, t.shape, `${t.name}: shape`);
        assertValues(got, t.values.map(num), t.name);
        if (t.f16_bits) {
          const raw = await c.read(t.name, { keepF16: true });
          assert.equal(raw.dtype, 'float16');
          assert.deepEqual(Array.from(raw.data as Uint16Array), t.f16_bits, `${t.name}: raw float16 bits`);
        }
      }
    });
  });
}

test('a training checkpoint: the state dict is read, the optimizer state never is', async () => {
  const want = expected.files['training_checkpoint.pt']!;
  assert.ok(want.optimizer_bytes! > want.state_dict_span_bytes, 'fixture has more optimizer bytes than weights');
  await withCheckpoint(fixture('training_checkpoint.pt'), async (c) => {
    assert.deepEqual(c.skipped, ['epoch', 'name', 'optimizer', 'scaler']);
    assert.equal(c.strippedPrefix, 'module.');
    assert.ok(c.list().every((t) => !t.name.startsWith('module.')));
    await Promise.all(c.list().map((t) => c.read(t.name)));
    assert.equal(c.bytesRead, want.state_dict_span_bytes);
    assert.ok(c.bytesRead <= want.storage_bytes - want.optimizer_bytes!, 'no optimizer byte was read');
  });
});

test('views of one storage are read independently and concurrently', async () => {
  const want = expected.files['views.pt']!;
  await withCheckpoint(fixture('views.pt'), async (c) => {
    const all = await Promise.all(want.tensors.map((t) => c.read(t.name)));
    want.tensors.forEach((t, i) => assertValues(all[i]!, t.values.map(num), t.name));
  });
});

// ---------------------------------------------------------------------------------------------
// State dict selection and names.

test('prefixes shared by every name are stripped, others are not', async () => {
  const cases: [string[], string, string[]][] = [
    [['_orig_mod.visual.proj', '_orig_mod.logit_scale'], '_orig_mod.', ['visual.proj', 'logit_scale']],
    [['module._orig_mod.a', 'module._orig_mod.b'], 'module._orig_mod.', ['a', 'b']],
    [['module.a', 'b'], '', ['module.a', 'b']],
    [['module.a'], 'module.', ['a']],
    [['modules.a', 'modules.b'], '', ['modules.a', 'modules.b']],
  ];
  for (const [i, [keys, prefix, names]] of cases.entries()) {
    const path = await written(`prefix-${i}.pt`, new PyOrderedDict(new Map(keys.map((k) => [k, tiny()]))));
    await withCheckpoint(path, async (c) => {
      assert.equal(c.strippedPrefix, prefix, keys.join(' '));
      assert.deepEqual(c.list().map((t) => t.name), names);
      assertValues(await c.read(names[0]!), [1, 2], names[0]!);
    });
  }
});

test('non-tensor values in the state dict are skipped and listed', async () => {
  const sd = new PyOrderedDict(new Map<string, PickleValue>([['module.w', tiny()], ['module.n_averaged', 3], ['module.extra', null]]));
  await withCheckpoint(await written('mixed.pt', new Map<string, PickleValue>([['state_dict', sd], ['epoch', 1]])), async (c) => {
    assert.deepEqual(c.list().map((t) => t.name), ['w']);
    assert.deepEqual(c.skipped, ['epoch', 'state_dict.module.n_averaged', 'state_dict.module.extra']);
  });
  await withCheckpoint(await written('mixed-top.pt', new Map<string, PickleValue>([['w', tiny()], ['step', 3]])), async (c) => {
    assert.deepEqual(c.skipped, ['step']);
  });
});

test('no state dict: one line listing the top-level keys', async () => {
  const model = new Map<string, PickleValue>([['w', tiny()]]);
  assert.equal(await openError(await written('nostate.pt', new Map<string, PickleValue>([['epoch', 1], ['model', model]]))),
    'nostate.pt: has no state dict: its top-level keys are epoch, model (expected a dict of tensors or a "state_dict" entry)');
  assert.equal(await openError(await written('list.pt', [tiny()])), 'list.pt: holds a list or tuple, not a state dict (a dict of tensors)');
  assert.equal(await openError(await written('empty-sd.pt', new Map([['state_dict', new Map()]]))), 'empty-sd.pt: its state_dict holds no tensors');
});

test('parameters rebuilt with state, and plain containers, are accepted', async () => {
  const withState = new PyCall('torch._utils', '_rebuild_parameter_with_state', [tiny(), true, new PyOrderedDict(new Map()), new Map([['note', 'x']])]);
  const path = await written('with-state.pt', new Map<string, PickleValue>([
    ['p', withState],
    ['size', new PyCall('torch', 'Size', [new PyTuple([2, 3])])],
    ['od', new PyCall('collections', 'OrderedDict', [[new PyTuple(['a', 1])]])],
    ['set', new PyCall('__builtin__', 'set', [[1, 2]])],
    ['bytes', new PyCall('_codecs', 'encode', ['\u00ff\u0000', 'latin1'])],
  ]));
  await withCheckpoint(path, async (c) => {
    assert.deepEqual(c.list(), [{ name: 'p', dtype: 'float32', shape: [2] }]);
    assert.deepEqual(c.skipped, ['size', 'od', 'set', 'bytes']);
    assertValues(await c.read('p'), [1, 2], 'p');
  });
});

test('__proto__ keys stay data: no prototype pollution', async () => {
  const path = await written('proto.pt', new Map<string, PickleValue>([
    ['__proto__', tiny()],
    ['constructor', new Map<string, PickleValue>([['__proto__', new Map([['polluted', 1]])]])],
  ]));
  await withCheckpoint(path, async (c) => {
    assert.deepEqual(c.list().map((t) => t.name), ['__proto__']);
    assertValues(await c.read('__proto__'), [1, 2], '__proto__');
  });
  assert.equal((Object.prototype as Record<string, unknown>).polluted, undefined);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});

