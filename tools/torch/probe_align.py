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

With --pack DIR, train and synth run one of our ViT packs (probe_pack.py) instead of the probe's tower,
starting at the alignment phase from the pack's weights; `synth --pack DIR --weights pack` judges a
pack as it is, and `export --dir D --out PACK` writes a run's weights back as a pack for `npm run eval`.

Synthesis prints, per start, our judge's rates and the mean score of the results (cosSynth) beside
the true pictures' (cosTruth). Ablations: --head attnpool (open_clip's attention pool), --norm batch,
--bare (items started from the target with shapes missing), --ebm (synthesis chains scored below
the truth), --unroll (training through k synthesis steps), --chain-items (alignment items from
persistent synthesis chains). The model and terms are in probe_model.py, synthesis and the chains
in probe_synthesis.py. Findings: models/shapes/MODEL_CARD.md, "Issue 17's probe, rebuilt".

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

# Beside this file (python puts its folder first on the path): the model and terms, and synthesis.
from probe_model import CTX, P, S, Probe, align_term, contrastive, unroll_term
from probe_pack import PackProbe, write_pack
from probe_synthesis import Chains, ascend

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


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


def lr_at(step, o):
    """Phase 1: 100 warm-up steps, cosine to a tenth. Phase 2: 5e-4 -> 4e-4 in three cosine cycles
    (after --align-warmup linear steps: a fresh AdamW's first steps are full-size on a trained pack)."""
    if step < o.contrastive:
        if step < 100:
            return o.lr * (step + 1) / 100
        u = (step - 100) / max(1, o.contrastive - 100)
        return o.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * u)))
    cycle = max(1, o.align // 3)
    u = ((step - o.contrastive) % cycle) / cycle
    warm = min(1.0, (step - o.contrastive + 1) / o.align_warmup) if o.align_warmup > 0 else 1.0
    return warm * (o.align_lr_min + (o.align_lr - o.align_lr_min) * 0.5 * (1 + math.cos(math.pi * u)))


def train(o):
    os.makedirs(o.dir, exist_ok=True)
    torch.manual_seed(o.seed)
    torch.set_num_threads(o.threads)
    model = PackProbe(o.pack) if o.pack else Probe(o.head, o.norm)
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
    elif o.pack:
        step = o.contrastive  # a pack is a trained model: start at the alignment phase
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


def load_model(o):
    """The run's model with o.weights (a checkpoint in o.dir; 'pack': the --pack's own weights)."""
    opts = json.load(open(os.path.join(o.dir, 'options.json'))) if os.path.exists(os.path.join(o.dir, 'options.json')) else {}
    pack = getattr(o, 'pack', None) or opts.get('pack')
    model = PackProbe(pack) if pack else Probe(opts.get('head', 'flat'), opts.get('norm', 'group'))
    if o.weights != 'pack':
        model.load_state_dict(torch.load(os.path.join(o.dir, o.weights))['model'])
    elif not pack:
        raise SystemExit("--weights pack needs --pack DIR (or a run trained from one)")
    return model, pack


def export(o):
    model, pack = load_model(o)
    if not pack:
        raise SystemExit('export writes a pack, so the run must have been trained from one (train --pack DIR)')
    write_pack(model, pack, o.out)
    print(json.dumps({'exported': o.out, 'from': pack, 'weights': o.weights}))


def synth(o):
    torch.set_num_threads(o.threads)
    os.makedirs(o.dir, exist_ok=True)
    model, _ = load_model(o)
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
    t.add_argument('--align-warmup', type=int, default=0, help='linear warm-up steps of the alignment phase')
    t.add_argument('--seed', type=int, default=1)
    t.add_argument('--threads', type=int, default=2)
    t.add_argument('--head', choices=['flat', 'attnpool'], default='flat', help="flat: the issue's probe; attnpool: open_clip's attention pool")
    t.add_argument('--norm', choices=['group', 'batch'], default='group')
    t.add_argument('--pack', help='train one of our ViT packs (probe_pack.py) instead of the probe, from its weights, at the alignment phase')
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
    e = sub.add_parser('export', help='write a run trained from a pack back as a pack (for npm run eval)')
    e.add_argument('--dir', required=True)
    e.add_argument('--weights', default='state.pt')
    e.add_argument('--out', required=True)
    s = sub.add_parser('synth')
    s.add_argument('--dir', required=True)
    s.add_argument('--weights', default='state.pt', help="a checkpoint in --dir, or 'pack' for --pack's own weights")
    s.add_argument('--pack', help='one of our ViT packs to synthesise with (default: the run\'s own --pack, if any)')
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
    {'train': train, 'synth': synth, 'export': export}[o.cmd](o)


if __name__ == '__main__':
    sys.exit(main())
