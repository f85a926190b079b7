"""Noise schedules as small objects (shared by RPG, p-diff and any diffusion generator).

    sched = DDIM(DDPM(prediction="x0"), steps=60, eta=0.0)
    x = torch.randn(shape)
    for t in sched.timesteps:
        x = sched.step(model(x, t), t, x)

Symbols (Ho et al. 2020; Song et al. 2021): β_t `betas`, α_t = 1 - β_t `alphas`, ᾱ_t = ∏ α `alphas_cumprod`.
The model predicts ε (the papers' and RPG's official choice), x0, or v = √ᾱ ε - √(1-ᾱ) x0 (`prediction`).
"""
from __future__ import annotations

from typing import Literal

import torch

Prediction = Literal["eps", "x0", "v"]


class DDPM:
    """Linear-β DDPM over `num_train_timesteps` steps; `step` is ancestral sampling through every step."""

    def __init__(self, num_train_timesteps: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02,
                 prediction: Prediction = "eps", clip_x0: float | None = None):
        if prediction not in ("eps", "x0", "v"):
            raise ValueError(f"prediction must be eps, x0 or v, got {prediction!r}")
        if not 0 < beta_start < beta_end < 1:
            raise ValueError(f"need 0 < beta_start < beta_end < 1, got {beta_start}, {beta_end}")
        self.T, self.prediction, self.clip_x0 = num_train_timesteps, prediction, clip_x0
        self.betas = torch.linspace(beta_start, beta_end, num_train_timesteps, dtype=torch.float64)   # β_t
        self.alphas = 1.0 - self.betas                                                               # α_t
        self.alphas_cumprod = torch.cumprod(self.alphas, 0)                                          # ᾱ_t
        self.timesteps = torch.arange(num_train_timesteps - 1, -1, -1)

    # ---- training -----------------------------------------------------------------------------------------
    def _ab(self, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        ab = self.alphas_cumprod.to(like.device)[torch.as_tensor(t, device=like.device)]
        return ab.reshape(-1, *([1] * (like.dim() - 1))).to(like.dtype) if ab.dim() else ab.to(like.dtype)

    def add_noise(self, x0: torch.Tensor, eps: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """x_t = √ᾱ_t x0 + √(1-ᾱ_t) ε."""
        ab = self._ab(t, x0)
        return ab.sqrt() * x0 + (1 - ab).sqrt() * eps

    def target(self, x0: torch.Tensor, eps: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """What the model is trained to output at step t."""
        if self.prediction == "eps":
            return eps
        if self.prediction == "x0":
            return x0
        ab = self._ab(t, x0)
        return ab.sqrt() * eps - (1 - ab).sqrt() * x0

    def split(self, model_out: torch.Tensor, t, x_t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(x0 estimate, ε estimate) from the model output, whatever it predicts."""
        ab = self._ab(t, x_t)
        a, s = ab.sqrt(), (1 - ab).sqrt()
        if self.prediction == "eps":
            x0 = (x_t - s * model_out) / a
        elif self.prediction == "x0":
            x0 = model_out
        else:
            x0 = a * x_t - s * model_out
        if self.clip_x0 is not None:
            x0 = x0.clamp(-self.clip_x0, self.clip_x0)
        eps = (x_t - a * x0) / s if self.prediction != "eps" or self.clip_x0 is not None else model_out
        return x0, eps

    # ---- sampling -----------------------------------------------------------------------------------------
    def step(self, model_out: torch.Tensor, t: int, x_t: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """x_{t-1} ~ q(x_{t-1} | x_t, x0̂): posterior mean + √β̃_t z (no noise at t = 0)."""
        t = int(t)
        x0, _ = self.split(model_out, t, x_t)
        ab = self.alphas_cumprod[t]
        ab_prev = self.alphas_cumprod[t - 1] if t > 0 else torch.tensor(1.0, dtype=torch.float64)
        beta = self.betas[t]
        c0 = (ab_prev.sqrt() * beta / (1 - ab)).item()
        ct = (self.alphas[t].sqrt() * (1 - ab_prev) / (1 - ab)).item()
        mean = c0 * x0 + ct * x_t
        if t == 0:
            return mean
        var = (beta * (1 - ab_prev) / (1 - ab)).item()
        z = torch.randn(x_t.shape, generator=generator, dtype=x_t.dtype, device="cpu").to(x_t.device)
        return mean + var ** 0.5 * z


class DDIM:
    """DDIM over `steps` evenly spaced timesteps of a trained DDPM; eta=0 is deterministic (RPG: 60 steps, η≈0.05)."""

    def __init__(self, ddpm: DDPM, steps: int = 60, eta: float = 0.0):
        if not 1 <= steps <= ddpm.T:
            raise ValueError(f"steps must be in [1, {ddpm.T}], got {steps}")
        self.ddpm, self.eta = ddpm, eta
        self.set_timesteps(steps)

    def set_timesteps(self, steps: int) -> None:
        stride = self.ddpm.T // steps
        self.timesteps = torch.arange(0, steps).mul(stride).flip(0)          # e.g. 980, 960, ..., 0 for 50 of 1000
        self.prev = {int(t): int(t) - stride for t in self.timesteps}

    def step(self, model_out: torch.Tensor, t: int, x_t: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """x_prev = √ᾱ_prev x0̂ + √(1-ᾱ_prev-σ²) ε̂ + σ z,  σ = η √((1-ᾱ_prev)/(1-ᾱ_t)) √(1-ᾱ_t/ᾱ_prev)."""
        t = int(t)
        d = self.ddpm
        x0, eps = d.split(model_out, t, x_t)
        ab = d.alphas_cumprod[t]
        tp = self.prev[t]
        ab_prev = d.alphas_cumprod[tp] if tp >= 0 else torch.tensor(1.0, dtype=torch.float64)
        sigma = (self.eta * ((1 - ab_prev) / (1 - ab)).sqrt() * (1 - ab / ab_prev).sqrt()).item()
        x = ab_prev.sqrt().item() * x0 + (1 - ab_prev - sigma ** 2).clamp_min(0).sqrt().item() * eps
        if sigma > 0:
            x = x + sigma * torch.randn(x_t.shape, generator=generator, dtype=x_t.dtype, device="cpu").to(x_t.device)
        return x
