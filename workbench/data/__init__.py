"""Datasets as tensors: offline defaults (`digits`, `mnist5k`), local-root loaders, binary tasks, your own tensors.

    from workbench.data import load_dataset
    ds = load_dataset("mnist5k")          # 4,000 train / 1,000 test, stratified, standardised
    ds.X_train.shape, ds.num_classes      # (4000, 1, 28, 28), 10

    from workbench.data import from_tensors
    mine = from_tensors("cancer", X, y)   # numpy or torch; [N, F] tabular, [N, C, S, S] images, int [N, L] token ids
    mine.describe()                       # says what was done to it: float32 conversion, standardisation, split
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .. import io
from ..registry import Registry

DATASETS = Registry("dataset", "workbench.data.DATASETS")
KINDS = ("image", "tabular", "text")


@dataclass
class Dataset:
    name: str
    X_train: torch.Tensor
    y_train: torch.Tensor
    X_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    kind: str = "image"            # "image" [N, C, S, S] | "tabular" [N, F] float | "text" [N, L] int64 token ids
    synthetic: bool = False        # reports label synthetic data as such
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"dataset {self.name!r}: kind must be one of {KINDS}, got {self.kind!r}")
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
                "kind": self.kind, "synthetic": self.synthetic, **self.meta}

    def fingerprint(self) -> str:
        """A short hash of the tensors, the name and the description (kind, classes, metadata such as the
        tokenizer): equal datasets, equal fingerprints; the same ids read by another tokenizer differ."""
        h = hashlib.sha1(self.name.encode())
        h.update(json.dumps([self.kind, self.num_classes, self.synthetic, self.meta], sort_keys=True,
                            default=io._json_default).encode())
        for t in (self.X_train, self.y_train, self.X_test, self.y_test):
            h.update(str((t.dtype, tuple(t.shape))).encode())
            h.update(t.contiguous().numpy().tobytes())
        return h.hexdigest()[:12]

    def save(self, path: str | Path) -> Path:
        """The tensors as one safetensors file (description in its metadata): what a zoo of your own data keeps."""
        head = {"name": self.name, "num_classes": self.num_classes, "kind": self.kind, "synthetic": self.synthetic,
                "meta": self.meta}
        tensors = {"X_train": self.X_train, "y_train": self.y_train, "X_test": self.X_test, "y_test": self.y_test}
        io.save_tensors(Path(path), tensors, metadata={"dataset": json.dumps(head, default=io._json_default)})
        return Path(path)

    @classmethod
    def load(cls, path: str | Path) -> "Dataset":
        tensors = io.load_tensors(Path(path))
        head = json.loads(io.tensor_metadata(Path(path)).get("dataset", "null") or "null")
        if head is None or set(tensors) != {"X_train", "y_train", "X_test", "y_test"}:
            raise ValueError(f"{path} is a safetensors file but not a saved workbench Dataset (Dataset.save writes one)")
        return cls(head["name"], tensors["X_train"], tensors["y_train"], tensors["X_test"], tensors["y_test"],
                   head["num_classes"], kind=head["kind"], synthetic=head["synthetic"], meta=head["meta"])


def load_dataset(name: str, **kwargs) -> Dataset:
    """Build a registered dataset by name; unknown names list what exists."""
    return DATASETS.create(name, **kwargs)


def available_datasets() -> list[str]:
    return DATASETS.available()


def from_tensors(name: str, X, y, *, test_fraction: float = 0.2, seed: int = 0, num_classes: int | None = None,
                 kind: str = "auto", standardize: bool = True, tokenizer: str | None = None) -> Dataset:
    """Bring your own: any (X, y) — torch or numpy — becomes a Dataset with a deterministic stratified split.

    kind "auto" reads it from X: [N, C, S, S] is an image set (image nets read C and S from it), a floating (or
    boolean) [N, F] is tabular (the `mlp` reads F from it), an integer [N, L] is token ids (text nets).
    kind="tabular" takes integer features as numbers instead. Features become float32 (numpy's and
    scikit-learn's float64 included) and, with `standardize` (default, like the built-in datasets), are z-scored
    with the *train* split's statistics: per channel for images, per feature for tabular data. `describe()` says
    which of these happened. Token ids name the `tokenizer` that made them: "minilm" (MiniLM's wordpiece ids, the
    vocabulary of text nets with embedding="minilm" and of NeuroGen's MiniLM backbone) or "words" (an own
    vocabulary); raw strings go through `from_texts`, which tokenizes them.
    """
    from .vision import _standardise, stratified_split

    X, y = torch.as_tensor(X), torch.as_tensor(y)
    if y.dim() != 1 or y.shape[0] != X.shape[0]:
        raise ValueError(f"from_tensors({name!r}): y must be [N] class indices for the N={X.shape[0]} rows of X, "
                         f"got shape {list(y.shape)}")
    if y.is_floating_point() and not torch.equal(y, y.round()):
        raise ValueError(f"from_tensors({name!r}): y holds non-integer values; give class indices 0..C-1 "
                         f"(e.g. sklearn.preprocessing.LabelEncoder for string labels)")
    y = y.long()
    kind = _infer_kind(name, X) if kind == "auto" else kind
    if kind not in KINDS:
        raise ValueError(f"from_tensors({name!r}): kind must be auto or one of {KINDS}, got {kind!r}")
    want = {"image": 4, "tabular": 2, "text": 2}[kind]
    if X.dim() != want:
        raise ValueError(f"from_tensors({name!r}): kind {kind!r} needs X of {want} dims, got shape {list(X.shape)}")
    meta = {"source": "from_tensors", "split": f"stratified, test_fraction={test_fraction}, seed={seed}"}
    if kind == "image" and X.shape[-1] != X.shape[-2]:
        raise ValueError(f"from_tensors({name!r}): image nets take square images, got {X.shape[-2]}x{X.shape[-1]}; "
                         f"resize or crop them first (e.g. torch.nn.functional.interpolate(X, size=S))")
    if kind == "text":
        if X.is_floating_point():
            raise ValueError(f"from_tensors({name!r}): token ids must be integers, got {X.dtype}")
        X = X.long()
        meta["vocab_size"] = int(X.max()) + 1
        if tokenizer is not None:
            meta.update(_tokenizer_meta(name, tokenizer, X))
    elif tokenizer is not None:
        raise ValueError(f"from_tensors({name!r}): tokenizer={tokenizer!r} is for token ids (kind 'text'), "
                         f"but X is {kind}")
    elif X.dtype != torch.float32:
        meta["dtype"] = f"{str(X.dtype).replace('torch.', '')} -> float32"
        X = X.float()
    tr, te = stratified_split(y, test_fraction, seed)
    X_train, X_test = X[tr], X[te]
    if kind != "text" and not torch.isfinite(X).all():
        raise ValueError(f"from_tensors({name!r}): X contains NaN/inf in {int((~torch.isfinite(X)).any(1).sum())} "
                         f"row(s) of {X.shape[0]}; impute or drop them first")
    if kind != "text":
        meta["standardize"] = "none"
        if standardize:
            X_train, X_test = _standardise(X_train, X_test)
            meta["standardize"] = f"z-score per {'channel' if kind == 'image' else 'feature'}, train-split statistics"
    return Dataset(name, X_train.contiguous(), y[tr], X_test.contiguous(), y[te], num_classes or int(y.max()) + 1,
                   kind=kind, meta=meta)


TOKENIZERS = ("minilm", "words")


def _tokenizer_meta(name: str, tokenizer: str, X: torch.Tensor, vocab_size: int | None = None) -> dict:
    from ..nets.text import MINILM_SHAPE

    if tokenizer not in TOKENIZERS:
        raise ValueError(f"{name!r}: unknown tokenizer {tokenizer!r}; accepted: {', '.join(TOKENIZERS)}")
    vocab = MINILM_SHAPE[0] if tokenizer == "minilm" else (vocab_size or int(X.max()) + 1)
    if X.numel() and (X.min() < 0 or X.max() >= vocab):
        raise ValueError(f"{name!r}: token ids must lie in [0, {vocab}) for tokenizer {tokenizer!r}, got "
                         f"[{int(X.min())}, {int(X.max())}]")
    return {"tokenizer": tokenizer, "vocab_size": vocab}


def from_texts(name: str, texts, labels, *, tokenizer: str = "minilm", max_len: int = 48, vocab_size: int = 5000,
               test_fraction: float = 0.2, seed: int = 0) -> Dataset:
    """Your own labelled text -> a text Dataset of fixed-length token ids (0 = pad), split stratified by `seed`.

    tokenizer "minilm": MiniLM's wordpiece ids (vocabulary 30,522; what text nets with embedding="minilm" and
    NeuroGen's MiniLM backbone read); "words": an own vocabulary of the `vocab_size` most frequent words of the
    *train* split (1 = unknown). labels: class indices, or strings (sorted; `meta["labels"]` keeps the names).
    `describe()` records the tokenizer, vocabulary and length, and the fingerprint covers them.
    """
    from .text import build_vocab, encode, minilm_ids
    from .vision import stratified_split

    if tokenizer not in TOKENIZERS:
        raise ValueError(f"from_texts({name!r}): unknown tokenizer {tokenizer!r}; accepted: {', '.join(TOKENIZERS)}")
    texts, labels = list(texts), list(labels)
    bad = next((i for i, t in enumerate(texts) if not isinstance(t, str)), None)
    if bad is not None:
        raise ValueError(f"from_texts({name!r}): texts[{bad}] is {type(texts[bad]).__name__}, not a string")
    if len(texts) != len(labels) or not texts:
        raise ValueError(f"from_texts({name!r}): {len(texts)} texts but {len(labels)} labels; give one label per text")
    if max_len < 1:
        raise ValueError(f"from_texts({name!r}): max_len must be ≥ 1 tokens, got {max_len}")
    meta = {"source": "from_texts", "split": f"stratified, test_fraction={test_fraction}, seed={seed}",
            "max_len": max_len}
    if all(isinstance(v, str) for v in labels):
        names = sorted(set(labels))
        meta["labels"] = names
        y = torch.tensor([names.index(v) for v in labels], dtype=torch.long)
    else:
        y = torch.as_tensor(labels)
        if y.is_floating_point() and not torch.equal(y, y.round()):
            raise ValueError(f"from_texts({name!r}): labels must be class indices or strings")
        y = y.long()
    tr, te = stratified_split(y, test_fraction, seed)
    train, test = [texts[i] for i in tr.tolist()], [texts[i] for i in te.tolist()]
    if tokenizer == "minilm":
        X_train, X_test = minilm_ids(train, max_len), minilm_ids(test, max_len)
    else:
        vocab = build_vocab(train, vocab_size)
        X_train, X_test = encode(train, vocab, max_len), encode(test, vocab, max_len)
    meta.update(_tokenizer_meta(name, tokenizer, torch.cat([X_train, X_test]), vocab_size))
    return Dataset(name, X_train, y[tr], X_test, y[te], int(y.max()) + 1, kind="text", meta=meta)


def _infer_kind(name: str, X: torch.Tensor) -> str:
    if X.dim() == 4:
        return "image"
    if X.dim() == 2:
        return "tabular" if X.is_floating_point() or X.dtype == torch.bool else "text"
    hint = " (a grey-scale image set? add the channel axis: X[:, None])" if X.dim() == 3 else ""
    raise ValueError(f"from_tensors({name!r}): X of shape {list(X.shape)} is none of [N, F] tabular, [N, C, S, S] "
                     f"images, int [N, L] token ids{hint}")


from . import tasks, text, vision  # noqa: E402,F401  (registers the built-in datasets)
from .tasks import TaskSet, all_codes, binary_labels, split_codes  # noqa: E402,F401
