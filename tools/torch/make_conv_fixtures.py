"""A small clipag conv tower (src/engine/clip/tower-conv.ts: issue 17's probe architecture) in torch,
with the embeddings and input gradients it must give, in float64.

Run from the repository root with an interpreter that has torch (tested with 1.13, CPU) and numpy:

    /usr/bin/python3 tools/torch/make_conv_fixtures.py [--out test/fixtures/clip-conv]

Seeded: a rerun with the same torch version writes byte-identical files. Files:
  weights.safetensors  float32, the tower's state dict under `visual.` (torch's names: body.0 the
                       first Conv2d, body.1 its GroupNorm, head the 1x1 conv, proj the read-out)
  expected.json        the config, normalised pixel inputs, the embeddings, the gradient of
                       sum(v * embedding) w.r.t. the pixels for a fixed v, and d/dW of
                       sum(u * that gradient) for two parameters (torch double backprop)
"""

import argparse
import json
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_clip_fixtures as mcf  # noqa: E402

CONFIG = {
    "kind": "conv", "imageSize": 16, "groups": 4, "headChannels": 4, "outputDim": 6,
    "convs": [{"channels": 8, "kernel": 4, "stride": 2}, {"channels": 8, "kernel": 3, "stride": 1},
              {"channels": 12, "kernel": 3, "stride": 2}],
}
N = 2
DOUBLE_WRT = ["visual.body.0.weight", "visual.body.4.weight"]


class Tower(nn.Module):
    """The same layers as tools/torch/probe_model.py's ImageTower (flat head), from CONFIG."""

    def __init__(self, cfg):
        super().__init__()
        layers, cin = [], 3
        for c in cfg["convs"]:
            k = c["kernel"]
            layers += [nn.Conv2d(cin, c["channels"], k, c["stride"], (k - 1) // 2),
                       nn.GroupNorm(cfg["groups"], c["channels"]), nn.GELU()]
            cin = c["channels"]
        self.body = nn.Sequential(*layers)
        self.head = nn.Conv2d(cin, cfg["headChannels"], 1)
        side = cfg["imageSize"]
        for c in cfg["convs"]:
            k = c["kernel"]
            side = (side + 2 * ((k - 1) // 2) - k) // c["stride"] + 1
        self.proj = nn.Linear(cfg["headChannels"] * side * side, cfg["outputDim"])

    def forward(self, x):
        return self.proj(F.gelu(self.head(self.body(x))).flatten(1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="test/fixtures/clip-conv")
    o = ap.parse_args()
    torch.manual_seed(17)
    tower = Tower(CONFIG)
    with torch.no_grad():
        # GroupNorm's affine parameters away from (1, 0), so a mix-up of weight and bias shows.
        for m in tower.modules():
            if isinstance(m, nn.GroupNorm):
                m.weight.copy_(1 + 0.2 * torch.randn_like(m.weight))
                m.bias.copy_(0.1 * torch.randn_like(m.bias))
    state = {f"visual.{k}": v.detach().float().contiguous() for k, v in tower.state_dict().items()}
    os.makedirs(o.out, exist_ok=True)
    mcf.write_atomic(os.path.join(o.out, "weights.safetensors"), mcf.safetensors_bytes(state, {"format": "pt"}))

    tower = tower.double()
    s = CONFIG["imageSize"]
    pixels = torch.randn(N, 3, s, s, dtype=torch.float64)
    v = torch.randn(N, CONFIG["outputDim"], dtype=torch.float64)
    x = pixels.clone().requires_grad_(True)
    out = tower(x)
    g, = torch.autograd.grad((out * v).sum(), x, create_graph=True)
    u = torch.randn_like(g)
    params = dict(tower.named_parameters())
    second = torch.autograd.grad((g * u).sum(), [params[n[len("visual."):]] for n in DOUBLE_WRT])
    expected = {
        "config": CONFIG, "n": N,
        "pixels": pixels.flatten().tolist(),
        "embeddings": out.detach().flatten().tolist(),
        "v": v.flatten().tolist(),
        "pixelGrad": g.detach().flatten().tolist(),
        "u": u.flatten().tolist(),
        "secondOrder": {n: d.flatten().tolist() for n, d in zip(DOUBLE_WRT, second)},
    }
    mcf.write_atomic(os.path.join(o.out, "expected.json"), mcf.json_bytes(expected))


if __name__ == "__main__":
    main()
