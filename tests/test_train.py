"""The shared training loop under torchrun: 2 CPU processes on the gloo backend (DESIGN: same code as on GPUs)."""
import subprocess
import sys
import textwrap
from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import nn

from workbench.train import TrainConfig, fit, sampler

CFG = TrainConfig(steps=6, lr=0.05, device="cpu")

WORKER = textwrap.dedent("""
    import sys, torch
    from safetensors.torch import save_file
    sys.path.insert(0, sys.argv[2])
    from test_train import CFG, Regression, draws
    from workbench.train import fit, world

    torch.manual_seed(0)
    model = Regression()
    fit(model, draws(), CFG, out=sys.argv[1] + "/run", progress=False)
    save_file(model.state_dict(), f"{sys.argv[1]}/rank{world()[0]}.safetensors")
""")


class Regression(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 1)

    def forward(self, batch):
        return ((self.lin(batch["x"])[:, 0] - batch["y"]) ** 2).mean()


def draws():
    x = torch.randn(64, 4, generator=torch.Generator().manual_seed(0))
    return sampler({"x": x, "y": x @ torch.tensor([1.0, -2.0, 0.5, 3.0])}, 4)


def test_torchrun_two_cpu_processes_train_like_one_with_the_global_batch(tmp_path):
    (tmp_path / "worker.py").write_text(WORKER)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(tmp_path / "worker.py"), str(tmp_path), str(Path(__file__).parent)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-3000:]
    ranks = [load_file(tmp_path / f"rank{r}.safetensors") for r in (0, 1)]
    # one process whose step s sees the draws of both ranks (2s, 2s + 1): the same mean gradient, the same AdamW steps
    d = draws()
    both = lambda s: {k: torch.cat([d(2 * s)[k], d(2 * s + 1)[k]]) for k in ("x", "y")}   # noqa: E731
    torch.manual_seed(0)
    ref = Regression()
    fit(ref, both, CFG, progress=False)
    for k, v in ref.state_dict().items():
        assert torch.equal(ranks[0][k], ranks[1][k]), k                      # DDP kept the processes in sync
        torch.testing.assert_close(ranks[0][k], v, rtol=1e-5, atol=1e-6)    # and trained on the global batch
    assert (tmp_path / "run" / "train_state.safetensors").exists()          # written once, by rank 0
    torch.manual_seed(0)
    assert not torch.equal(ranks[0]["lin.weight"], Regression().lin.weight)  # it did train


def test_ema_is_the_average_of_the_trajectory_and_resumes_exactly(tmp_path):
    cfg = CFG.replace(ema=0.5, checkpoint_every=2)
    torch.manual_seed(0)
    plain = Regression()
    trajectory = [plain.lin.weight.detach().clone()]
    for s in range(CFG.steps):                       # the raw weights after each step, one step at a time
        fit(plain, lambda k, s=s: draws()(s), CFG.replace(steps=s + 1), out=tmp_path / "plain", progress=False)
        trajectory.append(plain.lin.weight.detach().clone())
    expect = trajectory[0]
    for w in trajectory[1:]:
        expect = 0.5 * expect + 0.5 * w
    torch.manual_seed(0)
    straight = Regression()
    fit(straight, draws(), cfg, progress=False)
    torch.testing.assert_close(straight.lin.weight, expect)
    torch.manual_seed(0)
    first = Regression()
    fit(first, draws(), cfg.replace(steps=3), out=tmp_path / "run", progress=False)   # "killed" after step 3
    resumed = Regression()
    fit(resumed, draws(), cfg, out=tmp_path / "run", progress=False)
    assert torch.equal(resumed.lin.weight, straight.lin.weight)
