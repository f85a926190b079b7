"""What every registered method owes the road, tested by being registered: a new method in workbench/generators/
gets these tests without a line here. On one small zoo every method applies, trains (a few steps) through
experiments.trained, generates finite parameter sets in the zoo's layout, reloads from its cache and reproduces
the same samples from a seed, and says in words (applies_to) where it does not apply."""
import pytest
import torch

from workbench import experiments, presets
from workbench.generators import available_generators, load, method
from workbench.recipes import ZooRecipe, collect

METHODS = available_generators()


@pytest.fixture(scope="module")
def zoo(mlp_zoo):
    """conftest's small last-epoch MLP zoo on sklearn digits (an image set every method can read)."""
    return mlp_zoo


@pytest.fixture(scope="module")
def preset():
    """smoke, made faster still: 100 diffusion steps, an LSTM backbone (the pure-PyTorch Mamba2 is tested in
    test_generators), a 4-step VQ-VAE and one prior pass: this file tests the road, not what a method learns."""
    smoke = presets.get("smoke")
    return (smoke.with_method("rpg", config={"num_train_timesteps": 100, "backbone": "lstm"})
            .with_method("pdiff", config={"num_train_timesteps": 100})
            .with_method("igpg", zoo={**smoke.sizes("igpg")["zoo"], "vq_steps": 4, "prior_passes": 1}))


def test_the_registry_holds_the_papers_methods():
    assert {"rpg", "pdiff", "igpg", "neurogen", "flow"} <= set(METHODS)


@pytest.mark.parametrize("name", METHODS)
def test_a_method_trains_generates_and_reloads_through_the_road(name, zoo, preset, tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_ZOOS", str(tmp_path))
    assert method(name).applies_to(zoo, preset) is None
    gen, info = experiments.trained(name, zoo, preset, train={"steps": 3}, progress=False)
    assert not info["cached"] and info["seconds"] > 0
    flat = gen.generate(2, seed=1)
    assert flat.shape == (2, zoo.layout.dim) and flat.dtype == torch.float32 and torch.isfinite(flat).all()
    again, info2 = experiments.trained(name, zoo, preset, train={"steps": 3}, progress=False)
    assert info2["cached"] and info2["path"] == info["path"]               # the same settings: the cached run
    assert torch.equal(load(info2["path"]).generate(2, seed=1), flat)     # reloaded, the same samples from a seed
    acc = zoo.generated(flat).accuracies                                  # a generated set is a zoo like any other
    assert acc.shape == (2,) and ((0 <= acc) & (acc <= 1)).all()


@pytest.mark.parametrize("name", METHODS)
def test_a_method_that_does_not_apply_says_why(name, preset, tmp_path):
    """A tabular zoo: the methods that read data through an image or text encoder refuse it in words; the others
    apply. Every answer is None or a sentence, never an exception."""
    from workbench.data import from_tensors

    g = torch.Generator().manual_seed(0)
    X, y = torch.randn(120, 5, generator=g), torch.arange(120) % 2
    tab = collect(ZooRecipe(recipe="last_epoch", net="mlp", net_kwargs={"hidden": [4]}, epochs=1, batch_size=32,
                            n_checkpoints=2), tmp_path / "tab", data=from_tensors("tab", X, y), progress=False)
    why = method(name).applies_to(tab, preset)
    assert why is None or (isinstance(why, str) and len(why) > 20)
    if name in ("igpg", "neurogen"):
        assert why and "tabular" in why
