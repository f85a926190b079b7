"""Building blocks shared by the generators: sinusoidal features and the 1-D conv U-Net denoiser (RPG, p-diff, the
flow generator's velocity over long flat vectors)."""
from __future__ import annotations

import math

import torch
from torch import nn


def sinusoid(pos: torch.Tensor, dim: int) -> torch.Tensor:
    """[L] positions -> [L, dim] sin/cos features (Vaswani et al.)."""
    freqs = torch.exp(-math.log(10_000.0) * torch.arange(dim // 2, dtype=torch.float64) / (dim // 2))
    ang = pos.double()[:, None] * freqs[None]
    return torch.cat([ang.sin(), ang.cos()], 1).float()


# ---- the 1-D conv U-Net -------------------------------------------------------------------------------------------

class Block(nn.Module):
    """ELU(BN(conv((x + cond) * (1 + time))))."""

    def __init__(self, cin: int, cout: int, kernel: int, length: int, d_cond: int, d_time: int):
        super().__init__()
        self.conv = nn.Conv1d(cin, cout, kernel, padding=kernel // 2)
        self.norm = nn.BatchNorm1d(cout)
        self.time = nn.Linear(d_time, cin)
        self.cond_c = nn.Linear(d_cond, cin) if d_cond else None
        self.cond_l = nn.Linear(d_cond, length) if d_cond else None

    def forward(self, x, temb, cond):                    # x (M, cin, length)
        if self.cond_c is not None:
            x = x + self.cond_c(cond)[:, :, None] + self.cond_l(cond)[:, None, :]
        return nn.functional.elu(self.norm(self.conv(x * (1 + self.time(temb)[:, :, None]))))


class UNet1d(nn.Module):
    """Conv1d U-Net over signals (M, in_ch, length), skip connections by addition; d_cond=0: unconditional."""

    def __init__(self, length: int, channels=(32, 64, 128, 64, 32), kernel: int = 7, d_cond: int = 0, in_ch: int = 1,
                 d_time: int = 128):
        super().__init__()
        self.d_time = d_time
        self.time_mlp = nn.Sequential(nn.Linear(d_time, d_time), nn.SiLU(), nn.Linear(d_time, d_time))
        dims = [in_ch, *channels]
        self.blocks = nn.ModuleList(Block(a, b, kernel, length, d_cond, d_time) for a, b in zip(dims[:-1], dims[1:]))
        self.out = nn.Conv1d(channels[-1], in_ch, kernel, padding=kernel // 2)

    def forward(self, x, t, cond=None):                  # x (M, in_ch, length), t (M,), cond (M, d_cond)
        temb = self.time_mlp(sinusoid(t.float().cpu(), self.d_time).to(x.device, x.dtype))
        half = len(self.blocks) // 2
        skips = []
        for i, block in enumerate(self.blocks):
            x = block(x, temb, cond)
            if i < half:
                skips.append(x)
            elif i > half:
                x = x + skips.pop()                       # decoder block i pairs with encoder block len-1-i
        return self.out(x)
