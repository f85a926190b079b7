"""Binary class-subset tasks (RPG Sec. 3.4): a code with a bit per class says which classes are positive.

The 2^C - 2 codes that are neither all-0 nor all-1 are the tasks (C = 10: 1,022; BBC News' 5 topics: 30); a seeded
split holds some out as unseen.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch


def all_codes(num_classes: int = 10) -> torch.Tensor:
    """(2^C - 2, C) 0/1 int64 codes, ordered by their integer value (bit c = class c)."""
    ints = torch.arange(1, 2 ** num_classes - 1)
    return ((ints[:, None] >> torch.arange(num_classes)) & 1).long()


def code_to_str(code: torch.Tensor) -> str:
    return "".join(str(int(b)) for b in code)


def binary_labels(y: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
    """Relabel class indices: 1 where the code's bit for that class is set. code (C,) or (T, C) -> (n,) or (T, n)."""
    code = torch.as_tensor(code).long()
    if code.dim() == 1:
        return code[y]
    return code[:, y]


@dataclass(frozen=True)
class TaskSet:
    codes: torch.Tensor    # (T, C) all codes of the set
    seen: torch.Tensor     # indices into codes used for training generators
    unseen: torch.Tensor   # held-out indices

    def __len__(self):
        return self.codes.shape[0]


def split_codes(n_unseen: int = 20, *, seed: int = 0, n_tasks: int | None = None, num_classes: int = 10) -> TaskSet:
    """Deterministic seen/unseen split of the codes; `n_tasks` keeps a seeded subset first (smaller presets)."""
    codes = all_codes(num_classes)
    g = torch.Generator().manual_seed(seed)
    if n_tasks is not None:
        if not 2 <= n_tasks <= len(codes):
            raise ValueError(f"n_tasks must be in [2, {len(codes)}], got {n_tasks}")
        codes = codes[torch.randperm(len(codes), generator=g)[:n_tasks].sort().values]
    if not 0 <= n_unseen < len(codes):
        raise ValueError(f"n_unseen must be in [0, {len(codes)}), got {n_unseen}")
    perm = torch.randperm(len(codes), generator=g)
    return TaskSet(codes, perm[n_unseen:].sort().values, perm[:n_unseen].sort().values)


def majority_baseline(y: torch.Tensor, code: torch.Tensor) -> float:
    """Accuracy of always predicting the more frequent binary label."""
    p = binary_labels(y, code).float().mean().item()
    return max(p, 1 - p)
