"""Issue 17's PyTorch probe, rebuilt to learn whether its figures hold and whether its success is the
architecture or the recipe. Data and judging come from our own world through tools/probe-data.ts
(same near-miss batches, alignment items, held-out filter and judge as `npm run train:shapes` and
`npm run eval`), so only the model and the trainer differ from ours.

Model (the issue's): image tower, a conv stack on (x - 0.5) * 2 -- 3->32 k4 s2, 32->64 k3 s2,
64->64 k3, 64->128 k3 s2, 128->128 k3, each GroupNorm(8) + GELU; 1x1 conv 128->32, GELU, the
8x8x32 map flattened into a linear 128 (no pooling: position survives). Text: per-slot word
embeddings -> LayerNorm -> MLP -> 128. Learned temperature.

  python3 tools/torch/probe_align.py train --dir .train/probe --contrastive 3000 --align 2500
  python3 tools/torch/probe_align.py synth --dir .train/probe [--weights W] [--tune] [--steps 80]
      [--starts noise,grey,flat,bare] [--rule adam|normalised] [--grad-blur SIGMA] [--views 4]

Synthesis prints, per start, our judge's rates and the mean score of the results (cosSynth) beside
the true pictures' (cosTruth). Ablations: --head attnpool (open_clip's attention pool), --norm batch,
--bare (items started from the target with shapes missing), --ebm (synthesis chains scored below
the truth). Findings: models/shapes/MODEL_CARD.md, "Issue 17's probe, rebuilt".

Resumable: a checkpoint every 100 steps (DIR/state.pt); the log is DIR/log.jsonl.
Needs Debian's python3-torch (CPU; run it with /usr/bin/python3 where a pyenv python3 comes first);
CI and the product never run this.
"""
import argparse
import json
import math
import os
import subprocess
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

S, CTX, VOCAB, EMBED = 64, 32, 37, 128
P = 3 * S * S
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


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


class Stream:
    """Batches from tools/probe-data.ts, step `start` onward."""

    def __init__(self, start, steps, batch, align, seed, bare=0.0):
        self.batch, self.align = batch, align
        cmd = ['node', '--import', 'tsx', 'tools/probe-data.ts', 'train', '--from', str(start), '--steps', str(steps),
               '--batch', str(batch), '--align', str(align), '--seed', str(seed), '--bare', str(bare)]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE)

    def _read(self, n, dtype, shape):
        buf = self.proc.stdout.read(n * 4)
        if len(buf) != n * 4:
            raise RuntimeError(f'probe-data ended early ({len(buf)} of {n * 4} bytes)')
        return torch.frombuffer(bytearray(buf), dtype=dtype).reshape(shape)

    def next(self):
        B, A = self.batch, self.align
        out = [self._read(B * P, torch.float32, (B, 3, S, S)), self._read(B * CTX, torch.int32, (B, CTX)).long()]
        if A:
            out += [self._read(A * P, torch.float32, (A, 3, S, S)), self._read(A * CTX, torch.int32, (A, CTX)).long(),
                    self._read(A * P, torch.float32, (A, 3, S, S))]
        return out

    def close(self):
        self.proc.kill()
        self.proc.wait()


def ascend(model, x, ids, steps, gen, lr=0.03, n_views=4, rule='adam', grad_blur=0.0):
    """Synthesis: `steps` steps up the mean cosine of n_views views (noise 0.03, +-2 px shifts) of x
    against ids, by Adam or normalised steps, clamped to [0, 1]. Returns the new pictures."""
    x = x.clone().requires_grad_(True)
    opt = torch.optim.Adam([x], lr=lr)
    rep = ids.repeat(n_views, 1)
    for _ in range(steps):
        g, = torch.autograd.grad(-model.cos(views(x, n_views, 2, 0.03, gen), rep).mean(), x)
        with torch.no_grad():
            if grad_blur > 0:
                g = blur(g, grad_blur)
            if rule == 'adam':
                x.grad = g
                opt.step()
            else:
                # A step along the gradient itself, scaled per picture to an rms of lr (our stepRule=1).
                x -= lr * g / g.pow(2).mean((1, 2, 3), keepdim=True).sqrt().clamp(min=1e-12)
            x.clamp_(0, 1)
    return x.detach()


def descend_contrastive(model, x, ids, fill_x, fill_ids, steps, lr=0.03):
    """Chains as our TypeScript trainer runs them (--align-chains): Adam down the contrastive loss of the
    chains' pictures and captions beside as many of the batch's, no views."""
    n = len(x)
    x = x.clone().requires_grad_(True)
    opt = torch.optim.Adam([x], lr=lr)
    for _ in range(steps):
        loss, _ = contrastive(model, torch.cat([x, fill_x]), torch.cat([ids, fill_ids]))
        g, = torch.autograd.grad(loss, x)
        with torch.no_grad():
            x.grad = g
            opt.step()
            x.clamp_(0, 1)
    return x.detach()


class Chains:
    """Persistent synthesis chains (--ebm): each slot runs synthesis's own procedure (Adam lr 0.03,
    4 views, noise 0.03, +-2 px shifts, clamping) for one caption, a few steps per training step, and
    starts again from grey or smooth noise after `age` visits, so together they see every stage of an
    80-step synthesis. Their pictures are what the model is trained to score below the caption's
    own picture, as energy-based models are trained against their samples."""

    def __init__(self, slots, steps, age, seed, objective='cos'):
        self.objective = objective
        self.x = torch.full((slots, 3, S, S), 0.5)
        self.ids = torch.zeros((slots, CTX), dtype=torch.long)
        self.truth = torch.zeros((slots, 3, S, S))
        self.visits = torch.full((slots,), age)
        self.steps, self.age, self.next = steps, age, 0
        self.gen = torch.Generator().manual_seed(seed)

    def sample(self, model, n, pixels, ids):
        idx = torch.arange(self.next, self.next + n) % len(self.x)
        self.next = (self.next + n) % len(self.x)
        for i in idx.tolist():
            if self.visits[i] >= self.age:
                # The contrastive chains draw from the batch's first n, so no caption is among their fillers.
                j = int(torch.randint(n if self.objective == 'contrastive' else len(ids), (1,), generator=self.gen))
                self.ids[i], self.truth[i], self.visits[i] = ids[j], pixels[j], 0
                if torch.rand(1, generator=self.gen).item() < 0.5:
                    self.x[i] = 0.5
                else:
                    low = 0.5 + 0.25 * torch.randn((1, 3, 8, 8), generator=self.gen)
                    self.x[i] = F.interpolate(low, size=(S, S), mode='bilinear', align_corners=False)[0].clamp(0, 1)
        model.eval()
        if self.objective == 'contrastive':
            # As the trainer does: n of the batch's pictures beside the n chains.
            self.x[idx] = descend_contrastive(model, self.x[idx], self.ids[idx], pixels[n:2 * n], ids[n:2 * n], self.steps)
        else:
            self.x[idx] = ascend(model, self.x[idx], self.ids[idx], self.steps, self.gen)
        model.train()
        self.visits[idx] += 1
        return self.x[idx], self.ids[idx], self.truth[idx]


def lr_at(step, o):
    """Phase 1: 100 warm-up steps, cosine to a tenth. Phase 2: 5e-4 -> 4e-4 in three cosine cycles."""
    if step < o.contrastive:
        if step < 100:
            return o.lr * (step + 1) / 100
        u = (step - 100) / max(1, o.contrastive - 100)
        return o.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * u)))
    cycle = max(1, o.align // 3)
    u = ((step - o.contrastive) % cycle) / cycle
    return o.align_lr_min + (o.align_lr - o.align_lr_min) * 0.5 * (1 + math.cos(math.pi * u))


def train(o):
    os.makedirs(o.dir, exist_ok=True)
    torch.manual_seed(o.seed)
    torch.set_num_threads(o.threads)
    model = Probe(o.head, o.norm)
    with open(os.path.join(o.dir, 'options.json'), 'w') as f:
        json.dump(vars(o), f)
    state_file = os.path.join(o.dir, 'state.pt')
    step, opt = 0, None
    if os.path.exists(state_file):
        st = torch.load(state_file)
        model.load_state_dict(st['model'])
        step = st['step']
    elif o.init:
        # Another run's weights (its contrastive.pt, or a finished run's state.pt): start at the alignment phase.
        model.load_state_dict(torch.load(o.init)['model'])
        step = o.contrastive
    total = o.contrastive + o.align

    def make_opt(phase):
        decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
        rest = [p for n, p in model.named_parameters() if p.ndim < 2]
        return torch.optim.AdamW([{'params': decay, 'weight_decay': 0.1}, {'params': rest, 'weight_decay': 0}],
                                 lr=o.lr if phase == 0 else o.align_lr, betas=(0.9, 0.98), eps=1e-6)

    phase = 0 if step < o.contrastive else 1
    opt = make_opt(phase)
    if os.path.exists(state_file) and st.get('phase') == phase:
        opt.load_state_dict(st['opt'])
    log = open(os.path.join(o.dir, 'log.jsonl'), 'a')
    slots = 4 * max(o.ebm_items if o.ebm > 0 else 0, o.chain_items)
    chains = Chains(slots, o.ebm_steps, max(1, 80 // o.ebm_steps), o.seed, o.chain_objective) if slots else None
    while step < total:
        phase = 0 if step < o.contrastive else 1
        end = o.contrastive if phase == 0 else total
        stream = Stream(step, end - step, 128, o.items if phase == 1 else 0, o.seed, o.bare)
        if phase == 1 and step == o.contrastive:
            opt = make_opt(1)  # a fresh AdamW for the alignment phase, as the probe
        t0 = time.time()
        while step < end:
            data = stream.next()
            for g in opt.param_groups:
                g['lr'] = lr_at(step, o)
            loss, acc = contrastive(model, data[0], data[1])
            rec = {'step': step, 'phase': phase, 'loss': round(loss.item(), 4), 'acc': round(acc, 3)}
            if phase == 1 and o.chain_items > 0:
                # The last chain_items items become pictures synthesis itself reached, pulled toward
                # their caption's true picture: the term then shapes the field where synthesis goes,
                # not only on the straight lines from the starts to the targets.
                n = o.chain_items
                xs, ts, truth = chains.sample(model, n, data[0], data[1])
                data[2][-n:], data[3][-n:], data[4][-n:] = xs, ts, truth - xs
            if phase == 1 and o.unroll > 0:
                u, r = unroll_term(model, data[2], data[3], data[4], o.unroll, o.unroll_eta)
                loss = loss + o.unroll_weight * u
                rec['unrollRatio'] = round(r, 4)
            elif phase == 1:
                a, c = align_term(model, data[2], data[3], data[4])
                loss = loss + a
                rec['alignCos'] = round(c, 4)
            if phase == 1 and o.ebm > 0:
                xs, ts, truth = chains.sample(model, o.ebm_items, data[0], data[1])
                below = model.cos(xs, ts) - model.cos(truth, ts)
                loss = loss + o.ebm * below.mean()
                rec['chainMinusTruth'] = round(below.mean().item(), 4)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            if step % 25 == 0 or step == end:
                rec['sPerStep'] = round((time.time() - t0) / 25, 3)
                t0 = time.time()
                log.write(json.dumps(rec) + '\n')
                log.flush()
            if step % 100 == 0 or step == end:
                tmp = state_file + '.tmp'
                torch.save({'model': model.state_dict(), 'opt': opt.state_dict(), 'step': step, 'phase': phase}, tmp)
                os.replace(tmp, state_file)
                if phase == 0 and step == o.contrastive:
                    torch.save({'model': model.state_dict()}, os.path.join(o.dir, 'contrastive.pt'))
                if phase == 1 and (step - o.contrastive) % 400 == 0:
                    torch.save({'model': model.state_dict()}, os.path.join(o.dir, f'align-{step - o.contrastive}.pt'))
        stream.close()


def views(x, n, shift, noise, gen):
    out = []
    padded = F.pad(x, (shift, shift, shift, shift), mode='replicate')
    for _ in range(n):
        dx, dy = torch.randint(0, 2 * shift + 1, (2,), generator=gen).tolist()
        out.append(padded[:, :, dy:dy + S, dx:dx + S] + noise * torch.randn(x.shape, generator=gen))
    return torch.cat(out)


def blur(g, sigma):
    """Separable Gaussian low-pass of each plane (radius 3 sigma, replicate edges)."""
    r = max(1, int(3 * sigma + 0.5))
    k = torch.exp(-torch.arange(-r, r + 1, dtype=torch.float32) ** 2 / (2 * sigma * sigma))
    k = (k / k.sum()).to(g.dtype)
    n, c = g.shape[:2]
    h = F.pad(g.reshape(n * c, 1, S, S), (r, r, r, r), mode='replicate')
    h = F.conv2d(F.conv2d(h, k.view(1, 1, 1, -1)), k.view(1, 1, -1, 1))
    return h.reshape(g.shape)


def synth(o):
    torch.set_num_threads(o.threads)
    opts = json.load(open(os.path.join(o.dir, 'options.json'))) if os.path.exists(os.path.join(o.dir, 'options.json')) else {}
    model = Probe(opts.get('head', 'flat'), opts.get('norm', 'group'))
    st = torch.load(os.path.join(o.dir, o.weights))
    model.load_state_dict(st['model'])
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    out = os.path.join(o.dir, o.out or ('synth-tune' if o.tune else 'synth-eval'))
    os.makedirs(out, exist_ok=True)
    subprocess.run(['node', '--import', 'tsx', 'tools/probe-data.ts', 'prompts', '--out', os.path.abspath(out),
                    '--one', str(o.one), '--two', str(o.two)] + (['--tune'] if o.tune else []), cwd=ROOT, check=True)
    meta = json.load(open(os.path.join(out, 'prompts.json')))
    ids = torch.tensor(meta['ids'], dtype=torch.long)
    n = len(ids)
    def f32(name):
        return torch.frombuffer(bytearray(open(os.path.join(out, name), 'rb').read()), dtype=torch.float32).reshape(n, 3, S, S)

    palette = torch.tensor(json.load(open(os.path.join(out, 'palette.json'))))
    with torch.no_grad():
        # The flat canvas of the world's colour the model finds closest to each prompt: a start
        # chosen by the model alone, as the pack's initCandidates chooses among noise images.
        flats = palette[:, :, None, None].expand(len(palette), 3, S, S)
        scores = torch.stack([model.cos(flats, ids[i:i + 1].expand(len(palette), CTX)) for i in range(n)])
        flat = flats[scores.argmax(1)].clone()
    starts = {'noise': f32('starts.f32'), 'grey': torch.full((n, 3, S, S), 0.5), 'flat': flat,
              'bare': f32('bare.f32')}
    starts = {k: v for k, v in starts.items() if k in o.starts.split(',')}
    results = {}
    for name, start in starts.items():
        gen = torch.Generator().manual_seed(o.seed)
        x = ascend(model, start, ids, o.steps, gen, lr=o.synth_lr, n_views=o.views, rule=o.rule, grad_blur=o.grad_blur)
        d = os.path.join(out, name)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, 'prompts.json'), 'w') as f:
            json.dump(meta, f)
        x.numpy().astype('float32').tofile(os.path.join(d, 'images.f32'))
        r = subprocess.run(['node', '--import', 'tsx', 'tools/probe-data.ts', 'judge', '--dir', os.path.abspath(d),
                            '--sheet', os.path.abspath(os.path.join(d, 'sheet.png'))], cwd=ROOT, check=True, capture_output=True, text=True)
        results[name] = json.loads(r.stdout)
        with torch.no_grad():
            # Did synthesis find a higher score than the true picture (the model's maximum is
            # elsewhere) or stop below it (the optimisation is stuck)?
            results[name]['cosSynth'] = round(model.cos(x, ids).mean().item(), 4)
            results[name]['cosTruth'] = round(model.cos(f32('truth.f32'), ids).mean().item(), 4)
    print(json.dumps({'weights': o.weights, 'prompts': 'tune' if o.tune else 'eval', **results}))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest='cmd', required=True)
    t = sub.add_parser('train')
    t.add_argument('--dir', required=True)
    t.add_argument('--contrastive', type=int, default=3000)
    t.add_argument('--align', type=int, default=2500)
    t.add_argument('--items', type=int, default=32)
    t.add_argument('--lr', type=float, default=2e-3)
    t.add_argument('--align-lr', type=float, default=5e-4)
    t.add_argument('--align-lr-min', type=float, default=4e-4)
    t.add_argument('--seed', type=int, default=1)
    t.add_argument('--threads', type=int, default=2)
    t.add_argument('--head', choices=['flat', 'attnpool'], default='flat', help="flat: the issue's probe; attnpool: open_clip's attention pool")
    t.add_argument('--norm', choices=['group', 'batch'], default='group')
    t.add_argument('--init', help="weights to start the alignment phase from (another run's contrastive.pt)")
    t.add_argument('--ebm', type=float, default=0.0, help='weight of a term scoring synthesis chains below the true pictures (alignment phase)')
    t.add_argument('--ebm-items', type=int, default=8)
    t.add_argument('--ebm-steps', type=int, default=10, help='synthesis steps each chain (--ebm, --chain-items) takes per training step (a chain restarts after 80)')
    t.add_argument('--chain-items', type=int, default=0, help='alignment items taken from persistent synthesis chains, pulled toward their true picture')
    t.add_argument('--chain-objective', choices=['cos', 'contrastive'], default='cos',
                   help="what chains climb: cos, synthesis's own (the caption's cosine, 4 views); contrastive, the batch's loss without views (what the TypeScript trainer's graphs give)")
    t.add_argument('--unroll', type=int, default=0, help='instead of the alignment term: k normalised gradient steps from each item, loss on where they end')
    t.add_argument('--unroll-eta', type=float, default=0.05)
    t.add_argument('--unroll-weight', type=float, default=2.0)
    t.add_argument('--bare', type=float, default=0.0, help='share of alignment items started from the target with shapes missing')
    s = sub.add_parser('synth')
    s.add_argument('--dir', required=True)
    s.add_argument('--weights', default='state.pt')
    s.add_argument('--tune', action='store_true')
    s.add_argument('--one', type=int, default=20)
    s.add_argument('--two', type=int, default=10)
    s.add_argument('--steps', type=int, default=80)
    s.add_argument('--views', type=int, default=4)
    s.add_argument('--synth-lr', type=float, default=0.03)
    s.add_argument('--seed', type=int, default=1)
    s.add_argument('--threads', type=int, default=2)
    s.add_argument('--out', help='folder under --dir for the pictures (default synth-tune or synth-eval)')
    s.add_argument('--grad-blur', type=float, default=0.0, help='Gaussian low-pass of the pixel gradient, sigma px')
    s.add_argument('--rule', choices=['adam', 'normalised'], default='adam')
    s.add_argument('--starts', default='noise,grey', help='of noise, grey, flat (the best world colour by the model), bare (the true background)')
    o = ap.parse_args()
    (train if o.cmd == 'train' else synth)(o)


if __name__ == '__main__':
    sys.exit(main())
