"""RPG: Recurrent diffusion for large-scale Parameter Generation (Wang et al. 2025, papers/rpg.txt).

    rpg = RPG.from_zoo(zoo, RPGConfig(token_size=64))
    rpg.fit(zoo, TrainConfig(steps=1000, lr=1e-3), batch_size=8)
    flat = rpg.generate(10, seed=0)                       # [10, D] parameters in the zoo's layout

Forward order: position embedding (+ permutation state, + task code) [B, L, d] -> recurrent backbone -> prototypes
[B, L, d] -> a Conv1d U-Net denoises each parameter token [token_size] conditioned on its prototype.

Where this differs from the paper / official code, and why:
- Inputs of the recurrent model: position embedding + permutation state (+ task code), *not* the parameter tokens,
  as in the official code (the paper's wording suggests tokens go in; with tokens in, sampling would need the
  tokens it is about to generate).
- Prediction target: a config choice (ε as in the official code, x0, v); the presets use x0 because at CPU scale
  ε-prediction barely moves in 10 minutes (../shared/REFERENCE.md) — the ablation notebook keeps ε as a row.
- Prototype injection: each U-Net block adds a per-channel and a per-position projection of the prototype, then
  scales by the time embedding, conv((x + cond) * (1 + time)); the official code's projection shapes are not
  documented, these two make a prototype able to shape both the channels and the token's positions.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from ..config import Config, check
from ..tokenizers import Granularity, Tokenizer
from ..train import TrainConfig, fit, sampler
from . import GENERATORS, Generator, seeded
from .baselines import spaced
from .blocks import UNet1d, sinusoid
from .schedulers import DDIM, DDPM, Prediction

Backbone = Literal["mamba", "lstm", "transformer", "mlp"]
PosEmb = Literal["2d", "1d", "learnable", "none"]


@dataclass(frozen=True)
class RPGConfig(Config):
    granularity: Granularity = "layer"       # tokenisation (RPG: per layer)
    token_size: int = 64                     # values per token (RPG small nets: 256)
    d_model: int = 256                       # prototype width (RPG small nets: 256)
    backbone: Backbone = "mamba"             # recurrent model; "mlp" = gated MLP, no token mixing (Table 4a)
    n_layers: int = 2                        # backbone depth (RPG: 2 Mamba2 layers)
    d_state: int = 32                        # Mamba state size (RPG small nets: 32)
    pos_emb: PosEmb = "2d"                   # Table 4b
    permutation_state: bool = True           # one learned embedding per training checkpoint (Table 15)
    num_states: int = 1                      # = number of training checkpoints (filled by from_zoo)
    condition: Literal["none", "head", "full"] = "none"   # task code (a bit per class) added to head tokens / all tokens
    code_dim: int = 10
    channels: tuple[int, ...] = (32, 64, 128, 64, 32)      # U-Net [1, 32, 64, 128, 64, 32, 1]
    kernel: int = 7
    prediction: Prediction = "x0"            # paper/official: "eps" (see module docstring)
    num_train_timesteps: int = 1000
    beta_start: float = 1e-4
    beta_end: float = 2e-2
    diffusion_batch: int = 256               # tokens per step pooled across the batch (official: diffusion_batch)

    def validate(self):
        check(self.backbone in ("mamba", "lstm", "transformer", "mlp"), f"unknown backbone {self.backbone!r}; use mamba, lstm, transformer or mlp")
        check(self.pos_emb in ("2d", "1d", "learnable", "none"), f"unknown pos_emb {self.pos_emb!r}; use 2d, 1d, learnable or none")
        check(self.condition in ("none", "head", "full"), f"condition must be none, head or full, got {self.condition!r}")
        check(self.d_model % 4 == 0 and self.d_model >= 8, f"d_model must be a multiple of 4 (>= 8), got {self.d_model}")
        check(len(self.channels) % 2 == 1, f"channels must be symmetric around a middle (odd length), got {self.channels}")
        check(self.kernel % 2 == 1, f"kernel must be odd, got {self.kernel}")
        check(self.token_size >= 1 and self.num_states >= 1 and self.diffusion_batch >= 1, "token_size, num_states, diffusion_batch >= 1")


# ---- position embeddings ------------------------------------------------------------------------------------

def position_embedding(positions: torch.Tensor, d: int, kind: str) -> torch.Tensor:
    """positions [L, 2] (layer, index in layer) -> [L, d]. 2-D: half the dims for each coordinate."""
    if kind == "1d":
        return sinusoid(torch.arange(len(positions)), d)
    if kind == "none":
        return torch.zeros(len(positions), d)
    return torch.cat([sinusoid(positions[:, 0], d // 2), sinusoid(positions[:, 1], d // 2)], 1)   # 2d, learnable init


# ---- recurrent backbones: [B, L, d] -> [B, L, d] -------------------------------------------------------------

class _OneFallbackLine(logging.Filter):
    """transformers warns once per missing kernel (three lines on CPU); say it once per process, in one line."""
    said = False

    def filter(self, record: logging.LogRecord) -> bool:
        if "falling back to its reference PyTorch implementation" not in record.getMessage():
            return True
        if _OneFallbackLine.said:
            return False
        _OneFallbackLine.said = True
        record.msg, record.args = ("Mamba2 runs transformers' pure-PyTorch path (mamba-ssm / causal-conv1d kernels are "
                                   "not installed; on a CUDA machine: pip install 'workbench[cuda]'): correct, slower."), ()
        return True


_FALLBACK_LOGGER = "transformers.integrations.hub_kernels"


class MambaBackbone(nn.Module):
    """Mamba2 via transformers: pure PyTorch on CPU, mamba-ssm/causal-conv1d kernels automatically where installed."""

    def __init__(self, d: int, n_layers: int, d_state: int):
        super().__init__()
        from transformers import Mamba2Config, Mamba2Model

        log = logging.getLogger(_FALLBACK_LOGGER)
        if not any(isinstance(f, _OneFallbackLine) for f in log.filters):
            log.addFilter(_OneFallbackLine())

        head_dim = min(64, d // 2)
        cfg = Mamba2Config(hidden_size=d, num_hidden_layers=n_layers, state_size=d_state, expand=2, head_dim=head_dim,
                           num_heads=2 * d // head_dim, n_groups=1, vocab_size=1, chunk_size=128,
                           pad_token_id=None, bos_token_id=None, eos_token_id=None)
        self.net = Mamba2Model(cfg)

    def forward(self, x):
        return self.net(inputs_embeds=x).last_hidden_state


class LSTMBackbone(nn.Module):
    def __init__(self, d: int, n_layers: int, d_state: int = 0):
        super().__init__()
        self.net = nn.LSTM(d, d, n_layers, batch_first=True)

    def forward(self, x):
        return self.net(x)[0]


class TransformerBackbone(nn.Module):
    """Causal (GPT-style) Transformer encoder: token i attends to tokens <= i."""

    def __init__(self, d: int, n_layers: int, d_state: int = 0):
        super().__init__()
        layer = nn.TransformerEncoderLayer(d, nhead=max(1, d // 64), dim_feedforward=2 * d, dropout=0.0,
                                           batch_first=True, norm_first=True)
        self.net = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)

    def forward(self, x):
        mask = nn.Transformer.generate_square_subsequent_mask(x.shape[1], device=x.device, dtype=x.dtype)
        return self.net(x, mask=mask, is_causal=True)


class GatedMLPBackbone(nn.Module):
    """Per-token gated MLP blocks, no mixing across tokens (the "no recurrent model" ablation)."""

    def __init__(self, d: int, n_layers: int, d_state: int = 0):
        super().__init__()
        self.blocks = nn.ModuleList(nn.ModuleDict({"norm": nn.LayerNorm(d), "up": nn.Linear(d, 4 * d), "down": nn.Linear(2 * d, d)})
                                    for _ in range(n_layers))

    def forward(self, x):
        for b in self.blocks:
            a, g = b["up"](b["norm"](x)).chunk(2, -1)
            x = x + b["down"](a * nn.functional.silu(g))
        return x


BACKBONES = {"mamba": MambaBackbone, "lstm": LSTMBackbone, "transformer": TransformerBackbone, "mlp": GatedMLPBackbone}


# ---- RPG ----------------------------------------------------------------------------------------------------

class RPG(Generator):
    name = "rpg"

    def __init__(self, config: RPGConfig, tokenizer: Tokenizer, target: dict):
        super().__init__(config, tokenizer, target)
        c = config
        L = tokenizer.num_tokens
        pe = position_embedding(tokenizer.positions, c.d_model, c.pos_emb)
        if c.pos_emb == "learnable":
            self.pos = nn.Parameter(pe)
        else:
            self.register_buffer("pos", pe)
        self.states = nn.Embedding(c.num_states, c.d_model) if c.permutation_state else None
        if self.states is not None:
            nn.init.normal_(self.states.weight, std=0.02)
        self.code_mlp = (nn.Sequential(nn.Linear(c.code_dim, 1024), nn.SiLU(), nn.Linear(1024, c.d_model))
                         if c.condition != "none" else None)
        head = torch.tensor(target.get("head_tokens", [True] * L)) if c.condition == "head" else torch.ones(L, dtype=torch.bool)
        self.register_buffer("cond_tokens", head.float())                # [L] where the task code is added
        # tokens identical in every training checkpoint (e.g. a shared frozen backbone) are copied, not generated
        self.register_buffer("fixed", torch.tensor(target.get("fixed_tokens", [False] * L)))
        self.register_buffer("fixed_values", torch.zeros(L, tokenizer.config.token_size))
        self.backbone = BACKBONES[c.backbone](c.d_model, c.n_layers, c.d_state)
        self.denoiser = UNet1d(tokenizer.config.token_size, c.channels, c.kernel, d_cond=c.d_model)
        self.ddpm = DDPM(c.num_train_timesteps, c.beta_start, c.beta_end, prediction=c.prediction)

    @classmethod
    def from_zoo(cls, zoo, config: RPGConfig = RPGConfig(), *, seed: int | None = 0) -> "RPG":
        """Fit the tokenizer to the zoo and size the permutation state to its checkpoints; init drawn from `seed`."""
        with seeded(seed):   # the whole build: building the reference net for the head mask draws from the RNG too
            tok = Tokenizer.fit(zoo, config.granularity, config.token_size)
            config = config.replace(num_states=len(zoo))
            head = zoo.head_mask()
            head_tokens = [bool(head[row[row >= 0]].any()) for row in tok.index]
            tokens = tok.encode(zoo.flat).nan_to_num()
            fixed = (tokens == tokens[:1]).all(0).all(-1) if len(zoo) > 1 else torch.zeros(tok.num_tokens, dtype=torch.bool)
            if fixed.all():
                raise ValueError("every checkpoint of this zoo is identical: there is nothing to generate")
            model = cls(config, tok, {**cls.describe_target(zoo), "head_tokens": head_tokens, "fixed_tokens": fixed.tolist()})
        model.fixed_values.copy_(tokens[0])
        return model

    # Token size doubles from `token_size` until a net has <= `max_tokens` tokens, and each step denoises
    # `diffusion_values` values (= diffusion_batch x token_size), as the paper grows tokens with nets.
    sizes = {"smoke": {"config": {"d_model": 32, "n_layers": 1, "d_state": 8, "channels": (8, 16, 32, 16, 8)},
                       "token_size": 32, "max_tokens": 64, "diffusion_values": 64 * 32, "steps": 20, "batch_size": 8,
                       "lr": 1e-3},
             # U-Net [1,16,32,64,32,16,1] (paper: [1,32,64,128,64,32,1]) so that 800 steps fit the 204k-param MLP in
             # CPU minutes -- measured on the MLP zoo: 400 steps of the paper's U-Net reach 91.4 % (originals 94.3),
             # 800 steps of this one 94.4 (and generate 3x faster)
             "small": {"config": {"channels": (16, 32, 64, 32, 16)}, "token_size": 256, "max_tokens": 256,
                       "diffusion_values": 128 * 256, "steps": 800, "batch_size": 8, "lr": 1e-3},
             # RPG's small-net settings: token 256, d_model 256, 30k steps, lr 1e-4, batch 8, eps-prediction
             "paper": {"config": {"prediction": "eps"}, "token_size": 256, "max_tokens": 256,
                       "diffusion_values": 128 * 256, "steps": 30_000, "batch_size": 8, "lr": 1e-4}}

    @classmethod
    def preset_config(cls, zoo, preset, **overrides) -> RPGConfig:
        """The RPGConfig for `zoo` under `preset`: token size grown for big nets (see `sizes`), the sizes' config
        overrides, then yours."""
        s = cls.sizes_for(preset)
        ts = s["token_size"]
        while -(-zoo.num_params // ts) > s["max_tokens"]:
            ts *= 2
        kw = {"token_size": ts, "diffusion_batch": max(1, s["diffusion_values"] // ts), **s["config"], **overrides}
        return RPGConfig.from_dict(kw)      # from_dict: JSON lists (preset dicts round-trip as JSON) become tuples

    @classmethod
    def from_preset(cls, zoo, preset, *, seed: int = 0, **overrides) -> "RPG":
        return cls.from_zoo(zoo, cls.preset_config(zoo, preset, **overrides), seed=seed)

    # ---- model --------------------------------------------------------------------------------------------
    def prototypes(self, states: torch.Tensor | None = None, codes: torch.Tensor | None = None, n: int | None = None):
        """[B, L, d] prototypes from position embedding + permutation state + task code."""
        B = n or len(states if states is not None else codes)
        h = self.pos[None].expand(B, -1, -1)                                   # (B, L, d)
        if self.states is not None:
            if states is None:
                raise ValueError("this RPG has a permutation state: pass states (training checkpoint indices)")
            h = h + self.states(states)[:, None, :]
        if self.code_mlp is not None:
            if codes is None:
                raise ValueError(f"this RPG is task-conditioned: pass codes [B, {self.config.code_dim}]")
            h = h + self.code_mlp(codes.float())[:, None, :] * self.cond_tokens[None, :, None]
        return self.backbone(h)

    def forward(self, batch: dict) -> torch.Tensor:
        """Training loss: denoise a random subset of `diffusion_batch` tokens pooled over the batch."""
        tokens = batch["tokens"]                                               # (B, L, ts), NaN padding
        B, L, ts = tokens.shape
        proto = self.prototypes(batch.get("index"), batch.get("code"), n=B).reshape(B * L, -1)
        x0 = tokens.reshape(B * L, ts)
        free = (~self.fixed).expand(B, L).reshape(-1).nonzero().flatten()          # fixed tokens are not learned
        pick = free[torch.randperm(len(free), device=x0.device)[: self.config.diffusion_batch]]
        x0, proto = x0[pick], proto[pick]
        keep = ~torch.isnan(x0)
        x0 = x0.nan_to_num()
        t = torch.randint(0, self.ddpm.T, (len(pick),), device=x0.device)
        eps = torch.randn_like(x0)
        out = self.denoiser(self.ddpm.add_noise(x0, eps, t)[:, None], t, proto)[:, 0]
        target = self.ddpm.target(x0, eps, t)
        return ((out.float() - target) ** 2 * keep).sum() / keep.sum().clamp_min(1)

    def fit(self, zoo, cfg: TrainConfig, *, batch_size: int = 8, out=None, progress: bool = True) -> list[dict]:
        """Train on the zoo's checkpoints (pass `zoo.subset(seen)` to train on the seen tasks only)."""
        tensors = {"tokens": self.tokenizer.encode(zoo.flat), "index": torch.arange(len(zoo))}
        if self.code_mlp is not None:
            cond = zoo.conditions       # the task codes, or vectors attached with zoo.with_conditions
            if cond is None:
                raise ValueError("a task-conditioned RPG needs a zoo of tasks (checkpoints with codes) or a zoo with "
                                 "conditions attached (zoo.with_conditions)")
            if cond.shape[1] != self.config.code_dim:
                raise ValueError(f"this RPG reads {self.config.code_dim}-wide conditions; the zoo's are "
                                 f"{cond.shape[1]}-wide: build it with code_dim={cond.shape[1]}")
            tensors["code"] = cond
        return fit(self, sampler(tensors, batch_size, seed=cfg.seed), cfg, out=out, progress=progress)

    # ---- sampling -----------------------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, n: int, *, seed: int = 0, states=None, codes=None, steps: int | None = 60, eta: float = 0.0,
               chunk: int | str = "partial") -> torch.Tensor:
        """n token sets [n, L, ts]. steps=None: DDPM through all T steps; else DDIM with `steps`.

        states: permutation-state indices (default: spread over the training checkpoints); codes: [n, code_dim] task codes (or
        condition vectors, as the zoo it was trained on had).
        chunk: tokens denoised together — "sequential" (1), "partial" (256, official default), "parallel" (all), or an int.
        Tokens that are identical in every training checkpoint are copied from the zoo, not denoised.
        """
        dev = next(self.parameters()).device
        self.eval()
        if self.states is not None and states is None:
            states = spaced(n, self.config.num_states)
        states = None if states is None else torch.as_tensor(states, device=dev).reshape(-1).expand(n)
        codes = None if codes is None else torch.as_tensor(codes, device=dev).reshape(-1, self.config.code_dim).expand(n, -1)
        proto = self.prototypes(states, codes, n=n)                             # (n, L, d)
        L, ts = self.tokenizer.num_tokens, self.tokenizer.config.token_size
        free = (~self.fixed).expand(n, L).reshape(-1)
        proto = proto.reshape(n * L, -1).float()[free]
        g = torch.Generator().manual_seed(seed)
        x = torch.randn(len(proto), 1, ts, generator=g).to(dev)
        sched = self.ddpm if steps is None else DDIM(self.ddpm, steps, eta)
        size = {"sequential": 1, "partial": 256, "parallel": max(1, len(x))}.get(chunk, chunk) if isinstance(chunk, str) else chunk
        if not isinstance(size, int) or size < 1:
            raise ValueError(f"chunk must be sequential, partial, parallel or a positive int, got {chunk!r}")
        for c0 in range(0, len(x), size):
            xc, pc = x[c0: c0 + size], proto[c0: c0 + size]
            for t in sched.timesteps:
                tt = torch.full((len(xc),), int(t), device=dev)
                xc = sched.step(self.denoiser(xc, tt, pc).float(), int(t), xc, generator=g)
            x[c0: c0 + size] = xc
        out = self.fixed_values.expand(n, L, ts).clone().reshape(n * L, ts)
        out[free] = x[:, 0]
        return out.reshape(n, L, ts)


GENERATORS.register("rpg", RPGConfig, help="Recurrent diffusion parameter generation (RPG)")(RPG)
