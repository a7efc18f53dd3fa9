"""An independent PyTorch reference for open_clip's ResNet CLIP (ModifiedResNet image tower).

Written from the architecture's published facts (open_clip src/open_clip/modified_resnet.py, the
same network as OpenAI CLIP's model.py), not from clipag's TypeScript. The text tower is the one in
clip_reference.py. Runs in float64 by default.

The facts it encodes:
- stem: conv1 3→w/2 3×3 stride 2 pad 1, bn1, ReLU; conv2 w/2→w/2 3×3 pad 1, bn2, ReLU;
  conv3 w/2→w 3×3 pad 1, bn3, ReLU; AvgPool2d(2). No conv has a bias.
- four stages of Bottleneck blocks (expansion 4), planes w, 2w, 4w, 8w, stride 1, 2, 2, 2 on each
  stage's first block: conv1 1×1, bn1, ReLU; conv2 3×3 pad 1, bn2, ReLU; AvgPool2d(stride) when
  stride > 1; conv3 1×1, bn3; shortcut `downsample` = Sequential("-1": AvgPool2d(stride),
  "0": conv 1×1, "1": BN) when stride > 1 or the channels change; add, ReLU.
- AttentionPool2d(image_size // 32, 32w, heads, embed_dim): NCHW → N(HW)C, prepend the mean over
  positions, add positional_embedding [(HW+1), C], multi-head attention with separate q/k/v
  projections (with bias) and c_proj, softmax(q·kᵀ/√head_dim); the first token's output.
- heads = 32w // head_width (head_width 64 by default); BatchNorm2d defaults (eps 1e-5,
  momentum 0.1, running stats with num_batches_tracked).
"""

from collections import OrderedDict

import torch
import torch.nn as nn
import torch.nn.functional as F

import clip_reference as ref

EXPANSION = 4


class Bottleneck(nn.Module):
    def __init__(self, inplanes, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.pool = nn.AvgPool2d(stride) if stride > 1 else nn.Identity()
        self.conv3 = nn.Conv2d(planes, planes * EXPANSION, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * EXPANSION)
        self.downsample = None
        if stride > 1 or inplanes != planes * EXPANSION:
            # "-1" holds no parameters, so the state dict names the conv "0" and the BN "1".
            self.downsample = nn.Sequential(OrderedDict([
                ("-1", nn.AvgPool2d(stride)),
                ("0", nn.Conv2d(inplanes, planes * EXPANSION, 1, bias=False)),
                ("1", nn.BatchNorm2d(planes * EXPANSION)),
            ]))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(self.pool(out)))
        shortcut = x if self.downsample is None else self.downsample(x)
        return F.relu(out + shortcut)


class AttentionPool2d(nn.Module):
    def __init__(self, grid, dim, heads, output_dim):
        super().__init__()
        self.positional_embedding = nn.Parameter(torch.zeros(grid * grid + 1, dim))
        self.k_proj = nn.Linear(dim, dim)
        self.q_proj = nn.Linear(dim, dim)
        self.v_proj = nn.Linear(dim, dim)
        self.c_proj = nn.Linear(dim, output_dim)
        self.heads = heads

    def forward(self, x):
        n, c, h, w = x.shape
        x = x.reshape(n, c, h * w).permute(0, 2, 1)
        x = torch.cat([x.mean(dim=1, keepdim=True), x], dim=1) + self.positional_embedding
        length, d = x.shape[1], c // self.heads
        # Every token attends (as open_clip's forward computes), then only token 0 is kept.
        split = lambda t: t.reshape(n, length, self.heads, d).transpose(1, 2)  # noqa: E731
        q, k, v = split(self.q_proj(x)), split(self.k_proj(x)), split(self.v_proj(x))
        attn = torch.softmax(q @ k.transpose(-1, -2) / d ** 0.5, dim=-1)
        out = (attn @ v).transpose(1, 2).reshape(n, length, c)
        return self.c_proj(out)[:, 0]


class ModifiedResNet(nn.Module):
    def __init__(self, layers, output_dim, heads, image_size, width):
        super().__init__()
        half = width // 2
        self.conv1 = nn.Conv2d(3, half, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(half)
        self.conv2 = nn.Conv2d(half, half, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(half)
        self.conv3 = nn.Conv2d(half, width, 3, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(width)
        self.avgpool = nn.AvgPool2d(2)
        inplanes = width
        for i, count in enumerate(layers):
            planes, stride = width * 2 ** i, (1 if i == 0 else 2)
            blocks = []
            for j in range(count):
                blocks.append(Bottleneck(inplanes, planes, stride if j == 0 else 1))
                inplanes = planes * EXPANSION
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.attnpool = AttentionPool2d(image_size // 32, width * 32, heads, output_dim)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        x = F.relu(self.bn3(self.conv3(x)))
        x = self.avgpool(x)
        for i in range(1, 5):
            x = getattr(self, f"layer{i}")(x)
        return self.attnpool(x)


def resnet_config(cfg):
    """(ModifiedResNet kwargs, ClipConfig for the text tower) from an open_clip model config with
    vision_cfg.layers a list."""
    v = cfg["vision_cfg"]
    width = v.get("width", 64)
    kwargs = dict(layers=list(v["layers"]), output_dim=cfg["embed_dim"], heads=width * 32 // v.get("head_width", 64),
                  image_size=v.get("image_size", 224), width=width)
    # The text half of clip_reference's config; its ViT fields are placeholders a ResNet never reads.
    text_cfg = dict(cfg, vision_cfg={"image_size": 32, "patch_size": 32, "width": 64, "layers": 1})
    return kwargs, ref.config_from_open_clip(text_cfg)


class ResNetCLIPReference(nn.Module):
    """open_clip's CLIP with a ModifiedResNet image tower, state-dict names as open_clip's."""

    def __init__(self, cfg, dtype=torch.float64):
        super().__init__()
        kwargs, c = resnet_config(cfg)
        self.config = c
        self.visual = ModifiedResNet(**kwargs)
        text = ref.CLIPReference(c, dtype)
        self.transformer = text.transformer
        self.token_embedding = text.token_embedding
        self.positional_embedding = text.positional_embedding
        self.ln_final = text.ln_final
        self.text_projection = text.text_projection
        self.logit_scale = text.logit_scale
        self.to(dtype)

    def encode_image(self, pixels):
        return self.visual(pixels.to(self.visual.conv1.weight.dtype))

    encode_text = ref.CLIPReference.encode_text


def load_reference(cfg, state_dict, dtype=torch.float64):
    model = ResNetCLIPReference(cfg, dtype)
    model.load_state_dict({k: (v.to(dtype) if v.is_floating_point() else v) for k, v in state_dict.items()}, strict=True)
    return model.eval()
