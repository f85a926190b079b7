"""One device-agnostic training loop for every generator (AdamW, grad clip, warm-up/cosine, optional EMA).

    model = RPG(config, tokenizer)                        # any nn.Module whose forward(batch) returns the loss
                                                          # (batch: the sampler's tensors + "step", the step index)
    history = fit(model, sampler(tensors, batch_size=8), TrainConfig(steps=1000, lr=1e-3), out="runs/rpg")

Each step seeds torch's RNG from (seed, step), so the model's own randomness (timesteps, noise, token subsets)
is a function of the step: a run killed and resumed from its last checkpoint continues exactly as one that never
stopped. Checkpoints (model + optimizer, safetensors) are written atomically every `checkpoint_every` steps.
On CUDA the forward runs under bf16 autocast; on CPU it stays float32.

Under `torchrun --nproc_per_node N` the same call trains with DistributedDataParallel (NCCL on CUDA, one GPU per
process; gloo on CPU): process r draws batch `step * N + r` and seeds its randomness the same way, so the global
batch is N x batch_size, a resumed run still continues exactly, and rank 0 alone writes checkpoints and the bar.
"""
from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.distributed as dist
from torch import nn
from tqdm.auto import tqdm

from . import io
from .config import Config, check
from .fit import resolve_device

STATE_FILE = "train_state.safetensors"


@dataclass(frozen=True)
class TrainConfig(Config):
    steps: int = 1000
    lr: float = 1e-3
    weight_decay: float = 0.0
    grad_clip: float | None = 1.0       # max global grad norm (None: off)
    warmup: int = 0                     # linear warm-up steps
    cosine: bool = False                # cosine decay to 0 after warm-up (else constant)
    seed: int = 0
    device: str = "auto"
    amp: bool = True                    # bf16 autocast where the device is CUDA
    ema: float = 0.0                    # > 0: keep an exponential moving average of the weights (e.g. 0.999);
                                        # the model ends with the averaged weights
    checkpoint_every: int = 0           # 0: only at the end (needs `out`)

    def validate(self):
        check(self.steps >= 1 and self.lr > 0, f"steps >= 1 and lr > 0 required, got {self.steps}, {self.lr}")
        check(self.warmup >= 0 and self.checkpoint_every >= 0, "warmup and checkpoint_every must be >= 0")
        check(0.0 <= self.ema < 1.0, f"ema must be in [0, 1), got {self.ema}")


def sampler(tensors: dict[str, torch.Tensor], batch_size: int, *, seed: int = 0) -> Callable[[int], dict]:
    """step -> a minibatch of rows drawn (seeded by the step) from equally long tensors; adds `index` (the rows)."""
    n = {len(v) for v in tensors.values()}
    if len(n) != 1:
        raise ValueError(f"tensors must have the same first dimension, got {sorted(n)}")
    n = n.pop()

    def batch(step: int) -> dict:
        g = torch.Generator().manual_seed(seed * 1_000_003 + step)
        idx = torch.randperm(n, generator=g)[:batch_size] if batch_size <= n else torch.randint(n, (batch_size,), generator=g)
        return {"index": idx, **{k: v[idx] for k, v in tensors.items()}}

    return batch


def world() -> tuple[int, int]:
    """(rank, world size) of this process: (0, 1) unless running under torchrun / an initialised process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def is_main() -> bool:
    """True on the process that should write files (rank 0, or the only process)."""
    return world()[0] == 0


def _setup_distributed(dev: torch.device) -> torch.device:
    """Join torchrun's process group (once per process); on CUDA each process takes GPU LOCAL_RANK."""
    if not dist.is_initialized():
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    if dev.type == "cuda":
        dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        torch.cuda.set_device(dev)
    return dev


def _lr_factor(cfg: TrainConfig, step: int) -> float:
    if step < cfg.warmup:
        return (step + 1) / cfg.warmup
    if cfg.cosine:
        return 0.5 * (1 + math.cos(math.pi * (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)))
    return 1.0


def _save_state(path: Path, model: nn.Module, opt: torch.optim.Optimizer, step: int, history: list, ema: dict) -> None:
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    tensors.update({f"ema.{k}": v for k, v in ema.items()})
    names = {id(p): n for n, p in model.named_parameters()}
    for group in opt.param_groups:
        for p in group["params"]:
            for k, v in opt.state.get(p, {}).items():
                tensors[f"opt.{names[id(p)]}.{k}"] = torch.as_tensor(v)
    meta = {"step": str(step), "history": json.dumps(history)}
    io.save_tensors(path, {k: v.detach().cpu().contiguous() for k, v in tensors.items()}, metadata=meta)


def _load_state(path: Path, model: nn.Module, opt: torch.optim.Optimizer, device, ema: dict) -> tuple[int, list]:
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        meta = f.metadata()
    tensors = io.load_tensors(path)
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    params = dict(model.named_parameters())
    for k, v in tensors.items():
        if k.startswith("opt."):
            name, field = k[4:].rsplit(".", 1)
            opt.state[params[name]][field] = v.to(device) if field != "step" else v
        elif k.startswith("ema.") and k[4:] in ema:
            ema[k[4:]].copy_(v)
    return int(meta["step"]), json.loads(meta["history"])


def fit(model: nn.Module, batches: Callable[[int], dict], cfg: TrainConfig = TrainConfig(), *,
        out: str | Path | None = None, progress: bool = True, log_every: int = 25,
        monitor: Callable[[nn.Module], dict] | None = None, monitor_every: int = 0,
        stop: Callable[[dict], bool] | None = None) -> list[dict]:
    """Train `model` (forward(batch) -> scalar loss) for cfg.steps AdamW steps; returns [{step, loss, seconds}].

    With `out`, the run checkpoints to out/train_state.safetensors and resumes from it when present.
    With `monitor`, every `monitor_every` steps (and at the end) its dict (e.g. a test accuracy, measured in eval mode
    without gradients) joins that step's history entry; with `stop`, training ends at the first such entry for which
    stop(entry) is true (entry["stopped"] = "criterion"; a resumed run that had stopped stays stopped).
    """
    dev = resolve_device(cfg.device)
    rank, size = world()
    if size > 1:
        dev = _setup_distributed(dev)
    model.to(dev).train()
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    state = Path(out) / STATE_FILE if out is not None else None
    start, history = 0, []
    ema = {k: p.detach().clone() for k, p in model.named_parameters()} if cfg.ema else {}
    if state is not None and state.exists():
        start, history = _load_state(state, model, opt, dev, ema)
    # find_unused_parameters: a stage may leave parts of the model out of the loss (p-diff trains its AE, then its U-Net)
    net = nn.parallel.DistributedDataParallel(model, find_unused_parameters=True) if size > 1 else model
    use_amp = cfg.amp and dev.type == "cuda"
    t0 = time.perf_counter() - (history[-1]["seconds"] if history else 0.0)
    running = math.nan
    if history and history[-1].get("stopped"):
        start = cfg.steps                                  # the checkpoint is of a run that met its criterion
    with tqdm(total=cfg.steps, initial=start, desc=type(model).__name__, disable=None if progress and rank == 0 else True) as bar:
        for step in range(start, cfg.steps):
            draw = step * size + rank                      # = step in a single process
            torch.manual_seed(cfg.seed * 1_000_003 + draw)
            for group in opt.param_groups:
                group["lr"] = cfg.lr * _lr_factor(cfg, step)
            batch = {k: v.to(dev) for k, v in batches(draw).items()}
            batch["step"] = torch.tensor(step)             # for schedules inside a model (e.g. a Gumbel temperature)
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=use_amp):
                loss = net(batch)
            mean_loss = loss.detach().float()
            if size > 1:                                   # every process sees the same mean, so all raise together
                dist.all_reduce(mean_loss)
                mean_loss /= size
            if not torch.isfinite(mean_loss):
                raise FloatingPointError(f"step {step}: loss is {mean_loss.item()}; lower the learning rate or enable grad_clip")
            opt.zero_grad(set_to_none=True)
            loss.backward()                                # DDP averages the gradients over processes here
            if cfg.grad_clip:
                nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            if ema:
                with torch.no_grad():
                    for k, p in model.named_parameters():
                        ema[k].lerp_(p, 1 - cfg.ema)         # ema <- decay * ema + (1 - decay) * p
            v = mean_loss.item()
            running = v if math.isnan(running) else 0.95 * running + 0.05 * v
            bar.update(1)
            watch = monitor is not None and ((monitor_every and (step + 1) % monitor_every == 0) or step + 1 == cfg.steps)
            if (step + 1) % log_every == 0 or step + 1 == cfg.steps or watch:
                history.append({"step": step + 1, "loss": running, "seconds": time.perf_counter() - t0})
                bar.set_postfix(loss=f"{running:.4f}")
            if watch:
                model.eval()
                with torch.no_grad():
                    history[-1].update(monitor(model))
                model.train()
                if stop is not None and stop(history[-1]):
                    history[-1]["stopped"] = "criterion"
            done = bool(history) and history[-1].get("step") == step + 1 and bool(history[-1].get("stopped"))
            if state is not None and rank == 0 and ((cfg.checkpoint_every and (step + 1) % cfg.checkpoint_every == 0) or step + 1 == cfg.steps or done):
                _save_state(state, model, opt, step + 1, history, ema)
            if done:
                bar.set_postfix(loss=f"{running:.4f}", stopped="criterion")
                break
    if size > 1:
        dist.barrier()                                     # the final checkpoint is on disk before any process goes on
    if ema:
        with torch.no_grad():
            for k, p in model.named_parameters():
                p.copy_(ema[k])
    model.eval()
    return history
