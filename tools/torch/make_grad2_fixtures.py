"""Second-order reference fixtures (double backprop) for the TypeScript autodiff, made with PyTorch.

Exports tiny models with torch.onnx.export and records, computed in float64 by torch autograd with
create_graph=True, the gradient of D = sum(v * dL/dx) with respect to parameters θ (and x itself),
where L = sum(output) and v is a fixed random tensor shaped like x. That is what
test/grad2-torch.test.ts checks after applying `gradients` twice (x is the graph input, or the
embedding table for the token model). A second reference with v = 1 serves the CLI test, where
`clipag grad` is run on its own output (the loss is then sum(grad_x)).

Run from the repository root with an interpreter that has torch (tested with 1.13, CPU) and onnx:

    /usr/bin/python3 tools/torch/make_grad2_fixtures.py [--out test/fixtures/torch2]

Everything is seeded. Shapes are exported static (no dynamic axes) and without constant folding,
so parameters stay initializers under their own values. For each fixture NAME it writes
NAME.onnx and NAME.json:

    name, opset, torch, onnx_file, ops
    input: {name, dtype, value: T}     the graph input and the value fed to it
    output: name                       L = sum(output)
    first: onnx name                   x, the value dL/dx is taken of
    second: [onnx names]               θ, the values D is differentiated by
    second_source: {onnx name: torch name}
    v: T                               the direction, float32, shaped like x
    output_value: T                    the output (float64 reference)
    grad: T                            dL/dx (float64)
    grad2: {onnx name: T}              dD/dθ (float64)
    grad2_ones: {onnx name: T}         dD/dθ with v = 1 (float64; identically 0 for tokens and
                                       vit_block, where a LayerNorm sees x + c·1 as x)
    where T = {dims, dtype, b64}: little-endian float32, float64 or int64, base64.
"""

import argparse
import copy
import json
import os
import sys

import numpy as np
import onnx
import torch
import torch.nn as nn

# Shared with the first-order fixtures (this folder is on sys.path when the script runs).
from make_grad_fixtures import onnx_name_of, tensor_json

SEED = 20240917
OPSET = 17


# ---------------------------------------------------------------------------------------------
# Models


class ConvNet(nn.Module):
    """Conv → BatchNorm (eval) → GELU → MaxPool → Conv → tanh → Linear. The second conv and tanh
    put a nonlinearity after the pool, so the second derivative passes through MaxPool's gradient
    (a ScatterElements) and not only through GELU's."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.act = nn.GELU()
        self.pool = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 4 * 4, 5)

    def forward(self, image):
        x = self.pool(self.act(self.bn(self.conv(image))))
        return self.fc(torch.flatten(torch.tanh(self.conv2(x)), 1))


class Mlp(nn.Module):
    """Linear → LayerNorm → GELU → Linear → Softmax → Linear (the sum of a softmax alone is constant)."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(6, 8)
        self.ln = nn.LayerNorm(8)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(8, 5)
        self.head = nn.Linear(5, 3)

    def forward(self, x):
        return self.head(torch.softmax(self.fc2(self.act(self.ln(self.fc1(x)))), dim=-1))


class Block(nn.Module):
    """open_clip's pre-LN residual attention block on [L, N, D] (as in make_grad_fixtures.py)."""

    def __init__(self, width=16, heads=2):
        super().__init__()
        self.ln_1 = nn.LayerNorm(width)
        self.attn = nn.MultiheadAttention(width, heads)
        self.ln_2 = nn.LayerNorm(width)
        self.c_fc = nn.Linear(width, 4 * width)
        self.act = nn.GELU()
        self.c_proj = nn.Linear(4 * width, width)

    def forward(self, x):
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.c_proj(self.act(self.c_fc(self.ln_2(x))))


class TokenModel(nn.Module):
    """Embedding lookup (Gather, whose gradient is a ScatterND) → LayerNorm → tanh → mean → Linear."""

    def __init__(self, vocab=12, width=8, context=5):
        super().__init__()
        self.token_embedding = nn.Embedding(vocab, width)
        self.positional_embedding = nn.Parameter(0.1 * torch.randn(context, width))
        self.ln = nn.LayerNorm(width)
        self.proj = nn.Linear(width, 4)

    def forward(self, text):
        x = torch.tanh(self.ln(self.token_embedding(text) + self.positional_embedding))
        return self.proj(x.mean(dim=1))


def perturb(model, gen):
    """Moves parameters and BatchNorm statistics off their textbook init so no term vanishes."""
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=gen))
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(0.1 * torch.randn(m.running_mean.shape, generator=gen))
                m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=gen))
    return model.eval()


# ---------------------------------------------------------------------------------------------
# Export and references


def second_order(model, x, first, second, v):
    """dD/dθ for D = sum(v * dL/dfirst), L = sum(model(x)), all in float64."""
    ref = copy.deepcopy(model).double().eval()
    params = dict(ref.named_parameters())
    x64 = x.double().requires_grad_(True) if x.is_floating_point() else x
    leaf = lambda name: x64 if name == "input" else params[name]  # noqa: E731
    y = ref(x64)
    (g,) = torch.autograd.grad(y.sum(), [leaf(first)], create_graph=True)
    d = (g * v.double()).sum()
    hs = torch.autograd.grad(d, [leaf(w) for w in second])
    return y, g, dict(zip(second, hs))


def export(spec, out_dir, gen):
    name, model = spec["name"], spec["model"]
    x = spec["input"]
    onnx_path = os.path.join(out_dir, name + ".onnx")
    torch.onnx.export(
        model,
        (x,),
        onnx_path,
        input_names=[spec["input_name"]],
        output_names=["y"],
        opset_version=OPSET,
        do_constant_folding=False,
        training=torch.onnx.TrainingMode.PRESERVE,
    )
    proto = onnx.load(onnx_path)
    onnx.checker.check_model(proto)
    ops = sorted({n.op_type for n in proto.graph.node})
    params = dict(model.named_parameters())
    onnx_name = lambda w: spec["input_name"] if w == "input" else onnx_name_of(proto.graph, params[w])  # noqa: E731

    first, second = spec["first"], spec["second"]
    first_shape = x.shape if first == "input" else params[first].shape
    v = torch.randn(first_shape, generator=gen)
    y, g, h = second_order(model, x, first, second, v)
    _, _, h1 = second_order(model, x, first, second, torch.ones(first_shape))
    with torch.no_grad():
        drift = (model(x).double() - y).abs().max().item() / max(y.abs().max().item(), 1e-30)
    if drift > 1e-4:
        raise RuntimeError(f"{name}: float32 and float64 models disagree ({drift:.2e})")

    meta = {
        "name": name,
        "opset": OPSET,
        "torch": torch.__version__,
        "onnx_file": name + ".onnx",
        "ops": ops,
        "input": {"name": spec["input_name"], "dtype": "float32" if x.is_floating_point() else "int64",
                  "value": tensor_json(x, "float32" if x.is_floating_point() else "int64")},
        "output": "y",
        "first": onnx_name(first),
        "second": [onnx_name(w) for w in second],
        "second_source": {onnx_name(w): w for w in second},
        "v": tensor_json(v, "float32"),
        "output_value": tensor_json(y, "float64"),
        "grad": tensor_json(g, "float64"),
        "grad2": {onnx_name(w): tensor_json(h[w], "float64") for w in second},
        "grad2_ones": {onnx_name(w): tensor_json(h1[w], "float64") for w in second},
    }
    with open(os.path.join(out_dir, name + ".json"), "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")
    return name, ops


def fresh(cls, seed):
    torch.manual_seed(seed)
    return perturb(cls(), torch.Generator().manual_seed(seed + 1))


def specs(gen):
    ids = torch.tensor([[1, 4, 4, 7, 11], [0, 4, 9, 2, 2]], dtype=torch.int64)  # repeats accumulate
    return [
        {"name": "convnet", "model": fresh(ConvNet, SEED), "input_name": "image", "input": torch.randn(2, 3, 8, 8, generator=gen),
         "first": "input", "second": ["input", "conv.weight", "bn.weight"]},
        {"name": "mlp", "model": fresh(Mlp, SEED + 10), "input_name": "x", "input": torch.randn(3, 6, generator=gen),
         "first": "input", "second": ["input", "fc1.weight", "ln.weight"]},
        {"name": "vit_block", "model": fresh(Block, SEED + 20), "input_name": "x", "input": torch.randn(5, 2, 16, generator=gen),
         "first": "input", "second": ["input", "attn.in_proj_weight", "ln_1.weight"]},
        {"name": "tokens", "model": fresh(TokenModel, SEED + 30), "input_name": "text", "input": ids,
         "first": "token_embedding.weight", "second": ["token_embedding.weight", "proj.weight", "ln.weight"]},
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=os.path.join("test", "fixtures", "torch2"))
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(SEED + 1000)
    for spec in specs(gen):
        name, ops = export(spec, args.out, gen)
        print(f"{name}: ops {' '.join(ops)}", file=sys.stderr)
    total = sum(os.path.getsize(os.path.join(args.out, f)) for f in os.listdir(args.out))
    print(f"wrote {args.out} ({total / 1e3:.0f} KB)", file=sys.stderr)


if __name__ == "__main__":
    main()
