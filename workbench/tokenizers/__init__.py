"""Weights <-> tokens. RPG's tokenisation: per-key z-score (zoo statistics), then tokens of `token_size` values.

    tok = Tokenizer.fit(zoo, granularity="layer", token_size=64)
    tokens = tok.encode(zoo.flat)          # [N, L, token_size], NaN where a token is padding
    flat = tok.decode(tokens)              # [N, D] back in the zoo's layout (bit-exact from float64 tokens)
    tok.positions                          # [L, 2]: (layer index, index of the token within its layer)

granularity: "flat" (p-diff: the whole net is one sequence), "layer" (RPG default: tokens never cross a tensor),
"channel" (SANE-like: each output channel of a tensor is its own run of tokens; 1-D tensors stay whole).
Integer buffers are never tokenised (copied from the zoo); BatchNorm running_var goes through the reference's log map.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from ..config import Config, check
from ..layout import Layout, Normalizer

Granularity = Literal["flat", "layer", "channel"]


@dataclass(frozen=True)
class TokenizerConfig(Config):
    granularity: Granularity = "layer"
    token_size: int = 64

    def validate(self):
        check(self.granularity in ("flat", "layer", "channel"),
              f"granularity must be flat, layer or channel, got {self.granularity!r}")
        check(self.token_size >= 1, f"token_size must be >= 1, got {self.token_size}")


def _runs(layout: Layout, granularity: str) -> list[tuple[int, torch.Tensor]]:
    """(layer index, flat coordinates) of every run of values that tokens must not cross."""
    if granularity == "flat":
        return [(0, torch.arange(layout.dim))]
    runs = []
    for i, k in enumerate(layout.float_keys):
        idx = torch.arange(layout.slices[k.name].start, layout.slices[k.name].stop)
        if granularity == "channel" and len(k.shape) > 1:
            runs += [(i, row) for row in idx.reshape(k.shape[0], -1)]
        else:
            runs.append((i, idx))
    return runs


class Tokenizer:
    def __init__(self, config: TokenizerConfig, layout: Layout, normalizer: Normalizer):
        self.config, self.layout, self.normalizer = config, layout, normalizer
        ts = config.token_size
        index, positions = [], []
        for layer, run in _runs(layout, config.granularity):
            n_tok = -(-len(run) // ts)
            padded = torch.full((n_tok * ts,), -1, dtype=torch.long)
            padded[: len(run)] = run
            index.append(padded.reshape(n_tok, ts))
            positions += [(layer, j) for j in range(n_tok)]
        self.index = torch.cat(index)                          # [L, token_size] flat coordinate or -1 (padding)
        self.positions = torch.tensor(positions)               # [L, 2] (layer, token within layer)
        self.mask = self.index >= 0                            # [L, token_size] True where a value is real

    @classmethod
    def fit(cls, zoo, granularity: Granularity = "layer", token_size: int = 64) -> "Tokenizer":
        """Statistics from the zoo's checkpoints (per key, averaged over checkpoints)."""
        return cls(TokenizerConfig(granularity, token_size), zoo.layout, Normalizer.fit(zoo.layout, zoo.flat))

    @property
    def num_tokens(self) -> int:
        return self.index.shape[0]

    def encode(self, flat: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """[N, D] parameters -> [N, L, token_size] normalised tokens, NaN in padding."""
        if flat.dim() != 2 or flat.shape[1] != self.layout.dim:
            raise ValueError(f"expected parameters [N, {self.layout.dim}], got {list(flat.shape)}")
        z = self.normalizer.normalize(flat.double())
        tokens = torch.full((flat.shape[0], *self.index.shape), float("nan"), dtype=torch.float64)
        tokens[:, self.mask] = z[:, self.index[self.mask]]
        return tokens.to(dtype)

    def decode(self, tokens: torch.Tensor) -> torch.Tensor:
        """[N, L, token_size] tokens -> [N, D] float32 parameters (padding ignored, whatever it holds)."""
        if tokens.shape[1:] != self.index.shape:
            raise ValueError(f"expected tokens [N, {self.num_tokens}, {self.config.token_size}], got {list(tokens.shape)}")
        real = tokens[:, self.mask].double()
        if not torch.isfinite(real).all():
            raise ValueError("tokens hold NaN/inf outside the padding: the generator diverged")
        z = torch.empty(tokens.shape[0], self.layout.dim, dtype=torch.float64)
        z[:, self.index[self.mask]] = real
        return self.normalizer.denormalize(z).float()


def masked_mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error over the entries where `target` is not NaN (padding is excluded from every loss)."""
    keep = ~torch.isnan(target)
    return ((pred - target.nan_to_num()) ** 2 * keep).sum() / keep.sum().clamp_min(1)


def tokenizer_state(tok: Tokenizer) -> tuple[dict, dict[str, torch.Tensor]]:
    """(JSON, tensors) that rebuild `tok` exactly: config + layout, and the normaliser's statistics."""
    n = tok.normalizer
    return ({"config": tok.config.to_dict(), "layout": tok.layout.to_json()},
            {"mean": n.mean, "std": n.std, "var_mean": n.var_mean})


def tokenizer_from_state(meta: dict, tensors: dict[str, torch.Tensor]) -> Tokenizer:
    layout = Layout.from_json(meta["layout"])
    return Tokenizer(TokenizerConfig.from_dict(meta["config"]), layout,
                     Normalizer(layout, tensors["mean"], tensors["std"], tensors["var_mean"]))
