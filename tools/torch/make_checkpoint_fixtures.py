"""Small real-torch checkpoints for the PyTorch zip reader (src/engine/clip/torch-checkpoint.test.ts).

Run from the repository root with an interpreter that has torch (tested with 1.13, CPU):

    /usr/bin/python3 tools/torch/make_checkpoint_fixtures.py [--out test/fixtures/torch-ckpt]

Everything is seeded (only legacy.pt and torchscript.pt differ between runs: torch names their
storages by memory address). It writes, with torch.save unless said otherwise:

    plain_state_dict.pt      a module's state_dict(): OrderedDict with _metadata, float32 parameters,
                             a 0-d parameter, int64 / int32 / bool buffers
    training_checkpoint.pt   open_clip-style {epoch, name, state_dict ('module.' prefix, from a
                             DataParallel-like wrapper), optimizer (AdamW state_dict after one step),
                             scaler (GradScaler state_dict)}
    half_bfloat16.pt         float16, bfloat16 and float64 tensors, a transposed float16 one
    views.pt                 a transposed (non-contiguous) tensor, several views of one storage
                             (slices, a reshaped slice, a column, a 0-d element), a permuted 3-d
                             tensor, an expanded (stride 0) tensor, an empty tensor
    parameters.pt            a plain dict of nn.Parameter (requires_grad on and off) and a tensor
                             carrying a Python attribute (_rebuild_from_type_v2, as torch 2.x
                             writes it; torch 1.13 has no _rebuild_parameter_with_state, so the
                             TypeScript tests write that one with our own writer)
    numpy_extras.pt          {state_dict, best_acc: numpy.float64, seed: numpy.int64, dtype: numpy.dtype}
    legacy.pt                the legacy format (_use_new_zipfile_serialization=False)
    torchscript.pt           torch.jit.save of a scripted module
    forbidden_os_system.pt   a real torch.save zip whose pickle calls os.system (posix.system) on load
    forbidden_eval.pt        ... builtins.eval (pickled as __builtin__.eval under protocol 2)
    forbidden_namespace.pt   {args: argparse.Namespace, state_dict}: a common training-script pattern
    bare_pickle.pkl          pickle.dumps of a dict (not a torch.save file)
    Made with Python's zipfile from plain_state_dict.pt's entries (not torch):
    missing_storage.pt       one data/<key> entry left out
    short_storage.pt         one data/<key> entry cut to half its length
    no_data_pkl.pt           data.pkl left out
    truncated_pickle.pt      data.pkl cut to 60 % of its length

and expected.json: for each readable file, the tensors the state dict holds in file order, each as
{name, dtype, shape, values (row-major; floats as float32, ints as ints, bools as 0/1), f16_bits (raw
float16 bit patterns, float16 only; infinities as 'inf' / '-inf'), span_bytes (bytes of storage the tensor's strided window covers)},
plus skipped (top-level entries that are not the state dict, then non-tensor state-dict entries),
stripped_prefix, state_dict_span_bytes and storage_bytes (all data/ entries in the zip together).
"""

import argparse
import io
import json
import math
import os
import pickle
import zipfile
from collections import OrderedDict

import numpy as np
import torch
import torch.nn as nn

DTYPES = {
    torch.float32: 'float32', torch.float64: 'float64', torch.float16: 'float16', torch.bfloat16: 'bfloat16',
    torch.int64: 'int64', torch.int32: 'int32', torch.int16: 'int16', torch.int8: 'int8', torch.uint8: 'uint8',
    torch.bool: 'bool',
}


class Tiny(nn.Module):
    """Names shaped like open_clip's text tower, small enough to list every value."""

    def __init__(self):
        super().__init__()
        self.token_embedding = nn.Embedding(6, 4)
        self.ln_final = nn.LayerNorm(4)
        self.text_projection = nn.Parameter(torch.randn(4, 3))
        self.logit_scale = nn.Parameter(torch.tensor(2.6592))
        self.register_buffer('position_ids', torch.arange(5))
        self.register_buffer('counts', torch.tensor([3, -1, 70000], dtype=torch.int32))
        self.register_buffer('attn_mask', torch.ones(3, 3, dtype=torch.bool).tril())
        with torch.no_grad():
            self.ln_final.weight.normal_()
            self.ln_final.bias.normal_()


class Wrapper(nn.Module):
    """Stands in for DataParallel / DistributedDataParallel: its state dict prefixes 'module.'."""

    def __init__(self, module):
        super().__init__()
        self.module = module


class TensorWithAttributes:
    """Pickles as torch 2.x pickles a plain tensor that carries Python attributes:
    _rebuild_from_type_v2(_rebuild_tensor_v2, torch.Tensor, args, state). torch 1.13 drops the
    attributes of a plain tensor instead, so the reduction is spelled out here."""

    def __init__(self, t, **attributes):
        self.t, self.attributes = t, attributes

    def __reduce__(self):
        t = self.t
        args = (t.storage(), t.storage_offset(), tuple(t.size()), t.stride(), False, OrderedDict())
        return (torch._tensor._rebuild_from_type_v2, (torch._utils._rebuild_tensor_v2, torch.Tensor, args, self.attributes))


class RunsOsSystem:
    def __reduce__(self):
        return (os.system, ('true',))


class RunsEval:
    def __reduce__(self):
        return (eval, ("__import__('os').system('true')",))


def span_bytes(t):
    if t.numel() == 0:
        return 0
    last = t.storage_offset() + sum((s - 1) * st for s, st in zip(t.shape, t.stride()))
    return (last + 1 - t.storage_offset()) * t.element_size()


def describe(name, t):
    t = t.detach()
    if t.dtype.is_floating_point:
        # JSON has no infinities: they travel as the strings 'inf' / '-inf'.
        values = [v if math.isfinite(v) else str(v) for v in t.float().flatten().tolist()]
    elif t.dtype == torch.bool:
        values = [int(v) for v in t.flatten().tolist()]
    else:
        values = t.flatten().tolist()
    d = {'name': name, 'dtype': DTYPES[t.dtype], 'shape': list(t.shape), 'values': values, 'span_bytes': span_bytes(t)}
    if t.dtype == torch.float16:
        d['f16_bits'] = [v & 0xFFFF for v in t.contiguous().view(torch.int16).flatten().tolist()]
    return d


def storage_bytes(path):
    with zipfile.ZipFile(path) as z:
        return sum(i.file_size for i in z.infolist() if '/data/' in i.filename)


def expect(path, state_dict, skipped=(), prefix='', nontensor=()):
    tensors = [describe(k[len(prefix):], v) for k, v in state_dict.items() if isinstance(v, torch.Tensor)]
    return {
        'tensors': tensors,
        'skipped': list(skipped) + list(nontensor),
        'stripped_prefix': prefix,
        'state_dict_span_bytes': sum(t['span_bytes'] for t in tensors),
        'storage_bytes': storage_bytes(path),
    }


def copy_zip(src, dst, edit):
    """Rewrites src's entries into dst (stored, like torch), letting edit(name, data) drop or change each."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, 'w', zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            data = edit(info.filename, zin.read(info.filename))
            if data is not None:
                # A fixed timestamp keeps reruns byte-identical.
                zout.writestr(zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0)), data)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--out', default='test/fixtures/torch-ckpt')
    out = ap.parse_args().out
    os.makedirs(out, exist_ok=True)
    p = lambda name: os.path.join(out, name)
    expected = {'torch': torch.__version__, 'files': {}}
    files = expected['files']

    torch.manual_seed(0)
    plain = Tiny().state_dict()
    torch.save(plain, p('plain_state_dict.pt'))
    files['plain_state_dict.pt'] = expect(p('plain_state_dict.pt'), plain)

    torch.manual_seed(1)
    model = Wrapper(Tiny())
    params = [q for q in model.parameters()]
    opt = torch.optim.AdamW(params, lr=1e-3)
    loss = model.module.token_embedding(torch.tensor([1, 2])).sum() + (model.module.text_projection ** 2).sum() \
        + model.module.logit_scale * model.module.ln_final.weight.sum()
    loss.backward()
    opt.step()
    ckpt = {
        'epoch': 3,
        'name': 'clipag-fixture',
        'state_dict': model.state_dict(),
        'optimizer': opt.state_dict(),
        'scaler': {'scale': 65536.0, 'growth_factor': 2.0, 'backoff_factor': 0.5, 'growth_interval': 2000, '_growth_tracker': 0},
    }
    torch.save(ckpt, p('training_checkpoint.pt'))
    e = expect(p('training_checkpoint.pt'), ckpt['state_dict'], ['epoch', 'name', 'optimizer', 'scaler'], 'module.')
    e['optimizer_bytes'] = sum(span_bytes(v) for s in opt.state_dict()['state'].values() for v in s.values() if isinstance(v, torch.Tensor))
    files['training_checkpoint.pt'] = e

    torch.manual_seed(2)
    halves = OrderedDict([
        ('h', torch.randn(3, 4).half()),
        ('b', (torch.randn(5) * 100).bfloat16()),
        ('d', torch.randn(2, 2, dtype=torch.float64)),
        ('h_t', torch.randn(3, 2).half().t()),
        ('h_special', torch.tensor([0.0, -0.0, 65504.0, 6e-8, float('inf'), -1.5], dtype=torch.float16)),
    ])
    torch.save(halves, p('half_bfloat16.pt'))
    files['half_bfloat16.pt'] = expect(p('half_bfloat16.pt'), halves)

    torch.manual_seed(3)
    base = torch.arange(24, dtype=torch.float32) * 0.5 - 3
    views = OrderedDict([
        ('w_t', torch.randn(3, 5).t()),
        ('base', base),
        ('slice', base[2:8]),
        ('grid', base[4:16].view(3, 4)),
        ('column', base.view(4, 6)[:, 1]),
        ('element', base[5]),
        ('every_third', base[1::3]),
        ('permuted', torch.randn(2, 3, 4).permute(2, 0, 1)),
        ('expanded', torch.randn(3, 1).expand(3, 4)),
        ('empty', torch.zeros(0, 3)),
        ('long_t', torch.arange(6).view(2, 3).t()),
    ])
    assert not views['w_t'].is_contiguous() and views['column'].storage_offset() == 1
    torch.save(views, p('views.pt'))
    files['views.pt'] = expect(p('views.pt'), views)

    torch.manual_seed(4)
    weight = nn.Parameter(torch.randn(2, 3))
    frozen = nn.Parameter(torch.randn(3), requires_grad=False)
    tagged = torch.randn(2, 2)
    parameters = {'weight': weight, 'frozen': frozen, 'tagged': tagged}
    torch.save({**parameters, 'tagged': TensorWithAttributes(tagged, tag='a Python attribute')}, p('parameters.pt'))
    with zipfile.ZipFile(p('parameters.pt')) as z:
        pkl = z.read('parameters/data.pkl')
        assert b'_rebuild_parameter' in pkl and b'_rebuild_from_type_v2' in pkl
    files['parameters.pt'] = expect(p('parameters.pt'), parameters)

    torch.manual_seed(5)
    small = OrderedDict([('w', torch.randn(2, 2)), ('b', torch.randn(2))])
    extras = {'state_dict': small, 'best_acc': np.float64(0.5), 'seed': np.int64(7), 'dtype': np.dtype('float32')}
    torch.save(extras, p('numpy_extras.pt'))
    files['numpy_extras.pt'] = expect(p('numpy_extras.pt'), small, ['best_acc', 'seed', 'dtype'])

    assert torch.equal(torch.load(p('parameters.pt'))['tagged'], tagged)
    torch.save(small, p('legacy.pt'), _use_new_zipfile_serialization=False)
    torch.jit.save(torch.jit.script(nn.Linear(2, 2)), p('torchscript.pt'))
    torch.save({'w': torch.ones(2), 'payload': RunsOsSystem()}, p('forbidden_os_system.pt'))
    torch.save({'w': torch.ones(2), 'payload': RunsEval()}, p('forbidden_eval.pt'))
    torch.save({'args': argparse.Namespace(lr=0.1), 'state_dict': small}, p('forbidden_namespace.pt'))
    with open(p('bare_pickle.pkl'), 'wb') as f:
        f.write(pickle.dumps({'w': [1.0, 2.0]}, protocol=2))

    src = p('plain_state_dict.pt')
    copy_zip(src, p('missing_storage.pt'), lambda n, d: None if n.endswith('/data/0') else d)
    copy_zip(src, p('short_storage.pt'), lambda n, d: d[: len(d) // 2] if n.endswith('/data/1') else d)
    copy_zip(src, p('no_data_pkl.pt'), lambda n, d: None if n.endswith('/data.pkl') else d)
    copy_zip(src, p('truncated_pickle.pt'), lambda n, d: d[: len(d) * 6 // 10] if n.endswith('/data.pkl') else d)

    # Prove the fixtures are what they claim: torch itself reads the good ones back.
    for name in ['plain_state_dict.pt', 'training_checkpoint.pt', 'half_bfloat16.pt', 'views.pt', 'parameters.pt', 'numpy_extras.pt']:
        torch.load(p(name))

    with open(p('expected.json'), 'w') as f:
        json.dump(expected, f, indent=1, allow_nan=False)
        f.write('\n')
    total = sum(os.path.getsize(p(n)) for n in os.listdir(out))
    print(f'wrote {len(os.listdir(out))} files to {out}, {total} bytes in all')


if __name__ == '__main__':
    main()
