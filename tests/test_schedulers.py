"""DDPM / DDIM against a float64 re-derivation written here from the papers' formulas."""
import math

import pytest
import torch

from workbench.generators.schedulers import DDIM, DDPM


def _ab64(T=1000, b0=1e-4, b1=0.02):
    betas = [b0 + (b1 - b0) * i / (T - 1) for i in range(T)]
    ab, out = 1.0, []
    for b in betas:
        ab *= 1 - b
        out.append(ab)
    return betas, out


def test_schedule_matches_float64_rederivation():
    betas, ab = _ab64()
    d = DDPM()
    assert d.alphas_cumprod[999].item() == pytest.approx(ab[999], rel=1e-9)
    assert d.alphas_cumprod[0].item() == pytest.approx(1 - 1e-4, rel=1e-12)
    assert math.sqrt(ab[999]) == pytest.approx(0.0064, abs=2e-4)  # REFERENCE: √ᾱ_T ≈ 0.006


@pytest.mark.parametrize("pred", ["eps", "x0", "v"])
def test_targets_invert_to_x0_and_eps(pred):
    d = DDPM(prediction=pred)
    g = torch.Generator().manual_seed(0)
    x0, eps = torch.randn(4, 8, generator=g, dtype=torch.float64), torch.randn(4, 8, generator=g, dtype=torch.float64)
    t = torch.tensor([0, 10, 500, 999])
    xt = d.add_noise(x0, eps, t)
    x0_hat, eps_hat = d.split(d.target(x0, eps, t), t, xt)
    assert torch.allclose(x0_hat, x0, atol=1e-8) and torch.allclose(eps_hat, eps, atol=1e-8)


def test_ddpm_step_equals_posterior_formula():
    betas, ab = _ab64()
    d = DDPM(prediction="x0")
    x0, xt, t = torch.full((3,), 0.5, dtype=torch.float64), torch.full((3,), -1.0, dtype=torch.float64), 400
    g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    out = d.step(x0, t, xt, generator=g1)
    mean = (math.sqrt(ab[t - 1]) * betas[t] / (1 - ab[t])) * 0.5 + (math.sqrt(1 - betas[t]) * (1 - ab[t - 1]) / (1 - ab[t])) * -1.0
    var = betas[t] * (1 - ab[t - 1]) / (1 - ab[t])
    z = torch.randn(3, generator=g2, dtype=torch.float64)
    assert torch.allclose(out, mean + math.sqrt(var) * z, atol=1e-12)


def test_ddim_with_an_oracle_recovers_x0_and_ddpm_too():
    x0 = torch.linspace(-1, 1, 16, dtype=torch.float64)
    for pred in ("eps", "x0", "v"):
        d = DDPM(prediction=pred)
        oracle = lambda x, t: d.target(x0, (x - d._ab(t, x).sqrt() * x0) / (1 - d._ab(t, x)).sqrt(), torch.tensor(t))  # noqa: E731
        for sched in (DDIM(d, steps=60, eta=0.0), DDIM(d, steps=60, eta=0.5), d):
            g = torch.Generator().manual_seed(0)
            x = torch.randn(16, generator=g, dtype=torch.float64)
            for t in sched.timesteps:
                x = sched.step(oracle(x, int(t)), int(t), x, generator=g)
            assert torch.allclose(x, x0, atol=1e-6), (pred, type(sched).__name__)


def test_ddim_timesteps_and_bad_arguments():
    s = DDIM(DDPM(), steps=60)
    assert len(s.timesteps) == 60 and s.timesteps[-1] == 0 and s.timesteps[0] == 59 * 16
    with pytest.raises(ValueError, match="steps"):
        DDIM(DDPM(), steps=0)
    with pytest.raises(ValueError, match="prediction"):
        DDPM(prediction="score")
