"""Bring your own (issue 8): any tensors, any registered net, any zoo through every step of the road."""
import subprocess
import sys

import pytest
import torch

from workbench import audit, evaluate, presets
from workbench.data import from_tensors
from workbench.generators import baselines
from workbench.generators.rpg import RPG
from workbench.nets import create_net
from workbench.zoo import DATA_FILE, Zoo
from workbench.recipes import ZooRecipe, collect

FAST = dict(epochs=2, batch_size=32, n_checkpoints=3, net_kwargs={"hidden": [8]})


@pytest.fixture(scope="module")
def tabular():
    """sklearn's breast-cancer table as sklearn gives it: numpy float64 [569, 30], raw units."""
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True)
    return X, y


def test_tabular_float64_becomes_float32_and_is_standardised_by_train_statistics(tabular):
    X, y = tabular
    ds = from_tensors("cancer", X, y)
    assert ds.kind == "tabular" and ds.X_train.dtype == torch.float32 and ds.input_shape == (30,)
    d = ds.describe()
    assert d["dtype"] == "float64 -> float32" and "per feature" in d["standardize"]
    assert ds.X_train.mean(0).abs().max() < 1e-4 and (ds.X_train.std(0) - 1).abs().max() < 1e-3
    raw = from_tensors("cancer", X, y, standardize=False)
    assert raw.describe()["standardize"] == "none"
    assert torch.allclose(raw.X_train, torch.as_tensor(X, dtype=torch.float32)[_train_rows(y)])
    # the test split is scaled with the *train* statistics, not its own
    mu, sd = raw.X_train.mean(0), raw.X_train.std(0)
    assert torch.allclose(ds.X_test, (raw.X_test - mu) / sd, atol=1e-4)


def _train_rows(y):
    from workbench.data.vision import stratified_split

    return stratified_split(torch.as_tensor(y).long(), 0.2, 0)[0]


def test_bad_tensors_are_refused_up_front_with_what_to_do():
    with pytest.raises(ValueError, match=r"add the channel axis"):
        from_tensors("grey", torch.randn(10, 8, 8), torch.arange(10) % 2)
    with pytest.raises(ValueError, match="square"):
        from_tensors("wide", torch.randn(10, 1, 8, 12), torch.arange(10) % 2)
    X = torch.randn(10, 3)
    X[4, 1] = float("nan")
    with pytest.raises(ValueError, match="NaN/inf in 1 row"):
        from_tensors("holes", X, torch.arange(10) % 2)
    with pytest.raises(ValueError, match="class indices"):
        from_tensors("reg", torch.randn(10, 3), torch.linspace(0, 1, 10))
    ints = from_tensors("counts", torch.arange(40).reshape(20, 2), torch.arange(20) % 2, kind="tabular")
    assert ints.kind == "tabular" and ints.X_train.dtype == torch.float32


def test_tabular_data_sizes_the_mlp_by_itself(tabular, tmp_path, seed, measured):
    ds = from_tensors("cancer", *tabular)
    zoo = collect(ZooRecipe(net="mlp", seed=seed, **FAST), tmp_path / "z", data=ds)
    assert zoo.net_kwargs["in_features"] == 30
    assert zoo.flat.shape == (3, 30 * 8 + 8 + 8 * 2 + 2)
    majority = max(ds.y_test.float().mean().item(), 1 - ds.y_test.float().mean().item())   # chance: 0.6-0.65
    # measured 0.929 0.920 0.938 (seeds 0-2, default = avx2) vs 0.72 required: 3.1x above chance vs the threshold
    worst = measured("min_accuracy", zoo.accuracies.min(), majority + 0.25 * (1 - majority), "higher", chance=majority)
    assert worst > majority + 0.25 * (1 - majority)            # a real task, learnt: a quarter of the way to 1
    with pytest.raises(ValueError, match="use net='mlp'"):  # an image net on a table says what works instead
        collect(ZooRecipe(net="cnn_s", epochs=1, n_checkpoints=1), tmp_path / "c", data=ds)


def test_unknown_net_kwargs_are_an_error_listing_the_accepted_ones(tabular, tmp_path):
    with pytest.raises(TypeError, match=r"no option\(s\) \['in_feature'\].*accepts: .*hidden.*in_features"):
        ZooRecipe(net="mlp", net_kwargs={"in_feature": 30})
    with pytest.raises(TypeError, match=r"'cnn_s' has no option\(s\) \['widht'\].*in_channels"):
        create_net("cnn_s", widht=3)


def test_zoo_of_user_data_records_it_consistently_and_gives_it_back(tabular, tmp_path):
    ds = from_tensors("bc4", *tabular)
    zoo = collect(ZooRecipe(net="mlp", **FAST), tmp_path / "z", data=ds)
    m = zoo.manifest
    assert m["dataset"] == m["recipe"]["dataset"] == "bc4" and m["recipe"]["dataset_kwargs"] == {}
    assert (tmp_path / "z" / DATA_FILE).exists()
    back = Zoo.load(tmp_path / "z").dataset()
    assert back.fingerprint() == ds.fingerprint() and back.describe() == ds.describe()
    # the same call loads it; other data under the same name is refused, not mixed in
    assert torch.equal(collect(ZooRecipe(net="mlp", **FAST), tmp_path / "z", data=ds).flat, zoo.flat)
    other = from_tensors("bc4", *tabular, seed=1)
    with pytest.raises(ValueError, match="other data named 'bc4'"):
        collect(ZooRecipe(net="mlp", **FAST), tmp_path / "z", data=other)
    # checkpoints you already have, with your Dataset: saved with them, given back after a reload
    wrapped = Zoo.from_state_dicts([zoo.state_dict(i) for i in range(3)], net="mlp", net_kwargs=zoo.net_kwargs, dataset=ds)
    wrapped.save(tmp_path / "w")
    assert Zoo.load(tmp_path / "w").dataset().fingerprint() == ds.fingerprint()
    assert Zoo.load(tmp_path / "w").subset([0, 2]).dataset().name == "bc4"


def test_a_zoo_whose_data_is_gone_names_the_real_registry():
    z = Zoo.from_state_dicts([create_net("mlp", in_features=30, hidden=[4], num_classes=2).state_dict()],
                             net="mlp", net_kwargs={"in_features": 30, "hidden": [4], "num_classes": 2}, dataset="bc4")
    with pytest.raises(KeyError, match=r"workbench\.data\.DATASETS\.register"):
        z.dataset()
    with pytest.raises(KeyError, match=r"workbench\.data\.DATASETS\.register"):
        from workbench.data import load_dataset

        load_dataset("bc4")


def test_preset_zoo_takes_your_dataset_with_the_presets_sizes(tabular, tmp_path, monkeypatch):
    preset = presets.get("smoke")
    ds = from_tensors("cancer", *tabular)
    monkeypatch.setenv("WORKBENCH_CACHE_LOG", str(tmp_path / "used.log"))     # reproduce's record of what was reused
    zoo = preset.zoo("last_epoch", "mlp", data=ds)
    assert (tmp_path / "used.log").read_text().splitlines() == [str(zoo.path.resolve())]
    r = zoo.manifest["recipe"]
    assert (r["epochs"], r["n_checkpoints"], r["batch_size"], r["dataset"]) == (preset.epochs, preset.n_checkpoints,
                                                                                 preset.batch_size, "cancer")
    assert zoo.net_kwargs["hidden"] == preset.net_kwargs["mlp"]["hidden"] and zoo.net_kwargs["in_features"] == 30
    assert zoo.path == preset.zoo_dir("last_epoch", "mlp", ds) and ds.fingerprint()[:8] in zoo.path.name


def test_generated_set_saves_as_a_zoo_with_generator_config_seed_and_accuracies(tabular, tmp_path):
    ds = from_tensors("cancer", *tabular)
    zoo = collect(ZooRecipe(net="mlp", **FAST), tmp_path / "z", data=ds)
    preset = presets.get("smoke")
    rpg = RPG.from_zoo(zoo, RPG.preset_config(zoo, preset), seed=0)
    flat = rpg.generate(3, seed=7)
    gen_set = zoo.generated(flat, generator=rpg, seed=7)
    folder = gen_set.save(tmp_path / "gen")
    loaded = Zoo.load(folder)
    g = loaded.manifest["generated"]
    assert g["generator"] == "rpg" and g["seed"] == 7 and g["config"] == rpg.config.to_dict()
    assert g["trained_on"]["fingerprint"] == zoo.fingerprint()
    assert torch.equal(loaded.flat, flat)
    acc = evaluate.accuracy(zoo, flat, ds.X_test, ds.y_test)
    assert torch.allclose(loaded.accuracies, acc)                 # accuracies measured, not NaN
    assert loaded.dataset().fingerprint() == ds.fingerprint()     # it can be evaluated on its own
    assert torch.allclose(evaluate.accuracy(loaded, loaded.flat, ds.X_test, ds.y_test), acc)
    bad = flat.clone()
    bad[0, 3] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        zoo.generated(bad)


def _near_copies(n=30, d=400, spread=1e-4):
    """A last-epoch-like zoo: n checkpoints that differ by tiny amounts next to their norms."""
    g = torch.Generator().manual_seed(0)
    kw = {"in_channels": d // 10 - 1, "image_size": 1, "hidden": [10], "num_classes": 2}
    base = {k: v + 3.0 for k, v in create_net("mlp", **kw).state_dict().items()}
    sds = [{k: v + spread * torch.randn(v.shape, generator=g) for k, v in base.items()} for _ in range(n)]
    return Zoo.from_state_dicts(sds, net="mlp", net_kwargs=kw)


def test_nearest_distances_are_exact_against_a_float64_loop():
    zoo = _near_copies()
    X, y = torch.randn(50, zoo.net_kwargs["in_channels"]), torch.arange(50) % 2
    rows, _ = audit.audit(zoo, X, y, baselines=False, aligned=False)
    z = zoo.flat.double() / audit.key_scale(zoo).double()                  # per-key std units
    ref = torch.tensor([min(float(((z[i] - z[j]) ** 2).sum().sqrt()) for j in range(len(z)) if j != i)
                        for i in range(len(z))], dtype=torch.float64)
    assert ref.min() > 1e-3                                       # the true distances are far from zero
    assert rows[0]["dist_nearest"] == pytest.approx(torch.quantile(ref, 0.5).item(), rel=1e-9)
    d = evaluate.distances(zoo.flat[:3], zoo.flat[3:])["to_nearest"]
    ref3 = torch.stack([(zoo.flat[3:].double() - zoo.flat[i].double()).norm(dim=1).min() for i in range(3)])
    assert torch.allclose(d, ref3, rtol=1e-9)


def test_checkpoint_average_baseline_gives_n_models_on_a_small_zoo():
    zoo = _near_copies(n=6, spread=1e-2)
    X, y = torch.randn(40, zoo.net_kwargs["in_channels"]), torch.arange(40) % 2
    rows, points = audit.audit(zoo, X, y, n=5, sigmas=(0.1,), aligned=False, boot=50)
    row = next(r for r in rows if r["method"].startswith("checkpoint average"))
    assert row["n"] == 5 and row["method"] == "checkpoint average (k=3)"      # n models, subset size stated
    assert baselines.average_k(6) == 3 and baselines.average_k(50) == 16 and baselines.average_k(2) == 2
    avg = baselines.average(zoo, 3, n=5)
    assert len({tuple(a[:5].tolist()) for a in avg}) > 1          # different subsets, different models


def test_more_checkpoints_than_steps_span_more_epochs_and_leave_the_training_unchanged(tmp_path):
    # digits: 1,437 train rows / batch 64 = 23 steps per epoch
    r = ZooRecipe(recipe="last_epoch", net="mlp", net_kwargs={"hidden": [8]}, dataset="digits", epochs=1,
                  batch_size=64, n_checkpoints=24)
    with pytest.raises(ValueError, match="set checkpoint_epochs=2"):
        collect(r, tmp_path / "one")
    one = collect(r.replace(n_checkpoints=23), tmp_path / "one")
    two = collect(r.replace(n_checkpoints=46, checkpoint_epochs=2), tmp_path / "two")
    assert torch.equal(two.flat[:23], one.flat)                   # same training, same first epoch at final_lr
    assert [c["epoch"] for c in two.manifest["checkpoints"]][22:24] == [1, 2]


def test_generator_init_is_seeded_without_touching_the_global_rng(tmp_path):
    zoo = _near_copies(n=4, spread=1e-2)
    preset = presets.get("smoke")
    state = torch.get_rng_state()
    a = RPG.from_zoo(zoo, RPG.preset_config(zoo, preset))
    torch.manual_seed(123)                                          # whatever the global RNG does in between
    b = RPG.from_zoo(zoo, RPG.preset_config(zoo, preset))
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    c = RPG.from_zoo(zoo, RPG.preset_config(zoo, preset), seed=1)
    assert any(not torch.equal(x, y) for x, y in zip(a.state_dict().values(), c.state_dict().values()))
    torch.manual_seed(5)
    before = torch.get_rng_state()
    RPG.from_zoo(zoo, RPG.preset_config(zoo, preset))
    assert torch.equal(torch.get_rng_state(), before)              # the global RNG is left as it was
    torch.set_rng_state(state)


def test_mamba_kernel_fallback_is_one_line_per_process():
    code = ("import torch\nfrom workbench.generators.rpg import MambaBackbone\n"
            "for _ in range(2):\n    MambaBackbone(16, 1, 8)(torch.randn(1, 3, 16))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**__import__("os").environ, "HF_HUB_OFFLINE": "1"})
    assert out.returncode == 0, out.stderr[-2000:]
    lines = [ln for ln in (out.stdout + out.stderr).splitlines() if ln.strip()]
    mamba = [ln for ln in lines if "mamba" in ln.lower() or "causal_conv1d" in ln]
    assert len(mamba) == 1 and "pure-PyTorch" in mamba[0], lines


def test_own_text_records_its_tokenizer_and_keys_its_zoos_by_it():
    from workbench.data import from_texts
    from workbench.recipes import _net_kwargs

    texts = ["good fun film", "bad dull film", "good great cast", "bad boring plot"] * 5
    labels = [1, 0, 1, 0] * 5
    words = from_texts("mine", texts, labels, tokenizer="words", vocab_size=50, max_len=4)
    assert words.kind == "text" and words.meta["tokenizer"] == "words" and words.meta["vocab_size"] == 50
    assert words.X_train.shape[1] == 4 and words.X_train.max() < 50 and len(words.y_test) == 4
    minilm = from_texts("mine", texts, labels, max_len=4)
    assert minilm.meta["tokenizer"] == "minilm" and minilm.meta["vocab_size"] == 30522
    kw = _net_kwargs(ZooRecipe(net="text_mlp", net_kwargs={"embedding": "minilm", "embed_dim": 384}), minilm)
    assert kw["vocab_size"] == 30522                                # a MiniLM text net takes the dataset as it is
    # ids made elsewhere name their tokenizer too; the same ids described otherwise are another dataset
    ids = from_tensors("ids", minilm.X_train, minilm.y_train, tokenizer="minilm")
    plain = from_tensors("ids", minilm.X_train, minilm.y_train)
    assert ids.meta["tokenizer"] == "minilm" and ids.meta["vocab_size"] == 30522
    assert ids.fingerprint() != plain.fingerprint()
    smoke = presets.get("smoke")
    assert smoke.zoo_dir("seeds", "text_mlp", ids) != smoke.zoo_dir("seeds", "text_mlp", plain)


@pytest.mark.parametrize("kwargs, match", [
    ({"tokenizer": "bpe"}, "unknown tokenizer 'bpe'; accepted: minilm, words"),
    ({"labels": [0, 1]}, "4 texts but 2 labels"),
    ({"texts": ["a", 3, "b", "c"]}, r"texts\[1\] is int, not a string"),
    ({"max_len": 0}, "max_len must be ≥ 1"),
])
def test_own_text_refuses_bad_input_by_name(kwargs, match):
    from workbench.data import from_texts

    args = {"texts": ["a b", "c d", "e f", "g h"], "labels": [0, 1, 0, 1], **kwargs}
    with pytest.raises(ValueError, match=match):
        from_texts("mine", args.pop("texts"), args.pop("labels"), **args)
