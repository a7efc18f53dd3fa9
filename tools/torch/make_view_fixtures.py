"""Reference fixtures for src/engine/pag/interp.ts and views.ts (PAG synthesis views), made with torch.

The views resample with torch.nn.functional.interpolate(mode='bilinear', align_corners=False):
DiffAugment's resize calls it directly (no antialias), and torchvision's tensor Resize, which the
CLIPAG notebook uses after RandomCrop, is that same call with antialias=<flag> (torchvision is not
installed here; its functional_tensor.resize hands float images to interpolate unchanged). So the
fixtures below are interpolate's own outputs.

Run from the repository root with the system interpreter (torch 1.13 CPU):

    /usr/bin/python3 tools/torch/make_view_fixtures.py [--out test/fixtures/pag/views.json]

Deterministic: no random numbers; inputs are the integer pattern below, restated in views.test.ts.

JSON:
  matrices   per case {in, out, antialias, rows, cols, weights}: the nonzero entries of the [out, in]
             matrix of a 1-D resize (rows, cols base64 int32; weights base64 float32), read off by
             interpolating one-hot columns (the W axis is 1 → 1, the identity in both modes).
  crops      per case {canvas, size, crop, top, left, antialias, out}: PATTERN(3, canvas) cropped at
             [top:top+crop, left:left+crop] and resized to size × size; out is base64 float32 [3, size, size].
  globals    per case {canvas, size, out}: the whole PATTERN(3, canvas) resized to size, antialias on.
  geometry   per case {size, shiftRows, shiftCols, zoomed, out}: PATTERN(3, size) translated
             (out[i, j] = x[i + shiftRows, j + shiftCols], zero outside), resized to zoomed × zoomed
             without antialias, then zero-padded or cropped back to size, centred with int(|size − zoomed| / 2).
"""

import argparse
import base64
import json
import os

import numpy as np
import torch
import torch.nn.functional as F


def pattern(channels, side):
    """x[c, i, j] = ((7919 c + 104729 i + 1299709 j) mod 1009) / 1009 as float32 (exact on both sides)."""
    c, i, j = np.meshgrid(np.arange(channels), np.arange(side), np.arange(side), indexing="ij")
    k = (7919 * c + 104729 * i + 1299709 * j) % 1009
    return torch.from_numpy((k.astype(np.float64) / 1009).astype(np.float32))


def b64(t):
    return base64.b64encode(t.contiguous().numpy().astype("<f4").tobytes()).decode("ascii")


def b64i(a):
    return base64.b64encode(np.asarray(a).astype("<i4").tobytes()).decode("ascii")


def resize(x, size, antialias):
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=antialias)


def matrix_case(n_in, n_out, antialias):
    eye = torch.eye(n_in).view(n_in, 1, n_in, 1)  # batch k holds the one-hot column k
    cols = resize(eye, (n_out, 1), antialias)[:, 0, :, 0]  # [in, out]: column k of the matrix
    m = cols.t()
    rows, cols = np.nonzero(m.numpy())
    return {"in": n_in, "out": n_out, "antialias": antialias,
            "rows": b64i(rows), "cols": b64i(cols), "weights": b64(m[rows, cols])}


def crop_case(canvas, size, crop, top, left, antialias):
    x = pattern(3, canvas)[None, :, top:top + crop, left:left + crop]
    out = resize(x, (size, size), antialias)[0]
    return {"canvas": canvas, "size": size, "crop": crop, "top": top, "left": left,
            "antialias": antialias, "out": b64(out)}


def global_case(canvas, size):
    out = resize(pattern(3, canvas)[None], (size, size), True)[0]
    return {"canvas": canvas, "size": size, "out": b64(out)}


def geometry_case(size, shift_rows, shift_cols, zoomed):
    x = pattern(3, size)[None]
    # Translation by padding with zeros and slicing, as the notebook's DiffAugment indexes a padded image.
    p = max(abs(shift_rows), abs(shift_cols))
    padded = F.pad(x, (p, p, p, p))
    x = padded[:, :, p + shift_rows:p + shift_rows + size, p + shift_cols:p + shift_cols + size]
    y = resize(x, (zoomed, zoomed), False)
    if zoomed < size:
        before = int((size - zoomed) / 2)
        after = size - before - zoomed
        y = F.pad(y, (before, after, before, after))
    else:
        start = int((zoomed - size) / 2)
        y = y[:, :, start:start + size, start:start + size]
    return {"size": size, "shiftRows": shift_rows, "shiftCols": shift_cols, "zoomed": zoomed, "out": b64(y[0])}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="test/fixtures/pag/views.json")
    args = ap.parse_args()

    matrices = [
        # The notebook's sizes: patch 128 → 224, DiffAugment zooms 224 → int(r·224) for r in [0.8, 1.2).
        (128, 224, False), (224, 179, False), (224, 268, False), (224, 224, False), (224, 200, False),
        # Tiny and odd sizes, both directions.
        (1, 4, False), (4, 1, False), (3, 7, False), (7, 3, False), (5, 5, False), (17, 10, False), (10, 17, False),
        # Antialiased: crops and canvases larger than the model input, and enlargements (no-op antialias).
        (256, 224, True), (448, 224, True), (300, 224, True), (128, 224, True), (7, 3, True), (13, 5, True),
        (4, 1, True), (1, 4, True), (10, 17, True), (23, 23, True),
    ]
    fixtures = {
        "matrices": [matrix_case(*m) for m in matrices],
        "crops": [
            crop_case(40, 24, 23, 5, 17, False),   # int(40·128/224 + ½) = 23 < 24: enlarge
            crop_case(80, 24, 46, 34, 0, True),    # 46 > 24: shrink, antialiased
            crop_case(24, 24, 14, 10, 3, False),   # the notebook's case at a small size
            crop_case(42, 24, 24, 18, 9, True),    # crop = model size: identity resample
        ],
        "globals": [global_case(80, 24), global_case(37, 24), global_case(24, 24)],
        "geometry": [
            geometry_case(20, 3, -3, 16),   # the extremes: shift ±3 = int(20·0.125 + ½), zoom int(0.8·20)
            geometry_case(20, -3, 3, 23),   # int(1.19·20)
            geometry_case(20, 0, 0, 20),
            geometry_case(20, 2, 1, 17),
            geometry_case(20, -1, -2, 21),
            geometry_case(20, 19, -19, 22),  # beyond the recipe's range: only a sliver left
        ],
    }
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    tmp = args.out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(fixtures, f, separators=(",", ":"))
        f.write("\n")
    os.replace(tmp, args.out)
    print(f"wrote {args.out} ({os.path.getsize(args.out)} bytes)")


if __name__ == "__main__":
    main()
