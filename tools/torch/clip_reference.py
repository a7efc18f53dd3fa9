"""An independent PyTorch reference for open_clip's CLIP forward pass (ViT image tower, text tower).

Written from the model's published facts (open_clip src/open_clip/model.py and transformer.py), not
from clipag's TypeScript, so clipag's towers can be checked against it. Everything runs in float64
by default so the reference carries no rounding of its own worth speaking of.

Two implementations of the same network live here on purpose:

- `CLIPReference`: an nn.Module with open_clip's parameter names whose attention IS
  torch.nn.MultiheadAttention, as in open_clip; the fused in_proj semantics therefore come from
  torch. Its state_dict() is an open_clip state dict.
- `hf_encode_image` / `hf_encode_text`: the same forward pass written out op by op over a state
  dict in Hugging Face CLIPModel names (separate q/k/v projections, query scaled before the
  product, as HF's CLIPAttention does). Agreement between the two checks the name and layout
  mapping `openclip_to_hf`, not just a renaming done twice.

Plus `preprocess`: open_clip's eval image transform for 'shortest' resize mode (torchvision Resize
with a scalar size, CenterCrop, RGB, ToTensor, Normalize), re-expressed with PIL alone.

Only torch, numpy and PIL are needed; no open_clip, torchvision or transformers.
"""

import math
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)
LN_EPS = 1e-5  # torch nn.LayerNorm default, which open_clip's LayerNorm subclass keeps
QUICK_GELU_ALPHA = 1.702


@dataclass(frozen=True)
class ClipConfig:
    embed_dim: int
    image_size: int
    patch_size: int
    vision_width: int
    vision_layers: int
    vision_heads: int
    context_length: int
    vocab_size: int
    text_width: int
    text_heads: int
    text_layers: int
    quick_gelu: bool
    mlp_ratio: float = 4.0

    @property
    def grid(self):
        return self.image_size // self.patch_size


def config_from_open_clip(cfg):
    """open_clip's model-config JSON (as a dict) → ClipConfig, with open_clip's dataclass defaults."""
    v, t = cfg["vision_cfg"], cfg["text_cfg"]
    width = v.get("width", 768)
    head_width = v.get("head_width", 64)  # CLIPVisionCfg default; heads = width // head_width
    return ClipConfig(
        embed_dim=cfg["embed_dim"],
        image_size=v.get("image_size", 224),
        patch_size=v.get("patch_size", 16),
        vision_width=width,
        vision_layers=v.get("layers", 12),
        vision_heads=width // head_width,
        context_length=t.get("context_length", 77),
        vocab_size=t.get("vocab_size", 49408),
        text_width=t.get("width", 512),
        text_heads=t.get("heads", 8),
        text_layers=t.get("layers", 12),
        quick_gelu=bool(cfg.get("quick_gelu", False)),
        mlp_ratio=v.get("mlp_ratio", 4.0),
    )


class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(QUICK_GELU_ALPHA * x)


class ResidualAttentionBlock(nn.Module):
    """x + attn(ln_1(x)), then x + mlp(ln_2(x)); sequence-first [L, N, D] like open_clip's nn.MHA era."""

    def __init__(self, width, heads, mlp_ratio, quick_gelu):
        super().__init__()
        self.ln_1 = nn.LayerNorm(width, eps=LN_EPS)
        self.attn = nn.MultiheadAttention(width, heads)
        self.ln_2 = nn.LayerNorm(width, eps=LN_EPS)
        hidden = int(width * mlp_ratio)
        self.mlp = nn.Sequential(OrderedDict([
            ("c_fc", nn.Linear(width, hidden)),
            ("gelu", QuickGELU() if quick_gelu else nn.GELU()),  # nn.GELU(): exact erf form
            ("c_proj", nn.Linear(hidden, width)),
        ]))

    def forward(self, x, attn_mask=None):
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, need_weights=False, attn_mask=attn_mask)[0]
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, width, layers, heads, mlp_ratio, quick_gelu):
        super().__init__()
        self.resblocks = nn.ModuleList(
            [ResidualAttentionBlock(width, heads, mlp_ratio, quick_gelu) for _ in range(layers)])

    def forward(self, x, attn_mask=None):
        for block in self.resblocks:
            x = block(x, attn_mask)
        return x


class VisionTransformer(nn.Module):
    def __init__(self, c: ClipConfig):
        super().__init__()
        w = c.vision_width
        self.conv1 = nn.Conv2d(3, w, kernel_size=c.patch_size, stride=c.patch_size, bias=False)
        self.class_embedding = nn.Parameter(torch.zeros(w))
        self.positional_embedding = nn.Parameter(torch.zeros(c.grid * c.grid + 1, w))
        self.ln_pre = nn.LayerNorm(w, eps=LN_EPS)
        self.transformer = Transformer(w, c.vision_layers, c.vision_heads, c.mlp_ratio, c.quick_gelu)
        self.ln_post = nn.LayerNorm(w, eps=LN_EPS)
        self.proj = nn.Parameter(torch.zeros(w, c.embed_dim))

    def forward(self, pixels):
        x = self.conv1(pixels)                               # [N, width, grid, grid]
        x = x.reshape(x.shape[0], x.shape[1], -1).permute(0, 2, 1)  # [N, grid², width], row-major patches
        cls = self.class_embedding.expand(x.shape[0], 1, -1)
        x = torch.cat([cls, x], dim=1) + self.positional_embedding
        x = self.ln_pre(x)
        x = self.transformer(x.permute(1, 0, 2)).permute(1, 0, 2)
        return self.ln_post(x[:, 0, :]) @ self.proj


def causal_mask(n, dtype=torch.float64):
    """Additive mask: -inf strictly above the diagonal, so token i attends to tokens 0..i."""
    return torch.full((n, n), float("-inf"), dtype=dtype).triu_(1)


class CLIPReference(nn.Module):
    """open_clip's CLIP (ViT image tower) with open_clip's state-dict names."""

    def __init__(self, c: ClipConfig, dtype=torch.float64):
        super().__init__()
        self.config = c
        self.visual = VisionTransformer(c)
        self.transformer = Transformer(c.text_width, c.text_layers, c.text_heads, c.mlp_ratio, c.quick_gelu)
        self.token_embedding = nn.Embedding(c.vocab_size, c.text_width)
        self.positional_embedding = nn.Parameter(torch.zeros(c.context_length, c.text_width))
        self.ln_final = nn.LayerNorm(c.text_width, eps=LN_EPS)
        self.text_projection = nn.Parameter(torch.zeros(c.text_width, c.embed_dim))
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))
        self.to(dtype)

    def encode_image(self, pixels):
        return self.visual(pixels.to(self.visual.proj.dtype))

    def encode_text(self, ids):
        x = self.token_embedding(ids) + self.positional_embedding
        mask = causal_mask(x.shape[1], x.dtype)
        x = self.transformer(x.permute(1, 0, 2), attn_mask=mask).permute(1, 0, 2)
        x = self.ln_final(x)
        # EOT has the largest id in every row, so argmax finds it (open_clip's 'argmax' text pooling).
        x = x[torch.arange(x.shape[0]), ids.argmax(dim=-1)]
        return x @ self.text_projection


def load_reference(c: ClipConfig, state_dict, dtype=torch.float64):
    """A CLIPReference in `dtype` holding exactly the values of an open_clip state dict (any float dtypes)."""
    model = CLIPReference(c, dtype)
    model.load_state_dict({k: v.to(dtype) for k, v in state_dict.items()}, strict=True)
    return model.eval()


def cosine(a, b):
    return F.normalize(a, dim=-1) @ F.normalize(b, dim=-1).T


# ---------------------------------------------------------------------------------------------
# Hugging Face CLIPModel layout


def openclip_to_hf(sd, layers_v, layers_t):
    """open_clip state dict → HF CLIPModel names. q/k/v are the three row blocks of the fused in_proj;
    the two projections are stored transposed (HF keeps them as nn.Linear weights [embed, width])."""
    out = OrderedDict()

    def block(src, dst):
        w, b = sd[src + "attn.in_proj_weight"], sd[src + "attn.in_proj_bias"]
        for i, name in enumerate(("q_proj", "k_proj", "v_proj")):
            d = w.shape[0] // 3
            out[f"{dst}self_attn.{name}.weight"] = w[i * d:(i + 1) * d].clone()
            out[f"{dst}self_attn.{name}.bias"] = b[i * d:(i + 1) * d].clone()
        pairs = [("attn.out_proj", "self_attn.out_proj"), ("ln_1", "layer_norm1"), ("ln_2", "layer_norm2"),
                 ("mlp.c_fc", "mlp.fc1"), ("mlp.c_proj", "mlp.fc2")]
        for s, d_ in pairs:
            for p in ("weight", "bias"):
                out[f"{dst}{d_}.{p}"] = sd[f"{src}{s}.{p}"].clone()

    v, t = "vision_model.", "text_model."
    out[v + "embeddings.class_embedding"] = sd["visual.class_embedding"].clone()
    out[v + "embeddings.patch_embedding.weight"] = sd["visual.conv1.weight"].clone()
    out[v + "embeddings.position_embedding.weight"] = sd["visual.positional_embedding"].clone()
    for p in ("weight", "bias"):
        out[f"{v}pre_layrnorm.{p}"] = sd[f"visual.ln_pre.{p}"].clone()  # sic: HF's spelling
    for i in range(layers_v):
        block(f"visual.transformer.resblocks.{i}.", f"{v}encoder.layers.{i}.")
    for p in ("weight", "bias"):
        out[f"{v}post_layernorm.{p}"] = sd[f"visual.ln_post.{p}"].clone()
    out[t + "embeddings.token_embedding.weight"] = sd["token_embedding.weight"].clone()
    out[t + "embeddings.position_embedding.weight"] = sd["positional_embedding"].clone()
    for i in range(layers_t):
        block(f"transformer.resblocks.{i}.", f"{t}encoder.layers.{i}.")
    for p in ("weight", "bias"):
        out[f"{t}final_layer_norm.{p}"] = sd[f"ln_final.{p}"].clone()
    out["visual_projection.weight"] = sd["visual.proj"].T.contiguous()
    out["text_projection.weight"] = sd["text_projection"].T.contiguous()
    out["logit_scale"] = sd["logit_scale"].clone()
    return out


def _act(x, hidden_act):
    if hidden_act == "gelu":
        return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))
    if hidden_act == "quick_gelu":
        return x * torch.sigmoid(QUICK_GELU_ALPHA * x)
    raise ValueError(f"unknown hidden_act {hidden_act!r}")


def _ln(x, sd, name, eps=LN_EPS):
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + eps) * sd[name + ".weight"] + sd[name + ".bias"]


def _lin(x, sd, name, bias=True):
    y = x @ sd[name + ".weight"].T
    return y + sd[name + ".bias"] if bias else y


def _encoder(x, sd, prefix, layers, heads, hidden_act, mask):
    """HF CLIPEncoder written out: [N, L, D] batch-first, explicit per-head attention."""
    n, length, d = x.shape
    dh = d // heads
    for i in range(layers):
        p = f"{prefix}encoder.layers.{i}."
        h = _ln(x, sd, p + "layer_norm1")
        q = _lin(h, sd, p + "self_attn.q_proj") * dh ** -0.5
        k = _lin(h, sd, p + "self_attn.k_proj")
        v = _lin(h, sd, p + "self_attn.v_proj")
        split = lambda z: z.reshape(n, length, heads, dh).transpose(1, 2)  # noqa: E731 — [N, H, L, dh]
        scores = split(q) @ split(k).transpose(-1, -2)
        if mask is not None:
            scores = scores + mask
        a = torch.softmax(scores, dim=-1) @ split(v)
        a = a.transpose(1, 2).reshape(n, length, d)
        x = x + _lin(a, sd, p + "self_attn.out_proj")
        h = _ln(x, sd, p + "layer_norm2")
        x = x + _lin(_act(_lin(h, sd, p + "mlp.fc1"), hidden_act), sd, p + "mlp.fc2")
    return x


def hf_encode_image(sd, vision_config, pixels):
    """Image embeddings from a HF-named state dict (float64 tensors) and HF vision_config fields."""
    c = vision_config
    p = "vision_model."
    x = F.conv2d(pixels, sd[p + "embeddings.patch_embedding.weight"], stride=c["patch_size"])
    x = x.flatten(2).transpose(1, 2)
    cls = sd[p + "embeddings.class_embedding"].expand(x.shape[0], 1, -1)
    x = torch.cat([cls, x], dim=1)
    x = x + sd[p + "embeddings.position_embedding.weight"][: x.shape[1]]
    x = _ln(x, sd, p + "pre_layrnorm", c["layer_norm_eps"])
    x = _encoder(x, sd, p, c["num_hidden_layers"], c["num_attention_heads"], c["hidden_act"], None)
    pooled = _ln(x[:, 0, :], sd, p + "post_layernorm", c["layer_norm_eps"])
    return pooled @ sd["visual_projection.weight"].T


def hf_encode_text(sd, text_config, ids, causal=True):
    """Text embeddings from a HF-named state dict; causal=False exists only to show what the mask is worth."""
    c = text_config
    p = "text_model."
    length = ids.shape[1]
    x = sd[p + "embeddings.token_embedding.weight"][ids] + sd[p + "embeddings.position_embedding.weight"][:length]
    x = _encoder(x, sd, p, c["num_hidden_layers"], c["num_attention_heads"], c["hidden_act"],
                 causal_mask(length, x.dtype) if causal else None)
    x = _ln(x, sd, p + "final_layer_norm", c["layer_norm_eps"])
    # HF pools at the first eos_token_id; with EOT the unique largest id that is argmax as well.
    eot = (ids == c["eos_token_id"]).int().argmax(dim=-1)
    return x[torch.arange(x.shape[0]), eot] @ sd["text_projection.weight"].T


# ---------------------------------------------------------------------------------------------
# Eval preprocessing


def resize_shortest(img, size):
    """torchvision Resize(size) with a scalar size on a PIL image: short side → size,
    long side → int(size * long / short) (truncated), PIL bicubic; untouched when already that size."""
    w, h = img.size
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = size, int(size * long / short)
    new_w, new_h = (new_short, new_long) if w <= h else (new_long, new_short)
    if (new_w, new_h) == (w, h):
        return img
    return img.resize((new_w, new_h), Image.BICUBIC)


def center_crop(img, size):
    """torchvision CenterCrop on a PIL image: offsets int(round((dim - size) / 2.0)) with Python's
    round, i.e. halves go to the even neighbour (round(2.5) == 2, round(10.5) == 10)."""
    w, h = img.size
    top = int(round((h - size) / 2.0))
    left = int(round((w - size) / 2.0))
    return img.crop((left, top, left + size, top + size))


def preprocess(img, size, mean=OPENAI_MEAN, std=OPENAI_STD, dtype=torch.float64):
    """open_clip eval transform ('shortest' resize mode): Resize, CenterCrop, convert('RGB'),
    ToTensor (/255), Normalize. Returns [3, size, size]."""
    img = center_crop(resize_shortest(img, size), size).convert("RGB")
    arr = torch.from_numpy(np.asarray(img, dtype=np.uint8).copy()).to(dtype).permute(2, 0, 1) / 255.0
    m = torch.tensor(mean, dtype=dtype).view(3, 1, 1)
    s = torch.tensor(std, dtype=dtype).view(3, 1, 1)
    return (arr - m) / s
