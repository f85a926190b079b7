import pytest
import torch

from workbench import presets
from workbench.audit import audit_sets, of_preset
from workbench.evaluate import (accuracy, exchange_experiment, iou_matrix, max_iou, noise_sensitivity,
                                predict, summary)
from workbench.generators import baselines
from workbench.layout import Layout, Normalizer
from workbench.nets import create_net
from workbench.zoo import Zoo


@pytest.fixture(scope="module")
def zoo(mlp_zoo):
    """The suite's shared small MLP zoo (conftest)."""
    return mlp_zoo


def test_batched_accuracy_equals_a_plain_torch_loop(zoo, digits):
    acc = accuracy(zoo, zoo.flat, digits.X_test, digits.y_test)
    for i in range(len(zoo)):
        net = zoo.build_net(i)
        with torch.no_grad():
            plain = (net(digits.X_test).argmax(1) == digits.y_test).float().mean()
        assert acc[i].item() == pytest.approx(plain.item())
    vm = predict(zoo, zoo.flat, digits.X_test, strategy="vmap", model_chunk=2, data_chunk=100)
    assert torch.equal(vm, predict(zoo, zoo.flat, digits.X_test, strategy="loop"))


def test_batchnorm_nets_evaluate_with_their_own_buffers():
    nets = [create_net("resnet", blocks=(1,), width=4, image_size=8) for _ in range(2)]
    for n in nets:  # give each its own running statistics
        n.train()(torch.randn(16, 1, 8, 8) * (2 + len(nets)))
        n.eval()
    z = Zoo.from_state_dicts([n.state_dict() for n in nets], net="resnet", net_kwargs=dict(blocks=(1,), width=4, image_size=8))
    X = torch.randn(20, 1, 8, 8)
    for i, n in enumerate(nets):
        with torch.no_grad():
            assert torch.equal(predict(z, z.flat[i: i + 1], X)[0], n(X).argmax(1))


def test_bad_parameters_are_clear(zoo, digits):
    with pytest.raises(ValueError, match=r"must be \[N, "):
        accuracy(zoo, torch.zeros(2, 5), digits.X_test, digits.y_test)
    bad = zoo.flat.clone()
    bad[1, 0] = float("nan")
    with pytest.raises(ValueError, match=r"sets \[1\] contain NaN"):
        accuracy(zoo, bad, digits.X_test, digits.y_test)


def test_summary_and_iou():
    s = summary(torch.tensor([0.5, 0.7, 0.9]))
    assert s == pytest.approx({"best": 90, "mean": 70, "median": 70, "min": 50, "std": 20})
    a = torch.tensor([[1, 1, 0, 0], [0, 0, 0, 0]], dtype=torch.bool)
    b = torch.tensor([[1, 0, 1, 0]], dtype=torch.bool)
    assert iou_matrix(a, b)[:, 0].tolist() == pytest.approx([1 / 3, 0.0])
    assert max_iou(a, a, same_set=True).tolist() == pytest.approx([0.0, 0.0])


def test_normalizer_round_trip_and_layout(zoo):
    norm = Normalizer.fit(zoo.layout, zoo.flat)
    assert torch.allclose(norm.denormalize(norm.normalize(zoo.flat)), zoo.flat, atol=1e-5)
    sd = create_net("resnet", blocks=(1,), width=4).state_dict()
    lay = Layout.from_state_dict(sd)
    stacked = {k: v[None] for k, v in sd.items()}
    back = lay.unflatten(lay.flatten(stacked), {k: v for k, v in sd.items() if not v.is_floating_point()})
    assert all(torch.equal(back[k][0], sd[k]) for k in sd)


def test_baselines_and_rpg_probes(zoo, digits):
    X, y = digits.X_test, digits.y_test
    assert baselines.noise(zoo, 0.1, 5).shape == (5, zoo.layout.dim)
    assert torch.allclose(baselines.average(zoo, 16)[0], zoo.flat.mean(0))
    ex = baselines.exchange(zoo.flat[0], zoo.flat[1], 0.1)
    frac = (ex == zoo.flat[1]).float().mean().item()
    assert 0.05 < frac < 0.2
    preset = presets.get("smoke").replace(audit_n=4, audit_sigmas=(0.01, 1.0))
    rows, _ = of_preset(zoo, X, y, preset=preset, aligned=False)            # the preset's set size and sigmas
    by = {r["method"]: r for r in rows}
    assert {"original", "noise σ=0.01", "noise σ=1", "checkpoint average (k=2)", "per-coordinate gaussian",
            "random init", "nearest-checkpoint retrieval"} <= set(by)
    assert by["noise σ=0.01"]["max_iou"] > by["noise σ=1"]["max_iou"]        # more noise, less similar
    assert by["checkpoint average (k=2)"]["n"] == 4                           # n averages, like every baseline
    small = zoo.subset([0, 1])                                                # k = the whole zoo: copies of the mean
    avg = audit_sets(small, 3, sigmas=(0.01,))["checkpoint average (k=2)"][1]
    assert (avg - small.flat.mean(0)).abs().max() < 1e-6
    ex_rows = exchange_experiment(zoo, X, y)
    assert [r["model"] for r in ex_rows] == ["A", "A+10%B", "B+10%A", "B"]
    sens = noise_sensitivity({"z": zoo}, {"z": (X, y)}, sigmas=(0.01, 10.0), n=3)
    assert sens[0]["decline σ=10"] > sens[0]["decline σ=0.01"]
