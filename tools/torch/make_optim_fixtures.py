"""Reference fixtures for the PAG optimiser pieces (src/engine/pag/optim.ts, init.ts), made with PyTorch.

The CLIPAG notebook (royg27/CLIPAG, CLIPAG_T2I.ipynb) updates the image with torch.optim.AdamW
(single-tensor CPU path, foreach off), torch.nn.utils.clip_grad_norm_, torch.quantile and its
dynamic_thresh; this script records what torch itself computes for each, in float32, so the
TypeScript can be compared against torch rather than against a restatement of the formulas.

Run from the repository root with an interpreter that has torch (tested with 1.13, CPU):

    /usr/bin/python3 tools/torch/make_optim_fixtures.py [--out test/fixtures/pag-optim]

Everything is seeded, so a rerun with the same torch version writes the same numbers.

Writes optim.json:

    torch                         the torch version that made it
    adamw: [{name, lr, betas, eps, weight_decay, init: A, grads: [A], params: [A]}]
                                  params[k] is the parameter after step k+1 (grads[k] applied)
    clip: [{name, max_norm, grad: A | G, norm, clipped: A | S}]
    quantile: [{name, values: A | G, cases: [{p, q}]}]     q = torch.quantile(values, p) (float32)
    dynamic: [{name, p, image: A | G, s, out: A | S}]       s = the clamped quantile the notebook divides by
    upsample: [{name, channels, in_size, out_size, src: A, out: A}]   F.interpolate bilinear, align_corners=False

    A = {b64}: little-endian float32, base64.
    G = {gen: {seed, n, kind, lo, hi, levels?}}: a float32 array that both sides generate with
        mulberry32(seed) (src/engine/random.ts `rng`): value i = float32(lo + (hi - lo) * u_i) for
        kind 'uniform', float32(lo + (hi - lo) * floor(u_i * levels) / levels) for 'quantized'
        (many ties). Used for the canvas-sized arrays that would make the fixture large.
    S = {every, b64, sum}: the expected array at indices 0, every, 2·every, … (float32, base64) and
        the float64 sum of the whole expected array.
"""

import argparse
import base64
import json
import math
import os

import numpy as np
import torch
import torch.nn.functional as F

SEED = 20240917
M32 = 0xFFFFFFFF
CANVAS = 3 * 224 * 224  # the notebook's image, flattened


def b64(a):
    return {"b64": base64.b64encode(np.ascontiguousarray(a, dtype="<f4").tobytes()).decode("ascii")}


def imul(a, b):
    return (a * b) & M32


def mulberry32(seed):
    """The same generator as src/engine/random.ts `rng`, on unsigned 32-bit integers."""
    state = seed & M32

    def nxt():
        nonlocal state
        state = (state + 0x6D2B79F5) & M32
        t = state
        t = imul(t ^ (t >> 15), t | 1)
        t ^= (t + imul(t ^ (t >> 7), t | 61)) & M32
        return ((t ^ (t >> 14)) & M32) / 4294967296.0

    return nxt


def generate(spec):
    r = mulberry32(spec["seed"])
    lo, hi = spec["lo"], spec["hi"]
    out = np.empty(spec["n"], dtype=np.float32)
    if spec["kind"] == "uniform":
        for i in range(spec["n"]):
            out[i] = lo + (hi - lo) * r()
    elif spec["kind"] == "quantized":
        levels = spec["levels"]
        for i in range(spec["n"]):
            out[i] = lo + (hi - lo) * (math.floor(r() * levels) / levels)
    else:
        raise ValueError(spec["kind"])
    return out


def sampled(a, every=97):
    a = np.asarray(a, dtype=np.float32).reshape(-1)
    return {"every": every, **b64(a[::every]), "sum": float(a.astype(np.float64).sum())}


def adamw_case(name, gen, init, grads, lr, weight_decay, betas=(0.9, 0.999), eps=1e-8):
    x = torch.tensor(init, dtype=torch.float32).clone().requires_grad_(True)
    opt = torch.optim.AdamW([x], lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
    params = []
    for g in grads:
        opt.zero_grad()
        x.grad = torch.tensor(g, dtype=torch.float32).clone()
        opt.step()
        params.append(b64(x.detach().numpy().copy()))
    return {
        "name": name, "lr": lr, "betas": list(betas), "eps": eps, "weight_decay": weight_decay,
        "init": b64(init), "grads": [b64(g) for g in grads], "params": params,
    }


def clip_case(name, grad, max_norm, large=None):
    x = torch.zeros(grad.shape, dtype=torch.float32, requires_grad=True)
    x.grad = torch.tensor(grad).clone()
    norm = torch.nn.utils.clip_grad_norm_(x, max_norm=max_norm)
    clipped = x.grad.numpy().copy()
    return {
        "name": name, "max_norm": max_norm,
        "grad": {"gen": large} if large else b64(grad),
        "norm": float(norm), "clipped": sampled(clipped) if large else b64(clipped),
    }


def quantile_case(name, values, ps, large=None):
    t = torch.tensor(values)
    cases = [{"p": p, "q": float(torch.quantile(t, p))} for p in ps]
    return {"name": name, "values": {"gen": large} if large else b64(values), "cases": cases}


def dynamic_thresh(image, p):
    """The notebook's function, verbatim in behaviour."""
    out = image
    out = (out * 2) - 1
    s1 = torch.quantile(torch.abs(out), p)
    s1[s1 < 1] = 1.
    out = torch.clamp(out, min=-s1, max=s1) / s1
    out = (out + 1) / 2
    return out, s1


def dynamic_case(name, image, p, large=None):
    out, s = dynamic_thresh(torch.tensor(image), p)
    out = out.numpy().copy()
    return {
        "name": name, "p": p, "image": {"gen": large} if large else b64(image), "s": float(s),
        "out": sampled(out) if large else b64(out),
    }


def upsample_case(name, rs, channels, in_size, out_size):
    src = rs.rand(channels, in_size, in_size).astype(np.float32)
    out = F.interpolate(torch.tensor(src)[None], size=(out_size, out_size), mode="bilinear", align_corners=False)[0]
    return {"name": name, "channels": channels, "in_size": in_size, "out_size": out_size,
            "src": b64(src), "out": b64(out.numpy())}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="test/fixtures/pag-optim")
    args = ap.parse_args()
    torch.manual_seed(SEED)
    rs = np.random.RandomState(SEED)
    torch.set_num_threads(1)

    shape = (3, 8, 8)
    adamw = [
        # Unit-scale parameter and gradients: every term of the update matters.
        adamw_case("unit", None, rs.randn(*shape).astype(np.float32),
                   [rs.randn(*shape).astype(np.float32) for _ in range(10)], lr=0.01, weight_decay=0.01),
        # The recipe's scale: pixels in [0, 1], gradients already clipped to norm 0.001 (so eps matters),
        # lr 0.0175, torch's default decay.
        adamw_case("recipe", None, rs.rand(*shape).astype(np.float32),
                   [(rs.randn(*shape) * 1e-3 / math.sqrt(192)).astype(np.float32) for _ in range(10)],
                   lr=0.0175, weight_decay=0.01),
        # Strong decay, other betas and eps, some zero gradients.
        adamw_case("decay", None, rs.randn(*shape).astype(np.float32),
                   [(rs.randn(*shape) * (rs.rand(*shape) > 0.3)).astype(np.float32) for _ in range(10)],
                   lr=0.05, weight_decay=0.5, betas=(0.8, 0.99), eps=1e-6),
    ]

    g = rs.randn(*shape).astype(np.float32)
    big = {"seed": 11, "n": CANVAS, "kind": "uniform", "lo": -1e-4, "hi": 1e-4}
    clip = [
        clip_case("below", g * 0.01 / float(np.linalg.norm(g.astype(np.float64))) * 0.5, 0.01),
        clip_case("above", g, 0.001),
        clip_case("barely-above", g * 1.001 / float(np.linalg.norm(g.astype(np.float64))), 1.0),
        clip_case("zero", np.zeros(shape, dtype=np.float32), 0.001),
        clip_case("canvas", generate(big), 0.001, large=big),
    ]

    ps = [0.0, 0.25, 0.5, 0.95, 0.995, 1.0, 1 / 3]
    quantile = [
        quantile_case("n1", np.array([0.7], dtype=np.float32), ps),
        quantile_case("n2", np.array([0.3, -1.25], dtype=np.float32), ps),
        quantile_case("n7", rs.randn(7).astype(np.float32), ps),
        quantile_case("n8", rs.randn(8).astype(np.float32), ps),
        quantile_case("n101-ties", np.round(rs.randn(101) * 2).astype(np.float32) / 2, ps),
        quantile_case("n1000", rs.rand(1000).astype(np.float32), ps),
    ]
    for name, spec in [
        ("canvas-uniform", {"seed": 3, "n": CANVAS, "kind": "uniform", "lo": 0.0, "hi": 1.8}),
        ("canvas-quantized", {"seed": 4, "n": CANVAS, "kind": "quantized", "lo": 0.0, "hi": 1.0, "levels": 255}),
        ("odd-uniform", {"seed": 5, "n": 150527, "kind": "uniform", "lo": -3.0, "hi": 2.0}),
    ]:
        quantile.append(quantile_case(name, generate(spec), ps, large=spec))

    img = (3, 16, 16)
    in_range = rs.uniform(0.05, 0.95, img).astype(np.float32)
    outliers = in_range.copy()
    flat = outliers.reshape(-1)
    # 80 of 768 pixels (> 5 %) outside [0, 1]: the 0.95 quantile of |2x - 1| lands among them.
    idx = rs.choice(flat.size, 80, replace=False)
    flat[idx] = np.where(rs.rand(80) < 0.5, rs.uniform(-0.6, -0.02, 80), rs.uniform(1.02, 1.6, 80)).astype(np.float32)
    dynamic = [
        dynamic_case("in-range", in_range, 0.95),  # s < 1: clamp only
        dynamic_case("outliers", outliers, 0.95),  # s > 1: squash
        dynamic_case("outliers-p995", outliers, 0.995),
    ]
    for name, spec in [
        ("canvas-in-range", {"seed": 7, "n": CANVAS, "kind": "uniform", "lo": 0.0, "hi": 1.0}),
        ("canvas-outliers", {"seed": 8, "n": CANVAS, "kind": "uniform", "lo": -0.3, "hi": 1.4}),
    ]:
        dynamic.append(dynamic_case(name, generate(spec), 0.95, large=spec))

    upsample = [
        upsample_case("4to11", rs, 3, 4, 11),
        upsample_case("16to40", rs, 3, 16, 40),
        upsample_case("5to5", rs, 1, 5, 5),
    ]

    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "optim.json")
    with open(path, "w") as f:
        json.dump({"torch": torch.__version__, "seed": SEED, "adamw": adamw, "clip": clip,
                   "quantile": quantile, "dynamic": dynamic, "upsample": upsample}, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")


if __name__ == "__main__":
    main()
