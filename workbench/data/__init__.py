"""Datasets as tensors: offline defaults (`digits`, `mnist5k`), local-root loaders, binary tasks, your own tensors.

    from workbench.data import load_dataset
    ds = load_dataset("mnist5k")          # 4,000 train / 1,000 test, stratified, standardised
    ds.X_train.shape, ds.num_classes      # (4000, 1, 28, 28), 10
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..registry import Registry

DATASETS = Registry("dataset")


@dataclass
class Dataset:
    name: str
    X_train: torch.Tensor
    y_train: torch.Tensor
    X_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    kind: str = "image"            # "image" | "text" | "tensor"
    synthetic: bool = False        # reports label synthetic data as such
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        for split in ("train", "test"):
            X, y = getattr(self, f"X_{split}"), getattr(self, f"y_{split}")
            if X.shape[0] != y.shape[0]:
                raise ValueError(f"dataset {self.name!r}: X_{split} has {X.shape[0]} rows but y_{split} has {y.shape[0]}")
            if y.dtype != torch.long:
                raise ValueError(f"dataset {self.name!r}: y_{split} must be int64 class indices, got {y.dtype}")
            if y.numel() and (y.min() < 0 or y.max() >= self.num_classes):
                raise ValueError(f"dataset {self.name!r}: labels must lie in [0, {self.num_classes}), "
                                 f"got [{int(y.min())}, {int(y.max())}]")
            if X.is_floating_point() and not torch.isfinite(X).all():
                raise ValueError(f"dataset {self.name!r}: X_{split} contains NaN/inf")

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.X_train.shape[1:])

    def describe(self) -> dict:
        return {"name": self.name, "train": int(self.X_train.shape[0]), "test": int(self.X_test.shape[0]),
                "input_shape": list(self.input_shape), "num_classes": self.num_classes,
                "synthetic": self.synthetic, **self.meta}


def load_dataset(name: str, **kwargs) -> Dataset:
    """Build a registered dataset by name; unknown names list what exists."""
    return DATASETS.create(name, **kwargs)


def available_datasets() -> list[str]:
    return DATASETS.available()


def from_tensors(name: str, X: torch.Tensor, y: torch.Tensor, *, test_fraction: float = 0.2, seed: int = 0,
                 num_classes: int | None = None) -> Dataset:
    """Bring your own: any (X, y) becomes a Dataset with a deterministic stratified split.

    X of shape [N, C, S, S] is an image set (image nets read C and S from it); int64 X [N, L] is token ids.
    """
    from .vision import stratified_split

    y = torch.as_tensor(y).long()
    X = torch.as_tensor(X)
    tr, te = stratified_split(y, test_fraction, seed)
    kind = "image" if X.dim() == 4 else "text" if X.dtype == torch.long else "tensor"
    return Dataset(name, X[tr], y[tr], X[te], y[te], num_classes or int(y.max()) + 1, kind=kind)


from . import tasks, text, vision  # noqa: E402,F401  (registers the built-in datasets)
from .tasks import TaskSet, all_codes, binary_labels, split_codes  # noqa: E402,F401
