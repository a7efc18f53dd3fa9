"""Reference fixtures for `clipag grad` / gradientModel, made with PyTorch.

Defines tiny models shaped like the towers clipag differentiates (an open_clip-style ViT image
tower, an open_clip-style text tower, a ResNet-style conv net), exports each with
torch.onnx.export (dynamic batch axis), and records torch autograd's gradients of output.sum()
computed in float64 as the reference the TypeScript autodiff must reproduce
(test/grad-torch.test.ts).

Run from the repository root with an interpreter that has torch (tested with 1.13, CPU) and onnx:

    /usr/bin/python3 tools/torch/make_grad_fixtures.py [--out test/fixtures/torch]

Everything is seeded, so a rerun with the same torch version writes the same numbers.

For each fixture NAME_opOPSET it writes NAME_opOPSET.onnx and NAME_opOPSET.json:

    name, opset, torch, onnx_file
    input: {name, dtype}            the graph input (float32 image or int64 token ids)
    output: name                    the graph output; the loss is its sum
    wrt: [onnx names]               the values gradients are taken with respect to
    wrt_source: {onnx name: torch name}   which input / parameter each one is
    ops: [op types]                 every op type in the exported graph
    cases: [{batch, input: T, output: T, grads: {onnx name: T}}]   batch 2 (traced) and 3
    where T = {dims, dtype, b64}: little-endian float32 or int64, base64.

Expected outputs and gradients are computed by a float64 copy of the model and stored as float32.
"""

import argparse
import base64
import copy
import json
import os
import sys

import numpy as np
import onnx
from onnx import numpy_helper
import torch
import torch.nn as nn
import torch.nn.functional as F

SEED = 20240611
BATCHES = (2, 3)  # the export traces batch 2; batch 3 proves the dynamic axis


# ---------------------------------------------------------------------------------------------
# Models (our own small re-statements of the architectures; the facts are open_clip's / ResNet's)


class QuickGELU(nn.Module):
    """x * sigmoid(1.702 x), the activation of OpenAI's original CLIP weights."""

    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class Block(nn.Module):
    """Pre-LN transformer block on sequence-first tensors [L, N, D], as open_clip runs them."""

    def __init__(self, width, heads, act):
        super().__init__()
        self.ln_1 = nn.LayerNorm(width)
        self.attn = nn.MultiheadAttention(width, heads)  # batch_first=False, as open_clip
        self.ln_2 = nn.LayerNorm(width)
        self.c_fc = nn.Linear(width, 4 * width)
        self.act = act()
        self.c_proj = nn.Linear(4 * width, width)

    def forward(self, x, attn_mask=None):
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, need_weights=False, attn_mask=attn_mask)[0]
        return x + self.c_proj(self.act(self.c_fc(self.ln_2(x))))


class VisionTower(nn.Module):
    def __init__(self, image=32, patch=8, width=32, layers=2, heads=4, out_dim=16, act=nn.GELU):
        super().__init__()
        grid = image // patch
        scale = width ** -0.5
        self.conv1 = nn.Conv2d(3, width, kernel_size=patch, stride=patch, bias=False)
        self.class_embedding = nn.Parameter(scale * torch.randn(width))
        self.positional_embedding = nn.Parameter(scale * torch.randn(grid * grid + 1, width))
        self.ln_pre = nn.LayerNorm(width)
        self.blocks = nn.ModuleList([Block(width, heads, act) for _ in range(layers)])
        self.ln_post = nn.LayerNorm(width)
        self.proj = nn.Parameter(scale * torch.randn(width, out_dim))

    def forward(self, image):
        x = self.conv1(image)  # [N, D, g, g]
        x = x.reshape(x.shape[0], x.shape[1], -1).permute(0, 2, 1)  # [N, g*g, D]
        cls = self.class_embedding.to(x.dtype).view(1, 1, -1).expand(x.shape[0], -1, -1)
        x = torch.cat([cls, x], dim=1) + self.positional_embedding.to(x.dtype)
        x = self.ln_pre(x)
        x = x.permute(1, 0, 2)  # NLD -> LND
        for blk in self.blocks:
            x = blk(x)
        x = x.permute(1, 0, 2)
        return self.ln_post(x[:, 0, :]) @ self.proj


class TextTower(nn.Module):
    def __init__(self, vocab=64, context=8, width=32, layers=2, heads=4, out_dim=16):
        super().__init__()
        self.token_embedding = nn.Embedding(vocab, width)
        self.positional_embedding = nn.Parameter(0.1 * torch.randn(context, width))
        self.blocks = nn.ModuleList([Block(width, heads, nn.GELU) for _ in range(layers)])
        self.ln_final = nn.LayerNorm(width)
        self.text_projection = nn.Parameter(width ** -0.5 * torch.randn(width, out_dim))
        mask = torch.empty(context, context).fill_(float("-inf")).triu_(1)  # causal: -inf above the diagonal
        self.register_buffer("attn_mask", mask, persistent=False)

    def forward(self, text):
        x = self.token_embedding(text) + self.positional_embedding
        x = x.permute(1, 0, 2)
        for blk in self.blocks:
            x = blk(x, attn_mask=self.attn_mask)
        x = x.permute(1, 0, 2)
        x = self.ln_final(x)
        # Pool at the end-of-text token, the largest id in each row.
        x = x[torch.arange(x.shape[0]), text.argmax(dim=-1)]
        return x @ self.text_projection


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        idt = x if self.downsample is None else self.downsample(x)
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(y)) + idt)


class ResNet(nn.Module):
    def __init__(self, width=8, classes=10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, width, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU())
        self.pool = nn.MaxPool2d(3, stride=2, padding=1)
        self.layer1 = BasicBlock(width, width, 1)
        self.layer2 = BasicBlock(width, 2 * width, 2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(2 * width, classes)

    def forward(self, image):
        x = self.layer2(self.layer1(self.pool(self.stem(image))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def perturb(model, gen):
    """Moves every parameter and BatchNorm statistic off its textbook init (zero biases, unit
    LayerNorm gains), so that no gradient term vanishes by accident."""
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=gen))
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(0.1 * torch.randn(m.running_mean.shape, generator=gen))
                m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=gen))
    return model


# ---------------------------------------------------------------------------------------------
# Inputs


def images(batch, gen):
    return torch.randn(batch, 3, 32, 32, generator=gen) * 0.5


def token_ids(batch, gen, vocab=64, context=8):
    """Rows like CLIP's tokenizer output: start token, words, end-of-text (the largest id), zero padding."""
    sot, eot = vocab - 2, vocab - 1
    rows = torch.zeros(batch, context, dtype=torch.int64)
    for r in range(batch):
        # Distinct EOT positions across rows; one row fills the context so that every position
        # (and so every row of positional_embedding) reaches the pooled token.
        length = (3, context, 5)[r % 3]
        rows[r, 0] = sot
        rows[r, 1 : length - 1] = torch.randint(1, vocab - 2, (length - 2,), generator=gen)
        rows[r, length - 1] = eot
    return rows


# ---------------------------------------------------------------------------------------------
# Export and references


def tensor_json(t, dtype):
    arr = t.detach().cpu().numpy()
    fmt = {"float32": "<f4", "float64": "<f8", "int64": "<i8"}.get(dtype)
    if fmt is None:
        raise ValueError(dtype)
    data = np.ascontiguousarray(arr, dtype=fmt).tobytes()
    return {"dims": list(arr.shape), "dtype": dtype, "b64": base64.b64encode(data).decode("ascii")}


def onnx_name_of(graph, param):
    """The initializer holding exactly this parameter's float32 values (names can change on export)."""
    want = param.detach().cpu().numpy().astype(np.float32)
    hits = [
        init.name
        for init in graph.initializer
        if tuple(init.dims) == want.shape and np.array_equal(numpy_helper.to_array(init), want)
    ]
    if len(hits) != 1:
        raise RuntimeError(f"expected one initializer equal to the parameter, found {hits}")
    return hits[0]


def export(spec, out_dir, gen):
    name, opset = spec["name"], spec["opset"]
    model = spec["model"]
    base = f"{name}_op{opset}"
    onnx_path = os.path.join(out_dir, base + ".onnx")
    inputs = {b: spec["make_input"](b, gen) for b in BATCHES}

    torch.onnx.export(
        model,
        (inputs[BATCHES[0]],),
        onnx_path,
        input_names=[spec["input_name"]],
        output_names=["embedding"],
        dynamic_axes={spec["input_name"]: {0: "batch"}, "embedding": {0: "batch"}},
        opset_version=opset,
        do_constant_folding=spec.get("fold", True),
        training=spec.get("training", torch.onnx.TrainingMode.EVAL),
    )
    proto = onnx.load(onnx_path)
    onnx.checker.check_model(proto)
    ops = sorted({n.op_type for n in proto.graph.node})

    # wrt: the graph input and/or parameters, found in the graph by value.
    params = dict(model.named_parameters())
    wrt_source = {}
    for w in spec["wrt"]:
        onnx_name = spec["input_name"] if w == spec["input_name"] else onnx_name_of(proto.graph, params[w])
        wrt_source[onnx_name] = w

    ref = copy.deepcopy(model).double().eval()
    ref_params = dict(ref.named_parameters())
    cases = []
    for b in BATCHES:
        x = inputs[b]
        x64 = x.double().requires_grad_(True) if x.is_floating_point() else x
        ref.zero_grad(set_to_none=True)
        y = ref(x64)
        y.sum().backward()
        grads = {}
        for onnx_name, w in wrt_source.items():
            g = x64.grad if w == spec["input_name"] else ref_params[w].grad
            grads[onnx_name] = tensor_json(g, "float32")
        with torch.no_grad():
            y32 = model(x)
        drift = (y32.double() - y).abs().max().item() / max(y.abs().max().item(), 1e-30)
        if drift > 1e-4:
            raise RuntimeError(f"{base}: float32 and float64 models disagree ({drift:.2e})")
        cases.append({
            "batch": b,
            "input": tensor_json(x, "float32" if x.is_floating_point() else "int64"),
            "output": tensor_json(y, "float32"),
            "grads": grads,
        })

    meta = {
        "name": name,
        "opset": opset,
        "torch": torch.__version__,
        "onnx_file": base + ".onnx",
        "input": {"name": spec["input_name"], "dtype": "float32" if inputs[2].is_floating_point() else "int64"},
        "output": "embedding",
        "wrt": list(wrt_source),
        "wrt_source": wrt_source,
        "export": {"do_constant_folding": spec.get("fold", True), "training": str(spec.get("training", torch.onnx.TrainingMode.EVAL))},
        "ops": ops,
        "cases": cases,
    }
    with open(os.path.join(out_dir, base + ".json"), "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")
    return base, ops, wrt_source


def fresh(cls, seed, **kw):
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed + 1)
    return perturb(cls(**kw), gen).eval()


def specs():
    vit = fresh(VisionTower, SEED)
    vit_quick = fresh(VisionTower, SEED + 10, act=QuickGELU)
    text = fresh(TextTower, SEED + 20)
    resnet = fresh(ResNet, SEED + 30)
    out = []
    for opset in (14, 17):
        out.append({"name": "vit", "opset": opset, "model": vit, "input_name": "image", "make_input": images, "wrt": ["image", "proj"]})
    out.append({"name": "vit_quickgelu", "opset": 17, "model": vit_quick, "input_name": "image", "make_input": images, "wrt": ["image", "proj"]})
    for opset in (14, 17):
        out.append({"name": "text", "opset": opset, "model": text, "input_name": "text", "make_input": token_ids,
                    "wrt": ["token_embedding.weight", "positional_embedding"]})
    for opset in (14, 17):
        out.append({"name": "resnet", "opset": opset, "model": resnet, "input_name": "image", "make_input": images, "wrt": ["image"]})
    # EVAL export fuses BatchNorm into the convolutions (an eval peephole pass that runs whatever
    # do_constant_folding says); PRESERVE on a model in eval mode exports inference-mode
    # BatchNormalization nodes instead, and without folding the original weights stay initializers.
    out.append({"name": "resnet_bn", "opset": 17, "model": resnet, "input_name": "image", "make_input": images,
                "wrt": ["image", "stem.0.weight", "stem.1.weight"], "fold": False, "training": torch.onnx.TrainingMode.PRESERVE})
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=os.path.join("test", "fixtures", "torch"))
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    for i, spec in enumerate(specs()):
        gen = torch.Generator().manual_seed(SEED + 1000 + i)
        base, ops, wrt = export(spec, args.out, gen)
        print(f"{base}: wrt {wrt}\n  ops {' '.join(ops)}", file=sys.stderr)
    total = sum(os.path.getsize(os.path.join(args.out, f)) for f in os.listdir(args.out))
    print(f"wrote {args.out} ({total / 1e6:.2f} MB)", file=sys.stderr)


if __name__ == "__main__":
    main()
