"""Fine-tuning probes: how far SGD from a given start gets (generated weights vs random init vs a checkpoint), and
classical training at a generator's own budget.

    runs = finetune(zoo, flat, data, epochs=1, every=10)        # {"final": [N], "steps": [P], "curve": [N, P]}
    hit = steps_to(runs["curve"], runs["steps"], target=0.9)
"""
from __future__ import annotations

import torch

from . import evaluate
from .fit import batch_order, make_sgd, train_steps
from .generators.baselines import random_init


def finetune(zoo, flat: torch.Tensor, data, *, epochs: int = 1, lr: float = 1e-2, momentum: float = 0.9,
             batch_size: int = 32, seed: int = 0, every: int | None = None) -> dict:
    """Test accuracy of each parameter set [N, D] (zoo layout) after `epochs` of SGD on `data`'s training split, the
    same batch order for every set (IGPG's "fine-tuning from generated vs random init"). With `every`, also the
    accuracy every that many steps: {"final": [N], "steps": [P], "curve": [N, P]} (step 0 = before training)."""
    batches = [b for e in range(epochs) for b in batch_order(len(data.y_train), batch_size, seed, e)]
    marks = sorted({0, len(batches), *(range(0, len(batches), every) if every else ())})
    finals, curves = [], []
    for row in evaluate.as_flat(zoo, flat):
        net = zoo.build_net()
        net.load_state_dict({k: v[0] for k, v in zoo.unflatten(row[None]).items()})
        opt = make_sgd(net, lr, momentum)
        curve, done = [], 0
        for m in marks:
            for _ in train_steps(net, opt, data.X_train, data.y_train, batches[done:m]):
                pass
            done = m
            net.eval()
            with torch.no_grad():
                curve.append((net(data.X_test).argmax(1) == data.y_test).float().mean().item())
        finals.append(curve[-1])
        curves.append(curve)
    return {"final": torch.tensor(finals), "steps": marks, "curve": torch.tensor(curves)}


def train_matched(zoo, data, *, steps: int, lr: float, batch_size: int, n: int = 1, seed: int = 0) -> torch.Tensor:
    """Test accuracy [n] of the zoo's net trained from n fresh initialisations (seeds seed..seed+n-1) with AdamW at
    `lr` for `steps` steps of `batch_size` examples: classical training with the optimiser, steps and examples a
    generator's task-loss stage uses (NeuroGen's stage 2), against which "beats classical training" is fair."""
    accs = []
    for row, s in zip(random_init(zoo, n, seed=seed), range(seed, seed + n)):
        net = zoo.build_net()
        net.load_state_dict({k: v[0] for k, v in zoo.unflatten(row[None]).items()})
        opt = torch.optim.AdamW(net.parameters(), lr=lr)
        batches, epoch = [], 0
        while len(batches) < steps:
            batches += batch_order(len(data.y_train), batch_size, s, epoch)
            epoch += 1
        for _ in train_steps(net, opt, data.X_train, data.y_train, batches[:steps]):
            pass
        net.eval()
        with torch.no_grad():
            accs.append((net(data.X_test).argmax(1) == data.y_test).float().mean().item())
    return torch.tensor(accs)


def steps_to(curve: torch.Tensor, steps: list[int], target: float) -> int | None:
    """First step at which the mean curve reaches `target` (None if never)."""
    mean = curve.mean(0)
    hit = (mean >= target).nonzero().flatten()
    return steps[int(hit[0])] if len(hit) else None
