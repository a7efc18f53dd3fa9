"""Tiny CLIP checkpoints in the layouts clipag loads, plus the embeddings they must produce.

The expected embeddings come from tools/torch/clip_reference.py (float64), an implementation written
from open_clip's published facts and independent of clipag's TypeScript. clipag's end-to-end tests
load each checkpoint, run its towers and compare (test/fixtures/clip/README.md has the layout).

Run from the repository root with an interpreter that has torch (tested with 1.13, CPU), numpy, PIL:

    /usr/bin/python3 tools/torch/make_clip_fixtures.py [--out test/fixtures/clip]

Everything is seeded: a rerun with the same torch/PIL versions writes byte-identical files.

Two sets of random weights are made, with realistic scales (so a wrong formula shows):
  G  exact-GELU model   → openclip-gelu.bin, hf-gelu/ (safetensors), openclip-gelu-fp16.bin
  Q  QuickGELU model    → openclip-quickgelu-train.pt (after one real AdamW step), hf-quickgelu-bin/
Both layouts of one weight set must give the same embeddings; the script checks that itself.
"""

import argparse
import base64
import hashlib
import json
import math
import os
import struct
import sys
from collections import OrderedDict

import numpy as np
import PIL
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clip_reference as ref  # noqa: E402

SEED = 20250603
VOCAB = 512  # ids above 255 on purpose; small so the token tables stay small
SOT, EOT, PAD = VOCAB - 2, VOCAB - 1, 0
CONTEXT = 77
TOLERANCE = 1e-4

CONFIG_GELU = {
    "embed_dim": 24,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 32, "patch_size": 8, "head_width": 16},
    "text_cfg": {"context_length": CONTEXT, "vocab_size": VOCAB, "width": 32, "heads": 4, "layers": 2},
}
# Deliberately shaped unlike G (embed 16, vision width 16 in 4 heads of 4, text width 16 in 2 heads,
# one vision layer) so a loader that hard-codes a shape, or reads one config for another, fails.
CONFIG_QUICKGELU = {
    "embed_dim": 16,
    "quick_gelu": True,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 16, "patch_size": 8, "head_width": 4},
    "text_cfg": {"context_length": CONTEXT, "vocab_size": VOCAB, "width": 16, "heads": 2, "layers": 2},
}

# Which tensors OpenAI's convert_weights_to_fp16 halves (conv/linear weights and biases, the fused
# attention projections, the two output projections); the rest stay float32 in their fp16 releases.
def is_fp16_in_openai_release(name):
    return (name.endswith(("attn.in_proj_weight", "attn.in_proj_bias", "out_proj.weight", "out_proj.bias",
                           "c_fc.weight", "c_fc.bias", "c_proj.weight", "c_proj.bias"))
            or name in ("visual.conv1.weight", "visual.proj", "text_projection"))


# ---------------------------------------------------------------------------------------------
# inputs


def name_rng(tag, name):
    digest = hashlib.sha256(f"{SEED}/{tag}/{name}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def weight_scale(name, shape):
    """(mean, std) for one open_clip tensor. Larger than open_clip's init on purpose: attention logits
    of order 1 (not a uniform softmax), MLP inputs where GELU and QuickGELU disagree visibly."""
    if name.endswith(("ln_1.weight", "ln_2.weight", "ln_pre.weight", "ln_post.weight", "ln_final.weight")):
        return 1.0, 0.1
    if name.endswith(("ln_1.bias", "ln_2.bias", "ln_pre.bias", "ln_post.bias", "ln_final.bias")):
        return 0.0, 0.05
    table = {
        "attn.in_proj_weight": 0.2, "attn.in_proj_bias": 0.05,
        "attn.out_proj.weight": 0.25, "attn.out_proj.bias": 0.02,
        "mlp.c_fc.weight": 0.15, "mlp.c_fc.bias": 0.05,
        "mlp.c_proj.weight": 0.1, "mlp.c_proj.bias": 0.02,
        "visual.conv1.weight": 0.05, "visual.class_embedding": 0.2, "visual.positional_embedding": 0.1,
        "token_embedding.weight": 0.1, "positional_embedding": 0.05,
    }
    for suffix, std in table.items():
        if name == suffix or name.endswith("." + suffix):
            return 0.0, std
    if name in ("visual.proj", "text_projection"):
        return 0.0, shape[0] ** -0.5
    raise KeyError(name)


def random_state_dict(cfg, tag):
    """Float32 open_clip state dict, in open_clip's own key order, every tensor from its own seeded stream."""
    shapes = ref.CLIPReference(ref.config_from_open_clip(cfg), torch.float32).state_dict()
    out = OrderedDict()
    for name, t in shapes.items():
        if name == "logit_scale":
            out[name] = torch.tensor(math.log(1 / 0.07), dtype=torch.float32)
            continue
        mean, std = weight_scale(name, tuple(t.shape))
        values = mean + std * name_rng(tag, name).standard_normal(tuple(t.shape))
        out[name] = torch.from_numpy(values.astype(np.float32))
    return out


def text_rows():
    """SOT, words, EOT, then PAD zeros: an empty prompt, short, medium and a full 77-token row."""
    rng = name_rng("inputs", "text")
    rows, lengths = [], [0, 5, 20, CONTEXT - 2]
    for n in lengths:
        words = rng.integers(1, SOT, size=n).tolist()
        row = [SOT] + words + [EOT]
        rows.append(row + [PAD] * (CONTEXT - len(row)))
    return torch.tensor(rows, dtype=torch.int64)


def pixel_inputs(n=3, size=32):
    """Already-normalised float32 images: smooth colour fields plus noise, mapped through OpenAI's
    normalisation so their range is what a real preprocessed image has (about -1.8..2.1)."""
    rng = name_rng("inputs", "pixels")
    yy, xx = np.meshgrid(np.linspace(0, 1, size), np.linspace(0, 1, size), indexing="ij")
    out = np.empty((n, 3, size, size))
    for i in range(n):
        for c in range(3):
            a, b, ph = rng.uniform(-3, 3), rng.uniform(-3, 3), rng.uniform(0, 2 * np.pi)
            field = 0.5 + 0.35 * np.sin(a * xx + b * yy + ph) + 0.15 * rng.standard_normal((size, size))
            out[i, c] = (np.clip(field, 0, 1) - ref.OPENAI_MEAN[c]) / ref.OPENAI_STD[c]
    return torch.from_numpy(out.astype(np.float32))


# Sizes chosen so the centre crop hits an exact half: torchvision's int(round(x)) sends 2.5 → 2 and
# 10.5 → 10 (Python rounds halves to even), where Math.round would give 3 and 11.
PNG_SPECS = [("landscape-43x37.png", 43, 37), ("portrait-30x50.png", 30, 50), ("square-32x32.png", 32, 32)]


def make_png(name, w, h):
    rng = name_rng("png", name)
    yy, xx = np.meshgrid(np.arange(h) / max(h - 1, 1), np.arange(w) / max(w - 1, 1), indexing="ij")
    # a different colour ramp per image and channel, a soft disc, and noise
    ramps = [rng.uniform(0.3, 0.7) + 0.8 * (rng.uniform(-1, 1) * (xx - 0.5) + rng.uniform(-1, 1) * (yy - 0.5))
             for _ in range(3)]
    cy, cx, r = rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8), rng.uniform(0.15, 0.4)
    disc = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r))
    rgb = np.stack([255 * (ramp + rng.uniform(-0.4, 0.4) * disc) for ramp in ramps], axis=-1)
    rgb += rng.normal(0, 25, size=rgb.shape)
    return Image.fromarray(np.clip(np.rint(rgb), 0, 255).astype(np.uint8), "RGB")


# ---------------------------------------------------------------------------------------------
# containers


def write_atomic(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def torch_save_atomic(obj, path):
    # The zip archive's inner folder is named after the file given to torch.save, so save under the
    # final name in a scratch folder and move it, rather than saving to "x.tmp".
    scratch = os.path.join(os.path.dirname(path), ".tmp-save")
    os.makedirs(scratch, exist_ok=True)
    tmp = os.path.join(scratch, os.path.basename(path))
    torch.save(obj, tmp)
    os.replace(tmp, path)
    os.rmdir(scratch)


SAFETENSORS_DTYPES = {torch.float32: ("F32", "<f4"), torch.float16: ("F16", "<f2"), torch.int64: ("I64", "<i8")}


def safetensors_bytes(tensors, metadata):
    """safetensors: u64 little-endian header length, JSON header {name: {dtype, shape, data_offsets}}
    (offsets relative to the end of the header), then the raw little-endian bytes. The header is
    space-padded to a multiple of 8 so the data starts aligned, as the reference writer does."""
    header = {"__metadata__": metadata}
    blobs, offset = [], 0
    for name in sorted(tensors):
        t = tensors[name]
        code, np_dtype = SAFETENSORS_DTYPES[t.dtype]
        raw = np.ascontiguousarray(t.numpy(), dtype=np_dtype).tobytes()
        header[name] = {"dtype": code, "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def read_safetensors(path):
    """Read back what safetensors_bytes wrote, independently of the writer's bookkeeping."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    body = data[8 + n:]
    inverse = {code: np_dtype for code, np_dtype in SAFETENSORS_DTYPES.values()}
    out = OrderedDict()
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        arr = np.frombuffer(body[a:b], dtype=inverse[info["dtype"]]).reshape(info["shape"])
        out[name] = torch.from_numpy(arr.copy())
    return out


def hf_config(cfg, hidden_act):
    c = ref.config_from_open_clip(cfg)
    return {
        "architectures": ["CLIPModel"],
        "model_type": "clip",
        "projection_dim": c.embed_dim,
        "logit_scale_init_value": 2.6592,
        "initializer_factor": 1.0,
        "torch_dtype": "float32",
        "text_config": {
            "model_type": "clip_text_model",
            "hidden_size": c.text_width,
            "intermediate_size": int(c.text_width * c.mlp_ratio),
            "num_attention_heads": c.text_heads,
            "num_hidden_layers": c.text_layers,
            "max_position_embeddings": c.context_length,
            "vocab_size": c.vocab_size,
            "hidden_act": hidden_act,
            "layer_norm_eps": ref.LN_EPS,
            "projection_dim": c.embed_dim,
            "bos_token_id": SOT,
            "eos_token_id": EOT,
            "pad_token_id": PAD,
        },
        "vision_config": {
            "model_type": "clip_vision_model",
            "hidden_size": c.vision_width,
            "intermediate_size": int(c.vision_width * c.mlp_ratio),
            "num_attention_heads": c.vision_heads,
            "num_hidden_layers": c.vision_layers,
            "image_size": c.image_size,
            "patch_size": c.patch_size,
            "num_channels": 3,
            "hidden_act": hidden_act,
            "layer_norm_eps": ref.LN_EPS,
            "projection_dim": c.embed_dim,
        },
    }


def preprocessor_config(size):
    return {
        "image_processor_type": "CLIPImageProcessor",
        "do_resize": True,
        "size": {"shortest_edge": size},
        "resample": 3,  # PIL bicubic
        "do_center_crop": True,
        "crop_size": {"height": size, "width": size},
        "do_rescale": True,
        "rescale_factor": 1 / 255,
        "do_normalize": True,
        "image_mean": list(ref.OPENAI_MEAN),
        "image_std": list(ref.OPENAI_STD),
        "do_convert_rgb": True,
    }


def json_bytes(obj):
    """Indented JSON, except that a list of numbers (an id row, an embedding) stays on one line.
    Floats are written by repr: the shortest text that reads back as the same float64."""
    def emit(o, depth):
        pad = "  " * (depth + 1)
        if isinstance(o, dict) and o:
            items = [f"{pad}{json.dumps(k)}: {emit(v, depth + 1)}" for k, v in o.items()]
            return "{\n" + ",\n".join(items) + "\n" + "  " * depth + "}"
        if isinstance(o, list) and o and not all(isinstance(v, (int, float)) for v in o):
            return "[\n" + ",\n".join(pad + emit(v, depth + 1) for v in o) + "\n" + "  " * depth + "]"
        return json.dumps(o, separators=(", ", ": "))
    return (emit(obj, 0) + "\n").encode()


# ---------------------------------------------------------------------------------------------
# one real training step (so the optimizer state is what open_clip would save)


def train_one_step(cfg, state, pixels, ids):
    model = ref.load_reference(ref.config_from_open_clip(cfg), state, torch.float32).train()
    # open_clip's param groups: no weight decay on gains, biases, embeddings of rank < 2, logit_scale.
    exclude = lambda n, p: p.ndim < 2 or "bn" in n or "ln" in n or "bias" in n or "logit_scale" in n  # noqa: E731
    named = list(model.named_parameters())
    optimizer = torch.optim.AdamW(
        [{"params": [p for n, p in named if exclude(n, p)], "weight_decay": 0.0},
         {"params": [p for n, p in named if not exclude(n, p)], "weight_decay": 0.2}],
        lr=5e-4, betas=(0.9, 0.98), eps=1e-6)
    img = F.normalize(model.encode_image(pixels), dim=-1)
    txt = F.normalize(model.encode_text(ids), dim=-1)
    logits = model.logit_scale.exp() * img @ txt.T
    labels = torch.arange(len(img))
    loss = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    # open_clip saves a DistributedDataParallel model's state_dict(): keys gain "module." and the
    # dict carries torch's _metadata attribute, as this wrapper's does.
    ddp_like = torch.nn.Module()
    ddp_like.module = model
    return ddp_like.state_dict(), optimizer.state_dict(), float(loss)


# ---------------------------------------------------------------------------------------------
# checks


def rel(a, b):
    return float((a - b).abs().max() / b.abs().max())


def check_close(what, a, b, tol=1e-10):
    r = rel(a, b)
    print(f"  {what}: relative difference {r:.2e}")
    if not r <= tol:
        raise SystemExit(f"self-check failed: {what} differ by {r:.3e} (allowed {tol:.0e})")


def check_apart(what, a, b, at_least=50 * TOLERANCE):
    r = rel(a, b)
    print(f"  {what}: relative difference {r:.2e} (tolerance {TOLERANCE:.0e})")
    if not r >= at_least:
        raise SystemExit(f"self-check failed: {what} differ by only {r:.3e}; the fixture cannot tell them apart")


def preprocess_variant(img, size, half_up=False, resample=Image.BICUBIC):
    """A near miss of the reference preprocessing, to show the PNG fixtures notice it."""
    w, h = img.size
    new = (size, int(size * h / w)) if w <= h else (int(size * w / h), size)
    img = img.resize(new, resample) if new != (w, h) else img
    off = (lambda d: math.floor((d - size) / 2 + 0.5)) if half_up else (lambda d: int(round((d - size) / 2.0)))
    left, top = off(img.size[0]), off(img.size[1])
    img = img.crop((left, top, left + size, top + size)).convert("RGB")
    x = torch.from_numpy(np.asarray(img, dtype=np.float64).copy()).permute(2, 0, 1) / 255.0
    return (x - torch.tensor(ref.OPENAI_MEAN).view(3, 1, 1)) / torch.tensor(ref.OPENAI_STD).view(3, 1, 1)


def describe(name, emb):
    cos = ref.cosine(emb, emb)
    off = cos[~torch.eye(len(cos), dtype=torch.bool)]
    print(f"  {name}: max|x| {float(emb.abs().max()):.3f}, min|x| of row norms {float(emb.norm(dim=-1).min()):.3f}, "
          f"largest cosine between different rows {float(off.max()):.3f}")
    if float(off.max()) > 0.98:
        raise SystemExit(f"self-check failed: {name} rows nearly parallel; fixture would not tell inputs apart")


# ---------------------------------------------------------------------------------------------


def tensor_json(t):
    arr = np.ascontiguousarray(t.detach().numpy(), dtype="<f4")
    return {"dims": list(arr.shape), "dtype": "float32", "b64": base64.b64encode(arr.tobytes()).decode("ascii")}


def strongest_pair(img, txt):
    """The (image, text) pair with the largest |cosine|, so the pair check is not made on a near-zero."""
    cos = ref.cosine(img, txt).abs()
    i = int(cos.argmax())
    return i // cos.shape[1], i % cos.shape[1]


def embeddings_entry(img, txt, png, logit_scale, pair):
    cos = ref.cosine(img, txt)
    i, j = pair
    return {
        "logit_scale": logit_scale,
        "text_embeddings": txt.tolist(),
        "image_embeddings": img.tolist(),
        "png_embeddings": png.tolist(),
        "similarity": {"image": i, "text": j, "cosine": float(cos[i, j]),
                       "logit": math.exp(logit_scale) * float(cos[i, j])},
        "cosine_matrix": cos.tolist(),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="test/fixtures/clip")
    args = ap.parse_args()
    out = args.out
    os.makedirs(os.path.join(out, "hf-gelu"), exist_ok=True)
    os.makedirs(os.path.join(out, "hf-quickgelu-bin"), exist_ok=True)
    torch.manual_seed(SEED)

    ids = text_rows()
    pixels = pixel_inputs()
    image_size = CONFIG_GELU["vision_cfg"]["image_size"]
    assert CONFIG_QUICKGELU["vision_cfg"]["image_size"] == image_size  # one set of PNG pixels serves both

    png_entries, png_pixels = [], []
    for name, w, h in PNG_SPECS:
        img = make_png(name, w, h)
        path = os.path.join(out, name)
        img.save(path + ".tmp.png", format="PNG", optimize=False)
        os.replace(path + ".tmp.png", path)
        x = ref.preprocess(Image.open(path), image_size)  # from the file, as a user would load it
        png_pixels.append(x)
        short, long = min(w, h), max(w, h)
        rw, rh = (image_size, int(image_size * long / short)) if w <= h else (int(image_size * long / short), image_size)
        png_entries.append({"file": name, "width": w, "height": h, "resized": [rw, rh],
                            "crop_left": int(round((rw - image_size) / 2.0)),
                            "crop_top": int(round((rh - image_size) / 2.0)),
                            "pixels": tensor_json(x)})
    png_pixels = torch.stack(png_pixels)

    cg, cq = ref.config_from_open_clip(CONFIG_GELU), ref.config_from_open_clip(CONFIG_QUICKGELU)
    checkpoints = OrderedDict()

    def run_reference(c, sd):
        m = ref.load_reference(c, sd)
        with torch.no_grad():
            return (m.encode_image(pixels.double()), m.encode_text(ids), m.encode_image(png_pixels),
                    float(sd["logit_scale"].double()))

    def run_hf(hf_cfg, sd):
        sd = {k: v.double() for k, v in sd.items() if not k.endswith("position_ids")}
        v, t = hf_cfg["vision_config"], hf_cfg["text_config"]
        return (ref.hf_encode_image(sd, v, pixels.double()), ref.hf_encode_text(sd, t, ids),
                ref.hf_encode_image(sd, v, png_pixels), float(sd["logit_scale"]))

    # (a) open_clip state dict, exact GELU
    print("G: exact-GELU weights")
    g = random_state_dict(CONFIG_GELU, "gelu")
    # saved as a live module's state_dict(), _metadata attribute included, as open_clip users save
    torch_save_atomic(ref.load_reference(cg, g, torch.float32).state_dict(), os.path.join(out, "openclip-gelu.bin"))
    write_atomic(os.path.join(out, "openclip-gelu.json"), json_bytes(CONFIG_GELU))
    res_a = run_reference(cg, torch.load(os.path.join(out, "openclip-gelu.bin")))
    pair_g = strongest_pair(res_a[0], res_a[1])
    checkpoints["openclip-gelu"] = {
        "path": "openclip-gelu.bin", "config": "openclip-gelu.json", "layout": "open_clip",
        "container": "torch zip pickle, bare state dict", "hidden_act": "gelu", "embed_dim": cg.embed_dim,
        **embeddings_entry(*res_a[:3], res_a[3], pair_g)}

    # (c) HF folder, safetensors, same weights
    hf_g = ref.openclip_to_hf(g, cg.vision_layers, cg.text_layers)
    cfg_c = hf_config(CONFIG_GELU, "gelu")
    write_atomic(os.path.join(out, "hf-gelu", "model.safetensors"), safetensors_bytes(hf_g, {"format": "pt"}))
    write_atomic(os.path.join(out, "hf-gelu", "config.json"), json_bytes(cfg_c))
    write_atomic(os.path.join(out, "hf-gelu", "preprocessor_config.json"), json_bytes(preprocessor_config(image_size)))
    res_c = run_hf(cfg_c, read_safetensors(os.path.join(out, "hf-gelu", "model.safetensors")))
    checkpoints["hf-gelu"] = {
        "path": "hf-gelu", "config": "hf-gelu/config.json", "layout": "huggingface",
        "container": "safetensors (model.safetensors)", "hidden_act": "gelu", "embed_dim": cg.embed_dim,
        **embeddings_entry(*res_c[:3], res_c[3], pair_g)}

    # (e) the same weights, float16 where OpenAI's fp16 releases have it
    g16 = OrderedDict((k, v.half() if is_fp16_in_openai_release(k) else v.clone()) for k, v in g.items())
    torch_save_atomic(g16, os.path.join(out, "openclip-gelu-fp16.bin"))
    res_e = run_reference(cg, torch.load(os.path.join(out, "openclip-gelu-fp16.bin")))
    checkpoints["openclip-gelu-fp16"] = {
        "path": "openclip-gelu-fp16.bin", "config": "openclip-gelu.json", "layout": "open_clip",
        "container": "torch zip pickle, bare state dict, mixed float16/float32",
        "float16_tensors": [k for k, v in g16.items() if v.dtype == torch.float16],
        "hidden_act": "gelu", "embed_dim": cg.embed_dim, **embeddings_entry(*res_e[:3], res_e[3], pair_g)}

    # (b) open_clip training checkpoint, QuickGELU, after one AdamW step
    print("Q: QuickGELU weights")
    q0 = random_state_dict(CONFIG_QUICKGELU, "quickgelu")
    q_module, opt_state, loss = train_one_step(CONFIG_QUICKGELU, q0, pixels[:3], ids[:3])
    q = OrderedDict((k[len("module."):], v) for k, v in q_module.items())
    print(f"  one AdamW step, contrastive loss {loss:.4f}; largest weight change "
          f"{max(float((q[k] - q0[k]).abs().max()) for k in q):.2e}")
    train_ckpt = {
        "epoch": 3,
        "name": "fixture",
        "state_dict": q_module,
        "optimizer": opt_state,
        "scaler": {"scale": 65536.0, "growth_factor": 2.0, "backoff_factor": 0.5,
                   "growth_interval": 2000, "_growth_tracker": 0},
    }
    torch_save_atomic(train_ckpt, os.path.join(out, "openclip-quickgelu-train.pt"))
    write_atomic(os.path.join(out, "openclip-quickgelu.json"), json_bytes(CONFIG_QUICKGELU))
    loaded = torch.load(os.path.join(out, "openclip-quickgelu-train.pt"))["state_dict"]
    res_b = run_reference(cq, OrderedDict((k[len("module."):], v) for k, v in loaded.items()))
    pair_q = strongest_pair(res_b[0], res_b[1])
    checkpoints["openclip-quickgelu-train"] = {
        "path": "openclip-quickgelu-train.pt", "config": "openclip-quickgelu.json", "layout": "open_clip",
        "container": "torch zip pickle, training checkpoint {epoch, name, state_dict ('module.' keys), optimizer, scaler}",
        "hidden_act": "quick_gelu", "embed_dim": cq.embed_dim, **embeddings_entry(*res_b[:3], res_b[3], pair_q)}

    # (d) HF folder, pytorch_model.bin, same weights as (b)
    hf_q = ref.openclip_to_hf(q, cq.vision_layers, cq.text_layers)
    # transformers before 4.31 saved these int64 buffers (arange(n).expand((1, -1)), shape [1, n])
    hf_q["text_model.embeddings.position_ids"] = torch.arange(cq.context_length).expand((1, -1))
    hf_q["vision_model.embeddings.position_ids"] = torch.arange(cq.grid * cq.grid + 1).expand((1, -1))
    cfg_d = hf_config(CONFIG_QUICKGELU, "quick_gelu")
    torch_save_atomic(hf_q, os.path.join(out, "hf-quickgelu-bin", "pytorch_model.bin"))
    write_atomic(os.path.join(out, "hf-quickgelu-bin", "config.json"), json_bytes(cfg_d))
    write_atomic(os.path.join(out, "hf-quickgelu-bin", "preprocessor_config.json"),
                 json_bytes(preprocessor_config(image_size)))
    res_d = run_hf(cfg_d, torch.load(os.path.join(out, "hf-quickgelu-bin", "pytorch_model.bin")))
    checkpoints["hf-quickgelu-bin"] = {
        "path": "hf-quickgelu-bin", "config": "hf-quickgelu-bin/config.json", "layout": "huggingface",
        "container": "torch zip pickle (pytorch_model.bin), HF names, with int64 position_ids buffers",
        "hidden_act": "quick_gelu", "embed_dim": cq.embed_dim, **embeddings_entry(*res_d[:3], res_d[3], pair_q)}

    print("self-checks")
    for k in range(3):
        part = ("image", "text", "png")[k]
        check_close(f"(a) open_clip/nn.MHA vs (c) HF names/explicit attention, {part}", res_c[k], res_a[k])
        check_close(f"(b) training checkpoint vs (d) HF .bin, {part}", res_d[k], res_b[k])
    qg = ref.load_reference(ref.config_from_open_clip({**CONFIG_GELU, "quick_gelu": True}), g)
    with torch.no_grad():
        check_apart("G weights: QuickGELU vs exact GELU, image", qg.encode_image(pixels.double()), res_a[0])
        check_apart("G weights: QuickGELU vs exact GELU, text", qg.encode_text(ids), res_a[1])
    hf64 = {k: v.double() for k, v in hf_g.items()}
    check_apart("text without causal mask vs with",
                ref.hf_encode_text(hf64, cfg_c["text_config"], ids, causal=False), res_a[1])
    one_head = dict(cfg_c["vision_config"], num_attention_heads=1)
    check_apart("vision with 1 head vs 2 heads", ref.hf_encode_image(hf64, one_head, pixels.double()), res_a[0])
    check_apart("fp16-rounded (e) vs float32 (a), image", res_e[0], res_a[0], at_least=2 * TOLERANCE)
    check_apart("fp16-rounded (e) vs float32 (a), text", res_e[1], res_a[1], at_least=2 * TOLERANCE)
    model_g = ref.load_reference(cg, g)
    for what, variant in (("centre crop rounding halves up", dict(half_up=True)),
                          ("bilinear resize instead of bicubic", dict(resample=Image.BILINEAR))):
        for i, (name, _, _) in enumerate(PNG_SPECS[:2]):
            with torch.no_grad():
                emb = model_g.encode_image(preprocess_variant(Image.open(os.path.join(out, name)), image_size, **variant)[None])
            check_apart(f"{name}: {what}", emb, res_a[2][i:i + 1], at_least=2 * TOLERANCE)
    for name, res in (("G", res_a), ("Q", res_b)):
        describe(f"{name} image embeddings", res[0])
        describe(f"{name} text embeddings", res[1])
        describe(f"{name} png embeddings", res[2])

    expected = OrderedDict([
        ("format", "clipag-clip-fixtures/1"),
        ("generator", "tools/torch/make_clip_fixtures.py (reference: tools/torch/clip_reference.py, float64)"),
        ("torch", torch.__version__),
        ("pil", PIL.__version__),
        ("seed", SEED),
        ("relative_tolerance", TOLERANCE),
        ("relative_error", "max |actual - expected| / max |expected| over one embedding matrix"),
        ("text", {"sot": SOT, "eot": EOT, "pad": PAD, "context_length": CONTEXT,
                  "lengths": [int((r != PAD).sum()) for r in ids], "ids": ids.tolist()}),
        ("pixels", tensor_json(pixels)),
        ("preprocess", {"image_size": image_size, "mean": list(ref.OPENAI_MEAN), "std": list(ref.OPENAI_STD),
                        "resize": "short side to image_size, long side int(image_size*long/short), PIL bicubic",
                        "crop": "centre, offset int(round((dim - image_size) / 2.0)) with Python round (halves to even)",
                        "then": "convert('RGB'), /255, (x - mean) / std"}),
        ("png", png_entries),
        ("checkpoints", checkpoints),
    ])
    write_atomic(os.path.join(out, "expected.json"), json_bytes(expected))

    total = 0
    for root, _, files in os.walk(out):
        for f in files:
            total += os.path.getsize(os.path.join(root, f))
    print(f"wrote {out}: {total / 1024:.0f} KiB in all")


if __name__ == "__main__":
    main()
