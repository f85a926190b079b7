"""Parameter generators: the methods (RPG, p-diff, IGPG, NeuroGen) and the baselines every method must beat.

Every trained generator is a `Generator`: an nn.Module built from (config, tokenizer, target zoo description) whose
`forward(batch)` returns the training loss and whose `generate(n, seed=...)` returns flat parameters [n, D] in the
zoo's layout. It saves as one folder, `params.safetensors` + `config.json`, and `load(folder)` rebuilds it.
"""
from __future__ import annotations

import contextlib
from pathlib import Path

import torch
from torch import nn

from .. import io
from ..registry import Registry
from ..tokenizers import Tokenizer, tokenizer_from_state, tokenizer_state

GENERATORS = Registry("generator", "workbench.generators.GENERATORS")


@contextlib.contextmanager
def seeded(seed: int | None):
    """Draw a generator's initial weights from `seed` without touching torch's global RNG (None: the global RNG)."""
    if seed is None:
        yield
        return
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


class Generator(nn.Module):
    """A method: registered with `GENERATORS.register(name, ConfigClass)(TheClass)` in its own module under
    workbench/generators/; `experiments` builds, trains, caches and measures any registered method through the
    three hooks below, so nothing outside the module names it."""
    name = "generator"
    stages = 1          # training stages of `steps` each in a cost measurement (p-diff: autoencoder + diffusion)
    dial: tuple | None = None   # (generate keyword, values): the sampling knob the leaderboard sweeps as a novelty
                                # dial (IGPG: temperature), each value scored as its own set
    trains_on = "zoo"   # "collection": the method trains on many (architecture, dataset) zoos; given one zoo, the
                        # road (experiments.training_target) hands it that zoo as a one-pair Collection.of_zoo

    # The method's sizes at each scale a preset names (minGPT's gpt-nano, timm's test_* models), beside its model:
    # {"smoke" | "small" | "paper": {"config": Config overrides, "steps", "batch_size", "lr", + the method's own}}.
    sizes: dict = {}

    @classmethod
    def sizes_for(cls, preset) -> dict:
        """This method's sizes at the preset's scale, with the preset's own overrides for it (`preset.methods`)."""
        if not cls.sizes:
            return dict(preset.methods.get(cls.name, {}))
        scale = preset.scale
        if scale not in cls.sizes:
            raise KeyError(f"{cls.__name__} has no sizes for scale {scale!r} (preset {preset.name!r}); it has "
                           f"{', '.join(cls.sizes)}: set the preset's scale to one of them")
        base, mine = cls.sizes[scale], preset.methods.get(cls.name, {})
        return {**base, **mine, "config": {**base.get("config", {}), **mine.get("config", {})}}

    @classmethod
    def from_preset(cls, zoo, preset, *, seed: int = 0, **overrides) -> "Generator":
        """Build for `zoo` with the preset's settings (+ config overrides); initial weights drawn from `seed`."""
        raise NotImplementedError(f"{cls.__name__} does not say how to build itself from a preset (from_preset)")

    @classmethod
    def preset_training(cls, preset) -> dict:
        """{"steps", "batch_size", "lr"} this method trains with under `preset` (from its sizes)."""
        s = cls.sizes_for(preset)
        missing = [k for k in ("steps", "batch_size", "lr") if k not in s]
        if missing:
            raise NotImplementedError(f"{cls.__name__} does not say how it trains under a preset: its sizes lack "
                                      f"{', '.join(missing)}")
        return {"steps": s["steps"], "batch_size": s["batch_size"], "lr": s["lr"]}

    @classmethod
    def applies_to(cls, zoo, preset) -> str | None:
        """None if this method can be trained on `zoo` under `preset`, else the reason it cannot (a leaderboard
        row says it instead of a number)."""
        return None

    def with_steps(self, steps: int) -> "Generator":
        """This generator with every training stage `steps` long (cost measurement); one-stage methods: itself."""
        return self

    def __init__(self, config, tokenizer: Tokenizer, target: dict):
        super().__init__()
        self.config, self.tokenizer, self.target = config, tokenizer, dict(target)

    @staticmethod
    def describe_target(zoo) -> dict:
        """What a reloaded generator needs to know about the nets it makes (ints are copied, never generated)."""
        return {"net": zoo.net, "net_kwargs": zoo.net_kwargs, "dataset": zoo.manifest.get("dataset"),
                "dataset_kwargs": zoo.manifest.get("dataset_kwargs", {}), "num_checkpoints": len(zoo)}

    def generate(self, n: int, *, seed: int = 0, **sample_kw) -> torch.Tensor:
        """n generated parameter sets [n, D] (float32, zoo layout)."""
        return self.tokenizer.decode(self.sample(n, seed=seed, **sample_kw).float().cpu())

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        tok_meta, tok_tensors = tokenizer_state(self.tokenizer) if self.tokenizer is not None else (None, {})
        tensors = {**{f"model.{k}": v for k, v in self.state_dict().items()},
                   **{f"tokenizer.{k}": v for k, v in tok_tensors.items()}}
        io.save_tensors(path / io.PARAMS_FILE, tensors)
        io.write_json(path / io.CONFIG_FILE, {"generator": self.name, "config": self.config.to_dict(),
                                              "tokenizer": tok_meta, "target": self.target})
        return path


def available_generators(pattern: str = "*") -> list[str]:
    """Every registered method: each module of this package is imported once, and registers itself."""
    import importlib
    import pkgutil

    for mod in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{mod.name}")
    return GENERATORS.available(pattern)


def method(name: str) -> type[Generator]:
    """The Generator class registered as `name` (unknown names list the registered ones)."""
    available_generators()
    return GENERATORS.get(name).builder


def load(path: str | Path) -> Generator:
    """Rebuild a saved generator (any registered kind) from its folder; gives the same samples for the same seed."""
    available_generators()

    path = Path(path)
    if not (path / io.CONFIG_FILE).exists():
        raise FileNotFoundError(f"no saved generator at {path} (expected {io.CONFIG_FILE} and {io.PARAMS_FILE})")
    meta = io.read_json(path / io.CONFIG_FILE)
    entry = GENERATORS.get(meta["generator"])
    tensors = io.load_tensors(path / io.PARAMS_FILE)
    tok = (tokenizer_from_state(meta["tokenizer"], {k[10:]: v for k, v in tensors.items() if k.startswith("tokenizer.")})
           if meta["tokenizer"] is not None else None)     # a method over many architectures keeps its own (IGPG)
    model = entry.builder(entry.config_cls.from_dict(meta["config"]), tok, meta["target"])
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    return model.eval()

