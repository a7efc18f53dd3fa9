"""PyTorch eager reference of one PAG synthesis step (the CLIPAG recipe), for timing next to clipag.

Builds open_clip's ViT vision tower (ViT-B/32 by default) in float32 with random weights, as
open_clip 1.x/2.x lays it out (conv1, class token, positions, ln_pre, pre-LN blocks whose attention
is torch.nn.MultiheadAttention, exact GELU, ln_post, proj; the module is clip_reference.py's), and
runs the step of the authors' notebook (royg27/CLIPAG, CLIPAG_T2I.ipynb) on a [1,3,S,S] image
parameter, eagerly, as that notebook does on a GPU:

  patch views   x repeated + ONE shared noise image (std 0.01), per view a random square crop
                (128 px of 224) bilinearly resized back to S, clamp to [0,1], DiffAugment
  global views  x repeated + per-view noise (std 0.01), DiffAugment
  DiffAugment   brightness, saturation, contrast, translation (±12.5 %), resize (×[0.8,1.2), one
                ratio per batch), cutout (50 %), in that order
  then          CLIP mean/std, encode_image (patch batch, then global batch, as the notebook),
                loss = 1·mean(1 − cos) over global views + 5·mean(1 − cos) over patch views,
                backward, clip_grad_norm_ 0.001, AdamW lr 0.0175 (torch defaults otherwise),
                dynamic thresholding p = 0.95, best-iterate tracking on the global loss.

The text target is a random unit vector: the text tower is outside the step.

    /usr/bin/python3 tools/torch/pag_step_reference.py [--views 8] [--threads 2] [--steps 5]
        [--warmup 2] [--model ViT-B-32|tiny|...] [--size PX] [--seed 0] [--json]

--views V: ceil(V/2) global + floor(V/2) patch views (clipag's split; V=8 → 4+4, V=64 → 32+32).
--size:    side of the image AND the model input (the tower is built for that resolution); the
           notebook's canvas is the model input. Default: the model's image size.

JSON (--json): {views, global, patch, model, size, threads, msPerStep (median of the timed steps),
steps: [ms of each timed step], forwardBackwardMs (median of encode + loss + backward, timed inside
the step), loss: [total loss of each timed step], torch, blas, blasLibrary, blasThreads}.

Needs torch with a real BLAS: Debian's python3-torch calls whatever libblas.so.3 is installed, and
with the reference BLAS it is some 40× slower; install libopenblas0-pthread. OpenBLAS keeps its own
thread pool, so --threads is applied to it as well as to torch's OpenMP pool.
"""

import argparse
import ctypes
import json
import math
import os
import re
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clip_reference import OPENAI_MEAN, OPENAI_STD, ClipConfig, VisionTransformer  # noqa: E402

# open_clip's model configs (vision side): image, patch, width, layers, heads, embed, quick_gelu.
MODELS = {
    "ViT-B-32": (224, 32, 768, 12, 12, 512, False),
    "ViT-B-32-quickgelu": (224, 32, 768, 12, 12, 512, True),
    "ViT-B-16": (224, 16, 768, 12, 12, 512, False),
    "ViT-L-14": (224, 14, 1024, 24, 16, 768, False),
    "ViT-L-14-quickgelu": (224, 14, 1024, 24, 16, 768, True),
    "tiny": (64, 8, 128, 4, 4, 64, False),  # quick checks only
    "shapes": (64, 16, 128, 4, 4, 128, False),  # the bundled demo model (src/engine/shapes/model-config.ts)
}

# The notebook's recipe.
NOISE_STD = 0.01
PATCH_FRACTION = 128 / 224
GLOBAL_WEIGHT, PATCH_WEIGHT = 1.0, 5.0
LR = 0.0175
CLIP_GRAD_NORM = 0.001
THRESHOLD = 0.95
TRANSLATION_RATIO = 0.125
RESIZE_RANGE = (0.8, 1.2)
CUTOUT_RATIO = 0.5


# ---------------------------------------------------------------------------------------------
# Model


def vision_tower(name, size, seed):
    image, patch, width, layers, heads, embed, quick = MODELS[name]
    size = size or image
    if size % patch:
        raise SystemExit(f"--size {size}: must be a multiple of {name}'s patch size {patch}")
    # Only the vision fields matter; the text ones are open_clip's defaults to fill the dataclass.
    c = ClipConfig(embed_dim=embed, image_size=size, patch_size=patch, vision_width=width,
                   vision_layers=layers, vision_heads=heads, context_length=77, vocab_size=49408,
                   text_width=512, text_heads=8, text_layers=12, quick_gelu=quick)
    torch.manual_seed(seed)
    model = VisionTransformer(c)  # float32; torch's default init for conv, linear, LN, MHA
    scale = width ** -0.5
    with torch.no_grad():  # open_clip draws these three as scale·randn (the module zeroes them)
        model.class_embedding.normal_(0, scale)
        model.positional_embedding.normal_(0, scale)
        model.proj.normal_(0, scale)
    model.eval()
    model.requires_grad_(False)
    return model, size


# ---------------------------------------------------------------------------------------------
# Views


def uniform_int(lo, hi):
    """A uniform integer in [lo, hi] (inclusive)."""
    return int(torch.randint(lo, hi + 1, ()).item())


def brightness(x):
    return x + (torch.rand(x.shape[0], 1, 1, 1) - 0.5)


def saturation(x):
    m = x.mean(dim=1, keepdim=True)
    return (x - m) * (torch.rand(x.shape[0], 1, 1, 1) * 2) + m


def contrast(x):
    m = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - m) * (torch.rand(x.shape[0], 1, 1, 1) + 0.5) + m


def translation(x, ratio=TRANSLATION_RATIO):
    """out[i, j] = x[i + tx, j + ty] inside the image, else 0; integer shifts per view."""
    n, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    views = []
    # unbind, not padded[i]: indexing the batch would make each view's backward zero a whole batch.
    for v in F.pad(x, (sw, sw, sh, sh)).unbind(0):
        top, left = sh + uniform_int(-sh, sh), sw + uniform_int(-sw, sw)
        views.append(v[:, top:top + h, left:left + w])
    return torch.stack(views)


def resize(x, lo=RESIZE_RANGE[0], hi=RESIZE_RANGE[1]):
    """Zoom the whole batch by one ratio, then zero-pad or centre-crop back to the side."""
    s = x.shape[-1]
    n = int((lo + (hi - lo) * torch.rand(()).item()) * s)
    y = F.interpolate(x, size=n, mode="bilinear", align_corners=False)
    if n < s:
        before = int((s - n) / 2)
        after = s - before - n
        return F.pad(y, (before, after, before, after))
    start = int((n - s) / 2)
    return y[:, :, start:start + s, start:start + s]


def cutout(x, ratio=CUTOUT_RATIO):
    """Zero one square of side int(S·ratio + 0.5) per view, centred anywhere in [0, S]
    (the part inside the image)."""
    n, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    mask = torch.ones(n, 1, h, w)
    for i in range(n):
        r = uniform_int(0, h - 1 + (1 - ch % 2)) - ch // 2
        c = uniform_int(0, w - 1 + (1 - cw % 2)) - cw // 2
        mask[i, :, max(r, 0):min(r + ch, h), max(c, 0):min(c + cw, w)] = 0
    return x * mask


def diff_augment(x):
    for f in (brightness, saturation, contrast, translation, resize, cutout):
        x = f(x)
    return x


def patch_views(x, n):
    s = x.shape[-1]
    crop = int(s * PATCH_FRACTION + 0.5)
    v = x.repeat(n, 1, 1, 1) + torch.randn(1, 3, s, s) * NOISE_STD  # one noise image for all
    views = []
    for img in v.unbind(0):  # per image, as torchvision's RandomCrop + Resize in the notebook
        top, left = uniform_int(0, s - crop), uniform_int(0, s - crop)
        patch = img[None, :, top:top + crop, left:left + crop]
        views.append(F.interpolate(patch, size=(s, s), mode="bilinear", align_corners=False)[0])
    return diff_augment(torch.stack(views).clamp(0, 1))


def global_views(x, n):
    return diff_augment(x.repeat(n, 1, 1, 1) + torch.randn(n, *x.shape[1:]) * NOISE_STD)


# ---------------------------------------------------------------------------------------------
# The step


class Synthesis:
    def __init__(self, model, size, n_global, n_patch, seed):
        self.model, self.n_global, self.n_patch = model, n_global, n_patch
        g = torch.Generator().manual_seed(seed + 1)
        self.x = torch.rand(1, 3, size, size, generator=g).requires_grad_(True)
        self.target = F.normalize(torch.randn(model.proj.shape[1], generator=g), dim=0)
        self.mean = torch.tensor(OPENAI_MEAN).view(1, 3, 1, 1)
        self.std = torch.tensor(OPENAI_STD).view(1, 3, 1, 1)
        self.opt = torch.optim.AdamW([self.x], lr=LR)  # betas, eps, weight_decay 0.01: torch's
        self.best_loss, self.best = math.inf, None

    def term(self, views):
        """mean(1 − cos) of the views' embeddings to the target, and the encode time."""
        t = time.perf_counter()
        f = F.normalize(self.model((views - self.mean) / self.std), dim=-1)
        loss = (1 - f @ self.target).mean()
        return loss, time.perf_counter() - t

    def step(self):
        """One step; returns (total loss, seconds spent in encode + loss + backward)."""
        self.opt.zero_grad(set_to_none=True)
        loss, fb = torch.zeros(()), 0.0
        if self.n_patch:
            patch, dt = self.term(patch_views(self.x, self.n_patch))
            loss, fb = loss + PATCH_WEIGHT * patch, fb + dt
        glob = torch.zeros(())
        if self.n_global:
            glob, dt = self.term(global_views(self.x, self.n_global))
            loss, fb = loss + GLOBAL_WEIGHT * glob, fb + dt
        t = time.perf_counter()
        loss.backward()
        fb += time.perf_counter() - t
        torch.nn.utils.clip_grad_norm_([self.x], CLIP_GRAD_NORM)
        self.opt.step()
        with torch.no_grad():
            o = self.x * 2 - 1
            s = max(torch.quantile(o.abs().flatten(), THRESHOLD).item(), 1.0)
            self.x.copy_((o.clamp(-s, s) / s + 1) / 2)
            if glob.item() < self.best_loss:  # the global loss was computed before the update
                self.best_loss, self.best = glob.item(), self.x.detach().clone()
        return loss.item(), fb


# ---------------------------------------------------------------------------------------------
# BLAS facts


def blas_facts():
    """What torch was built against, which BLAS library this process actually loaded, and OpenBLAS's
    own config string when that is the one (a Debian build calls whatever libblas.so.3 points to)."""
    build = re.search(r"BLAS_INFO=([^,\s]+)", torch.__config__.show())
    build = build.group(1) if build else "unknown"
    loaded = sorted({line.split()[-1] for line in open("/proc/self/maps")
                     if re.search(r"/lib(open)?blas[^/]*\.so", line.split()[-1])})
    openblas = next((p for p in loaded if "openblas" in os.path.basename(p)), None)
    lib = ctypes.CDLL(openblas) if openblas else None
    if lib is not None:
        lib.openblas_get_config.restype = ctypes.c_char_p
        desc = f"BLAS_INFO={build}; {lib.openblas_get_config().decode()}"
    else:
        desc = f"BLAS_INFO={build}; no OpenBLAS loaded ({', '.join(loaded) or 'no BLAS library found'})"
    return desc, loaded, lib


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--views", type=int, default=8, help="views per step, split global/patch (default 8)")
    ap.add_argument("--threads", type=int, default=2, help="torch and OpenBLAS threads (default 2)")
    ap.add_argument("--steps", type=int, default=5, help="timed steps (default 5)")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps first (default 2)")
    ap.add_argument("--model", default="ViT-B-32", choices=sorted(MODELS))
    ap.add_argument("--size", type=int, default=0, help="image and model input side (default: the model's)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    a = ap.parse_args()
    if a.views < 1 or a.threads < 1 or a.steps < 1 or a.warmup < 0:
        ap.error("--views, --threads and --steps must be at least 1, --warmup at least 0")

    torch.set_num_threads(a.threads)  # OpenMP pool: torch's own kernels and oneDNN's conv
    blas, loaded, openblas = blas_facts()
    blas_threads = None
    if openblas is not None:  # OpenBLAS has its own pool, sized by the machine unless told
        openblas.openblas_set_num_threads(a.threads)
        blas_threads = openblas.openblas_get_num_threads()

    model, size = vision_tower(a.model, a.size, a.seed)
    n_global = (a.views + 1) // 2
    n_patch = a.views - n_global
    synth = Synthesis(model, size, n_global, n_patch, a.seed)

    ms, fb_ms, losses = [], [], []
    for i in range(a.warmup + a.steps):
        t = time.perf_counter()
        loss, fb = synth.step()
        dt = time.perf_counter() - t
        if not math.isfinite(loss):
            raise SystemExit(f"step {i}: the loss is {loss}")
        if i >= a.warmup:
            ms.append(dt * 1e3)
            fb_ms.append(fb * 1e3)
            losses.append(loss)

    out = {
        "views": a.views, "global": n_global, "patch": n_patch, "model": a.model, "size": size,
        "threads": a.threads, "msPerStep": statistics.median(ms), "steps": ms,
        "forwardBackwardMs": statistics.median(fb_ms), "loss": losses,
        "torch": torch.__version__, "blas": blas, "blasLibrary": loaded, "blasThreads": blas_threads,
    }
    if a.json:
        print(json.dumps(out))
    else:
        print(f"torch {out['torch']} {a.model} {n_global}+{n_patch} views at {size} px, {a.threads} threads: "
              f"{out['msPerStep']:.1f} ms/step (encode+backward {out['forwardBackwardMs']:.1f} ms), "
              f"steps {', '.join(f'{m:.0f}' for m in ms)} ms\n  {blas}; OpenBLAS threads {blas_threads}")


if __name__ == "__main__":
    main()
