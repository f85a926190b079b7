"""Methods plug in by registration: a generator module registers itself, and experiments trains, caches and reloads
it without any other file naming it."""
from dataclasses import dataclass

import pytest
import torch
from torch import nn

from workbench import experiments, presets
from workbench.config import Config
from workbench.generators import GENERATORS, Generator, available_generators, load, method, seeded
from workbench.tokenizers import Tokenizer
from workbench.train import fit, sampler
from workbench.recipes import ZooRecipe, collect


@dataclass(frozen=True)
class ShiftConfig(Config):
    scale: float = 1.0


class Shift(Generator):
    """A toy method: the zoo's mean plus learnt per-coordinate noise scale (enough to exercise the plumbing)."""
    name = "test_shift"

    def __init__(self, config, tokenizer, target):
        super().__init__(config, tokenizer, target)
        L, S = tokenizer.index.shape
        self.mu = nn.Parameter(torch.zeros(L, S))
        self.log_sd = nn.Parameter(torch.zeros(L, S))

    @classmethod
    def from_preset(cls, zoo, preset, *, seed=0, **overrides):
        with seeded(seed):
            return cls(ShiftConfig(**overrides), Tokenizer.fit(zoo, "flat", 32), cls.describe_target(zoo))

    @classmethod
    def preset_training(cls, preset):
        return {"steps": 5, "batch_size": 2}

    def forward(self, batch):
        x = batch["tokens"]
        keep = ~torch.isnan(x)
        nll = ((x.nan_to_num() - self.mu) ** 2 / (2 * self.log_sd.exp() ** 2) + self.log_sd) * keep
        return nll.sum() / keep.sum()

    def fit(self, zoo, cfg, *, batch_size=2, out=None, progress=True):
        return fit(self, sampler({"tokens": self.tokenizer.encode(zoo.flat)}, batch_size, seed=cfg.seed), cfg, out=out,
                   progress=progress)

    @torch.no_grad()
    def sample(self, n, *, seed=0):
        g = torch.Generator().manual_seed(seed)
        return self.mu + self.config.scale * self.log_sd.exp() * torch.randn(n, *self.mu.shape, generator=g)


def test_a_registered_method_trains_caches_and_reloads_through_experiments(tmp_path):
    GENERATORS.register("test_shift", ShiftConfig, overwrite=True)(Shift)
    assert {"rpg", "pdiff", "test_shift"} <= set(available_generators())
    assert method("rpg").preset_training(presets.get("smoke"))["steps"] == presets.get("smoke").sizes("rpg")["steps"]
    zoo = collect(ZooRecipe(net="mlp", net_kwargs={"hidden": [8]}, dataset="digits", epochs=1, batch_size=64,
                            n_checkpoints=3), tmp_path / "z")
    preset = presets.get("smoke")
    gen, info = experiments.trained("test_shift", zoo, preset, progress=False)
    assert not info["cached"] and info["steps"] == 5
    again, info2 = experiments.trained("test_shift", zoo, preset, progress=False)
    assert info2["cached"] and torch.equal(again.generate(2, seed=1), gen.generate(2, seed=1))
    assert torch.equal(load(info2["path"]).mu, gen.mu)
    with pytest.raises(KeyError, match="unknown generator 'nope'.*rpg.*workbench.generators.GENERATORS.register"):
        experiments.trained("nope", zoo, preset)


def test_every_method_carries_its_sizes_for_every_scale_and_a_preset_overrides_them_by_name():
    for name in ("rpg", "pdiff", "igpg", "neurogen", "flow"):
        cls = method(name)
        assert set(cls.sizes) == {"smoke", "small", "paper"}, name
        for preset in (presets.get(s) for s in cls.sizes):
            cfg = preset.train_config(name)
            s = preset.sizes(name)
            assert cfg.steps == s["steps"] >= 1 and cfg.lr == s["lr"] > 0 and s["batch_size"] >= 1, (name, preset.name)
            GENERATORS.get(name).config_cls.from_dict(s["config"])              # the config overrides are valid ones
    smoke = presets.get("smoke")
    mine = smoke.with_method("rpg", steps=3, config={"d_model": 8}).with_method("rpg", config={"n_layers": 2})
    s = mine.sizes("rpg")
    assert s["steps"] == 3 and s["config"]["d_model"] == 8 and s["config"]["n_layers"] == 2
    assert s["config"]["d_state"] == smoke.sizes("rpg")["config"]["d_state"]           # the rest stays the scale's
    assert mine.sizes("pdiff") == smoke.sizes("pdiff") and mine.train_config("rpg").steps == 3
    with pytest.raises(KeyError, match="no sizes for scale 'huge'"):
        smoke.replace(scale="huge").sizes("rpg")


def test_many_seeds_names_the_seeds_zoo_of_many_checkpoints_for_every_notebook():
    smoke = presets.get("smoke")
    assert smoke.zoo_dir("many_seeds", "cnn_s", seed=0) == smoke.zoo_dir("seeds", n_checkpoints=smoke.many_seeds, seed=0)
    assert smoke.zoo_label("many_seeds") == f"cnn_s {smoke.many_seeds} seeds"
    assert smoke.zoo_label("last_epoch", "lenet5") == "lenet5 last_epoch"
