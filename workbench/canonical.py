"""Weight-space symmetry: permute the hidden units of nets so that they line up (canonicalisation).

    spec = permutation_spec("cnn_s", zoo.net_kwargs)          # the groups of hidden units that may be permuted
    flat = align(spec, zoo.layout, zoo.flat, zoo.flat[0])      # every checkpoint matched to checkpoint 0
    canon = zoo.canonical(reference=0)                         # the same, as a zoo (cached beside the zoo's folder)

Permuting the output units of a hidden layer, and the input units of the layers that read them, leaves the function
unchanged; so does moving a BatchNorm's statistics along with its channels. Weight matching (Ainsworth et al. 2023,
"Git Re-Basin", REFERENCE.md) picks, one group at a time, the permutation that maximises the inner product of a net's
weights with a reference's (a linear assignment, scipy's `linear_sum_assignment`), until no group changes.

The permutation groups are read off the module tree, so any nn.Sequential of Conv2d / Linear / BatchNorm / elementwise
activations / pooling / Flatten (mlp, lenet5, neurogen_cnn, cnn_s, cnn_m) and the CIFAR ResNet's BasicBlocks
(residual streams share one permutation per stage, each block's inner channels get their own) are supported, and
nets that state their own groups (LoRA adapters: the rank of each A, B pair, nets/lora.py); any other
module is refused by name (the ViT's attention heads and the text nets' recurrent or embedding inputs are not handled).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from .layout import Layout
from .nets import create_net
from .nets.vision import BasicBlock

# modules that act on every unit alike: a permutation of their input channels permutes their output the same way
_ELEMENTWISE = (nn.ReLU, nn.Tanh, nn.GELU, nn.Sigmoid, nn.SiLU, nn.LeakyReLU, nn.Identity, nn.Dropout, nn.MaxPool2d,
                nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.Flatten)
_BN = ("weight", "bias", "running_mean", "running_var")


class NotCanonicalisable(ValueError):
    """The net has a module whose units this module cannot permute."""


@dataclass(frozen=True)
class Axis:
    key: str                         # state-dict key
    axis: int                        # the permuted axis of `view`
    view: tuple[int, ...] | None     # the shape the tensor is viewed in (a Linear after Flatten: [out, C, H*W])


@dataclass
class Group:
    """One permutation: `size` units, and every (tensor, axis) that it permutes."""
    name: str
    size: int
    axes: list[Axis] = field(default_factory=list)


def _add(group: Group, key: str, axis: int, tensor: torch.Tensor, view=None) -> None:
    group.axes.append(Axis(key, axis, tuple(view) if view is not None else None))


def _consume(group: Group | None, prefix: str, m: nn.Module) -> None:
    """A Conv2d / Linear reading the units of `group` along its input axis."""
    if group is None:
        return
    w = m.weight
    if isinstance(m, nn.Linear) and w.shape[1] != group.size:       # after Flatten: [out, C * H * W]
        if w.shape[1] % group.size:
            raise NotCanonicalisable(f"{prefix}: {w.shape[1]} inputs are not a multiple of {group.size} channels")
        _add(group, f"{prefix}weight", 1, w, (w.shape[0], group.size, w.shape[1] // group.size))
    else:
        _add(group, f"{prefix}weight", 1, w)


def _produce(prefix: str, m: nn.Module) -> Group:
    """A new group: the output units of a Conv2d / Linear."""
    g = Group(prefix.rstrip("."), m.weight.shape[0])
    _add(g, f"{prefix}weight", 0, m.weight)
    if m.bias is not None:
        _add(g, f"{prefix}bias", 0, m.bias)
    return g


def _batchnorm(group: Group | None, prefix: str, m: nn.Module) -> None:
    if group is None or m.num_features != group.size:
        raise NotCanonicalisable(f"{prefix}: a BatchNorm that follows no layer of {m.num_features} units")
    for k in _BN:
        if getattr(m, k, None) is not None:
            _add(group, f"{prefix}{k}", 0, getattr(m, k))


def _block(prefix: str, b: BasicBlock, stream: Group) -> tuple[Group, Group]:
    """A BasicBlock: its inner channels are one group; its output joins the residual stream (or, after a projection
    shortcut, starts a new one)."""
    _consume(stream, f"{prefix}conv1.", b.conv1)
    inner = _produce(f"{prefix}conv1.", b.conv1)
    _batchnorm(inner, f"{prefix}bn1.", b.bn1)
    _consume(inner, f"{prefix}conv2.", b.conv2)
    if len(b.short):
        _consume(stream, f"{prefix}short.0.", b.short[0])
        out = _produce(f"{prefix}short.0.", b.short[0])
        _batchnorm(out, f"{prefix}short.1.", b.short[1])
        out.name = f"{prefix}out"
    else:
        out = stream
    for k in ("weight", "bias"):
        if getattr(b.conv2, k) is not None:
            _add(out, f"{prefix}conv2.{k}", 0, getattr(b.conv2, k))
    _batchnorm(out, f"{prefix}bn2.", b.bn2)
    return inner, out


def spec_of(net: nn.Module, name: str = "net") -> list[Group]:
    """The permutation groups of a net (its classifier outputs are never permuted: they are the classes). A net that
    states its own symmetry (`permutation_groups()`: [(name, size, [(key, axis), ...])], e.g. the rank of LoRA
    adapters) is taken at its word."""
    if hasattr(net, "permutation_groups"):
        return [Group(n, size, [Axis(k, a, None) for k, a in axes]) for n, size, axes in net.permutation_groups()]
    if not isinstance(net, nn.Sequential):
        raise NotCanonicalisable(f"net {name!r} ({type(net).__name__}) cannot be canonicalised: only nn.Sequential nets "
                                 f"of Conv2d / Linear / BatchNorm / activations / pooling and ResNet BasicBlocks are "
                                 f"supported (mlp, lenet5, neurogen_cnn, cnn_s, cnn_m, resnet)")
    groups: list[Group] = []
    stream: Group | None = None
    for child, m in net.named_children():
        p = f"{child}."
        if isinstance(m, nn.Conv2d) and m.groups == 1 or isinstance(m, nn.Linear):
            _consume(stream, p, m)
            stream = _produce(p, m)
            groups.append(stream)
        elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
            _batchnorm(stream, p, m)
        elif isinstance(m, BasicBlock):
            if stream is None:
                raise NotCanonicalisable(f"net {name!r}: a residual block before any layer")
            inner, out = _block(p, m, stream)
            groups += [inner] if out is stream else [inner, out]
            stream = out
        elif not isinstance(m, _ELEMENTWISE):
            raise NotCanonicalisable(f"net {name!r} cannot be canonicalised: module {child} is a {type(m).__name__}, "
                                     f"whose units this workbench cannot permute")
    if stream is None:
        raise NotCanonicalisable(f"net {name!r} has no layer to permute")
    return [g for g in groups if g is not stream]        # the last group is the output layer: the classes


def permutation_spec(net: str, net_kwargs: dict) -> list[Group]:
    """The permutation groups of a registered net (NotCanonicalisable, naming it, for nets that have none we handle)."""
    return spec_of(create_net(net, **net_kwargs), net)


def supported(net: str, net_kwargs: dict) -> str | None:
    """None if `net` can be canonicalised, else why not (one line)."""
    try:
        permutation_spec(net, net_kwargs)
    except NotCanonicalisable as exc:
        return str(exc)
    return None


# ---- permuting ------------------------------------------------------------------------------------------------

def _take(t: torch.Tensor, ax: Axis, perm: torch.Tensor, batched: bool) -> torch.Tensor:
    """t with the units of `ax` reordered by perm (new unit i = old unit perm[i]); batched: t has a leading [N]."""
    shape = t.shape
    lead = shape[:1] if batched else ()
    v = t.reshape(*lead, *ax.view) if ax.view is not None else t
    return v.index_select(ax.axis + len(lead), perm.to(t.device)).reshape(shape)


def permute(stacked: dict[str, torch.Tensor], spec: list[Group], perms: dict[str, torch.Tensor], *,
            batched: bool = False) -> dict[str, torch.Tensor]:
    """A state dict (or a stack of them, `batched`) with every group's units reordered: the same function."""
    out = dict(stacked)
    for g in spec:
        for ax in g.axes:
            out[ax.key] = _take(out[ax.key], ax, perms[g.name], batched)
    return out


def random_perms(spec: list[Group], *, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {grp.name: torch.randperm(grp.size, generator=g) for grp in spec}


def weight_matching(spec: list[Group], ref: dict[str, torch.Tensor], sd: dict[str, torch.Tensor], *,
                    max_iter: int = 100, seed: int = 0) -> dict[str, torch.Tensor]:
    """The permutations that line `sd` up with `ref` (coordinate ascent over the groups in a seeded random order,
    each step a linear assignment maximising sum <ref, permuted sd> over the group's tensors)."""
    from scipy.optimize import linear_sum_assignment

    ref = {k: v.double() for k, v in ref.items()}
    sd = {k: v.double() for k, v in sd.items()}
    perms = {g.name: torch.arange(g.size) for g in spec}
    owners: dict[str, list[tuple[Group, Axis]]] = {}
    for g in spec:
        for ax in g.axes:
            owners.setdefault(ax.key, []).append((g, ax))
    rng = np.random.default_rng(seed)

    def others(key: str, skip: Group) -> torch.Tensor:     # sd[key] with every other group's permutation applied
        t = sd[key]
        for g, ax in owners[key]:
            if g is not skip:
                t = _take(t, ax, perms[g.name], False)
        return t

    for _ in range(max_iter):
        changed = False
        for gi in rng.permutation(len(spec)):
            g = spec[gi]
            cost = torch.zeros(g.size, g.size, dtype=torch.float64)
            for ax in g.axes:
                a, b = ref[ax.key], others(ax.key, g)
                if ax.view is not None:
                    a, b = a.reshape(ax.view), b.reshape(ax.view)
                a = a.movedim(ax.axis, 0).reshape(g.size, -1)
                b = b.movedim(ax.axis, 0).reshape(g.size, -1)
                cost += a @ b.T
            c = cost.numpy()
            _, col = linear_sum_assignment(c, maximize=True)
            rows = np.arange(g.size)
            if c[rows, col].sum() > c[rows, perms[g.name].numpy()].sum() + 1e-9 * max(1.0, abs(c).max()):
                perms[g.name] = torch.as_tensor(col, dtype=torch.long)
                changed = True
        if not changed:
            break
    return perms


def align(spec: list[Group], layout: Layout, flat: torch.Tensor, reference: torch.Tensor, *,
          ints: dict[str, torch.Tensor] | None = None, seed: int = 0, progress: bool = False) -> torch.Tensor:
    """[N, D] parameters (layout order) with each row's hidden units matched to `reference` [D]: the same N functions."""
    from tqdm.auto import tqdm

    if flat.dim() != 2 or flat.shape[1] != layout.dim or reference.shape != (layout.dim,):
        raise ValueError(f"align needs parameters [N, {layout.dim}] and a reference [{layout.dim}], got "
                         f"{list(flat.shape)} and {list(reference.shape)}")
    ints = ints if ints is not None else {k.name: torch.zeros(k.shape, dtype=getattr(torch, k.dtype))
                                          for k in layout.keys if not k.is_float}   # not permuted, dropped by flatten
    ref = {k: v[0] for k, v in layout.unflatten(reference[None], ints).items()}
    stacked = layout.unflatten(flat, ints)
    rows = []
    for i in tqdm(range(flat.shape[0]), desc="align", disable=not progress):
        sd = {k: v[i] for k, v in stacked.items()}
        perms = weight_matching(spec, ref, sd, seed=seed + i)
        rows.append(permute({k: v[None] for k, v in sd.items()}, spec, perms, batched=True))
    out = {k: torch.cat([r[k] for r in rows]) for k in stacked}
    return layout.flatten(out)
