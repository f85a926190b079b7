"""Named presets: `smoke` (seconds, CI) · `small` (CPU minutes, real offline data) · `paper` (GPU, paper settings).

Notebooks read every size from `get(PRESET)`; nothing branches on the preset's name.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .config import Config, check
from .io import ZOO_CODE, code_key, zoos_dir


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
                                                       # the audit's generator rows (default: all)}
    n_tasks: int | None = None   # binary tasks (None: all 1,022)
    n_unseen: int = 20           # held-out task codes (RPG: 20)
    head_epochs: int = 10
    noise_sigmas: tuple[float, ...] = (0.01, 0.1, 1.0)   # RPG Table 16 (normalised units)
    n_eval: int = 10             # models per generated / baseline set (RPG: 10 generated)
    audit_n: int = 100           # models per set in the memorisation audit (leaderboard, bench)
    audit_sigmas: tuple[float, ...] = (0.003, 0.01, 0.03, 0.1, 0.3, 1.0)   # the audit's noise sweep (normalised units)
    audit_memory: bool = True    # leaderboard: peak memory of generating one net, measured in a fresh process per method
    leaderboard_zoos: tuple = (("last_epoch", "cnn_s"), ("seeds", "cnn_s"), ("last_epoch", "lenet5"))  # + the task zoo
    exchange_fraction: float = 0.1
    device: str = "auto"
    net_kwargs: dict = field(default_factory=dict)   # per-net overrides, e.g. {"mlp": {"hidden": [256]}}
    # generators (issue 3). Token size doubles from rpg_token_size until a net has <= rpg_max_tokens tokens,
    # and each step denoises rpg_diffusion_values values (= diffusion_batch x token_size), as the paper grows tokens with nets.
    rpg: dict = field(default_factory=dict)          # RPGConfig overrides
    rpg_token_size: int = 256
    rpg_max_tokens: int = 256
    rpg_diffusion_values: int = 128 * 256
    rpg_steps: int = 400
    rpg_lr: float = 1e-3
    rpg_batch: int = 8
    pdiff: dict = field(default_factory=dict)        # PDiffConfig overrides
    pdiff_steps: int = 1000
    pdiff_batch: int = 50
    pdiff_max_params: int = 10_000_000               # larger zoos: p-diff is not run (reported, like the paper's OOM)
    ablation_steps: int = 300                        # per ablation row (CNN-s)
    sampler_steps: tuple[int, ...] = (5, 20, 60, 100, 200, 0)   # RPG Table 7 rows; 0 = DDPM through all T steps
    task_steps: int = 600                            # task-conditioned RPG on the seen task codes
    task_batch: int = 64
    collection: dict = field(default_factory=dict)   # CollectionSpec of the many-(architecture, dataset) zoo (IGPG)
    igpg: dict = field(default_factory=dict)         # IGPGConfig overrides
    igpg_steps: int = 2000                           # prior steps (the VQ-VAE's are igpg["vq_steps"])
    igpg_batch: int = 32                             # prior windows per step
    igpg_n: int = 0                                  # generated models per pair in the IGPG notebooks (0: n_eval)
    igpg_zoo: dict = field(default_factory=lambda: dict(IGPG_ZOO))   # IGPG on one zoo (leaderboard): igpg overrides
                                                     # + "max_params", the largest net it takes
    igpg_ablation: dict = field(default_factory=dict)   # notebook 06: {"archs", "datasets", "steps", "igpg": overrides
                                                        # of every row, "variants": [overrides of one row]}
    lora: dict = field(default_factory=lambda: dict(LORA))   # notebook 11: the LoRA zoos ({"datasets", "zoo": recipe
                                                     # overrides of the seeds zoo, "methods"})
    neurogen: dict = field(default_factory=dict)     # NeuroGenConfig overrides
    neurogen_steps: int = 600                        # stage-2 steps (stage 1's are neurogen["stage1_steps"])
    neurogen_experiments: dict = field(default_factory=lambda: dict(NEUROGEN_EXPERIMENTS))   # notebook 07

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

        return collect(self.zoo_recipe(recipe, net, **overrides), self.zoo_dir(recipe, net, data, **overrides), data=data)

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

        return collect_collection(self.collection_spec(**overrides), self.collection_dir(**overrides), progress=progress)

    def rpg_config(self, zoo, **overrides):
        """The RPGConfig for `zoo`: token size grown for big nets (see rpg_max_tokens), preset overrides, then yours."""
        from .generators.rpg import RPGConfig

        ts = self.rpg_token_size
        while -(-zoo.num_params // ts) > self.rpg_max_tokens:
            ts *= 2
        kw = {"token_size": ts, "diffusion_batch": max(1, self.rpg_diffusion_values // ts), **self.rpg, **overrides}
        return RPGConfig.from_dict(kw)      # from_dict: JSON lists (preset dicts round-trip as JSON) become tuples

    def pdiff_config(self, **overrides):
        from .generators.pdiff import PDiffConfig

        return PDiffConfig.from_dict({**self.pdiff, **overrides})

    def train_config(self, method: str = "rpg", **overrides):
        """TrainConfig of a generator: the steps a registered `method` trains for here (or "ablation"), the
        preset's learning rate and device."""
        from .generators import method as method_class
        from .train import TrainConfig

        training = {} if method == "ablation" else method_class(method).preset_training(self)
        steps = self.ablation_steps if method == "ablation" else training["steps"]
        lr = training.get("lr", self.rpg_lr)            # a method that names its learning rate trains at it
        return TrainConfig(**{"steps": steps, "lr": lr, "device": self.device, **overrides})


# IGPG on one zoo (the leaderboard's): every seed seen, as for every other method; at most 6 training checkpoints
# (a code per value: a CPU prior's windows grow with every sequence), a shorter VQ-VAE stage and pass cap (measured on
# the CNN-s seeds zoo with 10 checkpoints and the collection's 1,500 VQ-VAE steps: 14 min per zoo; greedy 0.96 vs
# originals 0.957); nets up to CNN-s (LeNet-5's 44k codes per net are out of a CPU prior's reach)
IGPG_ZOO = {"holdout_seeds": 0, "train_checkpoints": 6, "vq_steps": 600, "prior_passes": 300, "max_params": 5000}
# notebook 11: LoRA adapters (rank 4 on query / value of MiniLM's last block, nets/lora.py) + a head, one per seed, on
# the real offline text sets (train / test subsets sized so that a zoo and its audit take CPU minutes)
LORA = {"datasets": ["rotten_tomatoes", "bbc_news"],   # a seeds zoo each
        "last_epoch": ["bbc_news"],                     # a last-epoch zoo each (checkpoints of one run's last epoch)
        # IGPG (one code per value) on adapter zoos up to this size: the 6,914-value Rotten Tomatoes adapters, not
        # BBC News' 8,069 (~10 min of CPU per zoo; the notebook's 30-minute budget)
        "igpg_max_params": 7000,
        "zoo": {"net_kwargs": {"rank": 4, "alpha": 8.0, "target_modules": ["query", "value"]},
                "dataset_kwargs": {"max_train": 1000, "max_test": 300}, "n_checkpoints": 10, "epochs": 4, "lr": 0.05,
                "final_lr": 0.01},
        # one adapter per binary topic-subset task of BBC News (2^5 - 2 = 30 tasks, a bit per topic), some held out
        "tasks": {"dataset": "bbc_news", "n_unseen": 6, "dataset_kwargs": {"max_train": 600, "max_test": 300},
                  "epochs": 2}}
SMOKE_LORA = {"datasets": ["rotten_tomatoes"], "last_epoch": ["rotten_tomatoes"], "igpg_max_params": 7000,
              "zoo": {**LORA["zoo"], "dataset_kwargs": {"max_train": 100, "max_test": 60}, "n_checkpoints": 3,
                      "epochs": 1},
              "tasks": {"dataset": "bbc_news", "n_unseen": 2, "n_tasks": 8, "dataset_kwargs": {"max_train": 100,
                                                                                            "max_test": 60}, "epochs": 1}}
SMOKE_RPG = {"d_model": 32, "n_layers": 1, "d_state": 8, "channels": [8, 16, 32, 16, 8]}

# The many-(architecture, dataset) collection (IGPG). small: the architectures and datasets of issue 9, the ResNet
# with 3 blocks per stage held out (depth transfer) and the rotated MNIST held out (dataset transfer).
SMOKE_COLLECTION = {"archs": {"cnn_s": {"net": "cnn_s"}, "mlp_8": {"net": "mlp", "hidden": [8]}},
                    "datasets": ["mnist5k", "digits28"], "held_out_datasets": ["digits28"],
                    "dataset_kwargs": {"max_train": 300, "max_test": 100}, "seeds": 2, "per_seed": 2, "epochs": 1}
SMOKE_IGPG = {"chunk_size": 64, "downsample": 16, "codebook_size": 32, "code_dim": 16, "vq_hidden": 16, "vq_steps": 20,
              "vq_batch": 64, "context": 64, "n_embd": 32, "n_layer": 1, "n_head": 2, "image_size": 64,
              "vq_refine": 5, "prior_target": 0.999, "prior_stop": "greedy", "prior_check_every": 10}
SMOKE_IGPG_ABLATION = {"archs": ["cnn_s"], "datasets": ["mnist5k"], "igpg": {"vq_steps": 10}, "steps": 10,
                       "variants": [{"downsample": 4}, {"use_arch": False}]}
# small: one code per value (IGPG's chunks of many values per code keep no accuracy at these sizes; measured in
# benchmarks/igpg_reconstruction.py), so a net's code sequence is as long as the net, and a net decodes to an accurate
# one only if almost every code is right: the prior must learn its sequences nearly by heart (REFERENCE.md, 2026-12).
# Scoped to what a CPU prior learns in minutes: short nets (CNN-s 2,464 values, width-2 ResNets of 1 and 2 blocks per
# stage: 1,468 / 3,092) on two MNIST variants and sklearn digits, one training sequence per seed; held out: the rotated
# MNIST (dataset transfer) and the 2-block ResNet (depth transfer; IGPG: train on 4..8 blocks, generate another).
SMALL_COLLECTION = {"archs": {"cnn_s": {"net": "cnn_s"},
                              **{f"resnet_{b}": {"net": "resnet", "blocks": [b, b, b], "width": 2} for b in (1, 2)}},
                    "datasets": ["mnist5k", "digits28", "mnist5k_inverted", "mnist5k_rot90"],
                    "held_out_datasets": ["mnist5k_rot90"], "held_out_archs": ["resnet_2"],
                    "seeds": 3, "per_seed": 1, "epochs": 8}
# paper scale (a GPU): the 32-pair collection of issue 9 -- MLPs, LeNet-5 and width-4 ResNets of 1-4 blocks
PAPER_COLLECTION = {"archs": {"cnn_s": {"net": "cnn_s"}, "lenet5": {"net": "lenet5"},
                              "mlp_16": {"net": "mlp", "hidden": [16]}, "mlp_16x16": {"net": "mlp", "hidden": [16, 16]},
                              **{f"resnet_{b}": {"net": "resnet", "blocks": [b, b, b], "width": 4} for b in (1, 2, 3, 4)}},
                    "datasets": ["mnist5k", "digits28", "mnist5k_inverted", "mnist5k_rot90"],
                    "held_out_datasets": ["mnist5k_rot90"], "held_out_archs": ["resnet_3"],
                    "seeds": 3, "per_seed": 2, "epochs": 8}
# VQ-VAE: measured best of benchmarks/igpg_reconstruction.py: straight-through codes from distances to a 1024-entry
# codebook, dead codes restarted every 50 steps (1:1e-3:1500:distance:k1:restart=50:hard:batch=64:K=1024); then 1,000
# decoder steps on its argmax codes (measured on the 9bf9e57 generator: seen pairs' reconstruction loss 2.76 -> 0.34
# points, 27 s). Prior: trained to a criterion (every seen pair's greedy sample equal to a training sequence on 99.9 %
# of codes, capped at 400 passes; igpg_steps then go unused: the 9bf9e57 prior, stopped at 99.92 % teacher-forced,
# matched 0.77-1.00; 150 more steps made all six exact); sampled greedily (notebook 05's temperature table: at T 0.2-1.0 some samples switch between the
# training sequences mid-net and land at chance); BatchNorm statistics re-estimated after decoding (4 batches). -- a fixed budget
# of ~6 passes left the 32-pair prior at per-layer code histograms, which sample to chance; 2 layers (0.37 s per step
# of 32 windows here, 4 layers 0.88 s) and a 64-code overlap (a third fewer windows than half a window).
SMALL_IGPG = {"chunk_size": 64, "downsample": 1, "vq_kernel": 1, "codebook_size": 1024, "code_dim": 64, "vq_hidden": 64,
              "vq_logits": "distance", "vq_hard": True, "vq_restart": 50, "vq_steps": 1500, "vq_batch": 64, "vq_lr": 2e-3,
              "context": 256, "overlap": 64, "n_embd": 128, "n_layer": 2, "n_head": 4, "image_size": 224,
              "vq_refine": 1000, "prior_target": 0.999, "prior_stop": "greedy", "prior_passes": 400, "temperature": 0.0,
              "bn_recalibrate": 4}
PAPER_IGPG = {**SMALL_IGPG, "n_embd": 512, "n_layer": 8, "n_head": 8, "prior_passes": 1000}
# every ablation row (the preset's setting first) is a full IGPG trained to the same criterion on the sub-collection,
# with `igpg` overrides for all rows (a shorter VQ-VAE stage, a lower pass cap) so that four rows fit CPU minutes
# (8 values per code and more collapse to chance already in benchmarks/igpg_reconstruction.py, so 4 is the coarser row)
SMALL_IGPG_ABLATION = {"archs": ["cnn_s", "resnet_1"], "datasets": ["mnist5k"], "steps": 300,
                       "igpg": {"vq_steps": 300, "prior_passes": 200},
                       "variants": [{"downsample": 4, "vq_kernel": 3}, {"codebook_size": 256}, {"use_arch": False}]}

# notebook 07: (net, dataset) pairs of Table 1 (the first is the ablation's and Fig. 3's), Fig. 2's alphas, Fig. 3's
# data fractions and smaller CNN, the stage-2 accuracy logging period
_TEXT_NET = {"net_kwargs": {"embedding": "minilm", "embed_dim": 384, "hidden": 64}}
NEUROGEN_EXPERIMENTS = {"pairs": [{"net": "neurogen_cnn", "dataset": "mnist5k"}, {"net": "lenet5", "dataset": "mnist5k"},
                                  {"net": "neurogen_cnn", "dataset": "digits28"}, {"net": "lenet5", "dataset": "digits28"},
                                  *({"net": n, "dataset": d, "zoo": _TEXT_NET} for d in ("rotten_tomatoes", "bbc_news")
                                    for n in ("text_mlp", "text_rnn"))],
                        "alphas": [0.05, 0.2, 1.0], "fractions": [1.0, 0.1, 0.01], "small_channels": [16, 32],
                        "eval_every": 50,
                        # the reference ("classical") zoos: 5 independent runs of 10 epochs (CPU minutes per pair)
                        "zoo": {"n_checkpoints": 5, "epochs": 10}}
SMOKE_NEUROGEN = {"stage1_steps": 10, "context_samples": 4, "task_batch": 32, "pool": 32, "image_size": 32,
                  "proj_hidden": 32, "lora_r": 2}

PRESETS: dict[str, Preset] = {
    "smoke": Preset(name="smoke", purpose="a CI setting: every notebook in seconds; its generators train for a few "
                    "steps and write near-chance nets. For real nets use the small preset.",
                    dataset_kwargs={"max_train": 500, "max_test": 200}, zoo_nets=("cnn_s", "mlp"),
                    epochs=2, n_checkpoints=5, n_seeds=3, many_seeds=6, seed_counts=(3, 6),
                    new_networks={"zoos": ["many_seeds"], "variants": ["rpg", "flow", "flow (raw weights)"]}, n_tasks=24, n_unseen=4, head_epochs=2, n_eval=4,
                    rpg=SMOKE_RPG, rpg_token_size=32, rpg_max_tokens=64, rpg_diffusion_values=64 * 32, rpg_steps=20,
                    pdiff={"enc_channels": [4, 8], "channels": [8, 16, 8], "ae_steps": 20}, pdiff_steps=20, pdiff_batch=4,
                    audit_n=6, audit_memory=False, leaderboard_zoos=(("last_epoch", "cnn_s"), ("seeds", "cnn_s")), ablation_steps=10, task_steps=20, task_batch=8, sampler_steps=(5, 60),
                    net_kwargs={"mlp": {"hidden": [8]}}, collection=SMOKE_COLLECTION, igpg=SMOKE_IGPG, igpg_steps=20,
                    igpg_batch=8, igpg_ablation=SMOKE_IGPG_ABLATION, lora=SMOKE_LORA, neurogen=SMOKE_NEUROGEN, neurogen_steps=10,
                    neurogen_experiments={"pairs": [{"net": "neurogen_cnn", "dataset": "mnist5k"},
                                                    {"net": "text_mlp", "dataset": "rotten_tomatoes",
                                                     "zoo": {"net_kwargs": {"embedding": "minilm", "embed_dim": 384,
                                                                            "hidden": 4}}}],
                                          "alphas": [0.2], "fractions": [0.1], "small_channels": [16, 32],
                                          "eval_every": 5, "zoo": {}}),
    # MLP 784-256-10: 203,530 params. p-diff: 6 stride-2 stages and a narrower latent U-Net keep its 204k-param run
    # within CPU minutes; its memory still grows with the flat length, which is what Figs. 7-8 compare.
    # RPG: U-Net [1,16,32,64,32,16,1] (paper: [1,32,64,128,64,32,1]) so that 800 steps fit the 204k-param MLP in CPU
    # minutes -- measured on the MLP zoo: 400 steps of the paper's U-Net reach 91.4 % (originals 94.3), 800 steps of
    # this one 94.4 (and generate 3x faster).
    "small": Preset(name="small", purpose="CPU minutes on real offline data (mnist5k): generators trained to the "
                    "reports' settings, trained once and cached.",
                    net_kwargs={"mlp": {"hidden": [256]}}, rpg={"channels": [16, 32, 64, 32, 16]},
                    rpg_steps=800,
                    pdiff={"enc_channels": [8, 16, 32, 64, 64, 64], "channels": [16, 32, 64, 32, 16], "ae_steps": 600},
                    # measured (reports/03): 1.8 s per p-diff step on the 204k-param MLP, ~35 min for its 2 x 600 steps, so p-diff stops at LeNet-5
                    pdiff_steps=600, pdiff_batch=16, pdiff_max_params=60_000, collection=SMALL_COLLECTION,
                    igpg=SMALL_IGPG, igpg_steps=2000, igpg_batch=32, igpg_n=5, igpg_ablation=SMALL_IGPG_ABLATION),
    # CIFAR-10 binary release under $WORKBENCH_DATA/cifar10; RPG's CNN-s/CNN-m protocol (SGD 1e-2, 50 epochs, 50 ckpts).
    "paper": Preset(name="paper", purpose="the papers' settings (CIFAR-10 on disk, GPU hours).", dataset="cifar10",
                    zoo_nets=("cnn_s", "cnn_m", "resnet"), epochs=50,
                    n_checkpoints=50, n_seeds=10, head_epochs=20,
                    # RPG's small-net settings: token 256, d_model 256, 30k steps, lr 1e-4, batch 8, ε-prediction
                    rpg={"prediction": "eps"}, rpg_steps=30_000, rpg_lr=1e-4, pdiff_steps=8000, ablation_steps=30_000,
                    collection=PAPER_COLLECTION, igpg=PAPER_IGPG, igpg_steps=200_000),
}


def get(name: str, **overrides) -> Preset:
    if name not in PRESETS:
        raise KeyError(f"unknown preset {name!r}; available: {', '.join(PRESETS)}")
    return PRESETS[name].replace(**overrides) if overrides else PRESETS[name]
