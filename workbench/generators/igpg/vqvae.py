"""IGPG's weight tokeniser: a Gumbel-softmax VQ-VAE over fixed-size chunks of a net's normalised parameters.

    vq = ChunkVQVAE(VQConfig(chunk_size=64, codebook_size=256))
    loss = vq({"tokens": chunks, "step": torch.tensor(0)})     # chunks [B, chunk_size], NaN where padding
    codes = vq.encode(chunks)                                  # [B, chunk_size // downsample] code indices
    back = vq.decode(codes)                                    # [B, chunk_size]

Forward order: chunk [B, 1, S] -> Conv1d encoder (stride-2 stages) -> logits over the codebook [B, K, S/r] ->
Gumbel-softmax (temperature annealed 1 -> 1e-4 on a cosine) -> soft codes @ codebook [B, e, S/r] -> Conv1d decoder ->
[B, 1, S]. Loss: masked reconstruction (L1 or L2; padding never counts) + kl_weight * KL(q(code) || uniform).
A chunk is `chunk_size / downsample` codes, so a net's token sequence is its chunks' code indices in order.

Where this differs from IGPG / its repo, and why:
- Normalisation: per-key z-score from the zoo (the road's tokenizer, RPG's recipe), not one global z-score over all
  chunks: keys of very different scale (BatchNorm statistics, biases) then share the codebook on equal terms.
- Optional diversity term (wav2vec 2.0's, on the batch-averaged code distribution) next to IGPG's per-position KL:
  measured to fight the codebook collapse seen at CPU sizes (benchmarks/igpg_reconstruction.py).
- Several codes per chunk (downsample r) instead of one: with one code per chunk a 256-entry codebook can only
  express 256 distinct chunks, far too coarse to keep a small net's accuracy.
- Optional decoder refinement (`refine_loss`, IGPG has none): after the Gumbel stage the decoder is trained on the
  argmax codes with the encoder and codebook frozen. Straight-through hard codes are argmax(logits + Gumbel noise) at
  every temperature, so the decoder learns noisy neighbours' average; measured on notebook 05's small VQ-VAE: mean
  |error| 0.14 sd with its decoder, 0.013 sd with each code decoded to its chunks' median (reports/05).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from ...config import Config, check


@dataclass(frozen=True)
class VQConfig(Config):
    chunk_size: int = 64                  # values per chunk (IGPG: weights padded to a multiple of it, mask in the loss)
    downsample: int = 4                   # chunk values per code (a power of two)
    codebook_size: int = 256              # K (IGPG repo: 256 or 512)
    code_dim: int = 64                    # e, width of a codebook entry (IGPG repo: 256)
    hidden: int = 64                      # encoder / decoder channels
    kernel: int = 3                       # width of the encoder's first and the decoder's convolutions (odd; 1 with
                                          # downsample 1 makes each code see, and decode to, one value)
    loss: Literal["l1", "l2"] = "l1"      # reconstruction (IGPG repo: L1)
    kl_weight: float = 1e-3               # KL to the uniform prior over codes (IGPG repo: 1e-3)
    temp_start: float = 1.0               # Gumbel temperature, cosine-annealed over anneal_steps
    temp_end: float = 1e-4
    anneal_steps: int = 1000
    hard: bool = False                    # straight-through: one-hot codes forward, soft gradients back
    diversity_weight: float = 0.0         # > 0: penalise low entropy of the batch-averaged code distribution
    logits: Literal["linear", "distance"] = "linear"   # code logits: a linear map of the encoder features (IGPG),
                                          # or minus the squared distance of an encoder vector to each codebook entry
    restart_every: int = 0                # > 0 (distance logits): every this many steps, codes unused since the last
                                          # restart move onto encoder outputs of the batch; step 0 is a data init

    def validate(self):
        r = self.downsample
        check(r >= 1 and r & (r - 1) == 0, f"downsample must be a power of two, got {r}")
        check(self.chunk_size % r == 0, f"chunk_size {self.chunk_size} must be a multiple of downsample {r}")
        check(self.codebook_size >= 2 and self.code_dim >= 1 and self.hidden >= 1, "codebook_size >= 2, code_dim, hidden >= 1")
        check(self.loss in ("l1", "l2"), f"loss must be l1 or l2, got {self.loss!r}")
        check(self.logits in ("linear", "distance"), f"logits must be linear or distance, got {self.logits!r}")
        check(self.kernel >= 1 and self.kernel % 2 == 1, f"kernel must be odd, got {self.kernel}")
        check(0 < self.temp_end <= self.temp_start, "0 < temp_end <= temp_start required")
        check(self.anneal_steps >= 1, "anneal_steps >= 1 required")
        check(self.restart_every >= 0, "restart_every >= 0 required")
        check(not self.restart_every or self.logits == "distance",
              "restart_every needs logits='distance' (a restarted code is a point in the encoder's space)")

    @property
    def codes_per_chunk(self) -> int:
        return self.chunk_size // self.downsample


def temperature(cfg: VQConfig, step: int) -> float:
    """Cosine anneal from temp_start (step 0) to temp_end (anneal_steps and after)."""
    f = min(1.0, step / cfg.anneal_steps)
    return cfg.temp_end + 0.5 * (cfg.temp_start - cfg.temp_end) * (1 + math.cos(math.pi * f))


def gumbel_softmax(logits: torch.Tensor, tau: float, *, hard: bool) -> torch.Tensor:
    """Gumbel-softmax over the last dim, as F.gumbel_softmax, with the noise drawn as -log(-log U) from torch.rand:
    the same distribution, 5x faster on CPU than F.gumbel_softmax's exponential_ draw (75 ms for the small VQ-VAE's
    4M logits per step, a quarter of its step)."""
    u = torch.rand_like(logits).clamp_(min=torch.finfo(logits.dtype).tiny)
    soft = ((logits - torch.log(-torch.log(u))) / tau).softmax(-1)
    if not hard:
        return soft
    one = torch.zeros_like(soft).scatter_(-1, soft.argmax(-1, keepdim=True), 1.0)
    return one - soft.detach() + soft                                      # straight-through: one-hot forward


def masked_recon(pred: torch.Tensor, target: torch.Tensor, kind: str = "l1") -> torch.Tensor:
    """Mean L1 / L2 error over the entries where `target` is not NaN (padding excluded)."""
    keep = ~torch.isnan(target)
    err = (pred - target.nan_to_num()).abs()
    err = err if kind == "l1" else err ** 2
    return (err * keep).sum() / keep.sum().clamp_min(1)


class ChunkVQVAE(nn.Module):
    def __init__(self, config: VQConfig):
        super().__init__()
        c, h = config, config.hidden
        self.config = c
        stages = int(math.log2(c.downsample))
        k = c.kernel
        enc: list[nn.Module] = [nn.Conv1d(1, h, k, padding=k // 2)]
        for _ in range(stages):
            enc += [nn.ELU(), nn.Conv1d(h, h, 4, stride=2, padding=1)]
        enc += [nn.ELU(), nn.Conv1d(h, c.codebook_size if c.logits == "linear" else c.code_dim, 1)]
        self.encoder = nn.Sequential(*enc)                                   # [B, 1, S] -> logits [B, K, S/r]
        self.codebook = nn.Embedding(c.codebook_size, c.code_dim)           # K x e
        dec: list[nn.Module] = [nn.Conv1d(c.code_dim, h, k, padding=k // 2)]
        for _ in range(stages):
            dec += [nn.ELU(), nn.ConvTranspose1d(h, h, 4, stride=2, padding=1)]
        dec += [nn.ELU(), nn.Conv1d(h, 1, k, padding=k // 2)]
        self.decoder = nn.Sequential(*dec)                                   # [B, e, S/r] -> [B, 1, S]
        self.register_buffer("used", torch.zeros(c.codebook_size))         # picks per code since the last restart

    def features(self, chunks: torch.Tensor) -> torch.Tensor:
        """[B, S] chunks (NaN padding read as 0) -> [B, K or e, S/r] encoder output."""
        if chunks.dim() != 2 or chunks.shape[1] != self.config.chunk_size:
            raise ValueError(f"chunks must be [B, {self.config.chunk_size}], got {list(chunks.shape)}")
        return self.encoder(chunks.nan_to_num()[:, None])

    def logits(self, chunks: torch.Tensor, feats: torch.Tensor | None = None) -> torch.Tensor:
        """[B, S] chunks -> [B, K, S/r] code logits."""
        return self._scores(self.features(chunks) if feats is None else feats).transpose(1, 2)

    def _scores(self, feats: torch.Tensor) -> torch.Tensor:
        """[B, K or e, T] encoder output -> [B, T, K] code logits (codes last: one GEMM, softmax over a contiguous dim)."""
        f = feats.transpose(1, 2)                                            # (B, T, K or e)
        if self.config.logits == "distance":                                 # minus squared distance to each entry
            e = self.codebook.weight                                         # (K, e)
            return 2 * f @ e.T - (f ** 2).sum(-1, keepdim=True) - (e ** 2).sum(1)
        return f

    @torch.no_grad()
    def _restart(self, feats: torch.Tensor, chunks: torch.Tensor, step: int) -> None:
        """Move every code unused since the last restart onto the encoder output of a random real (non-padding)
        position of the batch (drawn from a generator seeded by the step, so a resumed run restarts the same codes)."""
        dead = (self.used == 0).nonzero()[:, 0]
        self.used.zero_()
        if not len(dead):
            return
        r = self.config.downsample
        real = ~torch.isnan(chunks).view(len(chunks), -1, r).all(2)          # (B, T) code positions with data
        pool = feats.permute(0, 2, 1)[real]                                  # (M, e)
        g = torch.Generator().manual_seed(step)
        pick = torch.randint(len(pool), (len(dead),), generator=g)
        self.codebook.weight[dead] = pool[pick].to(self.codebook.weight)

    def forward(self, batch: dict) -> torch.Tensor:
        x = batch["tokens"]                                                  # (B, S) normalised, NaN = padding
        step = int(batch.get("step", torch.tensor(self.config.anneal_steps)))
        tau = temperature(self.config, step)
        feats = self.features(x)
        every = self.config.restart_every
        if every and self.training and step % every == 0 and step < self.config.anneal_steps:
            self._restart(feats.detach(), x, step)
        logits = self._scores(feats)                                         # (B, T, K)
        soft = gumbel_softmax(logits, tau, hard=self.config.hard)            # (B, T, K)
        rec = self.decoder((soft @ self.codebook.weight).transpose(1, 2))[:, 0]   # (B, e, T) -> (B, S)
        if every and self.training:
            self.used += torch.bincount(logits.detach().argmax(-1).flatten(), minlength=self.config.codebook_size)
        q = logits.softmax(-1)
        kl = (q * torch.log(q * self.config.codebook_size + 1e-10)).sum(-1).mean()
        loss = masked_recon(rec, x, self.config.loss) + self.config.kl_weight * kl
        if self.config.diversity_weight:   # wav2vec 2.0's diversity term: use the whole codebook across the batch
            avg = q.mean((0, 1))
            K = self.config.codebook_size
            loss = loss + self.config.diversity_weight * (avg * torch.log(avg * K + 1e-10)).sum() / math.log(K)
        return loss

    def refine_loss(self, batch: dict) -> torch.Tensor:
        """Reconstruction of the deterministic codes the prior models (encoder and codebook frozen: only the decoder
        gets gradients), so decode(encode(x)) is what the decoder is fit to."""
        x = batch["tokens"]
        z = self.codebook.weight.detach()[self.encode(x)].transpose(1, 2)   # (B, e, T), no gradient to the codebook
        return masked_recon(self.decoder(z)[:, 0], x, self.config.loss)

    @torch.no_grad()
    def encode(self, chunks: torch.Tensor) -> torch.Tensor:
        """[B, S] -> [B, S/r] code indices (the most likely code: what the prior models)."""
        return self.logits(chunks).argmax(1)

    @torch.no_grad()
    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """[B, S/r] code indices -> [B, S] chunks."""
        return self.decoder(self.codebook(codes).transpose(1, 2))[:, 0]

    @torch.no_grad()
    def health(self, chunks: torch.Tensor) -> dict:
        """Codebook usage (fraction of the K codes that some chunk uses) and perplexity (exp of the code entropy)."""
        codes = self.encode(chunks).flatten()
        p = torch.bincount(codes, minlength=self.config.codebook_size).double() / codes.numel()
        nz = p[p > 0]
        return {"usage": (p > 0).double().mean().item(), "perplexity": math.exp(-(nz * nz.log()).sum().item()),
                "codes": int(codes.numel())}
