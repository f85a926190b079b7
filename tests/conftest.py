import os
import random

import numpy as np
import pytest
import torch

from workbench.data import from_tensors, load_dataset

# Learned-quality tests read their seed from here, so their margins can be measured across seeds
# (`python benchmarks/test_margins.py`); the suite itself runs at seed 0.
SEED = int(os.environ.get("WORKBENCH_TEST_SEED", "0"))


@pytest.fixture(autouse=True)
def _isolated_global_state():
    """Every test starts from the same global state, whatever ran before it (and in whatever order).

    A test that builds a net with the global RNG (e.g. `create_net` before its own `manual_seed`) once depended on
    how many random numbers the tests before it had drawn; thread count and default dtype are restored too.
    """
    threads, dtype = torch.get_num_threads(), torch.get_default_dtype()
    torch.manual_seed(SEED)
    np.random.seed(SEED)
    random.seed(SEED)
    yield
    torch.set_num_threads(threads)
    torch.set_default_dtype(dtype)


@pytest.fixture
def seed():
    """The seed of a learned-quality test (0 in the suite; WORKBENCH_TEST_SEED when its margin is measured)."""
    return SEED


@pytest.fixture
def measured(record_property):
    """Record a learned quantity next to its threshold (lands in --junitxml for benchmarks/test_margins.py)."""
    def record(name, value, threshold, better="lower", chance=0.0):
        """better="lower": margin = threshold / value; "higher": margin = (value - chance) / (threshold - chance),
        i.e. how far the measured value sits above chance compared with the threshold (≥ 2 wanted)."""
        value = float(value)
        record_property(name, {"value": value, "threshold": float(threshold), "better": better, "chance": chance})
        return value
    return record


@pytest.fixture(scope="session")
def mlp_zoo(tmp_path_factory):
    """One small last-epoch zoo shared by the generator tests: 4 checkpoints of an 8-unit MLP on sklearn digits."""
    from workbench.recipes import ZooRecipe, collect

    r = ZooRecipe(recipe="last_epoch", net="mlp", net_kwargs={"hidden": [8]}, dataset="digits", epochs=2,
                  batch_size=64, n_checkpoints=4)
    return collect(r, tmp_path_factory.mktemp("mlp_zoo") / "z", progress=False)


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
