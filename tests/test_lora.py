"""LoRA adapters of the offline MiniLM as a target net: the fast path (cached frozen blocks, the [CLS] row through the
adapted block) computes what peft + transformers compute, and a zoo of them holds the adapters and the head only."""
import copy
import json

import pytest
import torch

from workbench import bench, io
from workbench.data import load_dataset
from workbench.nets import create_net
from workbench.nets.lora import backbone, with_specials
from workbench.recipes import ZooRecipe, collect


@pytest.fixture(scope="module")
def texts():
    return load_dataset("rotten_tomatoes", max_train=100, max_test=60)


def test_the_fast_path_equals_peft_on_the_whole_model(texts):
    from peft import LoraConfig, inject_adapter_in_model

    torch.manual_seed(0)
    net = create_net("minilm_lora", num_classes=2, target_modules=("query", "value", "output.dense"))
    for p in net.lora.parameters():          # B starts at zero (an adapter is the identity): give it a real value
        torch.nn.init.normal_(p, std=0.05)
    model, _ = backbone()
    ref = copy.deepcopy(model)
    inject_adapter_in_model(LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0,
                                       target_modules=r"^(attention\.self\.query|attention\.self\.value|output\.dense)$"),
                            ref.encoder.layer[-1])
    sd = ref.encoder.layer[-1].state_dict()
    for m, path in (("query", "attention.self.query"), ("value", "attention.self.value"), ("output_dense", "output.dense")):
        sd[f"{path}.lora_A.default.weight"] = net.lora[m]["A"].weight
        sd[f"{path}.lora_B.default.weight"] = net.lora[m]["B"].weight
    ref.encoder.layer[-1].load_state_dict(sd)
    X = texts.X_test[:30]
    full = with_specials(X)
    with torch.no_grad():
        want = ref.eval()(input_ids=full, attention_mask=(full != 0).long()).last_hidden_state[:, 0]
        got = net.features(X)
    assert (want - got).abs().max() < 1e-4 * want.abs().max()
    assert not torch.equal(got, create_net("minilm_lora", num_classes=2).features(X))   # the adapters matter


def test_a_lora_zoo_holds_the_adapters_and_the_head_and_names_the_backbone(texts, tmp_path):
    r = ZooRecipe(recipe="seeds", net="minilm_lora", dataset="rotten_tomatoes",
                  dataset_kwargs={"max_train": 100, "max_test": 60}, n_checkpoints=2, epochs=1, lr=0.05, batch_size=32)
    zoo = collect(r, tmp_path / "z", progress=False)
    assert set(zoo.stacked) == {"lora.query.A.weight", "lora.query.B.weight", "lora.value.A.weight",
                                "lora.value.B.weight", "head.weight", "head.bias"}
    assert zoo.num_params == 4 * 384 * 4 + 2 * 384 + 2                      # 22M frozen weights stay out
    frozen = zoo.manifest["frozen"]
    assert frozen["backbone"] == "minilm" and len(frozen["sha1"]) == 12 and frozen["parameters"] > 20_000_000
    assert ((zoo.accuracies >= 0) & (zoo.accuracies <= 1)).all()
    assert not torch.equal(zoo.flat[0], zoo.flat[1])                         # two seeds, two adapters
    # `bench` on the LoRA zoo's folder, as on any zoo folder: a report with the generator's row and its scored set
    assert bench.main(["--zoo", str(tmp_path / "z"), "--preset", "smoke", "--methods", "pdiff", "--n", "4"]) == 0
    rep = json.loads((io.reports_dir() / "bench__z.json").read_text())
    row = next(r for r in rep["tables"]["leaderboard"] if r["method"] == "pdiff")
    assert row["n"] == 4 and 0 <= row["ratio"] <= 2
    zoo.manifest["frozen"] = {**frozen, "sha1": "0" * 12}
    with pytest.raises(ValueError, match="same backbone"):
        zoo.build_net()


def test_bad_lora_options_are_refused_by_name():
    with pytest.raises(ValueError, match="target_modules must be among"):
        create_net("minilm_lora", target_modules=("qkv",))
    with pytest.raises(ValueError, match="tokenizer='minilm'"):
        create_net("minilm_lora", vocab_size=5000)


def test_permuting_an_adapters_rank_changes_nothing_and_weight_matching_undoes_it(texts, tmp_path):
    from workbench.canonical import align, permutation_spec, permute, random_perms
    from workbench.zoo import Zoo

    torch.manual_seed(1)
    net = create_net("minilm_lora", num_classes=2)
    for p in net.lora.parameters():
        torch.nn.init.normal_(p, std=0.05)
    zoo = Zoo.from_state_dicts([net.state_dict()], net="minilm_lora", net_kwargs={"num_classes": 2},
                               dataset="rotten_tomatoes")
    spec = permutation_spec("minilm_lora", zoo.net_kwargs)
    assert [g.name for g in spec] == ["lora.query.rank", "lora.value.rank"] and all(g.size == 4 for g in spec)
    perms = random_perms(spec, seed=0)
    sd = net.state_dict()
    moved_sd = permute(sd, spec, perms)
    assert not torch.equal(moved_sd["lora.query.A.weight"], sd["lora.query.A.weight"])
    X = texts.X_test[:20]
    other = create_net("minilm_lora", num_classes=2)
    other.load_state_dict(moved_sd)
    with torch.no_grad():
        assert torch.allclose(net(X), other(X), atol=1e-5)                        # the same function
    moved = zoo.layout.flatten({k: v[None] for k, v in moved_sd.items()})
    back = align(spec, zoo.layout, moved, zoo.flat[0], progress=False)
    assert torch.allclose(back, zoo.flat, atol=1e-6)


def test_a_task_is_described_and_embedded_from_text_only(tmp_path):
    """A held-out task reaches a generator as the MiniLM embedding of its one-line description or of a few labelled
    examples; a zoo carries such vectors as its conditions, and they enter its fingerprint (no stale reload)."""
    import torch

    from workbench.data import from_texts
    from workbench.encoders import task_description, task_embeddings

    assert task_description([1, 0, 1], ["business", "sport", "tech"]) == "Texts about business or tech, not about sport."
    texts = [f"the market and the bank {i}" for i in range(6)] + [f"the match and the goal {i}" for i in range(6)] + \
            [f"the chip and the phone {i}" for i in range(6)]
    ds = from_texts("mini", texts, [0] * 6 + [1] * 6 + [2] * 6, tokenizer="minilm", test_fraction=0.3)
    codes = torch.tensor([[1, 0, 0], [0, 1, 1]])
    for how in ("description", "examples"):
        e = task_embeddings(ds, codes, how=how, k=2)
        assert e.shape == (2, 384) and torch.isfinite(e).all() and not torch.allclose(e[0], e[1])
    with pytest.raises(ValueError, match="accepted"):
        task_embeddings(ds, codes, how="code")
    from workbench.zoo import Zoo

    sds = [create_net("mlp", in_features=4, num_classes=2, hidden=[3]).state_dict() for _ in range(3)]
    zoo = Zoo.from_state_dicts(sds, net="mlp", net_kwargs={"in_features": 4, "num_classes": 2, "hidden": [3]})
    assert zoo.conditions is None
    cz = zoo.with_conditions(torch.arange(6.0).reshape(3, 2), "test vectors")
    assert cz.fingerprint() != zoo.fingerprint() and cz.subset([2]).conditions.tolist() == [[4.0, 5.0]]
    with pytest.raises(ValueError, match="one vector per checkpoint"):
        zoo.with_conditions(torch.zeros(2, 2), "too few")
