"""What a generator costs: seconds and peak memory of training steps and of generating, each measured alone.

    cost = train_cost("rpg", zoo, preset, steps=5)              # seconds/step, peak RSS (CPU) or CUDA memory
    cost = sample_cost(info["path"], n=1)                       # a saved generator writing one net
    flat, seconds = generate_timed(gen, 10, seed=0)
"""
from __future__ import annotations

import multiprocessing as mp
import resource
import time

import torch

from .experiments import build, preset_batch, training_target
from .generators import Generator, load
from .generators import method as method_class


def generate_timed(gen: Generator, n: int, *, seed: int = 0, **kw) -> tuple[torch.Tensor, float]:
    t0 = time.perf_counter()
    flat = gen.generate(n, seed=seed, **kw)
    return flat, time.perf_counter() - t0


# ---- cost ---------------------------------------------------------------------------------------------------
# Peak memory is measured around a `run` callable made by a setup function: imports, data and the model are the
# baseline, what `run` allocates on top is the cost. CPU: in a fresh spawned process (peak RSS cannot be reset
# inside one). CUDA: torch.cuda.max_memory_allocated in this process.

def _setup_train(method_name: str, zoo_path: str, preset, steps: int, device: str, overrides: dict):
    from .zoo import Zoo

    zoo = training_target(method_name, Zoo.load(zoo_path))
    gen = build(method_name, zoo, preset, overrides, 0).with_steps(steps)     # every stage `steps` long
    cfg = preset.train_config(method_name, steps=steps, device=device)
    return lambda: gen.fit(zoo, cfg, batch_size=preset_batch(method_name, preset), progress=False)


def _setup_sample(path: str, n: int, device: str, kw: dict):
    from .fit import resolve_device

    gen = load(path).to(resolve_device(device))
    return lambda: gen.generate(n, **kw)


def _rss_mb(field: str) -> float | None:
    try:
        for line in open("/proc/self/status"):
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _child(q, setup, args):
    import gc

    run = setup(*args)
    gc.collect()
    try:  # Linux: reset the peak RSS (VmHWM) to the current RSS, so the peak is this run's alone
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        base = _rss_mb("VmRSS")
    except OSError:  # elsewhere: the peak so far (imports and loading included) is the baseline
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    run()
    seconds = time.perf_counter() - t0
    peak = _rss_mb("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    q.put({"seconds": seconds, "baseline_mb": base, "peak_mb": peak})


def measure(setup, *args, device: str = "cpu") -> dict:
    """{seconds, baseline_mb, peak_mb, extra_mb} of setup(*args)() (see above for what counts)."""
    if torch.device(device).type == "cuda":
        run = setup(*args)
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        t0 = time.perf_counter()
        run()
        torch.cuda.synchronize()
        out = {"seconds": time.perf_counter() - t0, "baseline_mb": base / 2**20, "peak_mb": torch.cuda.max_memory_allocated() / 2**20}
    else:
        ctx = mp.get_context("spawn")
        q = ctx.Queue()
        p = ctx.Process(target=_child, args=(q, setup, args))
        p.start()
        p.join()
        if p.exitcode:
            raise RuntimeError(f"measure({setup.__name__}): the measured run failed in its process (exit code {p.exitcode})")
        out = q.get()
    return {**out, "extra_mb": out["peak_mb"] - out["baseline_mb"]}


def train_cost(method_name: str, zoo, preset, steps: int, *, device: str = "cpu", **overrides) -> dict:
    """Seconds per step and peak memory of `steps` training steps (per stage) of a fresh generator on a saved zoo."""
    out = measure(_setup_train, method_name, str(zoo.path), preset, steps, device, overrides, device=device)
    return {**out, "seconds_per_step": out["seconds"] / (method_class(method_name).stages * steps)}


def sample_cost(path, n: int = 1, *, device: str = "cpu", **sample_kw) -> dict:
    """Time and peak memory of generating n models with the saved generator at `path`."""
    return measure(_setup_sample, str(path), n, device, sample_kw, device=device)
