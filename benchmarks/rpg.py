"""RPG's speed targets (issue 3), measured on this machine and printed; run on an otherwise idle machine with
`.venv/bin/python benchmarks/rpg.py` (small preset; trains a fresh generator in a temp dir, nothing cached)."""
import tempfile
import time

import torch

from workbench import presets
from workbench.evaluate import accuracy
from workbench.generators.rpg import RPG


def main():
    p = presets.get("small")
    zoo = p.zoo("last_epoch", "cnn_s")
    data = zoo.dataset()
    torch.manual_seed(0)
    rpg = RPG.from_zoo(zoo, RPG.preset_config(zoo, p))
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        rpg.fit(zoo, p.train_config("rpg"), batch_size=p.sizes("rpg")["batch_size"], out=tmp, progress=False)
        print(f"train RPG on the 50-checkpoint CNN-s zoo, {p.sizes('rpg')['steps']} steps: {time.perf_counter() - t0:.1f} s "
              f"(target <= 300 s)", flush=True)
    rpg.generate(1, seed=0)  # warm-up
    times = []
    for seed in range(5):
        t0 = time.perf_counter()
        rpg.generate(1, seed=seed, steps=60)
        times.append(time.perf_counter() - t0)
    print(f"one CNN-s with DDIM-60: median {sorted(times)[2]:.2f} s over 5 (target <= 1 s)")
    acc = accuracy(zoo, rpg.generate(p.n_eval, seed=0), data.X_test, data.y_test) * 100
    orig = zoo.accuracies.mean().item() * 100
    print(f"{p.n_eval} generated: mean {acc.mean():.2f} ({acc.mean() / orig:.1%} of the originals' {orig:.2f}), "
          f"min {acc.min():.2f} ({acc.min() / orig:.1%})")


if __name__ == "__main__":
    main()
