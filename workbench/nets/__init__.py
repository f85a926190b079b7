"""Target networks, built by name from one registry so a zoo manifest can rebuild any of them.

    from workbench.nets import create_net, available_nets
    net = create_net("cnn_s", in_channels=1, num_classes=10, image_size=28)   # 2,464 parameters
"""
from __future__ import annotations

import torch
from torch import nn

from ..registry import Registry

NETS = Registry("net", "workbench.nets.NETS")


def create_net(name: str, **kwargs) -> nn.Module:
    return NETS.create(name, **kwargs)


def net_config(name: str, **kwargs) -> dict:
    """The full kwargs (defaults filled in) that rebuild this net: what a manifest stores."""
    return NETS.config(name, **kwargs).to_dict()


def available_nets(pattern: str = "*") -> list[str]:
    return NETS.available(pattern)


def count_params(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def head_name(net: nn.Module) -> str:
    """Name of the classifier head: the last nn.Linear in module order."""
    names = [n for n, m in net.named_modules() if isinstance(m, nn.Linear)]
    if not names:
        raise ValueError(f"{type(net).__name__} has no nn.Linear head")
    return names[-1]


def head_features(net: nn.Module, X: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    """Inputs of the head (penultimate features), via a forward hook: works for any registered net."""
    head = dict(net.named_modules())[head_name(net)]
    store = []
    hook = head.register_forward_pre_hook(lambda m, args: store.append(args[0].detach()))
    try:
        with torch.no_grad():
            for i in range(0, X.shape[0], batch_size):
                net(X[i: i + batch_size])
    finally:
        hook.remove()
    return torch.cat(store)


from . import text, vision  # noqa: E402,F401  (registers the built-in nets)
