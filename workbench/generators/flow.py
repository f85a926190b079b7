"""Flow matching in a canonical weight space (after DeepWeightFlow, ICLR 2026; REFERENCE.md).

    flow = Flow.from_zoo(zoo, FlowConfig())                 # the zoo is canonicalised first (zoo.canonical())
    flow.fit(zoo, TrainConfig(steps=2000, lr=1e-3), batch_size=64)
    flat = flow.generate(100, seed=0)                       # [100, D], zoo layout

The zoo's checkpoints are aligned to one reference by weight matching (workbench.canonical), z-scored per key and
flattened; a velocity network v(x, t) is trained with conditional flow matching (torchcfm's paths: independent or
minibatch optimal-transport couplings of Gaussian noise and nets) through the shared training loop, and nets are
sampled by integrating dx/dt = v from noise at t = 0 to t = 1 with torchdiffeq's fixed-grid solvers.
The network is a residual MLP over the whole flat vector for small nets and the workbench's 1-D conv U-Net (RPG's
denoiser) for long ones. By default it predicts the net x1 itself and the velocity is (x1_hat - x_t) / (1 - t): a
velocity output must reproduce the noise in all D coordinates through the MLP's narrow hidden layer, which it cannot
(measured: the loss stays at ~1.0, the noise's own variance, and samples land between the training nets), while
the nets lie in a low-dimensional set it can learn.

Where this differs from DeepWeightFlow, and why: it aligns with weight matching to one zoo checkpoint (the paper also
tries activation matching and TransFusion), and its velocity network is sized for CPU minutes, not a GPU's.
Each preset's sizes live beside the model (SIZES below); the preset only names the scale.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from ..canonical import supported
from ..config import Config, check
from ..tokenizers import Tokenizer
from ..train import TrainConfig, fit, sampler
from . import GENERATORS, Generator, seeded
from .blocks import UNet1d, sinusoid

ODE_METHODS = ("euler", "midpoint", "rk4")          # torchdiffeq's fixed-grid solvers (a known number of steps)
T_EPS = 0.05                                        # x1-prediction: 1 - t is clamped here (the last step lands on x1_hat)


@dataclass(frozen=True)
class FlowConfig(Config):
    align: bool = True                      # train on the canonical zoo (weight matching to `reference`)
    reference: int = 0                      # the checkpoint every other one is aligned to
    velocity: Literal["auto", "mlp", "unet"] = "auto"
    max_mlp_params: int = 20_000            # auto: residual MLP up to this many parameters per net, 1-D U-Net above
    hidden: int = 512                       # MLP width
    depth: int = 3                          # residual MLP blocks
    d_time: int = 64
    channels: tuple[int, ...] = (16, 32, 64, 32, 16)   # U-Net (long nets)
    kernel: int = 7
    coupling: Literal["independent", "ot"] = "ot"       # minibatch optimal transport between noise and nets (torchcfm)
    sigma: float = 0.0                      # width of the conditional probability path (torchcfm)
    condition: Literal["none", "code"] = "none"          # "code": the 10-bit task code of a task zoo, like RPG's
    code_dim: int = 10
    prediction: Literal["x1", "v"] = "x1"    # the network's output: the net at t = 1 (see below) or the velocity
    ode_steps: int = 20
    ode_method: str = "midpoint"

    def validate(self):
        check(self.velocity in ("auto", "mlp", "unet"), f"velocity must be auto, mlp or unet, got {self.velocity!r}")
        check(self.coupling in ("independent", "ot"), f"coupling must be independent or ot, got {self.coupling!r}")
        check(self.prediction in ("x1", "v"), f"prediction must be x1 or v, got {self.prediction!r}")
        check(self.condition in ("none", "code"), f"condition must be none or code, got {self.condition!r}")
        check(self.ode_method in ODE_METHODS, f"ode_method must be one of {ODE_METHODS}, got {self.ode_method!r}")
        check(self.hidden >= 1 and self.depth >= 0 and self.ode_steps >= 1 and self.sigma >= 0, "hidden >= 1, depth >= 0, "
              "ode_steps >= 1 and sigma >= 0 required")
        check(len(self.channels) % 2 == 1 and self.kernel % 2 == 1, "channels must have odd length and kernel be odd")


# The sizes of each preset (the preset names the scale): config overrides, and how long it trains.
# max_params: larger nets are not run at that preset (the U-Net over a 44k-value LeNet-5 takes ~1 s a step on 2 cores).
SIZES = {"smoke": {"config": {"hidden": 32, "depth": 1, "d_time": 16, "channels": (4, 8, 4), "ode_steps": 4},
                   "steps": 20, "batch_size": 8, "lr": 1e-3, "max_params": 250_000},
         # small: measured on the 100-seed CNN-s zoo (100 samples): sigma 0 / 0.3 -> min accuracy 0.37 / 0.83 of the
         # originals' mean (mean 0.99 each); 600 / 3000 steps, independent or OT coupling, a 128-wide MLP: all
         # near-copies after alignment (3.5-6.6 from a training net, the nets 63.6 apart) -- notebook 10
         # the residual MLP up to DeepWeightFlow's 784-32-32-10 MLP (26,506 values; notebook 10's MLP zoo)
         "small": {"config": {"sigma": 0.3, "max_mlp_params": 30_000}, "steps": 1500, "batch_size": 64, "lr": 1e-3,
                   "max_params": 30_000},
         "paper": {"config": {"hidden": 2048, "depth": 6}, "steps": 30_000, "batch_size": 128, "lr": 1e-4,
                   "max_params": 10_000_000}}


class ResidualMLP(nn.Module):
    """v(x, t, cond) over flat vectors [B, D]: in-projection + time (+ condition), residual blocks, out-projection."""

    def __init__(self, dim: int, hidden: int, depth: int, d_time: int, d_cond: int = 0):
        super().__init__()
        self.d_time = d_time
        self.inp = nn.Linear(dim, hidden)
        self.time = nn.Sequential(nn.Linear(d_time, hidden), nn.SiLU(), nn.Linear(hidden, hidden))
        self.cond = nn.Linear(d_cond, hidden) if d_cond else None
        self.blocks = nn.ModuleList(nn.Sequential(nn.LayerNorm(hidden), nn.Linear(hidden, 2 * hidden), nn.SiLU(),
                                                  nn.Linear(2 * hidden, hidden)) for _ in range(depth))
        self.out = nn.Sequential(nn.LayerNorm(hidden), nn.Linear(hidden, dim))

    def forward(self, x, t, cond=None):
        h = self.inp(x) + self.time(sinusoid(t.float().cpu() * 1000, self.d_time).to(x.device, x.dtype))
        if self.cond is not None:
            h = h + self.cond(cond)
        for block in self.blocks:
            h = h + block(h)
        return self.out(h)


class UNetVelocity(nn.Module):
    """The 1-D conv U-Net over the flat vector as one signal [B, 1, D] (time as RPG's timestep features)."""

    def __init__(self, dim: int, channels, kernel: int, d_cond: int = 0):
        super().__init__()
        self.unet = UNet1d(dim, channels, kernel, d_cond=d_cond)

    def forward(self, x, t, cond=None):
        return self.unet(x[:, None], t * 1000, cond)[:, 0]


class Flow(Generator):
    name = "flow"
    sizes = SIZES

    def __init__(self, config: FlowConfig, tokenizer: Tokenizer, target: dict):
        super().__init__(config, tokenizer, target)
        c, dim = config, tokenizer.config.token_size
        d_cond = c.code_dim if c.condition == "code" else 0
        kind = c.velocity if c.velocity != "auto" else ("mlp" if dim <= c.max_mlp_params else "unet")
        self.velocity = (ResidualMLP(dim, c.hidden, c.depth, c.d_time, d_cond) if kind == "mlp"
                         else UNetVelocity(dim, c.channels, c.kernel, d_cond))

    # ---- building -----------------------------------------------------------------------------------------
    @classmethod
    def from_zoo(cls, zoo, config: FlowConfig = FlowConfig(), *, seed: int | None = 0) -> "Flow":
        """Fit the per-key normaliser to the (canonical) zoo; initial weights drawn from `seed`."""
        if config.align and (why := supported(zoo.net, zoo.net_kwargs)):
            raise ValueError(f"{why}; build the flow generator with FlowConfig(align=False) to train on raw weights")
        if config.condition == "code" and zoo.conditions is None:
            raise ValueError("a code-conditioned flow needs a zoo of tasks (checkpoints with codes)")
        with seeded(seed):
            tok = Tokenizer.fit(zoo, "flat", zoo.num_params)   # per-key statistics: unchanged by permutations
            return cls(config, tok, {**cls.describe_target(zoo), "aligned": config.align})

    @classmethod
    def from_preset(cls, zoo, preset, *, seed: int = 0, **overrides) -> "Flow":
        return cls.from_zoo(zoo, FlowConfig.from_dict({**cls.sizes_for(preset)["config"], **overrides}), seed=seed)

    @classmethod
    def applies_to(cls, zoo, preset) -> str | None:
        cap = cls.sizes_for(preset)["max_params"]
        if zoo.num_params > cap:
            return (f"{zoo.num_params:,} parameters > {cap:,}: the flow's network over the flat vector does not fit "
                    f"this preset's time (Flow.sizes)")
        if why := supported(zoo.net, zoo.net_kwargs):
            return why + " (the flow aligns its zoo first)"
        return None

    def training_zoo(self, zoo):
        """The zoo the flow is trained on: canonical (aligned to `reference`) unless config.align is False."""
        return zoo.canonical(self.config.reference) if self.config.align else zoo

    # ---- training -----------------------------------------------------------------------------------------
    def _matcher(self):
        from torchcfm.conditional_flow_matching import (  # imported on use: it pulls in POT (~1 s)
            ConditionalFlowMatcher, ExactOptimalTransportConditionalFlowMatcher)

        if not hasattr(self, "_fm"):
            kind = ExactOptimalTransportConditionalFlowMatcher if self.config.coupling == "ot" else ConditionalFlowMatcher
            self._fm = kind(sigma=self.config.sigma)
        return self._fm

    def velocity_at(self, x: torch.Tensor, t: torch.Tensor, cond=None) -> torch.Tensor:
        """dx/dt at (x, t) [B, D], [B]: the network's output, or (x1_hat - x) / (1 - t) for x1-prediction."""
        out = self.velocity(x, t, cond)
        if self.config.prediction == "v":
            return out
        return (out - x) / (1 - t[:, None]).clamp_min(T_EPS)

    def forward(self, batch: dict) -> torch.Tensor:
        import numpy as np

        x1 = batch["x"]
        x0 = torch.randn_like(x1)
        code = batch.get("code")
        fm = self._matcher()
        if self.config.coupling == "ot":
            np.random.seed(int(torch.randint(2 ** 31 - 1, ()).item()))   # the plan's draws follow the loop's seed
            t, xt, ut, _, code = fm.guided_sample_location_and_conditional_flow(x0, x1, None, code)
        else:
            t, xt, ut = fm.sample_location_and_conditional_flow(x0, x1)
        cond = code.float() if code is not None and self.config.condition == "code" else None
        out = self.velocity(xt, t, cond).float()
        if self.config.prediction == "v":
            return nn.functional.mse_loss(out, ut.float())
        x1 = xt + (1 - t[:, None]) * ut        # the (coupled) net of each pair: x_t = t x1 + (1 - t) x0, u_t = x1 - x0
        return nn.functional.mse_loss(out, x1.float())

    def fit(self, zoo, cfg: TrainConfig, *, batch_size: int = 64, out=None, progress: bool = True) -> list[dict]:
        """Train on the zoo's checkpoints (aligned first, see training_zoo)."""
        train = self.training_zoo(zoo)
        tensors = {"x": self.tokenizer.encode(train.flat)[:, 0]}
        if self.config.condition == "code":
            tensors["code"] = zoo.conditions     # alignment keeps the checkpoints' order
        return fit(self, sampler(tensors, batch_size, seed=cfg.seed), cfg, out=out, progress=progress)

    # ---- sampling -----------------------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, n: int, *, seed: int = 0, codes: torch.Tensor | None = None, steps: int | None = None,
               method: str | None = None) -> torch.Tensor:
        """n token sets [n, 1, D]: noise at t = 0 carried to t = 1 by the ODE (`steps` of `method`, default config)."""
        from torchdiffeq import odeint

        method = method or self.config.ode_method
        steps = self.config.ode_steps if steps is None else steps
        if method not in ODE_METHODS or steps < 1:
            raise ValueError(f"method must be one of {ODE_METHODS} and steps >= 1, got {method!r}, {steps}")
        cond = None
        if self.config.condition == "code":
            if codes is None or codes.shape != (n, self.config.code_dim):
                raise ValueError(f"a code-conditioned flow samples from task codes [{n}, {self.config.code_dim}]")
            cond = codes.float()
        dev = next(self.parameters()).device
        self.eval()
        x0 = torch.randn(n, self.tokenizer.config.token_size, generator=torch.Generator().manual_seed(seed)).to(dev)
        cond = cond.to(dev) if cond is not None else None
        field = lambda t, x: self.velocity_at(x, t.expand(len(x)), cond)  # noqa: E731
        grid = torch.linspace(0, 1, steps + 1, device=dev)
        return odeint(field, x0, grid, method=method)[-1][:, None]


GENERATORS.register("flow", FlowConfig, help="flow matching over the canonical (weight-matched) flat parameters")(Flow)
