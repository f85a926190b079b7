"""p-diff: Neural Network Diffusion (Wang et al. 2024), the baseline RPG is compared with (v2 recipe, REFERENCE.md).

    pd = PDiff.from_zoo(zoo, PDiffConfig())
    pd.fit(zoo, TrainConfig(steps=2000, lr=1e-3), batch_size=50)    # autoencoder stage, then latent diffusion
    flat = pd.generate(10, seed=0)

The whole net is one flat normalised vector (tokenizer granularity "flat", padded to a multiple of 2^depth).
A 1-D conv autoencoder with input noise and fixed latent noise (v2: std 0.1, no KL) compresses it; a 1-D conv
U-Net DDPM models the latents. Differences from the reference: latents are rescaled to unit variance before the
diffusion (the reference leaves their scale free, which users report collapses whole-net generation), and the
prediction target follows this workbench's config (x0 by default, like RPG's presets, so the two compare on equal terms).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..config import Config, check
from ..tokenizers import Tokenizer
from ..train import TrainConfig, fit, sampler
from . import GENERATORS, Generator, seeded
from .blocks import UNet1d
from .schedulers import DDIM, DDPM, Prediction


@dataclass(frozen=True)
class PDiffConfig(Config):
    enc_channels: tuple[int, ...] = (16, 32, 64, 128)   # stride-2 conv stages (each halves the length)
    latent_channels: int = 4
    input_noise: float = 1e-3                # p-diff: noise added to parameters before encoding
    latent_noise: float = 0.1                # p-diff v2: fixed latent noise, no KL
    ae_steps: int = 1000                     # autoencoder stage (the diffusion stage takes TrainConfig.steps)
    ae_lr: float = 1e-3
    channels: tuple[int, ...] = (32, 64, 128, 64, 32)  # latent U-Net
    kernel: int = 7
    prediction: Prediction = "x0"
    num_train_timesteps: int = 1000
    beta_start: float = 1e-4
    beta_end: float = 2e-2

    def validate(self):
        check(len(self.enc_channels) >= 1 and self.latent_channels >= 1, "need >= 1 encoder stage and latent channel")
        check(self.ae_steps >= 0 and self.latent_noise >= 0 and self.input_noise >= 0, "ae_steps and noise levels must be >= 0")


def _stage(cin, cout, transpose=False):
    conv = nn.ConvTranspose1d(cin, cout, 4, stride=2, padding=1) if transpose else nn.Conv1d(cin, cout, 4, stride=2, padding=1)
    return nn.Sequential(conv, nn.InstanceNorm1d(cout, affine=True), nn.LeakyReLU(0.2))


class PDiff(Generator):
    name = "pdiff"

    def __init__(self, config: PDiffConfig, tokenizer: Tokenizer, target: dict):
        super().__init__(config, tokenizer, target)
        c = config
        self.length = tokenizer.config.token_size                               # padded D
        ch = [1, *c.enc_channels]
        self.encoder = nn.Sequential(*[_stage(a, b) for a, b in zip(ch[:-1], ch[1:])], nn.Conv1d(ch[-1], c.latent_channels, 3, padding=1))
        rch = ch[::-1]
        self.decoder = nn.Sequential(nn.Conv1d(c.latent_channels, rch[0], 3, padding=1),
                                     *[_stage(a, b, transpose=True) for a, b in zip(rch[:-2], rch[1:-1])],
                                     nn.ConvTranspose1d(rch[-2], 1, 4, stride=2, padding=1))
        self.latent_length = self.length >> len(c.enc_channels)
        self.denoiser = UNet1d(self.latent_length, c.channels, c.kernel, d_cond=0, in_ch=c.latent_channels)
        self.register_buffer("latent_scale", torch.ones(()))                    # std of the clean latents
        self.ddpm = DDPM(c.num_train_timesteps, c.beta_start, c.beta_end, prediction=c.prediction)
        self.stage = "ae"

    @classmethod
    def from_zoo(cls, zoo, config: PDiffConfig = PDiffConfig(), *, seed: int | None = 0) -> "PDiff":
        """Fit the flat tokenizer to the zoo; initial weights drawn from `seed`."""
        with seeded(seed):
            mult = 1 << len(config.enc_channels)
            tok = Tokenizer.fit(zoo, "flat", -(-zoo.num_params // mult) * mult)   # one token: the whole padded net
            return cls(config, tok, cls.describe_target(zoo))

    # max_params: larger zoos are not run at that scale (reported, like the paper's OOM)
    sizes = {"smoke": {"config": {"enc_channels": (4, 8), "channels": (8, 16, 8), "ae_steps": 20}, "steps": 20,
                       "batch_size": 4, "lr": 1e-3, "max_params": 10_000_000},
             # 6 stride-2 stages and a narrower latent U-Net keep the 204k-param MLP's run within CPU minutes (its memory
             # still grows with the flat length, which is what RPG's Figs. 7-8 compare); measured (reports/03): 1.8 s per
             # step on that MLP, ~35 min for its 2 x 600 steps, so p-diff stops at LeNet-5
             "small": {"config": {"enc_channels": (8, 16, 32, 64, 64, 64), "channels": (16, 32, 64, 32, 16),
                                  "ae_steps": 600}, "steps": 600, "batch_size": 16, "lr": 1e-3, "max_params": 60_000},
             "paper": {"config": {}, "steps": 8000, "batch_size": 50, "lr": 1e-4, "max_params": 10_000_000}}

    @classmethod
    def from_preset(cls, zoo, preset, *, seed: int = 0, **overrides) -> "PDiff":
        return cls.from_zoo(zoo, PDiffConfig.from_dict({**cls.sizes_for(preset)["config"], **overrides}), seed=seed)

    @classmethod
    def applies_to(cls, zoo, preset) -> str | None:
        cap = cls.sizes_for(preset)["max_params"]
        if zoo.num_params > cap:
            return (f"{zoo.num_params:,} parameters > {cap:,} (p-diff's max_params at this scale): its autoencoder "
                    f"over the flat vector does not fit this preset's time (RPG Figs. 7-8)")
        return None

    stages = 2    # autoencoder, then latent diffusion

    def with_steps(self, steps: int) -> "PDiff":
        return self.__class__(self.config.replace(ae_steps=steps), self.tokenizer, self.target)

    def train(self, mode: bool = True):
        super().train(mode)
        if self.stage == "diffusion":
            self.encoder.eval()
            self.decoder.eval()
        return self

    def forward(self, batch: dict) -> torch.Tensor:
        x = batch["tokens"]                                                     # (B, 1, D) NaN padding
        keep = ~torch.isnan(x)
        x = x.nan_to_num()
        if self.stage == "ae":
            z = self.encoder(x + self.config.input_noise * torch.randn_like(x))
            rec = self.decoder(z + self.config.latent_noise * torch.randn_like(z))
            return ((rec.float() - x) ** 2 * keep).sum() / keep.sum()
        with torch.no_grad():
            z0 = self.encoder(x) / self.latent_scale
        t = torch.randint(0, self.ddpm.T, (len(z0),), device=z0.device)
        eps = torch.randn_like(z0)
        out = self.denoiser(self.ddpm.add_noise(z0, eps, t), t)
        return nn.functional.mse_loss(out.float(), self.ddpm.target(z0, eps, t))

    def fit(self, zoo, cfg: TrainConfig, *, batch_size: int = 50, out=None, progress: bool = True) -> list[dict]:
        """Stage 1: autoencoder (config.ae_steps at config.ae_lr); stage 2: latent diffusion (cfg)."""
        from pathlib import Path

        tokens = self.tokenizer.encode(zoo.flat)
        batches = sampler({"tokens": tokens}, batch_size, seed=cfg.seed)
        sub = (lambda s: Path(out) / s) if out is not None else (lambda s: None)
        self.stage = "ae"
        hist = fit(self, batches, cfg.replace(steps=max(1, self.config.ae_steps), lr=self.config.ae_lr), out=sub("ae"), progress=progress)
        self.stage = "diffusion"
        for p in [*self.encoder.parameters(), *self.decoder.parameters()]:
            p.requires_grad_(False)
        with torch.no_grad():
            dev = next(self.parameters()).device
            self.encoder.eval()
            self.latent_scale.fill_(self.encoder(tokens.nan_to_num().to(dev)).std().clamp_min(1e-6).item())
        hist += fit(self, batches, cfg, out=sub("diffusion"), progress=progress)
        return hist

    @torch.no_grad()
    def sample(self, n: int, *, seed: int = 0, steps: int | None = 60, eta: float = 0.0) -> torch.Tensor:
        """n token sets [n, 1, D]: latents by DDIM (`steps`) or DDPM (steps=None), then the decoder."""
        dev = next(self.parameters()).device
        self.eval()
        g = torch.Generator().manual_seed(seed)
        z = torch.randn(n, self.config.latent_channels, self.latent_length, generator=g).to(dev)
        sched = self.ddpm if steps is None else DDIM(self.ddpm, steps, eta)
        for t in sched.timesteps:
            z = sched.step(self.denoiser(z, torch.full((n,), int(t), device=dev)).float(), int(t), z, generator=g)
        return self.decoder(z * self.latent_scale)


GENERATORS.register("pdiff", PDiffConfig, help="p-diff: autoencoder + latent diffusion over the flat parameters")(PDiff)
