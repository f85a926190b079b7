"""Independent units of CPU work (the runs of a zoo, the zoos of a collection) in parallel processes.

Small nets use a CPU core poorly from one process: on 2 cores, two CNN-s runs side by side with one thread each
trained 1.7x as many steps per second as one run with two threads (measured here, AMD EPYC). Each worker is a fresh
(spawned) process with one torch thread, so two workers never fight over cores; every unit saves its own result
to disk atomically (a zoo's parts), so a crash or `kill -9` leaves only finished work behind, and a rerun resumes.

How many workers: `WORKBENCH_WORKERS` if set (1: everything in this process), else this process's torch thread
count. Work too small to pay a worker's start (seconds of imports) stays in this process: see `workers_for`.
A zoo run in a worker uses one thread, so its last bits can differ from the same run in this process with several
(which of the two a zoo's runs get depends only on their steps and the core count). A generator trains with
TRAIN_THREADS wherever it runs (experiments.trained), so a cached run is the same whichever notebook trained it.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from typing import Callable, Iterable

import torch

# below this many SGD steps in all, the work stays in this process (a step of a small net at batch 32 is ~3 ms; two
# workers take ~5 s to start)
MIN_PARALLEL_STEPS = 20_000
# the same threshold for generator training (experiments.train_in_workers): a generator step at the small preset is
# 40-400 ms, so 1,000 steps are minutes; the smoke preset's 20-step generators stay in this process. On 2 cores two
# one-thread workers trained 1.3x (RPG) to 1.6x (flow) as many steps per second as one two-thread process (LoRA zoo)
GENERATOR_MIN_STEPS = 1_000
# torch threads of every generator's training, in this process or in a worker: a run trained with two threads in a
# notebook and the same run trained in a one-thread worker differed in their last bits (the same 40 RPG steps on the
# CNN-s zoo: summed weights 4396.4421 at one thread, 4396.4447 at two), so the cache's content depended on which
# notebook had trained a run first. One thread is what a worker has, so pools stay free to use anywhere. Its cost
# where a run trains alone: seconds a step on the small CNN-s zoo at two threads / one (AMD EPYC, idle, a few dozen
# steps with their setup): RPG 0.18 / 0.31, p-diff 0.12 / 0.16, NeuroGen 0.49 / 0.65, the flow 0.077 / 0.066
TRAIN_THREADS = 1


def sgd_steps(runs: int, epochs: int, n_train: int, batch_size: int) -> int:
    """SGD steps of `runs` runs of `epochs` epochs over n_train rows at batch_size: the work `workers_for` weighs."""
    return runs * epochs * -(-n_train // batch_size)


def workers_for(units: int, steps: int, *, min_steps: int = MIN_PARALLEL_STEPS) -> int:
    """Workers for `units` independent units of `steps` SGD steps in all: min(units, WORKBENCH_WORKERS) when that is
    set; else 1 (this process) below `min_steps`, and min(units, torch's thread count) above."""
    env = os.environ.get("WORKBENCH_WORKERS", "").strip()
    if env:
        try:
            n = int(env)
        except ValueError:
            raise ValueError(f"WORKBENCH_WORKERS={env!r}: set a whole number of worker processes (1: none)") from None
        if n < 1:
            raise ValueError(f"WORKBENCH_WORKERS={env!r}: set 1 or more worker processes (1: none)")
    else:
        if steps < min_steps:
            return 1
        n = torch.get_num_threads()
    return max(1, min(n, units))


@contextmanager
def torch_threads(n: int):
    """Run the block with n torch threads, then give back the ones the process had."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _init_worker() -> None:
    torch.set_num_threads(1)
    os.environ["TQDM_DISABLE"] = "1"       # the parent shows one bar over all units
    os.environ["WORKBENCH_WORKERS"] = "1"  # a worker's own work (a zoo's runs) stays in it: no pools of pools


def run_parallel(fn: Callable, items: Iterable, workers: int, *, on_done: Callable | None = None) -> None:
    """fn(item) for every item in `workers` spawned processes of one thread each (fn and items must pickle: a
    module-level function and plain values). on_done(item) runs here as each finishes. fn's results are not returned:
    each unit writes its own result to disk. The first failure is raised here once the running units are done; the
    units not yet started are dropped."""
    import multiprocessing as mp

    pool = ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"), initializer=_init_worker)
    try:
        futures = {pool.submit(fn, it): it for it in items}
        for fut in as_completed(futures):
            fut.result()
            if on_done is not None:
                on_done(futures[fut])
    except BaseException as exc:
        pool.shutdown(wait=True, cancel_futures=True)
        if isinstance(exc, BrokenProcessPool):
            raise RuntimeError("a worker process died or could not start. A script that collects zoos must keep its "
                               "top level under `if __name__ == \"__main__\":` (workers are spawned and import it); a "
                               "worker killed for memory also ends here. Set WORKBENCH_WORKERS=1 to work in this "
                               "process; finished runs are kept, and the next call resumes from them") from exc
        raise
    pool.shutdown(wait=True)
