import pytest
import torch

from workbench.data import from_tensors, load_dataset


@pytest.fixture(scope="session")
def digits():
    return load_dataset("digits")


@pytest.fixture(scope="session")
def mnist_tiny():
    return load_dataset("mnist5k", max_train=300, max_test=200)


@pytest.fixture
def blobs():
    """A tiny separable 3-class problem made here (bring-your-own tensors)."""
    g = torch.Generator().manual_seed(0)
    centers = torch.randn(3, 9, generator=g) * 3
    y = torch.arange(300) % 3
    X = centers[y] + torch.randn(300, 9, generator=g)
    return from_tensors("blobs", X.reshape(300, 1, 3, 3), y)
