"""Plain supervised training of target nets: seeded, resumable at step granularity, device-agnostic.

This trains the *target* nets that fill zoos; generators train through workbench/train.py.
"""
from __future__ import annotations

import math
from typing import Callable, Iterator

import torch
from torch import nn


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def batch_order(n: int, batch_size: int, seed: int, epoch: int) -> list[torch.Tensor]:
    """The minibatches of one epoch: a permutation seeded by (seed, epoch), so any epoch can be replayed."""
    g = torch.Generator().manual_seed(seed * 100_003 + epoch)
    perm = torch.randperm(n, generator=g)
    return list(perm.split(batch_size))


def make_sgd(net: nn.Module, lr: float, momentum: float, weight_decay: float = 0.0) -> torch.optim.SGD:
    return torch.optim.SGD(net.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)


def set_lr(opt: torch.optim.Optimizer, lr: float) -> None:
    for group in opt.param_groups:
        group["lr"] = lr


def train_steps(net: nn.Module, opt: torch.optim.Optimizer, X: torch.Tensor, y: torch.Tensor,
                batches: list[torch.Tensor], loss_fn: Callable = nn.functional.cross_entropy) -> Iterator[float]:
    """Run the given minibatches, yielding each step's loss (a generator: callers decide when to stop or save)."""
    net.train()
    for idx in batches:
        loss = loss_fn(net(X[idx]), y[idx])
        if not torch.isfinite(loss):
            raise FloatingPointError(f"training loss became {loss.item()}: lower the learning rate")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        yield loss.item()


def train_epochs(net: nn.Module, X: torch.Tensor, y: torch.Tensor, *, epochs: int, lr: float, momentum: float,
                 batch_size: int, seed: int, weight_decay: float = 0.0, first_epoch: int = 0,
                 opt: torch.optim.Optimizer | None = None, progress=None) -> torch.optim.Optimizer:
    opt = opt or make_sgd(net, lr, momentum, weight_decay)
    for epoch in range(first_epoch, first_epoch + epochs):
        loss = math.nan
        for loss in train_steps(net, opt, X, y, batch_order(len(y), batch_size, seed, epoch)):
            pass
        if progress is not None:
            progress.set_postfix(epoch=epoch + 1, loss=f"{loss:.3f}")
    return opt


def momentum_state(net: nn.Module, opt: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
    """SGD momentum buffers keyed by parameter name (saved next to checkpoints so training can resume)."""
    out = {}
    for name, p in net.named_parameters():
        buf = opt.state.get(p, {}).get("momentum_buffer")
        if buf is not None:
            out[name] = buf.detach().clone()
    return out


def load_momentum(net: nn.Module, opt: torch.optim.Optimizer, state: dict[str, torch.Tensor]) -> None:
    for name, p in net.named_parameters():
        if name in state:
            opt.state[p]["momentum_buffer"] = state[name].clone().to(p.device)
