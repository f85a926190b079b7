from pathlib import Path

import pytest
import torch

from workbench import presets
from workbench.generators import load
from workbench.generators.pdiff import PDiff, PDiffConfig
from workbench.generators.rpg import RPG, RPGConfig, position_embedding
from workbench.train import TrainConfig, fit, sampler
from workbench.recipes import ZooRecipe, collect

TINY = dict(token_size=16, d_model=16, n_layers=1, d_state=4, channels=(4, 8, 4), diffusion_batch=32)


@pytest.fixture(scope="module")
def zoo(mlp_zoo):
    return mlp_zoo


@pytest.fixture(scope="module")
def task_zoo(tmp_path_factory):
    r = ZooRecipe(recipe="tasks", net="mlp", net_kwargs={"hidden": [8]}, dataset="digits", epochs=1,
                  batch_size=64, n_tasks=12, n_unseen=2, head_epochs=1)
    return collect(r, tmp_path_factory.mktemp("t") / "t", progress=False)


@pytest.mark.parametrize("backbone", ["mamba", "lstm", "transformer", "mlp"])
@pytest.mark.parametrize("pos_emb", ["2d", "1d", "learnable", "none"])
def test_every_rpg_variant_trains_and_samples(zoo, backbone, pos_emb):
    if backbone != "lstm" and pos_emb != "2d":
        pytest.skip("position embeddings are checked on one backbone")
    rpg = RPG.from_zoo(zoo, RPGConfig(backbone=backbone, pos_emb=pos_emb, **TINY))
    hist = rpg.fit(zoo, TrainConfig(steps=3, lr=1e-3, device="cpu"), batch_size=2, progress=False)
    assert len(hist) == 1 and hist[0]["step"] == 3 and torch.isfinite(torch.tensor(hist[0]["loss"]))
    flat = rpg.generate(2, seed=0, steps=3)
    assert flat.shape == (2, zoo.num_params) and torch.isfinite(flat).all()


def test_position_embedding_2d_splits_layer_and_index():
    pos = torch.tensor([[0, 0], [0, 1], [1, 0]])
    pe = position_embedding(pos, 8, "2d")
    assert torch.equal(pe[0, :4], pe[1, :4]) and not torch.equal(pe[0, 4:], pe[1, 4:])   # same layer, other index
    assert torch.equal(pe[0, 4:], pe[2, 4:]) and not torch.equal(pe[0, :4], pe[2, :4])   # same index, other layer
    assert position_embedding(pos, 8, "none").abs().sum() == 0


def test_training_resumes_exactly(zoo, tmp_path):
    cfg = TrainConfig(steps=6, lr=1e-3, device="cpu", checkpoint_every=3)
    make = lambda: RPG.from_zoo(zoo, RPGConfig(backbone="lstm", **TINY))  # noqa: E731
    torch.manual_seed(0)
    straight = make()
    straight.fit(zoo, cfg, batch_size=2, progress=False)
    torch.manual_seed(0)
    first = make()
    first.fit(zoo, cfg.replace(steps=3), batch_size=2, out=tmp_path, progress=False)   # "killed" after step 3
    torch.manual_seed(1)                                                               # a new process: other init
    resumed = make()
    resumed.fit(zoo, cfg, batch_size=2, out=tmp_path, progress=False)
    for (k, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), k


def test_saved_generator_reloads_to_the_same_samples(zoo, tmp_path):
    rpg = RPG.from_zoo(zoo, RPGConfig(backbone="lstm", **TINY))
    rpg.fit(zoo, TrainConfig(steps=2, device="cpu"), batch_size=2, progress=False)
    again = load(rpg.save(tmp_path / "g"))
    assert isinstance(again, RPG) and again.config == rpg.config
    assert torch.equal(rpg.generate(3, seed=5, steps=4, eta=0.5), again.generate(3, seed=5, steps=4, eta=0.5))
    assert not torch.equal(rpg.generate(1, seed=5, steps=4), rpg.generate(1, seed=6, steps=4))
    with pytest.raises(FileNotFoundError, match="no saved generator"):
        load(tmp_path / "missing")


def test_chunked_sampling_modes_agree(zoo):
    rpg = RPG.from_zoo(zoo, RPGConfig(backbone="lstm", **TINY)).eval()
    a = rpg.sample(2, seed=0, steps=5, chunk="sequential")
    b = rpg.sample(2, seed=0, steps=5, chunk=3)
    c = rpg.sample(2, seed=0, steps=5, chunk="parallel")
    assert torch.allclose(a, b, atol=1e-5) and torch.allclose(a, c, atol=1e-5)
    with pytest.raises(ValueError, match="chunk must be"):
        rpg.sample(1, chunk="fast")


def test_task_conditioned_rpg_adds_the_code_to_head_tokens_only(task_zoo):
    seen = torch.tensor([i for i, c in enumerate(task_zoo.manifest["checkpoints"]) if not c["unseen"]])
    rpg = RPG.from_zoo(task_zoo.subset(seen), RPGConfig(backbone="mlp", permutation_state=False, condition="head", **TINY))
    head = rpg.cond_tokens.bool()
    assert 0 < head.sum() < len(head)
    pos = rpg.pos[None].expand(1, -1, -1)
    with torch.no_grad():
        code = task_zoo.codes[:1]
        inputs = []
        rpg.backbone.register_forward_hook(lambda m, i, o: inputs.append(i[0]))
        rpg.prototypes(None, code)
    changed = (inputs[0] - pos).abs().sum(-1)[0] > 0
    assert torch.equal(changed, head)
    rpg.fit(task_zoo.subset(seen), TrainConfig(steps=2, device="cpu"), batch_size=4, progress=False)
    flat = rpg.generate(2, seed=0, steps=3, codes=task_zoo.codes[:2])
    assert flat.shape == (2, task_zoo.num_params)
    # the shared frozen backbone is identical in every checkpoint: copied exactly, never generated
    assert rpg.fixed.any() and not rpg.fixed[head].any()
    backbone = ~task_zoo.head_mask()
    assert torch.allclose(flat[:, backbone], task_zoo.flat[:2, backbone], atol=1e-6)
    with pytest.raises(ValueError, match="task-conditioned"):
        rpg.generate(1, steps=2)


def test_pdiff_trains_both_stages_and_reloads(zoo, tmp_path):
    pd = PDiff.from_zoo(zoo, PDiffConfig(enc_channels=(4, 8), channels=(4, 8, 4), ae_steps=3))
    hist = pd.fit(zoo, TrainConfig(steps=3, device="cpu"), batch_size=4, out=tmp_path / "run", progress=False)
    assert len(hist) == 2 and (tmp_path / "run" / "ae").is_dir() and (tmp_path / "run" / "diffusion").is_dir()
    assert not any(p.requires_grad for p in pd.encoder.parameters())
    flat = pd.generate(2, seed=1, steps=4)
    assert flat.shape == (2, zoo.num_params) and torch.isfinite(flat).all()
    assert torch.equal(flat, load(pd.save(tmp_path / "g")).generate(2, seed=1, steps=4))


def test_preset_grows_the_token_size_with_the_net(zoo):
    P = presets.get("small")
    cfg = RPG.preset_config(zoo, P)
    assert cfg.token_size == 256 and cfg.diffusion_batch == 128
    big = type("Z", (), {"num_params": 203_530})()
    cfg = RPG.preset_config(big, P)
    assert cfg.token_size == 1024 and -(-203_530 // 1024) <= P.sizes("rpg")["max_tokens"] and cfg.diffusion_batch == 32


def test_bad_configs_and_inputs_are_refused(zoo):
    with pytest.raises(ValueError, match="unknown backbone"):
        RPGConfig(backbone="gru")
    with pytest.raises(ValueError, match="steps >= 1"):
        TrainConfig(steps=0)
    with pytest.raises(ValueError, match="same first dimension"):
        sampler({"a": torch.zeros(3), "b": torch.zeros(4)}, 2)
    rpg = RPG.from_zoo(zoo, RPGConfig(backbone="lstm", **TINY))
    with pytest.raises(ValueError, match="permutation state"):
        rpg.prototypes(None, None, n=1)
    with pytest.raises(FloatingPointError, match="lower the learning rate"):
        fit(_NaN(), lambda s: {}, TrainConfig(steps=1, device="cpu"), progress=False)


class _NaN(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(()))

    def forward(self, batch):
        return self.w * float("nan")


def test_trained_generators_are_cached_and_a_half_saved_run_is_finished(zoo, tmp_path, monkeypatch):
    from workbench import experiments

    monkeypatch.setenv("WORKBENCH_ZOOS", str(tmp_path))
    monkeypatch.setenv("WORKBENCH_CACHE_LOG", str(tmp_path / "used.log"))     # reproduce's record of what was reused
    preset = presets.get("smoke")
    gen, info = experiments.trained("rpg", zoo, preset, train={"steps": 4}, progress=False, **TINY)
    again, info2 = experiments.trained("rpg", zoo, preset, train={"steps": 4}, progress=False, **TINY)
    assert not info["cached"] and info2["cached"] and info2["steps"] == 4
    assert (tmp_path / "used.log").read_text().splitlines() == [str(Path(info["path"]).parent.resolve())] * 2
    assert torch.equal(gen.generate(2, seed=3, steps=5), again.generate(2, seed=3, steps=5))
    (Path(info["path"]).parent / "info.json").unlink()        # killed after saving the weights, before info.json
    redo, info3 = experiments.trained("rpg", zoo, preset, train={"steps": 4}, progress=False, **TINY)
    assert not info3["cached"] and info3["final_loss"] == info["final_loss"]    # resumed at its last step, not retrained
    assert torch.equal(gen.generate(2, seed=3, steps=5), redo.generate(2, seed=3, steps=5))


def test_generators_trained_side_by_side_in_workers_are_the_runs_of_one_thread_here(zoo, tmp_path, monkeypatch):
    """train_in_workers trains what the cache lacks in spawned one-thread processes (a run named twice: once);
    `trained` then reloads those runs (and says so), and they equal the same run trained here, where `trained` too
    trains with one thread (workers.TRAIN_THREADS) whatever this process has, and gives its threads back."""
    from workbench import experiments
    from workbench.generators.rpg import RPG

    monkeypatch.setenv("WORKBENCH_ZOOS", str(tmp_path / "par"))
    preset = presets.get("smoke")
    jobs = [{"method": "rpg", "zoo": zoo, "kwargs": {"train": {"steps": 4}, **TINY}},
            {"method": "pdiff", "zoo": zoo, "kwargs": {"train": {"steps": 3}}}]
    assert experiments.train_in_workers(jobs, preset, progress=False) == 0      # 7 steps: not worth a worker
    monkeypatch.setenv("WORKBENCH_WORKERS", "2")
    assert experiments.train_in_workers(jobs + jobs[:1], preset, progress=False) == 2
    assert experiments.train_in_workers(jobs, preset, progress=False) == 0      # both cached now
    par, info = experiments.trained("rpg", zoo, preset, train={"steps": 4}, progress=False, **TINY)
    assert info["cached"] and info["in_worker"] and info["threads"] == 1
    monkeypatch.setenv("WORKBENCH_ZOOS", str(tmp_path / "seq"))
    torch.set_num_threads(2)           # a notebook's count here (restored by conftest)
    seen, fit = [], RPG.fit
    monkeypatch.setattr(RPG, "fit", lambda self, *a, **k: seen.append(torch.get_num_threads()) or fit(self, *a, **k))
    seq, info = experiments.trained("rpg", zoo, preset, train={"steps": 4}, progress=False, **TINY)
    assert not info["cached"] and seen == [1] and torch.get_num_threads() == 2
    assert torch.equal(par.generate(2, seed=3, steps=5), seq.generate(2, seed=3, steps=5))


def test_a_task_job_given_its_condition_vectors_names_the_same_run(task_zoo):
    """train_in_workers hands a worker the condition vectors made here: the worker's run is the one reloaded here."""
    from workbench import experiments

    preset = presets.get("smoke")
    for cond in ("code", "description"):
        a = experiments.task_generator_kwargs(task_zoo, preset, condition=cond)
        b = experiments.task_generator_kwargs(task_zoo, preset, condition=cond, conditions=a["zoo"].conditions)
        za, zb = a.pop("zoo"), b.pop("zoo")
        assert za.fingerprint() == zb.fingerprint() and za.label == zb.label and a == b and len(za) < len(task_zoo)


def test_new_network_variants_take_the_presets_rows_and_the_mlp_zoos_overrides():
    from workbench import experiments, presets

    smoke = presets.get("smoke")
    rows = experiments.new_network_variants(smoke)
    assert list(rows) == smoke.new_networks["variants"] and rows["flow (raw weights)"] == ("flow", False, {"align": False})
    mlp = experiments.new_network_variants(smoke, mlp=True)
    assert list(mlp) == smoke.new_networks["mlp_variants"]
    assert mlp["flow (raw weights)"] == ("flow", False, {"hidden": 16, "align": False})
    assert list(experiments.new_network_variants(presets.get("small"))) == list(experiments.NEW_NETWORK_VARIANTS)
