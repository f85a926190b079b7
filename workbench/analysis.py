"""Analysis on parameter sets: arrays in, arrays out (plots live in plots.py)."""
from __future__ import annotations

import numpy as np
import torch


def pca(X: torch.Tensor, n_components: int = 2, *, fit_on: torch.Tensor | None = None, seed: int = 0):
    """Project rows of X onto the principal components of `fit_on` (default X).

    Returns (coords [N, n_components], explained_variance_ratio [n_components]).
    """
    from sklearn.decomposition import PCA

    ref = (X if fit_on is None else fit_on).double().numpy()
    p = PCA(n_components=min(n_components, *ref.shape), random_state=seed).fit(ref)
    return p.transform(X.double().numpy()), p.explained_variance_ratio_


def popcount(codes: torch.Tensor) -> np.ndarray:
    """Number of positive classes per binary-task code."""
    return codes.sum(1).numpy()
