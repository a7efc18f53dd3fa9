"""The issue-17 probe's model and training terms (tools/torch/probe_align.py): the conv tower, the
per-slot text tower, CLIP's contrastive loss, the alignment term and the unrolled term."""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

S, CTX, VOCAB, EMBED = 64, 32, 37, 128
P = 3 * S * S


class AttentionPool(nn.Module):
    """open_clip's AttentionPool2d: the map's mean as the query over the map's tokens, with positions."""

    def __init__(self, side, width, heads, out):
        super().__init__()
        self.pos = nn.Parameter(torch.randn(side * side + 1, width) / width ** 0.5)
        self.attn = nn.MultiheadAttention(width, heads)
        self.proj = nn.Linear(width, out)

    def forward(self, h):
        t = h.flatten(2).permute(2, 0, 1)  # (HW, N, C)
        t = torch.cat([t.mean(0, keepdim=True), t]) + self.pos[:, None, :]
        o, _ = self.attn(t[:1], t, t, need_weights=False)
        return self.proj(o[0])


class ImageTower(nn.Module):
    def __init__(self, head='flat', norm='group'):
        super().__init__()
        spec = [(3, 32, 4, 2, 1), (32, 64, 3, 2, 1), (64, 64, 3, 1, 1), (64, 128, 3, 2, 1), (128, 128, 3, 1, 1)]
        layers = []
        for cin, cout, k, s, p in spec:
            layers += [nn.Conv2d(cin, cout, k, s, p), nn.GroupNorm(8, cout) if norm == 'group' else nn.BatchNorm2d(cout), nn.GELU()]
        self.body = nn.Sequential(*layers)
        self.head_kind = head
        if head == 'flat':
            self.head = nn.Conv2d(128, 32, 1)
            self.proj = nn.Linear(8 * 8 * 32, EMBED)
        else:
            self.pool = AttentionPool(8, 128, 4, EMBED)

    def forward(self, x):
        h = self.body((x - 0.5) * 2)
        if self.head_kind == 'flat':
            return self.proj(F.gelu(self.head(h)).flatten(1))
        return self.pool(h)


class TextTower(nn.Module):
    def __init__(self, slot=32):
        super().__init__()
        self.emb = nn.Embedding(CTX * VOCAB, slot)
        self.norm = nn.LayerNorm(CTX * slot)
        self.mlp = nn.Sequential(nn.Linear(CTX * slot, 256), nn.GELU(), nn.Linear(256, EMBED))
        self.register_buffer('offset', torch.arange(CTX) * VOCAB, persistent=False)

    def forward(self, ids):
        return self.mlp(self.norm(self.emb(ids + self.offset).flatten(1)))


class Probe(nn.Module):
    def __init__(self, head='flat', norm='group'):
        super().__init__()
        self.image, self.text = ImageTower(head, norm), TextTower()
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))

    def cos(self, x, ids):
        return (F.normalize(self.image(x), dim=1) * F.normalize(self.text(ids), dim=1)).sum(1)


def contrastive(model, x, ids):
    e = F.normalize(model.image(x), dim=1)
    t = F.normalize(model.text(ids), dim=1)
    logits = model.logit_scale.exp().clamp(max=100) * e @ t.T
    labels = torch.arange(len(x))
    loss = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
    return loss, (logits.argmax(1) == labels).float().mean().item()


def align_term(model, x, ids, direction):
    """2 * mean(1 - cos(d cos(f(x), g(t)) / dx, render(t) - x)), differentiable in the weights."""
    x = x.clone().requires_grad_(True)
    # BatchNorm (the --norm batch ablation) reads running statistics here, as synthesis will and as
    # our ResNet's term does; GroupNorm has no mode.
    model.image.eval()
    g, = torch.autograd.grad(model.cos(x, ids).sum(), x, create_graph=True)
    model.image.train()
    c = F.cosine_similarity(g.flatten(1), direction.flatten(1), dim=1)
    return 2 * (1 - c).mean(), c.mean().item()


def unroll_term(model, x, ids, direction, k, eta):
    """Mean over items of |x_k - render(t)|^2 / |x_0 - render(t)|^2 after k normalised gradient steps
    x_{j+1} = clamp(x_j + eta * g_j / rms(g_j)), differentiated through every step (second order):
    the loss is on where synthesis's own steps end, not on one gradient."""
    target = x + direction
    model.image.eval()
    xs = x.clone().requires_grad_(True)
    cur = xs
    for _ in range(k):
        g, = torch.autograd.grad(model.cos(cur, ids).sum(), cur, create_graph=True)
        g = g / g.pow(2).mean((1, 2, 3), keepdim=True).add(1e-20).sqrt()
        cur = (cur + eta * g).clamp(0, 1)
    model.image.train()
    start = direction.pow(2).mean((1, 2, 3)).clamp(min=1e-8)
    ratio = (cur - target).pow(2).mean((1, 2, 3)) / start
    return ratio.mean(), ratio.mean().item()
