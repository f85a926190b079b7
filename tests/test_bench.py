"""The bench: the memorisation audit's verdicts on sets whose answer is known, and the README's bench snippet."""
import json

import pytest
import torch

from workbench import bench, evaluate, presets
from workbench.zoo import ZooRecipe, collect

from test_readme import _blocks


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    return collect(ZooRecipe(recipe="last_epoch", n_checkpoints=8, net="mlp", net_kwargs={"hidden": [16]}, dataset="digits",
                             epochs=3, batch_size=64), tmp_path_factory.mktemp("z") / "last")


def test_audit_knows_a_copy_from_a_new_net(zoo, digits):
    """Retrieval returns training checkpoints: distance 0, IoU 1, neither more novel nor farther. Fresh random
    nets are far from every checkpoint of a last-epoch zoo. A zoo's own originals sit at the training-to-training distance."""
    X, y = digits.X_test, digits.y_test
    copies = zoo.flat[torch.tensor([0, 1, 2, 3, 4, 5, 6, 7] * 3)]
    rows, points = evaluate.audit(zoo, X, y, {"copies": copies}, n=24, boot=200)
    by = {r["method"]: r for r in rows}
    assert [r["kind"] for r in rows].count("noise") == len(evaluate.AUDIT_SIGMAS)
    for name in ("copies", "nearest-checkpoint retrieval"):
        r = by[name]
        assert r["dist_nearest"] == 0 and r["max_iou"] == 1
        assert not r["more_novel_than_noise"] and not r["farther_than_training"] and r["p_farther"] > 0.5
    assert by["random init"]["farther_than_training"] and by["random init"]["dist_nearest"] > by["original"]["dist_nearest"]
    assert by["original"]["train_dist_nearest"] == pytest.approx(evaluate.nearest_other(
        zoo.flat.double() / evaluate.key_scale(zoo).double()).median().item())
    # noise moves away from its checkpoint as sigma grows, and loses accuracy at the largest
    d = [by[f"noise σ={s:g}"]["dist_nearest"] for s in evaluate.AUDIT_SIGMAS]
    assert d == sorted(d)
    assert by["noise σ=1"]["mean"] < by["original"]["mean"]
    assert points["copies"]["acc"].shape == (24,)


def test_novelty_test_needs_the_whole_interval_below_noise():
    acc = torch.full((50,), 90.0)
    noise = [(torch.full((50,), 95.0), torch.full((50,), 0.9)), (torch.full((50,), 85.0), torch.full((50,), 0.5))]
    below = evaluate.novelty_test(acc, torch.full((50,), 0.3), noise, boot=100)     # curve at 90 %: 0.7
    assert below["more_novel"] and below["iou_margin"] == pytest.approx(-0.4)
    above = evaluate.novelty_test(acc, torch.full((50,), 0.8), noise, boot=100)
    assert not above["more_novel"] and above["iou_margin"] == pytest.approx(0.1)


def test_audit_refuses_per_model_labels(zoo, digits):
    with pytest.raises(ValueError, match="single-task"):
        evaluate.audit(zoo, digits.X_test, digits.y_test.expand(3, -1), n=2)


def test_bench_cli_refuses_a_folder_without_a_zoo(tmp_path, capsys):
    with pytest.raises(SystemExit):
        bench.main(["--zoo", str(tmp_path), "--preset", "smoke"])
    assert "Zoo.from_state_dicts" in capsys.readouterr().err


def test_leaderboard_refuses_unknown_methods(zoo):
    with pytest.raises(KeyError, match="registered"):
        bench.leaderboard(zoo, presets.get("smoke"), methods=["nope"])


def test_readme_bench_snippet_runs(tmp_path, monkeypatch):
    """Exactly the README's block: a zoo of user-trained checkpoints, then `python -m workbench.bench` at smoke."""
    block = next(b for b in _blocks() if b.startswith("# bench your own zoo"))
    monkeypatch.chdir(tmp_path)
    exec(compile(block, "README.md", "exec"), {})
    from workbench import io

    rep = json.loads((io.reports_dir() / "bench__wine_zoo.json").read_text())
    rows = {r["method"]: r for r in rep["tables"]["leaderboard"]}
    assert set(bench.COLUMNS) == set(rep["tables"]["leaderboard"][0])
    assert rows["rpg"]["n"] == presets.get("smoke").audit_n and 0 <= rows["rpg"]["ratio"] <= 2
    assert rows["rpg"]["peak_mb"] > 0 and rows["pdiff"]["peak_mb"] > 0     # measured in a fresh process each
    assert rows["nearest-checkpoint retrieval"]["farther_than_training"] is False
    assert "collection" in rows["igpg"]["note"] and rows["igpg"]["n"] is None
    assert "tabular" in rows["neurogen"]["note"]
    assert (io.figures_dir() / "bench__wine_zoo__accuracy_vs_iou.png").exists()


def test_classify_needs_accuracy_before_novelty():
    row = {"n": 10, "ratio": 0.99, "more_novel_than_noise": True, "farther_than_training": True}
    assert bench.classify(row) == "new networks"
    assert bench.classify({**row, "farther_than_training": False}) == "near-copies"
    assert bench.classify({**row, "ratio": 0.5}) == "inaccurate"          # random init is novel too
    assert bench.classify({"n": None}) == "not run"
