"""The many-(architecture, dataset) collection (IGPG) and the datasets it is made of."""
import pytest
import torch

from workbench import presets
from workbench.collection import CollectionSpec, collect_collection
from workbench.data import load_dataset
from workbench.recipes import ZooRecipe, collect


def test_mnist_variants_are_named_datasets_of_the_same_images():
    kw = dict(max_train=200, max_test=50)
    base = load_dataset("mnist5k", **kw)
    inv = load_dataset("mnist5k_inverted", **kw)
    assert inv.name == "mnist5k_inverted" and torch.equal(inv.y_train, base.y_train)
    assert torch.allclose(inv.X_train, -base.X_train, atol=1e-4)    # 1 - x, standardised: the negative image
    rot = load_dataset("mnist5k_rot90", **kw)
    assert torch.allclose(rot.X_train, torch.rot90(base.X_train, 1, (2, 3)), atol=1e-4)
    five = load_dataset("mnist5k_5class", **kw)
    assert five.num_classes == 5 and five.y_train.max() == 4
    d = load_dataset("digits28")
    assert d.name == "digits28" and d.input_shape == (1, 28, 28)


def test_seeds_recipe_keeps_several_checkpoints_per_seed(tmp_path):
    r = ZooRecipe(recipe="seeds", net="mlp", net_kwargs={"hidden": [8]}, dataset="digits", epochs=1, batch_size=64,
                  n_checkpoints=2)
    one = collect(r, tmp_path / "one")
    three = collect(r.replace(per_seed=3), tmp_path / "three")
    assert len(three) == 6 and [c["seed"] for c in three.manifest["checkpoints"]] == [0, 0, 0, 1, 1, 1]
    assert torch.equal(three.flat[[2, 5]], one.flat)                  # the last of each seed is its final checkpoint
    assert not torch.equal(three.flat[0], three.flat[2])


def test_min_steps_gives_a_smaller_dataset_more_epochs_and_a_large_one_its_epochs():
    spec = CollectionSpec(datasets=("mnist5k", "digits28"), epochs=8, batch_size=32, min_steps=1000)
    per_epoch = {d: -(-len(load_dataset(d).y_train) // 32) for d in ("mnist5k", "digits28")}
    assert per_epoch["digits28"] * 8 < 1000 <= per_epoch["mnist5k"] * 8          # the case the option is for
    assert spec.recipe("cnn_s", "mnist5k").epochs == 8
    digits = spec.recipe("cnn_s", "digits28").epochs
    assert digits > 8 and (digits - 1) * per_epoch["digits28"] < 1000 <= digits * per_epoch["digits28"]
    assert CollectionSpec(datasets=("digits28",), epochs=8).recipe("cnn_s", "digits28").epochs == 8   # 0: off
    with pytest.raises(ValueError, match="min_steps"):
        CollectionSpec(min_steps=-1)


def test_smoke_collection_records_pairs_splits_and_descriptions():
    preset = presets.get("smoke")
    col = preset.load_collection(progress=False)
    assert {(m.arch, m.dataset) for m in col.members()} == {(a, d) for a in ("cnn_s", "mlp_8") for d in ("mnist5k", "digits28")}
    assert {m.split for m in col.members() if m.dataset == "digits28"} == {"held-out dataset"}
    assert col.manifest["held_out"]["datasets"] == ["digits28"]
    m = col.member("mlp_8", "mnist5k")
    zoo = col.zoo(m)
    assert len(zoo) == preset.collection["seeds"] * preset.collection["per_seed"] and zoo.net == "mlp"
    assert "linear 784->8" in m.description and zoo.dataset().name == "mnist5k"
    again = preset.load_collection(progress=False)                  # complete: loaded, not redone
    assert again.manifest == col.manifest
    with pytest.raises(ValueError, match="different spec"):
        collect_collection(preset.collection_spec(seeds=3), col.path, progress=False)


def test_bad_specs_are_refused_before_any_training():
    with pytest.raises(ValueError, match="unknown dataset 'mnist7'"):
        CollectionSpec(datasets=("mnist7",))
    with pytest.raises(TypeError, match="no option"):
        CollectionSpec(archs={"x": {"net": "mlp", "hiden": [3]}})
    with pytest.raises(ValueError, match="must be seen"):
        CollectionSpec(datasets=("mnist5k",), held_out_datasets=("mnist5k",))


def test_embeddings_are_computed_once_per_encoder_and_cached():
    from workbench.encoders import efficientnet_lite0, text_encoder

    col = presets.get("smoke").load_collection(progress=False)
    img, txt = efficientnet_lite0(size=64), text_encoder()
    emb = col.embeddings(img, txt)
    assert set(emb["data"]) == {"mnist5k", "digits28"} and emb["data"]["mnist5k"].shape == (1280,)
    assert emb["arch"]["cnn_s"].shape == (384,)
    file = col.path / "embeddings.safetensors"
    before = file.stat().st_mtime_ns
    again = col.embeddings(img, txt)
    assert file.stat().st_mtime_ns == before and torch.equal(again["data"]["digits28"], emb["data"]["digits28"])


def test_subset_sees_fewer_members_and_is_cached_apart():
    col = presets.get("smoke").load_collection(progress=False)
    sub = col.subset(archs=["cnn_s"])
    assert {(m.arch, m.dataset) for m in sub.members()} == {("cnn_s", "mnist5k"), ("cnn_s", "digits28")}
    assert sub.archs == ["cnn_s"] and sub.spec.held_out_datasets == ("digits28",)
    assert sub.label != col.label and sub.fingerprint() != col.fingerprint()
    assert torch.equal(sub.zoo(sub.member("cnn_s", "mnist5k")).flat, col.zoo(col.member("cnn_s", "mnist5k")).flat)
    with pytest.raises(ValueError, match="no member"):
        col.subset(archs=["resnet_9"])
