"""IGPG's parameter layouts over a collection: one per distinct (architecture, parameter count), with per-key
statistics from the seen pairs' training checkpoints; a layout no seen pair has (a held-out depth) borrows each key's
statistics from seen keys of the same name suffix and shape."""
from __future__ import annotations

import torch

from ...layout import Layout, Normalizer


def _suffix(name: str) -> str:
    parts = name.split(".")
    return ".".join(p for p in parts if not p.isdigit())[-40:]   # "3.conv1.weight" -> "conv1.weight"


def pair_rows(zoo, seeds) -> torch.Tensor:
    keep = set(seeds)
    return torch.tensor([i for i, c in enumerate(zoo.manifest["checkpoints"]) if c["seed"] in keep], dtype=torch.long)


def spaced(rows: torch.Tensor, k: int) -> torch.Tensor:
    """At most k of `rows`, evenly spaced (k = 0: all)."""
    if k <= 0 or len(rows) <= k:
        return rows
    return rows[torch.linspace(0, len(rows) - 1, k).round().long()]


def _transfer_stats(layout: Layout, known: dict[tuple, list]) -> Normalizer:
    """Per-key statistics for an architecture without checkpoints, from seen keys with the same suffix and shape."""
    rows = []
    for k in layout.float_keys:
        cands = known.get((_suffix(k.name), k.shape)) or known.get((_suffix(k.name), None)) or known[("*", None)]
        rows.append(torch.tensor(cands).mean(0))
    st = torch.stack(rows)                                                    # [keys, 3]: mean, std, var_mean
    return Normalizer(layout, st[:, 0], st[:, 1], st[:, 2])


def collection_layouts(col, config) -> tuple[dict, dict, dict, dict]:
    """(layouts {id: {arch, net, net_kwargs, keys, stats, seen}}, {"arch|dataset": layout id}, {"arch|dataset":
    training seeds}, {"arch|dataset": training checkpoint rows}) under `config`'s holdout_seeds / train_checkpoints."""
    # one layout per distinct parameter layout (an architecture on a 5-class dataset has a smaller head)
    layouts: dict[str, dict] = {}
    pair_layout, train_seeds, train_rows = {}, {}, {}
    for m in col.members():
        zoo = col.zoo(m)
        lid = f"{m.arch}/{zoo.layout.dim}"
        layouts.setdefault(lid, {"arch": m.arch, "net": m.net, "net_kwargs": m.net_kwargs, "keys": zoo.layout.to_json(),
                                 "flats": []})
        pair_layout[f"{m.arch}|{m.dataset}"] = lid
        seeds = sorted({c["seed"] for c in zoo.manifest["checkpoints"]})
        keep = seeds[:len(seeds) - config.holdout_seeds] if len(seeds) > config.holdout_seeds else seeds
        train_seeds[f"{m.arch}|{m.dataset}"] = keep
        rows = spaced(pair_rows(zoo, keep), config.train_checkpoints)
        train_rows[f"{m.arch}|{m.dataset}"] = rows.tolist()
        if m.split == "seen":
            layouts[lid]["flats"].append(zoo.flat[rows])
    known: dict[tuple, list] = {("*", None): []}
    for entry in layouts.values():   # per-key statistics over the seen training checkpoints of each layout
        flats = entry.pop("flats")
        if flats:
            layout = Layout.from_json(entry["keys"])
            norm = Normalizer.fit(layout, torch.cat(flats))
            entry["stats"] = torch.stack([norm.mean, norm.std, norm.var_mean], 1).tolist()
            for k, row in zip(layout.float_keys, entry["stats"]):
                for key in ((_suffix(k.name), k.shape), (_suffix(k.name), None), ("*", None)):
                    known.setdefault(key, []).append(row)
    for entry in layouts.values():   # layouts no seen pair has (held-out depth) borrow statistics from seen keys
        entry["seen"] = "stats" in entry
        if not entry["seen"]:
            norm = _transfer_stats(Layout.from_json(entry["keys"]), known)
            entry["stats"] = torch.stack([norm.mean, norm.std, norm.var_mean], 1).tolist()
    return layouts, pair_layout, train_seeds, train_rows


def recalibrated(info: dict, flat: torch.Tensor, images, batches: int) -> torch.Tensor:
    """Decoded nets [N, D] of a layout (`info`: net, net_kwargs, keys) with their BatchNorm running statistics
    re-estimated from `batches` batches of images() (nets without BatchNorm come back unchanged, images unread)."""
    from ...nets import create_net, has_batchnorm, recalibrate_batchnorm

    net = create_net(info["net"], **info["net_kwargs"])
    if not has_batchnorm(net):
        return flat
    layout = Layout.from_json(info["keys"])
    ints = {k: v for k, v in net.state_dict().items() if not v.is_floating_point()}
    X = images()
    out = []
    for row in range(len(flat)):
        net.load_state_dict({k: v[0] for k, v in layout.unflatten(flat[row:row + 1], ints).items()})
        recalibrate_batchnorm(net, X, batches=batches, seed=row)
        out.append(layout.flatten({k: v[None] for k, v in net.state_dict().items()})[0])
    return torch.stack(out)
