"""Named presets: `smoke` (seconds, CI) · `small` (CPU minutes, real offline data) · `paper` (GPU, paper settings).

Notebooks read every size from `get(PRESET)`; nothing branches on the preset's name.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .config import Config, check
from .io import ZOO_CODE, code_key, note_cache_use, zoos_dir


@dataclass(frozen=True)
class Preset(Config):
    name: str = "smoke"
    purpose: str = ""            # one line for people: what numbers at this preset mean (the demo shows it)
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
    many_seeds: int = 100        # notebook 10: the seeds zoo on which novelty means something (issue 19)
    seed_counts: tuple[int, ...] = (10, 30, 100)   # notebook 10: training seeds of the "more training models" rows
    new_networks: dict = field(default_factory=dict)   # notebook 10: {"zoos": ["seeds", "many_seeds"], "variants":
                                                       # the audit's generator rows (default: all), "mlp_seeds":
                                                       # {"hidden": [...]}: also a many_seeds MLP zoo, "mlp_variants":
                                                       # its rows (default: variants), "mlp_methods": {method: config
                                                       # overrides} on it, "mlp_flow_steps": the flow's steps dial there}
    n_tasks: int | None = None   # binary tasks (None: all 1,022)
    n_unseen: int = 20           # held-out task codes (RPG: 20)
    head_epochs: int = 10
    noise_sigmas: tuple[float, ...] = (0.01, 0.1, 1.0)   # RPG Table 16 (normalised units)
    n_eval: int = 10             # models per generated / baseline set (RPG: 10 generated)
    audit_n: int = 100           # models per set in the memorisation audit (leaderboard, bench)
    audit_sigmas: tuple[float, ...] = (0.003, 0.01, 0.03, 0.1, 0.3, 1.0)   # the audit's noise sweep (normalised units)
    audit_memory: bool = True    # leaderboard: peak memory of generating one net, measured in a fresh process per method
    # (recipe, net) per zoo, + the task zoo; "many_seeds": the seeds recipe with many_seeds checkpoints (notebook 10's)
    leaderboard_zoos: tuple = (("last_epoch", "cnn_s"), ("seeds", "cnn_s"), ("many_seeds", "cnn_s"),
                               ("last_epoch", "lenet5"))
    exchange_fraction: float = 0.1
    device: str = "auto"
    net_kwargs: dict = field(default_factory=dict)   # per-net overrides, e.g. {"mlp": {"hidden": [256]}}
    # generators: each method's sizes live beside its model (Generator.sizes, per scale); the preset names the scale
    scale: str = "small"                             # "smoke" | "small" | "paper": which sizes every method takes
    methods: dict = field(default_factory=dict)      # per-method overrides of those sizes, e.g. {"rpg": {"steps": 100,
                                                     # "config": {"d_model": 64}}} (with_method below)
    ablation_steps: int = 300                        # per ablation row (CNN-s)
    sampler_steps: tuple[int, ...] = (5, 20, 60, 100, 200, 0)   # RPG Table 7 rows; 0 = DDPM through all T steps
    task_steps: int = 600                            # task-conditioned RPG on the seen task codes
    task_batch: int = 64
    collection: dict = field(default_factory=dict)   # CollectionSpec of the many-(architecture, dataset) zoo (IGPG)
    lora: dict = field(default_factory=lambda: dict(LORA))   # notebook 11: the LoRA zoos ({"datasets", "zoo": recipe
                                                     # overrides of the seeds zoo, "methods"})

    def validate(self):
        check(self.n_checkpoints >= 1 and self.n_seeds >= 2, "n_checkpoints >= 1 and n_seeds >= 2 are required")
        check(self.n_eval >= 2, "n_eval must be >= 2")

    def zoo_recipe(self, recipe: str = "last_epoch", net: str | None = None, **overrides):
        """The ZooRecipe this preset uses for `recipe` (last_epoch / seeds / tasks)."""
        from .recipes import ZooRecipe

        n = {"last_epoch": self.n_checkpoints, "seeds": self.n_seeds, "tasks": 1}[recipe]
        default_net = {"last_epoch": self.zoo_nets[0], "seeds": self.seeds_net, "tasks": self.task_net}[recipe]
        kw = dict(recipe=recipe, net=net or default_net, dataset=self.dataset, dataset_kwargs=dict(self.dataset_kwargs),
                  n_checkpoints=n, epochs=self.epochs, lr=self.lr, final_lr=self.final_lr, batch_size=self.batch_size,
                  n_tasks=self.n_tasks, n_unseen=self.n_unseen, head_epochs=self.head_epochs)
        kw["net_kwargs"] = dict(self.net_kwargs.get(kw["net"], {}))
        kw.update(overrides)
        return ZooRecipe(**kw)

    def zoo_dir(self, recipe: str = "last_epoch", net: str | None = None, data=None, **overrides) -> Path:
        """$WORKBENCH_ZOOS/<preset>/<dataset>-<net>-<recipe>-seed<seed>[-tag]-code<key>; your own data adds its
        fingerprint, other recipe overrides (net_kwargs, dataset_kwargs, ...) a short hash of them (tag), and the key
        hashes the code that trains zoos (io.code_key), so changed code collects afresh."""
        import hashlib
        import json

        recipe, overrides = self._named(recipe, overrides)
        r = self.zoo_recipe(recipe, net, **overrides)
        name = r.dataset if data is None else f"{data.name}-{data.fingerprint()[:8]}"
        extra = {k: v for k, v in overrides.items() if k not in ("seed", "dataset")}   # those are in the name already
        tag = "-" + hashlib.sha1(json.dumps(extra, sort_keys=True, default=str).encode()).hexdigest()[:6] if extra else ""
        return zoos_dir() / self.name / f"{name}-{r.net}-{recipe}-seed{r.seed}{tag}-code{code_key()}"

    def zoo(self, recipe: str = "last_epoch", net: str | None = None, *, data=None, **overrides):
        """Collect (or resume, or load) this preset's zoo for `recipe` under $WORKBENCH_ZOOS/<preset>/.

        `data` (a Dataset, e.g. `workbench.data.from_tensors(...)`) trains the preset's recipe (epochs, learning
        rates, batch size, checkpoints) on your data instead of the preset's dataset; the zoo keeps it.
        """
        from .recipes import collect

        recipe, overrides = self._named(recipe, overrides)
        folder = self.zoo_dir(recipe, net, data, **overrides)
        zoo = collect(self.zoo_recipe(recipe, net, **overrides), folder, data=data)
        note_cache_use(folder)
        return zoo

    def _named(self, recipe: str, overrides: dict) -> tuple[str, dict]:
        """"many_seeds" is the seeds recipe with many_seeds checkpoints (notebook 10's zoo, the leaderboard's)."""
        if recipe == "many_seeds":
            return "seeds", {"n_checkpoints": self.many_seeds, **overrides}
        return recipe, overrides

    def zoo_label(self, recipe: str = "last_epoch", net: str | None = None) -> str:
        """How reports name the zoo of `recipe` ("cnn_s last_epoch", "cnn_s 100 seeds")."""
        net = net or {"last_epoch": self.zoo_nets[0], "tasks": self.task_net}.get(recipe, self.seeds_net)
        return f"{net} {self.many_seeds} seeds" if recipe == "many_seeds" else f"{net} {recipe}"

    def collection_spec(self, **overrides):
        """The CollectionSpec of this preset's many-(architecture, dataset) collection (+ overrides)."""
        from .collection import CollectionSpec

        return CollectionSpec.from_dict({**self.collection, **overrides})

    def collection_dir(self, **overrides) -> Path:
        import hashlib

        key = hashlib.sha1(self.collection_spec(**overrides).to_json().encode()).hexdigest()[:8]
        return zoos_dir() / self.name / f"collection-{key}-code{code_key(ZOO_CODE + ('collection.py', 'encoders.py'))}"

    def load_collection(self, *, progress: bool = True, **overrides):
        """Collect (or resume, or load) this preset's collection under $WORKBENCH_ZOOS/<preset>/."""
        from .collection import collect_collection

        folder = self.collection_dir(**overrides)
        col = collect_collection(self.collection_spec(**overrides), folder, progress=progress)
        note_cache_use(folder)
        return col

    def sizes(self, method: str) -> dict:
        """The sizes a registered `method` takes under this preset (its module's, at this scale, with `methods`)."""
        from .generators import method as method_class

        return method_class(method).sizes_for(self)

    def with_method(self, method: str, **sizes) -> "Preset":
        """This preset with `method`'s sizes overridden (a "config" dict merges into the config overrides)."""
        mine = dict(self.methods.get(method, {}))
        config = {**mine.get("config", {}), **sizes.pop("config", {})}
        return self.replace(methods={**self.methods, method: {**mine, **sizes, **({"config": config} if config else {})}})

    def train_config(self, method: str = "rpg", **overrides):
        """TrainConfig of a generator: the steps and learning rate a registered `method` trains with here (its sizes;
        "ablation": RPG's learning rate for the preset's ablation_steps), and the preset's device."""
        from .generators import method as method_class
        from .train import TrainConfig

        training = method_class("rpg" if method == "ablation" else method).preset_training(self)
        steps = self.ablation_steps if method == "ablation" else training["steps"]
        lr = training.get("lr", TrainConfig.lr)     # a method that names no learning rate trains at the loop's default
        return TrainConfig(**{"steps": steps, "lr": lr, "device": self.device, **overrides})


# notebook 11: LoRA adapters (rank 4 on query / value of MiniLM's last block, nets/lora.py) + a head, one per seed, on
# the real offline text sets (train / test subsets sized so that a zoo and its audit take CPU minutes)
LORA = {"datasets": ["rotten_tomatoes", "bbc_news"],   # a seeds zoo each
        "last_epoch": ["bbc_news"],                     # a last-epoch zoo each (checkpoints of one run's last epoch)
        # IGPG (one code per value) on adapter zoos up to max_params: the 6,914-value Rotten Tomatoes adapters, not
        # BBC News' 8,069 (~10 min of CPU per zoo); trained on 3 of a zoo's checkpoints (the leaderboard's IGPG on one
        # zoo: 6), and a set holds 50 adapters, 8 per held-out task on the tasks zoo (the preset's audit_n: 100): the
        # notebook's 30-minute budget (3,193 s at 367ebe9 with 6 and 100; IGPG's prior was 580 s of it, and the
        # audit's evaluations and the generators' sampling scale with the set)
        "igpg_zoo": {"max_params": 7000, "train_checkpoints": 3}, "audit_n": 50,
        # other methods' sizes on adapter zoos (preset.with_method): the flow at 750 steps (the preset's 1,500) kept
        # 1.008 of the Rotten Tomatoes adapters' accuracy (min 0.97) and 1.004 of BBC News' (min 0.99); 1,500 steps:
        # 1.003 (0.96) and 1.003 (0.98) at fb3164d; RPG at 400 steps (the preset's 800): 0.998 (min 0.95) and 1.000
        # (0.99); 800 steps: 0.999 (0.97) and 1.000 (0.99) at fb3164d
        "methods": {"flow": {"steps": 750}, "rpg": {"steps": 400}},
        "zoo": {"net_kwargs": {"rank": 4, "alpha": 8.0, "target_modules": ["query", "value"]},
                "dataset_kwargs": {"max_train": 1000, "max_test": 300}, "n_checkpoints": 10, "epochs": 4, "lr": 0.05,
                "final_lr": 0.01},
        # the task-conditioned RPG's batch on the adapter tasks (600 task_steps at the preset's 64 took 335 s per
        # condition at e36744a, a third of the notebook; code-conditioned ratio 0.998 there)
        "task_batch": 16,
        # one adapter per binary topic-subset task of BBC News (2^5 - 2 = 30 tasks, a bit per topic), some held out
        "tasks": {"dataset": "bbc_news", "n_unseen": 6, "dataset_kwargs": {"max_train": 600, "max_test": 300},
                  "epochs": 2}}
SMOKE_LORA = {"datasets": ["rotten_tomatoes"], "last_epoch": ["rotten_tomatoes"], "igpg_zoo": {"max_params": 7000},
              "zoo": {**LORA["zoo"], "dataset_kwargs": {"max_train": 100, "max_test": 60}, "n_checkpoints": 3,
                      "epochs": 1},
              "tasks": {"dataset": "bbc_news", "n_unseen": 2, "n_tasks": 8, "dataset_kwargs": {"max_train": 100,
                                                                                            "max_test": 60}, "epochs": 1}}

# The many-(architecture, dataset) collection (IGPG). small: the architectures and datasets of issue 9, the ResNet
# with 3 blocks per stage held out (depth transfer) and the rotated MNIST held out (dataset transfer).
SMOKE_COLLECTION = {"archs": {"cnn_s": {"net": "cnn_s"}, "mlp_8": {"net": "mlp", "hidden": [8]}},
                    "datasets": ["mnist5k", "digits28"], "held_out_datasets": ["digits28"],
                    "dataset_kwargs": {"max_train": 300, "max_test": 100}, "seeds": 2, "per_seed": 2, "epochs": 1}
# small: IGPG writes one code per value (generators/igpg/sizes.py), so a net's code sequence is as long as the net.
# Scoped to what a CPU prior learns in minutes: short nets (CNN-s 2,464 values, width-2 ResNets of 1 and 2 blocks per
# stage: 1,468 / 3,092) on two MNIST variants and sklearn digits, one training sequence per seed; held out: the rotated
# MNIST (dataset transfer) and the 2-block ResNet (depth transfer; IGPG: train on 4..8 blocks, generate another).
SMALL_COLLECTION = {"archs": {"cnn_s": {"net": "cnn_s"},
                              **{f"resnet_{b}": {"net": "resnet", "blocks": [b, b, b], "width": 2} for b in (1, 2)}},
                    "datasets": ["mnist5k", "digits28", "mnist5k_inverted", "mnist5k_rot90"],
                    "held_out_datasets": ["mnist5k_rot90"], "held_out_archs": ["resnet_2"],
                    "seeds": 3, "per_seed": 1, "epochs": 8, "min_steps": 1000}   # digits: 23 epochs, mnist5k's steps
# paper scale (a GPU): the 32-pair collection of issue 9 -- MLPs, LeNet-5 and width-4 ResNets of 1-4 blocks
PAPER_COLLECTION = {"archs": {"cnn_s": {"net": "cnn_s"}, "lenet5": {"net": "lenet5"},
                              "mlp_16": {"net": "mlp", "hidden": [16]}, "mlp_16x16": {"net": "mlp", "hidden": [16, 16]},
                              **{f"resnet_{b}": {"net": "resnet", "blocks": [b, b, b], "width": 4} for b in (1, 2, 3, 4)}},
                    "datasets": ["mnist5k", "digits28", "mnist5k_inverted", "mnist5k_rot90"],
                    "held_out_datasets": ["mnist5k_rot90"], "held_out_archs": ["resnet_3"],
                    "seeds": 3, "per_seed": 2, "epochs": 8, "min_steps": 1000}
PRESETS: dict[str, Preset] = {
    "smoke": Preset(name="smoke", scale="smoke", purpose="a CI setting: every notebook in seconds; its generators train "
                    "for a few steps and write near-chance nets. For real nets use the small preset.",
                    dataset_kwargs={"max_train": 500, "max_test": 200}, zoo_nets=("cnn_s", "mlp"),
                    epochs=2, n_checkpoints=5, n_seeds=3, many_seeds=6, seed_counts=(3, 6),
                    new_networks={"zoos": ["many_seeds"], "variants": ["rpg", "flow", "flow (raw weights)"],
                                  "mlp_seeds": {"hidden": [8]}, "mlp_variants": ["flow", "flow (raw weights)"],
                                  "mlp_methods": {"flow": {"hidden": 16}}, "mlp_flow_steps": [10, 20]}, n_tasks=24,
                    n_unseen=4, head_epochs=2, n_eval=4, audit_n=6, audit_memory=False,
                    leaderboard_zoos=(("last_epoch", "cnn_s"), ("seeds", "cnn_s")), ablation_steps=10, task_steps=20,
                    task_batch=8, sampler_steps=(5, 60), net_kwargs={"mlp": {"hidden": [8]}},
                    collection=SMOKE_COLLECTION, lora=SMOKE_LORA),
    # MLP 784-256-10: 203,530 params (each method's sizes for it: its module's `sizes["small"]`)
    # notebook 10's MLP zoo is DeepWeightFlow's, 100 MLPs 784-32-32-10 (26,506 values; ~2 min to collect), audited with
    # p-diff and the two flows only: RPG took 0.5 s a step and 4.4 s a net on it (800 steps + 4 sets of 100: ~30 min);
    # the flow's MLP is 256 wide there: 0.15 s a step on one thread (512 wide: 0.36 s; the run at 427cfeb was stopped)
    "small": Preset(name="small", scale="small", purpose="CPU minutes on real offline data (mnist5k): generators "
                    "trained to the reports' settings, trained once and cached.",
                    new_networks={"mlp_seeds": {"hidden": [32, 32]},
                                  "mlp_variants": ["pdiff", "flow", "flow (raw weights)"],
                                  "mlp_methods": {"flow": {"hidden": 256}}, "mlp_flow_steps": [700, 1000, 1500]},
                    net_kwargs={"mlp": {"hidden": [256]}}, collection=SMALL_COLLECTION),
    # CIFAR-10 binary release under $WORKBENCH_DATA/cifar10; RPG's CNN-s/CNN-m protocol (SGD 1e-2, 50 epochs, 50 ckpts).
    "paper": Preset(name="paper", scale="paper", purpose="the papers' settings (CIFAR-10 on disk, GPU hours).",
                    dataset="cifar10", zoo_nets=("cnn_s", "cnn_m", "resnet"), epochs=50,
                    n_checkpoints=50, n_seeds=10, head_epochs=20, ablation_steps=30_000, collection=PAPER_COLLECTION),
}


def get(name: str, **overrides) -> Preset:
    if name not in PRESETS:
        raise KeyError(f"unknown preset {name!r}; available: {', '.join(PRESETS)}")
    return PRESETS[name].replace(**overrides) if overrides else PRESETS[name]
