"""Speed targets of the foundation (issue 2), measured on this machine and printed; run with
`.venv/bin/python benchmarks/foundation.py` (fresh zoos in a temp dir; small-preset settings)."""
import tempfile
import time
from pathlib import Path

import torch

from workbench import presets
from workbench.evaluate import accuracy, summary
from workbench.recipes import collect


def timed(label, fn):
    t0 = time.perf_counter()
    out = fn()
    print(f"{label}: {time.perf_counter() - t0:.1f} s", flush=True)
    return out


def main():
    p = presets.get("small")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        zoo = timed("collect 50-checkpoint CNN-s zoo on mnist5k (target <= 120 s)",
                    lambda: collect(p.zoo_recipe("last_epoch", "cnn_s"), tmp / "cnn_s", progress=False))
        print("  accuracy", {k: round(v, 2) for k, v in summary(zoo.accuracies).items()})
        tasks = timed("collect 1,022-task head zoo (target <= 600 s)",
                      lambda: collect(p.zoo_recipe("tasks"), tmp / "tasks", progress=False))
        print("  tasks", len(tasks), "accuracy", {k: round(v, 2) for k, v in summary(tasks.accuracies).items()})
        ds = zoo.dataset()
        params = zoo.flat[torch.arange(100) % len(zoo)]
        accuracy(zoo, params[:2], ds.X_test, ds.y_test)  # warm-up
        timed("evaluate 100 CNN-s parameter sets on the mnist5k test split (target <= 5 s)",
              lambda: accuracy(zoo, params, ds.X_test, ds.y_test))


if __name__ == "__main__":
    main()
