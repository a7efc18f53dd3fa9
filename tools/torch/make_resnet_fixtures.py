"""A tiny ResNet CLIP (open_clip ModifiedResNet image tower) as the checkpoints users bring, plus the
embeddings it must produce, from tools/torch/resnet_reference.py in float64.

Run from the repository root with an interpreter that has torch (tested with 1.13, CPU), numpy, PIL:

    /usr/bin/python3 tools/torch/make_resnet_fixtures.py [--out test/fixtures/clip-resnet]

Seeded: a rerun with the same torch version writes byte-identical files. Files (test/fixtures/clip-resnet/):
  openclip-rn.pt      torch.save(model.state_dict()): open_clip names, float32, BatchNorm running
                      statistics and int64 num_batches_tracked, as open_clip saves a ResNet CLIP
  openclip-rn.json    its open_clip model config (vision_cfg.layers a list, patch_size null)
  openai-rn-fp16.pt   the same weights as OpenAI's RN50.pt holds them once loaded and re-saved with
                      torch.save(torch.jit.load(...).state_dict()): float16 exactly where OpenAI's
                      convert_weights put it (conv and linear weights and biases, attention
                      projections, text_projection), plus the int64 input_resolution,
                      context_length and vocab_size entries; no config (the importer infers it)
  expected.json       inputs, embeddings per checkpoint, and a training-mode forward (batch
                      statistics) with the running statistics one torch update (momentum 0.1) leaves
"""

import argparse
import math
import os
import sys
from collections import OrderedDict

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clip_reference as ref  # noqa: E402
import make_clip_fixtures as mcf  # noqa: E402
import resnet_reference as rn  # noqa: E402

TOLERANCE = 1e-4
CONFIG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 64, "layers": [1, 2, 1, 1], "width": 4, "patch_size": None},
    # Text width 64 (one head of 64) so that shapes alone fix the config, as the importer infers it.
    "text_cfg": {"context_length": mcf.CONTEXT, "vocab_size": mcf.VOCAB, "width": 64, "heads": 1, "layers": 1},
}
# BNs whose running statistics after the training-mode step are written out (one of each kind).
REPORTED_BN = ["visual.bn1", "visual.layer1.0.bn2", "visual.layer2.0.downsample.1", "visual.layer4.0.bn3"]


def is_fp16_in_openai_release(name):
    """OpenAI's convert_weights halves Conv/Linear weights and biases, nn.MultiheadAttention's
    projections and the `proj`/`text_projection` matrices; BatchNorm, LayerNorm, embeddings and
    the attention pool's positional_embedding stay float32."""
    if name.startswith("visual."):
        return name.endswith(("conv1.weight", "conv2.weight", "conv3.weight", "downsample.0.weight")) or (
            name.startswith("visual.attnpool.") and name.endswith(("_proj.weight", "_proj.bias")))
    return mcf.is_fp16_in_openai_release(name)


def weight(name, shape):
    """Seeded values at scales where every part matters: He convolutions, BN γ ≈ 1 and β ≈ 0 with
    spread, attention logits of order 1 in the pool; the text tower as clip fixture set G."""
    r = mcf.name_rng("resnet", name)
    g = torch.from_numpy(r.standard_normal(shape))
    if not name.startswith("visual."):
        mean, std = mcf.weight_scale(name, shape)
        return mean + std * g
    if len(shape) == 4:
        return math.sqrt(2 / math.prod(shape[1:])) * g
    if name.endswith(".weight") and len(shape) == 1:
        return 1 + 0.2 * g
    if name.endswith(".bias") and not name.startswith("visual.attnpool."):
        return 0.2 * g
    if name == "visual.attnpool.positional_embedding":
        return shape[1] ** -0.5 * g
    if name.endswith(("q_proj.weight", "k_proj.weight")):
        return 2 * shape[1] ** -0.5 * g
    if name.endswith(".weight"):
        return shape[1] ** -0.5 * g
    return 0.05 * g


def random_model(calibration):
    """Random parameters; running statistics from a training-mode pass over other pictures (as a
    trained model has them), so inference does not normalise the test pictures with their own."""
    model = rn.ResNetCLIPReference(CONFIG, torch.float32)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name == "logit_scale":
                p.fill_(math.log(1 / 0.07))
            else:
                p.copy_(weight(name, tuple(p.shape)))
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.momentum = None  # a cumulative average: one batch → exactly its statistics
        model.visual.train()(calibration)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = 0.1
    return model.eval()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="test/fixtures/clip-resnet")
    out = ap.parse_args().out
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(mcf.SEED)
    size = CONFIG["vision_cfg"]["image_size"]
    pixels = mcf.pixel_inputs(n=3, size=size)
    calibration = mcf.pixel_inputs(n=6, size=size)[3:] * 0.8 + 0.1
    ids = mcf.text_rows()

    model = random_model(calibration)
    state = model.state_dict()
    mcf.torch_save_atomic(state, os.path.join(out, "openclip-rn.pt"))
    mcf.write_atomic(os.path.join(out, "openclip-rn.json"), mcf.json_bytes(CONFIG))

    openai = OrderedDict((k, v.half() if is_fp16_in_openai_release(k) else v.clone()) for k, v in state.items())
    openai["input_resolution"] = torch.tensor(size)
    openai["context_length"] = torch.tensor(mcf.CONTEXT)
    openai["vocab_size"] = torch.tensor(mcf.VOCAB)
    mcf.torch_save_atomic(openai, os.path.join(out, "openai-rn-fp16.pt"))

    checkpoints = OrderedDict()
    results = {}
    for key, path in (("openclip-rn", "openclip-rn.pt"), ("openai-rn-fp16", "openai-rn-fp16.pt")):
        sd = torch.load(os.path.join(out, path))
        sd = OrderedDict((k, v) for k, v in sd.items() if k not in ("input_resolution", "context_length", "vocab_size"))
        m = rn.load_reference(CONFIG, sd)
        with torch.no_grad():
            img, txt = m.encode_image(pixels.double()), m.encode_text(ids)
        results[key] = (img, txt)
        checkpoints[key] = {"path": path, "config": "openclip-rn.json" if key == "openclip-rn" else None,
                            "float16_tensors": [k for k, v in openai.items() if v.dtype == torch.float16] if key != "openclip-rn" else [],
                            "logit_scale": float(sd["logit_scale"].double()),
                            "image_embeddings": img.tolist(), "text_embeddings": txt.tolist()}

    # Training mode: normalise with the batch's statistics; torch then moves each running mean and
    # (unbiased) variance 10 % of the way to the batch's.
    m = rn.load_reference(CONFIG, state).train()
    with torch.no_grad():
        train_img = m.encode_image(pixels.double())
    bns = dict(m.named_modules())
    running = OrderedDict((name, {"mean": bns[name].running_mean.tolist(), "var": bns[name].running_var.tolist()})
                          for name in REPORTED_BN)

    print("self-checks")
    mcf.check_apart("fp16-rounded OpenAI layout vs float32, image", results["openai-rn-fp16"][0], results["openclip-rn"][0],
                    at_least=2 * TOLERANCE)
    mcf.check_apart("training mode (batch statistics) vs inference, image", train_img, results["openclip-rn"][0])
    no_pool = rn.load_reference(CONFIG, state)
    no_pool.visual.attnpool.heads = 1
    with torch.no_grad():
        mcf.check_apart("attention pool with 1 head vs 2", no_pool.encode_image(pixels.double()), results["openclip-rn"][0])
    mcf.describe("image embeddings", results["openclip-rn"][0])
    mcf.describe("training-mode image embeddings", train_img)
    mcf.describe("text embeddings", results["openclip-rn"][1])

    expected = OrderedDict([
        ("format", "clipag-clip-resnet-fixtures/1"),
        ("generator", "tools/torch/make_resnet_fixtures.py (reference: tools/torch/resnet_reference.py, float64)"),
        ("torch", torch.__version__),
        ("seed", mcf.SEED),
        ("relative_tolerance", TOLERANCE),
        ("relative_error", "max |actual - expected| / max |expected| over one embedding matrix"),
        ("text", {"ids": ids.tolist()}),
        ("pixels", mcf.tensor_json(pixels)),
        ("checkpoints", checkpoints),
        ("train_mode", {"checkpoint": "openclip-rn.pt", "momentum": 0.1, "image_embeddings": train_img.tolist(),
                        "running_after_one_step": running}),
    ])
    mcf.write_atomic(os.path.join(out, "expected.json"), mcf.json_bytes(expected))
    total = sum(os.path.getsize(os.path.join(out, f)) for f in os.listdir(out))
    print(f"wrote {out}: {total / 1024:.0f} KiB in all")


if __name__ == "__main__":
    main()
