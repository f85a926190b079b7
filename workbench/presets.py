"""Named presets: `smoke` (seconds, CI) · `small` (CPU minutes, real offline data) · `paper` (GPU, paper settings).

Notebooks read every size from `get(PRESET)`; nothing branches on the preset's name.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .config import Config, check
from .io import zoos_dir


@dataclass(frozen=True)
class Preset(Config):
    name: str = "smoke"
    dataset: str = "mnist5k"
    dataset_kwargs: dict = field(default_factory=dict)
    zoo_nets: tuple[str, ...] = ("cnn_s", "lenet5", "mlp")   # one last_epoch zoo each, smallest first
    seeds_net: str = "cnn_s"
    task_net: str = "cnn_s"
    epochs: int = 30             # SGD epochs at lr before the checkpoints (REFERENCE: ~93.6% CNN-s on mnist5k)
    lr: float = 1e-2
    final_lr: float = 1e-3
    batch_size: int = 32
    n_checkpoints: int = 50      # K of the last_epoch zoos (RPG: 50)
    n_seeds: int = 10            # independent runs in the seeds zoo
    n_tasks: int | None = None   # binary tasks (None: all 1,022)
    n_unseen: int = 20           # held-out task codes (RPG: 20)
    head_epochs: int = 10
    noise_sigmas: tuple[float, ...] = (0.01, 0.1, 1.0)   # RPG Table 16 (normalised units)
    baseline_sigmas: tuple[float, ...] = (0.01, 0.05, 0.1)
    n_eval: int = 10             # models per generated / baseline set (RPG: 10 generated)
    exchange_fraction: float = 0.1
    device: str = "auto"

    def validate(self):
        check(self.n_checkpoints >= 1 and self.n_seeds >= 2, "n_checkpoints >= 1 and n_seeds >= 2 are required")
        check(self.n_eval >= 2, "n_eval must be >= 2")

    def zoo_recipe(self, recipe: str = "last_epoch", net: str | None = None, **overrides):
        """The ZooRecipe this preset uses for `recipe` (last_epoch / seeds / tasks)."""
        from .zoo import ZooRecipe

        n = {"last_epoch": self.n_checkpoints, "seeds": self.n_seeds, "tasks": 1}[recipe]
        default_net = {"last_epoch": self.zoo_nets[0], "seeds": self.seeds_net, "tasks": self.task_net}[recipe]
        kw = dict(recipe=recipe, net=net or default_net, dataset=self.dataset, dataset_kwargs=dict(self.dataset_kwargs),
                  n_checkpoints=n, epochs=self.epochs, lr=self.lr, final_lr=self.final_lr, batch_size=self.batch_size,
                  n_tasks=self.n_tasks, n_unseen=self.n_unseen, head_epochs=self.head_epochs)
        kw.update(overrides)
        return ZooRecipe(**kw)

    def zoo_dir(self, recipe: str = "last_epoch", net: str | None = None, **overrides) -> Path:
        r = self.zoo_recipe(recipe, net, **overrides)
        return zoos_dir() / self.name / f"{r.dataset}-{r.net}-{recipe}-seed{r.seed}"

    def zoo(self, recipe: str = "last_epoch", net: str | None = None, **overrides):
        """Collect (or resume, or load) this preset's zoo for `recipe` under $WORKBENCH_ZOOS/<preset>/."""
        from .zoo import collect

        return collect(self.zoo_recipe(recipe, net, **overrides), self.zoo_dir(recipe, net, **overrides))


PRESETS: dict[str, Preset] = {
    "smoke": Preset(name="smoke", dataset_kwargs={"max_train": 500, "max_test": 200}, zoo_nets=("cnn_s", "mlp"),
                    epochs=2, n_checkpoints=5, n_seeds=3, n_tasks=24, n_unseen=4, head_epochs=2, n_eval=4),
    "small": Preset(name="small"),
    # CIFAR-10 binary release under $WORKBENCH_DATA/cifar10; RPG's CNN-s/CNN-m protocol (SGD 1e-2, 50 epochs, 50 ckpts).
    "paper": Preset(name="paper", dataset="cifar10", zoo_nets=("cnn_s", "cnn_m", "resnet"), epochs=50,
                    n_checkpoints=50, n_seeds=10, head_epochs=20),
}


def get(name: str, **overrides) -> Preset:
    if name not in PRESETS:
        raise KeyError(f"unknown preset {name!r}; available: {', '.join(PRESETS)}")
    return PRESETS[name].replace(**overrides) if overrides else PRESETS[name]
