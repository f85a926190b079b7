"""Baselines every generator must beat (Zeng et al. 2025; RPG's evaluation protocol).

All work on flat [N, D] parameters in a zoo's layout and return [n, D]:
  noise     originals + Gaussian noise of std sigma in normalised space (per-key z-score units)
  average   means of `k` random checkpoints (Zeng et al.: k = 16; a copy of the mean must not pass as a novel model)
  gaussian  a per-coordinate Gaussian fitted to the zoo
  random_init  freshly initialised nets of the zoo's architecture
  transplant     a net's keys copied into another architecture where name and shape match, the rest fresh
  nearest_start  the best seen checkpoint a held-out (architecture, dataset) pair can start from (IGPG's baseline)
plus RPG's two probes of parameter structure: parameter exchange (Fig. 2) and noise sensitivity (Table 16).
"""
from __future__ import annotations

import torch

from ..layout import Normalizer


def spaced(n: int, total: int) -> torch.Tensor:
    """n indices evenly spaced through range(total), cycled when n exceeds it."""
    return torch.arange(n) * total // n if n <= total else torch.arange(n) % total


def spread(zoo, n: int) -> torch.Tensor:
    """n originals evenly spaced through the zoo: the bases that noise is added to."""
    return zoo.flat[spaced(n, len(zoo))]


def noise(zoo, sigma: float, n: int, *, seed: int = 0, normalizer: Normalizer | None = None) -> torch.Tensor:
    """n models: `spread(zoo, n)` + N(0, sigma^2) in normalised space, mapped back."""
    norm = normalizer or Normalizer.fit(zoo.layout, zoo.flat)
    g = torch.Generator().manual_seed(seed)
    z = norm.normalize(spread(zoo, n))
    return norm.denormalize(z + sigma * torch.randn(z.shape, generator=g))


def average_k(num_checkpoints: int, k: int = 16) -> int:
    """Subset size of the averaging baseline: k (16) when the zoo is larger, else half the zoo (at least 2, at most
    all of it), so that a small zoo still gives many different averages instead of one."""
    return k if num_checkpoints > k else min(num_checkpoints, max(2, num_checkpoints // 2))


def average(zoo, k: int = 16, *, n: int = 1, seed: int = 0) -> torch.Tensor:
    """n models, each the mean of k checkpoints drawn without replacement (k >= len(zoo): the full mean)."""
    g = torch.Generator().manual_seed(seed)
    k = min(k, len(zoo))
    return torch.stack([zoo.flat[torch.randperm(len(zoo), generator=g)[:k]].mean(0) for _ in range(n)])


def gaussian(zoo, n: int, *, seed: int = 0) -> torch.Tensor:
    """n samples of a per-coordinate Gaussian fitted to the zoo (independent coordinates: no structure)."""
    g = torch.Generator().manual_seed(seed)
    mu, sd = zoo.flat.mean(0), zoo.flat.std(0) if len(zoo) > 1 else torch.zeros(zoo.layout.dim)
    return mu + sd * torch.randn(n, zoo.layout.dim, generator=g)


def exchange(a: torch.Tensor, b: torch.Tensor, fraction: float = 0.1, *, seed: int = 0) -> torch.Tensor:
    """A with a random `fraction` of its coordinates replaced by B's (RPG Fig. 2: 'A+10%B')."""
    if a.shape != b.shape:
        raise ValueError(f"exchange needs two models of the same layout, got {list(a.shape)} and {list(b.shape)}")
    g = torch.Generator().manual_seed(seed)
    mask = torch.rand(a.shape[-1], generator=g) < fraction
    return torch.where(mask, b, a)


def random_init(zoo, n: int, *, seed: int = 0) -> torch.Tensor:
    """n freshly initialised nets of the zoo's architecture [n, D] (seeds seed, seed+1, ...)."""
    from . import seeded

    rows = []
    for i in range(n):
        with seeded(seed + i):
            net = zoo.build_net()
        rows.append(zoo.layout.flatten({k: v[None] for k, v in net.state_dict().items()}))
    return torch.cat(rows)


def transplant(src_zoo, src_flat: torch.Tensor, dst_zoo, *, seed: int = 0) -> tuple[torch.Tensor, float]:
    """Parameters for `dst_zoo`'s net taken from `src_flat` [D_src] where a key has the same name and shape (e.g. the
    blocks a shallower ResNet shares with a deeper one), the rest freshly initialised from `seed`.
    Returns ([1, D_dst], the fraction of dst values that came from the source)."""
    src = {k: v[0] for k, v in src_zoo.unflatten(src_flat[None]).items()}
    out = {k: v[0].clone() for k, v in dst_zoo.unflatten(random_init(dst_zoo, 1, seed=seed)).items()}
    moved = 0
    for k in dst_zoo.layout.float_keys:
        if k.name in src and tuple(src[k.name].shape) == tuple(k.shape):
            out[k.name] = src[k.name].clone()
            moved += k.numel
    total = sum(k.numel for k in dst_zoo.layout.float_keys)
    return dst_zoo.layout.flatten({k: v[None] for k, v in out.items()}), moved / total


def nearest_start(col, gen, m, *, seed: int = 0) -> tuple[torch.Tensor, str, float]:
    """(parameters [1, D], where they came from, fraction of values taken) for held-out pair m of collection `col`:
    the baseline a generated initialisation must beat (notebook 06). Held-out dataset: the best checkpoint of the same
    architecture on the seen dataset whose embedding (gen's) is closest. Held-out depth (or a held-out architecture
    on a held-out dataset): the seen architecture sharing most values (`transplant`), on this dataset if it is seen,
    else on the seen dataset with the closest embedding."""
    zoo = col.zoo(m)
    seen = col.members("seen")
    emb = dict(zip(gen.target["datasets"], gen.data_emb))

    def near(s):
        return torch.cosine_similarity(emb[s.dataset], emb[m.dataset], 0).item()

    same = [s for s in seen if s.arch == m.arch and col.zoo(s).num_params == zoo.num_params]
    if same:
        src = max(same, key=near)
        z = col.zoo(src)
        return z.flat[z.accuracies.argmax()][None], f"{src.arch} on {src.dataset}", 1.0
    home = m.dataset if any(s.dataset == m.dataset for s in seen) else max(seen, key=near).dataset
    best = None
    for s in seen:
        if s.dataset != home:
            continue
        z = col.zoo(s)
        flat, share = transplant(z, z.flat[z.accuracies.argmax()], zoo, seed=seed)
        if best is None or share > best[2]:
            best = (flat, f"{s.arch} on {s.dataset} ({share:.0%} of values)", share)
    return best
