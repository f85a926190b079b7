"""IGPG as a registered method on the smoke collection: trains through experiments, generates for seen and held-out
pairs in their zoo layouts, saves and reloads, refuses what it does not know."""
import pytest
import torch

from workbench import evaluate, experiments, presets
from workbench.generators import baselines, load


@pytest.fixture(scope="module")
def trained():
    preset = presets.get("smoke")
    col = preset.load_collection(progress=False)
    gen, info = experiments.trained("igpg", col, preset, progress=False)
    return preset, col, gen, info


def test_igpg_trains_on_a_collection_and_writes_every_pair(trained):
    preset, col, gen, info = trained
    assert info["steps"] == preset.sizes("igpg")["steps"] and info["final_loss"] == info["final_loss"]
    for m in col.members():                                           # seen and held-out pairs alike
        zoo = col.zoo(m)
        flat = gen.generate(2, seed=0, arch=m.arch, dataset=m.dataset)
        assert flat.shape == (2, zoo.num_params) and torch.isfinite(flat).all()
        data = zoo.dataset()
        acc = evaluate.accuracy(zoo, flat, data.X_test, data.y_test)   # the pair's own evaluation takes it
        assert ((acc >= 0) & (acc <= 1)).all()
    m = col.members("seen")[0]
    zoo = col.zoo(m)
    train, held = gen.split_rows(zoo, m.arch, m.dataset)
    assert len(held) == preset.collection["per_seed"] and len(train) + len(held) == len(zoo)   # the last seed is held out
    rec = gen.reconstruct(m.arch, m.dataset, zoo.flat[held])
    assert rec.shape == (len(held), zoo.num_params)
    tok = gen.tokenizer_of(m.arch, m.dataset)
    assert gen.num_codes(m.arch, m.dataset) == tok.num_tokens * (gen.config.chunk_size // gen.config.downsample)


def test_igpg_reloads_with_the_same_samples_and_refuses_unknown_names(trained):
    preset, col, gen, info = trained
    again = load(info["path"])
    a = again.generate(2, seed=3, arch="cnn_s", dataset="mnist5k")
    assert torch.equal(a, gen.generate(2, seed=3, arch="cnn_s", dataset="mnist5k"))
    with pytest.raises(KeyError, match="unknown dataset 'svhn'.*knows: mnist5k, digits28"):
        gen.generate(1, arch="cnn_s", dataset="svhn")
    with pytest.raises(KeyError, match="unknown architecture 'vit'"):
        gen.generate(1, arch="vit", dataset="mnist5k")


def test_igpg_training_resumes_across_its_two_stages(trained, tmp_path):
    """A run stopped after 5 prior steps and started again with 10 ends where an uninterrupted 10-step run ends."""
    from workbench.generators.igpg.model import IGPG
    from workbench.train import TrainConfig

    preset, col, gen, info = trained
    cfg = TrainConfig(steps=10, lr=1e-3, device="cpu", checkpoint_every=5)

    def run(out, steps, seed=0):
        g = IGPG.from_collection(col, gen.config, seed=seed)
        g.fit(col, cfg.replace(steps=steps), batch_size=4, out=out, progress=False)
        return g

    whole = run(tmp_path / "whole", 10)
    run(tmp_path / "cut", 5)                                            # "killed" after the prior's 5th step
    resumed = run(tmp_path / "cut", 10, seed=1)   # another init: only the saved states can make it end equal
    assert all(torch.equal(a, b) for a, b in zip(whole.state_dict().values(), resumed.state_dict().values()))


def test_generate_many_is_generate_batched_over_datasets(trained):
    preset, col, gen, info = trained
    both = gen.generate_many(2, seed=3, arch="cnn_s", datasets=["mnist5k"])
    assert torch.equal(both["mnist5k"], gen.generate(2, seed=3, arch="cnn_s", dataset="mnist5k"))
    many = gen.generate_many(2, seed=3, arch="cnn_s", datasets=["mnist5k", "digits28"])
    assert set(many) == {"mnist5k", "digits28"} and many["digits28"].shape == (2, col.zoo(col.member("cnn_s", "digits28")).num_params)
    with pytest.raises(KeyError, match="unknown dataset"):
        gen.generate_many(1, arch="cnn_s", datasets=["mnist5k", "svhn"])


def test_transplant_copies_the_keys_a_net_shares_and_initialises_the_rest():
    from workbench.zoo import Zoo
    from workbench.nets import create_net

    deep = create_net("resnet", blocks=(2, 1), width=4, image_size=8)
    shallow = create_net("resnet", blocks=(1, 1), width=4, image_size=8)
    src = Zoo.from_state_dicts([deep.state_dict()], net="resnet", net_kwargs={"blocks": (2, 1), "width": 4, "image_size": 8})
    dst = Zoo.from_state_dicts([shallow.state_dict()], net="resnet", net_kwargs={"blocks": (1, 1), "width": 4, "image_size": 8})
    flat, share = baselines.transplant(src, src.flat[0], dst, seed=0)
    got = {k: v[0] for k, v in dst.unflatten(flat).items()}
    shared = [k for k in dst.layout.float_keys if k.name in deep.state_dict() and deep.state_dict()[k.name].shape == k.shape]
    assert shared and all(torch.equal(got[k.name], deep.state_dict()[k.name]) for k in shared)
    assert share == sum(k.numel for k in shared) / dst.num_params
    mlp = Zoo.from_state_dicts([create_net("mlp", hidden=[8]).state_dict()], net="mlp", net_kwargs={"hidden": [8]})
    flat, share = baselines.transplant(mlp, mlp.flat[0], dst, seed=0)   # nothing shared: a fresh init
    assert share == 0 and torch.equal(flat, baselines.random_init(dst, 1, seed=0))


def test_igpg_says_how_its_prior_training_ended_and_reports_its_health(trained):
    preset, col, gen, info = trained
    last = next(e for e in reversed(info["history"]) if "stopped" in e)
    assert last["stopped"] in ("criterion", "cap") and last["windows"] > 0 and 0 <= last["tf_acc"] <= 1
    assert last["step"] <= last["step_cap"] == preset.sizes("igpg")["steps"]             # smoke: a step cap, no pass count
    rows = gen.prior_health(col)
    assert [(r["arch"], r["dataset"]) for r in rows] == [(m.arch, m.dataset) for m in col.members("seen")]
    if gen.config.prior_stop == "greedy":      # the criterion's measure is the health table's worst greedy match
        assert last["greedy_match"] == pytest.approx(min(r["greedy_match"] for r in rows))
    for r in rows:
        assert 0 <= r["tf_acc"] <= 1 and 0 <= r["greedy_match"] <= 1 and r["entropy"] >= 0
        assert r["greedy"].shape == (1, col.zoo(col.member(r["arch"], r["dataset"])).num_params)
    m = col.members("seen")[0]
    greedy = [gen.sample(2, seed=s, arch=m.arch, dataset=m.dataset, temperature=0) for s in (0, 5)]
    assert torch.equal(*greedy) and torch.equal(greedy[0][0], greedy[0][1])  # greedy ignores the seed
    with pytest.raises(ValueError, match="temperature must be >= 0"):
        gen.config.replace(temperature=-0.5)


def test_decoded_batchnorm_nets_get_their_statistics_from_the_pairs_images(tmp_path):
    from workbench.collection import CollectionSpec, collect_collection
    from workbench.generators.igpg.model import IGPG, IGPGConfig
    from workbench.nets import recalibrate_batchnorm
    from workbench.train import TrainConfig

    spec = CollectionSpec(archs={"res": {"net": "resnet", "blocks": [1], "width": 2}}, datasets=("digits28",),
                          dataset_kwargs={"max_train": 120, "max_test": 60}, seeds=2, per_seed=1, epochs=1)
    col = collect_collection(spec, tmp_path / "col", progress=False)
    cfg = IGPGConfig.from_dict({**presets.get("smoke").sizes("igpg")["config"], "vq_steps": 2, "bn_recalibrate": 2, "image_size": 32})
    gen = IGPG.from_collection(col, cfg)
    gen.fit(col, TrainConfig(steps=2, device="cpu"), batch_size=4, progress=False)
    codes = gen.sample(1, arch="res", dataset="digits28")
    tok = gen.tokenizer_of("res", "digits28")
    raw = tok.decode(gen.vq.decode(codes.reshape(-1, gen.vq.config.codes_per_chunk)).reshape(1, tok.num_tokens, -1))
    out = gen.decode("res", "digits28", codes)
    zoo = col.zoo(col.members()[0])
    stats = torch.zeros(zoo.layout.dim, dtype=torch.bool)                   # BatchNorm running mean / var
    for k in zoo.layout.float_keys:
        stats[zoo.layout.slices[k.name]] = "running_" in k.name
    assert stats.any() and torch.equal(out[:, ~stats], raw[:, ~stats])     # the weights stay as decoded
    net = zoo.build_net()
    net.load_state_dict({k: v[0] for k, v in zoo.unflatten(raw).items()})
    recalibrate_batchnorm(net, zoo.dataset().X_train, batches=2, seed=0)
    by_hand = zoo.layout.flatten({k: v[None] for k, v in net.state_dict().items()})
    assert torch.allclose(out[:, stats], by_hand[:, stats], atol=1e-5)    # the statistics come from the images
    assert not torch.allclose(out[:, stats], raw[:, stats])


def test_igpg_trains_on_one_zoo_as_a_one_pair_collection(trained):
    """The leaderboard's way: a single zoo is a one-pair collection with every seed seen, at most
    `train_checkpoints` of them; generation needs no pair name; nets too long or data not images are refused."""
    from workbench.collection import Collection
    from workbench.generators import method

    preset, col, _, _ = trained
    zoo = col.zoo(col.member("cnn_s", "mnist5k"))
    one = Collection.of_zoo(zoo)
    assert [(m.arch, m.dataset, m.split) for m in one.members()] == [("cnn_s", "mnist5k", "seen")]
    assert one.fingerprint() == zoo.fingerprint() and one.label == zoo.label
    preset = preset.with_method("igpg", zoo={"holdout_seeds": 0, "train_checkpoints": 3, "max_params": 5000})
    gen, info = experiments.trained("igpg", zoo, preset, progress=False)
    train, held = gen.split_rows(zoo, "cnn_s", "mnist5k")
    assert len(train) == 3 and len(held) == 0 and len(zoo) == 4      # every seed seen, 3 of 4 checkpoints kept
    flat = gen.generate(2, seed=0, temperature=0.7)
    assert flat.shape == (2, zoo.num_params) and torch.isfinite(flat).all()
    assert torch.equal(flat, gen.generate(2, seed=0, arch="cnn_s", dataset="mnist5k", temperature=0.7))
    with pytest.raises(TypeError, match="say which with arch= and dataset="):
        trained[2].generate(1)                                          # the collection's generator knows 4 pairs
    assert "zoo['max_params']" in method("igpg").applies_to(
        zoo, preset.with_method("igpg", zoo={"max_params": 1000}))


def test_a_collection_and_its_subsets_train_in_workers_as_the_runs_here(trained, tmp_path, monkeypatch):
    """train_in_workers takes collections and their subsets (notebooks 05 and 06's IGPG runs: experiments.igpg_jobs):
    a worker reloads the collection from its folder, seen through the job's members, and trains the run that
    `trained` names here; the same run trained here (one thread too) writes the same nets."""
    preset, col, gen, info = trained
    sub = col.subset(datasets=[col.datasets[0]])
    assert len(sub.members()) < len(col.members())
    monkeypatch.setenv("WORKBENCH_ZOOS", str(tmp_path / "par"))
    monkeypatch.setenv("WORKBENCH_WORKERS", "2")
    jobs = [{"method": "igpg", "zoo": sub, "kwargs": {"train": {"steps": 3}}},
            {"method": "igpg", "zoo": col, "kwargs": {"train": {"steps": 2}}}]
    assert experiments.train_in_workers(jobs, preset, progress=False) == 2
    par, i = experiments.trained("igpg", sub, preset, train={"steps": 3}, progress=False)
    assert i["cached"] and i["in_worker"]
    assert experiments.trained("igpg", col, preset, train={"steps": 2}, progress=False)[1]["cached"]
    monkeypatch.setenv("WORKBENCH_ZOOS", str(tmp_path / "seq"))
    seq, i = experiments.trained("igpg", sub, preset, train={"steps": 3}, progress=False)
    assert not i["cached"]
    m = sub.members()[0]
    assert torch.equal(par.generate(2, seed=1, arch=m.arch, dataset=m.dataset),
                       seq.generate(2, seed=1, arch=m.arch, dataset=m.dataset))
