"""One of our Shapes packs (an open_clip ViT CLIP, tools/torch/clip_reference.py) behind the probe's
model interface, so the probe's trainer and synthesis run on our towers from our weights
(`probe_align.py train --pack DIR`): the same starting point in both trainers tells a difference of
trainer from a difference of tower. `write_pack` puts the trained weights back into a copy of the
pack, so `npm run eval` judges them with our own synthesis."""
import hashlib
import json
import math
import os
import shutil

import torch
import torch.nn as nn
import torch.nn.functional as F

from clip_reference import ClipConfig, CLIPReference
from make_clip_fixtures import read_safetensors, safetensors_bytes


def _linear_by_conv(x, weight, bias=None):
    """F.linear as a 1 x 1 convolution: Debian's python3-torch has no BLAS (BLAS_INFO=generic), so its
    matrix products run 2-5x slower than oneDNN's convolutions; the values agree to float32 rounding."""
    shape = x.shape
    y = F.conv2d(x.reshape(-1, shape[-1], 1, 1), weight[:, :, None, None], bias)
    return y.reshape(*shape[:-1], weight.shape[0])


def _use_conv_linears():
    """Only once a pack is built, so the probe's own runs keep torch's linears (and their figures)."""
    if 'BLAS_INFO=generic' in torch.__config__.show():
        F.linear = _linear_by_conv  # nn.Linear and nn.MultiheadAttention both call F.linear


def pack_config(manifest):
    v, t = manifest['config']['vision'], manifest['config']['text']
    if v.get('kind', 'vit') != 'vit':
        raise ValueError(f"the probe runs ViT packs only, this one's vision tower is {v['kind']}")
    if v.get('act', 'gelu') != 'gelu' or t.get('act', 'gelu') != 'gelu':
        raise ValueError('the probe runs GELU packs only')
    return ClipConfig(embed_dim=manifest['config']['embedDim'], image_size=v['imageSize'], patch_size=v['patchSize'],
                      vision_width=v['width'], vision_layers=v['layers'], vision_heads=v['heads'],
                      context_length=t['contextLength'], vocab_size=t['vocabSize'], text_width=t['width'],
                      text_heads=t['heads'], text_layers=t['layers'], quick_gelu=False)


class PackProbe(nn.Module):
    """The probe's interface (image(x) on [0, 1] pixels, text(ids), cos, logit_scale) over our pack."""

    def __init__(self, pack_dir):
        super().__init__()
        _use_conv_linears()
        with open(os.path.join(pack_dir, 'clipag.json')) as f:
            self.manifest = json.load(f)
        self.clip = CLIPReference(pack_config(self.manifest), dtype=torch.float32)
        try:
            self.clip.load_state_dict(read_safetensors(os.path.join(pack_dir, self.manifest['weights']['file'])))
        except RuntimeError as e:
            raise ValueError(f'{pack_dir}: the weights do not fit the manifest\'s architecture: {e}') from e
        c = self.manifest['config']
        self.register_buffer('mean', torch.tensor(c['mean'])[None, :, None, None], persistent=False)
        self.register_buffer('std', torch.tensor(c['std'])[None, :, None, None], persistent=False)
        self.image = _Image(self)

    @property
    def logit_scale(self):
        return self.clip.logit_scale  # the pack's own (open_clip's log temperature), trained with the rest

    def text(self, ids):
        return self.clip.encode_text(ids)

    def cos(self, x, ids):
        return (F.normalize(self.image(x), dim=1) * F.normalize(self.text(ids), dim=1)).sum(1)


class _Image(nn.Module):
    """model.image, as the probe calls it (and switches it to eval/train around the term)."""

    def __init__(self, owner):
        super().__init__()
        self._owner = [owner]  # a list, so the owner is not registered as a submodule (a cycle)

    def forward(self, x):
        o = self._owner[0]
        return o.clip.encode_image((x - o.mean) / o.std)


def write_pack(model, src_dir, out_dir):
    """A copy of the pack at src_dir with the model's weights and temperature."""
    if os.path.exists(out_dir):
        shutil.rmtree(out_dir)
    shutil.copytree(src_dir, out_dir)
    raw = safetensors_bytes({k: v.detach().to(torch.float32) for k, v in model.clip.state_dict().items()}, {})
    manifest = dict(model.manifest)
    with open(os.path.join(out_dir, manifest['weights']['file']), 'wb') as f:
        f.write(raw)
    manifest['weights'] = {**manifest['weights'], 'bytes': len(raw), 'sha256': hashlib.sha256(raw).hexdigest()}
    manifest['logitScale'] = math.exp(model.logit_scale.item())
    with open(os.path.join(out_dir, 'clipag.json'), 'w') as f:
        json.dump(manifest, f, indent=2)
