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


def has_batchnorm(net: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in net.modules())


@torch.no_grad()
def recalibrate_batchnorm(net: nn.Module, X: torch.Tensor, *, batches: int = 4, batch_size: int = 256,
                          seed: int = 0) -> nn.Module:
    """Re-estimate every BatchNorm's running mean / variance from `batches` random batches of inputs X (their exact
    average, momentum None), the other weights untouched; returns the net in eval mode. For decoded or generated
    weights whose statistics are off: a BatchNorm net is very sensitive to them (IGPG's ResNets, notebook 05)."""
    bns = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return net.eval()
    if len(X) == 0:
        raise ValueError("recalibrate_batchnorm needs input batches: X is empty")
    saved = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None                              # cumulative average over the batches
    net.train()
    g = torch.Generator().manual_seed(seed)
    for _ in range(batches):
        net(X[torch.randint(len(X), (min(batch_size, len(X)),), generator=g)])
    for m, mom in zip(bns, saved):
        m.momentum = mom
    return net.eval()


from . import lora, text, vision  # noqa: E402,F401  (registers the built-in nets)
