"""Checks that torch.load reads a checkpoint our TypeScript writer wrote (torch-zip-writer.ts).

    node --import tsx tools/torch/write-ts-checkpoint.ts /tmp/ts-ckpt.pt [--zip64]
    /usr/bin/python3 tools/torch/check_ts_checkpoint.py /tmp/ts-ckpt.pt /tmp/ts-ckpt.json

The JSON says what each tensor under state_dict must be (dtype, shape, stride, storage offset,
row-major values), which tensors share one storage, and the plain values at the top level. Exits 1
naming the first difference.
"""

import json
import math
import sys

import torch

DTYPES = {'float32': torch.float32, 'float64': torch.float64, 'float16': torch.float16,
          'bfloat16': torch.bfloat16, 'int64': torch.int64}


def fail(msg):
    print(f'FAIL: {msg}')
    sys.exit(1)


def main():
    path, expected_path = sys.argv[1:3]
    expected = json.load(open(expected_path))
    ckpt = torch.load(path)
    sd = ckpt['state_dict']
    if list(sd.keys()) != list(expected['tensors'].keys()):
        fail(f'state_dict keys {list(sd.keys())} != {list(expected["tensors"].keys())}')
    for name, e in expected['tensors'].items():
        t = sd[name]
        if t.dtype != DTYPES[e['dtype']]:
            fail(f'{name}: dtype {t.dtype}, expected {e["dtype"]}')
        if list(t.shape) != e['shape'] or list(t.stride()) != e['stride'] or t.storage_offset() != e['offset']:
            fail(f'{name}: shape {list(t.shape)} stride {t.stride()} offset {t.storage_offset()}, expected {e}')
        want = [math.inf if v == 'inf' else v for v in e['values']]
        got = t.flatten().tolist() if t.dtype == torch.int64 else t.double().flatten().tolist()
        if e['dtype'] == 'float32':
            want = torch.tensor(want, dtype=torch.float32).double().tolist()
        if got != want:
            fail(f'{name}: values {got}, expected {want}')
    ptrs = {sd[n].storage().data_ptr() for n in expected['shared']}
    if len(ptrs) != 1:
        fail(f'{expected["shared"]} do not share one storage')
    if not isinstance(sd['param'], torch.nn.Parameter) or not sd['param'].requires_grad:
        fail('param is not a Parameter that requires grad')
    for k, v in expected['scalars'].items():
        got = ckpt[k]
        if isinstance(got, tuple):
            got = list(got)
        if got != v or type(got) is not type(v):
            fail(f'{k}: {got!r} ({type(got).__name__}), expected {v!r}')
    if ckpt['lr'] != 1.0 or not isinstance(ckpt['lr'], float) or not isinstance(ckpt['betas'], tuple):
        fail('lr should load as a float and betas as a tuple')
    n = len(expected['tensors'])
    print(f'OK: torch {torch.__version__} read {path}: {n} tensors, shared storage, views and scalars as written')


if __name__ == '__main__':
    main()
