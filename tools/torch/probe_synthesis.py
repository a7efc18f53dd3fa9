"""The issue-17 probe's synthesis (tools/torch/probe_align.py): views, the gradient low-pass, the
climb itself, and the persistent chains the --ebm and --chain-items terms train on."""
import torch
import torch.nn.functional as F

from probe_model import CTX, S, contrastive


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
