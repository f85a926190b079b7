"""IGPG's prior: a GPT-2 over VQ-VAE code indices, conditioned by a prefix made from the dataset and architecture
embeddings, with chunk-wise (windowed) generation for nets whose code sequence exceeds the context.

    prior = CodePrior(PriorConfig(vocab=256, data_dim=1280, arch_dim=384, context=256))
    loss = prior({"codes": codes, "offset": offsets, "data": d, "arch": a})   # codes [B, W], window start offsets [B]
    seqs = prior.generate(data, arch, length=700, seed=0, temperature=0.7, top_k=None, top_p=None)  # 0: greedy

Sequence seen by the transformer: [data prefix, arch prefix, BOS or previous tokens..., codes...]; each code's
embedding adds a projection of its *absolute* position in the net's sequence, so a window that starts mid-net knows
where it is. Windows: the first starts at BOS; each later window is conditioned on the last `overlap` codes of the
previous one (IGPG: "generate blocks of the maximum length, each conditioned on the tail of the previous block").

Differences from IGPG, and why: the absolute-position projection is an addition (the paper does not say how a later
block knows its place in the net; without it every window would look like the start of one); the GPT-2 is randomly
initialised at a preset's size (IGPG: 27.8M parameters) — any causal LM by name could replace it where weights exist.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ...config import Config, check
from ..blocks import sinusoid


@dataclass(frozen=True)
class PriorConfig(Config):
    vocab: int = 256             # codebook size K (codes 0..K-1; K is BOS)
    data_dim: int = 1280         # dataset embedding width (EfficientNet-Lite0 features: 1280)
    arch_dim: int = 384          # architecture embedding width (MiniLM: 384)
    use_arch: bool = True        # ablation: prior without the architecture embedding
    context: int = 256           # codes per window (the transformer sees 2 prefix + context + 1 positions)
    n_embd: int = 128
    n_layer: int = 4
    n_head: int = 4
    dropout: float = 0.0
    max_len: int = 1 << 16       # longest code sequence the absolute-position embedding is meant for

    def validate(self):
        check(self.vocab >= 2 and self.data_dim >= 1 and self.arch_dim >= 1, "vocab >= 2, data_dim, arch_dim >= 1")
        check(self.context >= 2, f"context must be >= 2, got {self.context}")
        check(self.n_embd % self.n_head == 0, f"n_embd {self.n_embd} must be a multiple of n_head {self.n_head}")


class CodePrior(nn.Module):
    PREFIX = 2

    def __init__(self, config: PriorConfig):
        super().__init__()
        from transformers import GPT2Config, GPT2LMHeadModel

        c = self.config = config
        gcfg = GPT2Config(vocab_size=c.vocab + 1, n_positions=self.PREFIX + c.context + 1, n_embd=c.n_embd,
                          n_layer=c.n_layer, n_head=c.n_head, resid_pdrop=c.dropout, embd_pdrop=c.dropout,
                          attn_pdrop=c.dropout, bos_token_id=c.vocab, eos_token_id=c.vocab,
                          # GPT-2's tanh GELU (gelu_new) as torch's fused kernel: the same function, a fifth faster
                          # per small-preset prior step (measured 377 -> 296 ms on 2 cores)
                          activation_function="gelu_pytorch_tanh",
                          tie_word_embeddings=False)     # untied: safetensors stores no shared tensors
        self.gpt = GPT2LMHeadModel(gcfg)
        self.data_proj = nn.Sequential(nn.Linear(c.data_dim, c.n_embd), nn.GELU(), nn.Linear(c.n_embd, c.n_embd))
        self.arch_proj = nn.Sequential(nn.Linear(c.arch_dim, c.n_embd), nn.GELU(), nn.Linear(c.n_embd, c.n_embd))
        self.abs_pos = nn.Linear(c.n_embd, c.n_embd, bias=False)
        nn.init.zeros_(self.abs_pos.weight)              # starts as plain GPT-2; learns to use the absolute position

    @property
    def _cache_arg(self) -> str:
        """transformers renamed `past_key_values` to `cache` (5.x); take whichever this version has."""
        import inspect

        return "cache" if "cache" in inspect.signature(self.gpt.forward).parameters else "past_key_values"

    @property
    def bos(self) -> int:
        return self.config.vocab

    def _prefix(self, data: torch.Tensor, arch: torch.Tensor) -> torch.Tensor:
        """[B, data_dim], [B, arch_dim] -> [B, 2, n_embd]."""
        c = self.config
        if data.shape[-1] != c.data_dim or arch.shape[-1] != c.arch_dim:
            raise ValueError(f"embeddings must be [B, {c.data_dim}] (dataset) and [B, {c.arch_dim}] (architecture), "
                             f"got {list(data.shape)} and {list(arch.shape)}: use the encoders this prior was built for")
        a = self.arch_proj(arch) if c.use_arch else torch.zeros(len(arch), c.n_embd, device=arch.device)
        return torch.stack([self.data_proj(data), a], 1)

    def _embed(self, tokens: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """Token embeddings [B, T, n] + a projection of each token's absolute position in the net ([B, T])."""
        pe = sinusoid(positions.flatten().clamp_min(0), self.config.n_embd).to(tokens.device).view(*positions.shape, -1)
        return self.gpt.transformer.wte(tokens) + self.abs_pos(pe)

    def _window(self, codes: torch.Tensor, offset: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Input tokens and their absolute positions for a window of codes starting at `offset` (BOS at offset 0)."""
        B, W = codes.shape
        pos = offset[:, None] + torch.arange(W, device=codes.device)[None]            # (B, W) absolute positions
        # a window at offset 0 reads [BOS, c0 .. c_{W-2}] and predicts c0 .. c_{W-1}; later ones read their own codes
        start = (offset == 0)[:, None]
        inp = torch.where(start, torch.cat([torch.full_like(codes[:, :1], self.bos), codes[:, :-1]], 1), codes)
        return inp, torch.where(start, pos - 1, pos)

    def _logits_targets(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits [B, W, vocab + 1] of a batch of windows and the code each position predicts (-100: none)."""
        codes, offset = batch["codes"], batch["offset"]
        inp, pos = self._window(codes, offset)
        x = torch.cat([self._prefix(batch["data"], batch["arch"]), self._embed(inp, pos)], 1)
        # the head reads the window's positions only: logits of the prefix would be sliced off (a copy and, in the
        # backward, a zero-filled gradient of the full logits: a sixth of a small-preset prior step)
        hidden = self.gpt.transformer(inputs_embeds=x).last_hidden_state[:, self.PREFIX:]
        logits = self.gpt.lm_head(hidden)                                               # (B, W, vocab + 1)
        start = (offset == 0)[:, None]
        # at offset 0 position t predicts code t; elsewhere position t (reading code t) predicts code t+1
        target = torch.where(start, codes, _ahead(codes, -100))
        if "valid" in batch:                     # windows of short nets are padded: padded codes predict nothing
            keep = torch.where(start, batch["valid"], _ahead(batch["valid"], False))
            target = target.masked_fill(~keep, -100)
        return logits, target

    def forward(self, batch: dict) -> torch.Tensor:
        """Next-code cross-entropy on windows: `codes` [B, W] starting at `offset` [B] of each net's sequence
        (optional `valid` [B, W]: False where a window of a short net is padding)."""
        logits, target = self._logits_targets(batch)
        return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1), ignore_index=-100)

    def blocks(self, length: int, window: int | None = None, overlap: int | None = None) -> list[tuple[int, int, int]]:
        """The windowed generation plan of a `length`-code net: (offset, first, n) per transformer window, where the
        window reads codes from `offset` (offset 0: BOS) and writes codes first .. first + n - 1. Training windows
        start at exactly these offsets (IGPG._windows), so every code is learned in the context it is generated in."""
        c = self.config
        window = min(window or c.context, c.context)
        overlap = window // 2 if overlap is None else overlap
        check(0 <= overlap < window, f"overlap must be in [0, window={window}), got {overlap}")
        plan, start = [], 0
        while start < length:
            if start == 0:
                off, budget = 0, window
            else:
                k = min(overlap, start) or 1                                          # at least the last code
                off, budget = start - k, window - k
            n = min(budget, length - start)
            plan.append((off, start, n))
            start += n
        return plan

    def windows(self, seqs: torch.Tensor, overlap: int | None = None) -> dict[str, torch.Tensor]:
        """The training windows of code sequences [N, T]: one per sequence at every offset generation reads from
        (`blocks`), padded where the sequence ends inside it. {codes [M, W], offset [M], valid [M, W], row [M]}."""
        W, (N, T) = self.config.context, seqs.shape
        out = {"codes": [], "offset": [], "valid": [], "row": []}
        for s, _, _ in self.blocks(T, overlap=overlap):
            win = seqs[:, s: s + W]
            pad = W - win.shape[1]
            out["codes"].append(torch.cat([win, win.new_zeros(N, pad)], 1))
            out["valid"].append(torch.arange(W)[None].expand(N, -1) < win.shape[1])
            out["offset"].append(torch.full((N,), s))
            out["row"].append(torch.arange(N))
        return {k: torch.cat(v) for k, v in out.items()}

    @torch.no_grad()
    def generate(self, data: torch.Tensor, arch: torch.Tensor, length: int, *, seed: int = 0, window: int | None = None,
                 overlap: int | None = None, temperature: float = 1.0, top_k: int | None = None,
                 top_p: float | None = None) -> torch.Tensor:
        """[B, length] codes. Windows of `window` (default: the context) codes; each later window is conditioned on
        the last `overlap` codes of the sequence so far (default: half a window). temperature 0 is greedy."""
        check(temperature >= 0, f"temperature must be >= 0 (0: greedy), got {temperature}")
        check(top_p is None or 0 < top_p <= 1, f"top_p must be in (0, 1], got {top_p}")
        dev = next(self.parameters()).device
        g = torch.Generator(device="cpu").manual_seed(seed)
        prefix = self._prefix(data.to(dev), arch.to(dev))
        from tqdm.auto import tqdm

        B = prefix.shape[0]
        out = torch.empty(B, 0, dtype=torch.long, device=dev)
        bar = tqdm(total=length, desc=f"codes ({B} sequences)", leave=False, disable=None if length >= 4096 else True)
        for off, start, n in self.blocks(length, window, overlap):
            if start == 0:
                ctx = torch.full((B, 1), self.bos, dtype=torch.long, device=dev)
                ctx_pos = torch.full((B, 1), -1, dtype=torch.long, device=dev)
            else:
                ctx = out[:, off:]
                ctx_pos = torch.arange(off, start, device=dev)[None].expand(B, -1)
            x = torch.cat([prefix, self._embed(ctx, ctx_pos)], 1)
            res = self.gpt(inputs_embeds=x, use_cache=True)
            past, logits = _cache_of(res), res.logits[:, -1]
            for i in range(n):
                nxt = _sample(logits, temperature, top_k, top_p, g).to(dev)           # (B,)
                out = torch.cat([out, nxt[:, None]], 1)
                bar.update(1)
                if i + 1 == n:
                    break
                p = torch.full((B, 1), out.shape[1] - 1, dtype=torch.long, device=dev)
                res = self.gpt(inputs_embeds=self._embed(nxt[:, None], p), use_cache=True, **{self._cache_arg: past})
                past, logits = _cache_of(res), res.logits[:, -1]
        bar.close()
        return out

    @torch.no_grad()
    def teacher_forced(self, batch: dict) -> dict[str, torch.Tensor]:
        """Per window of `batch` (forward's keys): argmax hits, summed nll and summed predictive entropy (nats) over
        the positions it is trained on, and their count: the prior's health on its training windows."""
        logits, target = self._logits_targets(batch)
        logp = logits[..., :-1].float().log_softmax(-1)                                # BOS is never a target
        keep = target >= 0
        nll = -logp.gather(-1, target.clamp_min(0)[..., None])[..., 0]
        ent = -(logp.exp() * logp).sum(-1)
        return {"hits": ((logp.argmax(-1) == target) & keep).sum(1), "nll": (nll * keep).sum(1),
                "entropy": (ent * keep).sum(1), "count": keep.sum(1)}


def _ahead(x: torch.Tensor, fill) -> torch.Tensor:
    """[B, W] -> x shifted one step left, the last column `fill` (what each position predicts in a later window)."""
    return torch.cat([x[:, 1:], torch.full_like(x[:, :1], fill)], 1)


def _cache_of(out):
    cache = getattr(out, "cache", None)
    return cache if cache is not None else out.past_key_values


def _sample(logits: torch.Tensor, temperature: float, top_k: int | None, top_p: float | None,
            g: torch.Generator) -> torch.Tensor:
    """One code per row from logits [B, vocab + 1] (BOS never sampled): greedy at temperature 0, else softmax at
    `temperature` over the top-k codes and / or the smallest set of codes whose probability reaches top_p."""
    logits = logits[:, :-1].float().cpu()
    if temperature == 0:
        return logits.argmax(1)
    logits = logits / temperature
    if top_k:
        kth = logits.topk(min(top_k, logits.shape[1]), dim=1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1:
        p, idx = logits.softmax(1).sort(1, descending=True)
        drop = p.cumsum(1) - p >= top_p                                          # codes after the nucleus is full
        logits = logits.masked_fill(torch.zeros_like(drop).scatter(1, idx, drop), float("-inf"))
    return torch.multinomial(logits.softmax(1), 1, generator=g)[:, 0]
