"""The bench: the memorisation audit's verdicts on sets whose answer is known, and the README's bench snippet."""
import json

import pytest
import torch

from workbench import audit, bench, evaluate, presets
from workbench.recipes import ZooRecipe, collect

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
    rows, points = audit.audit(zoo, X, y, {"copies": copies}, n=24, boot=200)
    by = {r["method"]: r for r in rows}
    assert [r["kind"] for r in rows].count("noise") >= len(audit.AUDIT_SIGMAS)   # extended where it must be
    for name in ("copies", "nearest-checkpoint retrieval"):
        r = by[name]
        assert r["dist_nearest"] == 0 and r["max_iou"] == 1
        assert not r["more_novel_than_noise"] and not r["farther_than_training"] and r["p_farther"] > 0.5
    assert by["random init"]["farther_than_training"] and by["random init"]["dist_nearest"] > by["original"]["dist_nearest"]
    near = evaluate.nearest_other(zoo.flat.double() / audit.key_scale(zoo).double())
    assert by["original"]["train_dist_nearest"] == pytest.approx(near.sort().values[3:5].mean().item())  # 8: ordinary median
    # noise moves away from its checkpoint as sigma grows, and loses accuracy at the largest
    d = [by[f"noise σ={s:g}"]["dist_nearest"] for s in audit.AUDIT_SIGMAS]
    assert d == sorted(d)
    assert by["noise σ=1"]["mean"] < by["original"]["mean"]
    assert points["copies"]["acc"].shape == (24,)


def test_inaccurate_sets_are_never_called_more_novel_than_noise(zoo, digits):
    """Matched accuracy means matched: the sweep reaches down to the accuracy floor, and a set below the floor (random
    init; half copies, half random nets) gets the verdict "inaccurate" in the audit, the bench line and the winners."""
    from workbench.generators.baselines import random_init

    X, y = digits.X_test, digits.y_test
    half = torch.cat([zoo.flat[:6], random_init(zoo, 6, seed=3)])
    rows, _ = audit.audit(zoo, X, y, {"half broken": half, "random nets": random_init(zoo, 12, seed=4)}, n=12,
                             boot=100)
    by = {r["method"]: r for r in rows}
    orig = by["original"]["mean"]
    assert min(r["mean"] for r in rows if r["kind"] == "noise") <= audit.ACCURACY_FLOOR * orig
    names = [r["method"] for r in rows]
    assert names.index("noise σ=1") < names.index("random init")                     # the sweep stays together
    for name in ("half broken", "random nets", "random init"):
        r = by[name]
        assert r["ratio"] < audit.ACCURACY_FLOOR and r["verdict"] == "inaccurate"
        assert r["more_novel_than_noise"] is None and bench.classify(r) == "inaccurate"
        assert "inaccurate" in bench.verdict_line(r) and "more novel" not in bench.verdict_line(r)
    board = [{"zoo": "z", "kind": "generator", **by[k]} for k in ("half broken", "random nets")]
    best = {w["column"]: w["winner"] for w in bench.winners(board)}
    assert best["max_iou"].startswith("none") and best["dist_nearest"].startswith("none")


def test_novelty_test_needs_the_whole_interval_below_noise():
    acc = torch.full((50,), 90.0)
    noise = [(torch.full((50,), 95.0), torch.full((50,), 0.9)), (torch.full((50,), 85.0), torch.full((50,), 0.5))]
    below = audit.novelty_test(acc, torch.full((50,), 0.3), noise, boot=100)     # curve at 90 %: 0.7
    assert below["more_novel"] and below["iou_margin"] == pytest.approx(-0.4)
    above = audit.novelty_test(acc, torch.full((50,), 0.8), noise, boot=100)
    assert not above["more_novel"] and above["iou_margin"] == pytest.approx(0.1)


def test_audit_refuses_per_model_labels(zoo, digits):
    with pytest.raises(ValueError, match="single-task"):
        audit.audit(zoo, digits.X_test, digits.y_test.expand(3, -1), n=2)


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
    assert "reads images" in rows["igpg"]["note"] and rows["igpg"]["n"] is None   # IGPG embeds image data only
    assert "tabular" in rows["neurogen"]["note"]
    assert (io.figures_dir() / "bench__wine_zoo__accuracy_vs_iou.png").exists()
    from workbench.zoo import Zoo
    saved = Zoo.load(io.reports_dir() / "bench__wine_zoo_sets" / "rpg")     # the scored set, to recompute from
    assert saved.manifest["generated"]["generator"] == "rpg" and len(saved) == rows["rpg"]["n"]
    test = saved.dataset()
    acc = evaluate.accuracy(saved, saved.flat, test.X_test, test.y_test)
    assert torch.allclose(acc, saved.accuracies)                           # recomputed from the files alone
    orig = Zoo.load(tmp_path / "wine_zoo")
    ratio = acc.double().mean() / evaluate.accuracy(orig, orig.flat, test.X_test, test.y_test).double().mean()
    assert rows["rpg"]["ratio"] == pytest.approx(ratio.item(), rel=1e-5)


def test_classify_needs_accuracy_before_novelty():
    row = {"n": 10, "ratio": 0.99, "more_novel_than_noise": True, "farther_than_training": True}
    assert bench.classify(row) == "new networks"
    assert bench.classify({**row, "farther_than_training": False}) == "near-copies"
    assert bench.classify({**row, "ratio": 0.5}) == "inaccurate"          # random init is novel too
    assert bench.classify({"n": None}) == "not run"


def _bad_zoos(zoo, root):
    """Folders a user might point the bench at by mistake, each with what its one-line error must name."""
    import pickle
    import shutil

    from workbench import io

    cases = {"missing": (root / "nosuch", "no manifest.json")}
    pick = root / "pickle"
    shutil.copytree(zoo.path, pick)
    (pick / io.PARAMS_FILE).write_bytes(pickle.dumps({"w": [1.0]}))
    cases["pickle"] = (pick, "a pickle")
    shapes = root / "shapes"
    shutil.copytree(zoo.path, shapes)
    m = json.loads((shapes / io.MANIFEST_FILE).read_text())
    m["keys"][0]["shape"] = [m["keys"][0]["shape"][0] + 1, *m["keys"][0]["shape"][1:]]
    (shapes / io.MANIFEST_FILE).write_text(json.dumps(m))
    cases["shapes"] = (shapes, "manifest says")
    holes = root / "nan"
    shutil.copytree(zoo.path, holes)
    from safetensors.torch import load_file, save_file
    t = load_file(str(holes / io.PARAMS_FILE))
    first = sorted(t)[0]
    t[first].view(-1)[0] = float("nan")
    save_file(t, str(holes / io.PARAMS_FILE))                        # written by hand: workbench never writes NaN
    cases["nanweights"] = (holes, "NaN/inf")
    return cases


@pytest.mark.parametrize("case", ["missing", "pickle", "shapes", "nanweights", "methods", "preset", "n0", "n-5",
                                  "n-text"])
def test_bench_cli_bad_arguments_fail_in_one_line_before_any_work(zoo, tmp_path, capsys, case):
    from workbench import io

    zoos = _bad_zoos(zoo, tmp_path)
    args = {"methods": (["--methods", "rpg,nosuch"], "'nosuch'; registered: "),
            "preset": (["--preset", "huge"], "'huge' is not a preset; accepted: smoke"),
            "n0": (["--n", "0"], "0 models per set"), "n-5": (["--n", "-5"], "-5 models per set"),
            "n-text": (["--n", "ten"], "'ten' is not a whole number")}
    if case in zoos:
        folder, expect = zoos[case]
        argv = ["--zoo", str(folder), "--preset", "smoke"]
    else:
        extra, expect = args[case]
        argv = ["--zoo", str(zoo.path), "--preset", "smoke", *extra]
    before = {p for d in (io.reports_dir(), io.figures_dir(), io.zoos_dir()) if d.exists() for p in d.rglob("*")}
    with pytest.raises(SystemExit) as exit_:
        bench.main(argv)
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert expect in err, err
    after = {p for d in (io.reports_dir(), io.figures_dir(), io.zoos_dir()) if d.exists() for p in d.rglob("*")}
    assert after == before                                            # nothing trained, nothing written


def test_leaderboard_refuses_a_non_positive_n(zoo):
    for n in (0, -5):
        with pytest.raises(ValueError, match="whole number ≥ 1"):
            bench.leaderboard(zoo, presets.get("smoke"), methods=["rpg"], n=n)


def test_an_audit_keeps_the_baselines_scores_of_a_zoo_and_the_next_audit_reuses_them(mlp_zoo, digits, tmp_path,
                                                                                      monkeypatch):
    """The baseline sets score the same for every generator audited on a zoo (notebooks 01, 08 and 10 audit the
    same zoos): `audit` keeps their scores beside the zoo's folder, named by the zoo, the data, the settings and
    the code, and the next audit with those settings predicts only its generated sets and gives the same rows."""
    import json
    import shutil

    from workbench.generators.baselines import random_init
    from workbench.zoo import Zoo

    shutil.copytree(mlp_zoo.path, tmp_path / "z")
    zoo = Zoo.load(tmp_path / "z")
    X, y = digits.X_test, digits.y_test
    generated = {"random nets": random_init(zoo, 6, seed=4)}
    kw = dict(n=8, sigmas=(0.1, 1.0), boot=50)
    rows, points = audit.audit(zoo, X, y, generated, **kw)
    assert len(list((tmp_path / "z.audit").glob("baselines-*.safetensors"))) == 1
    predicted, predict = [], audit.predict
    monkeypatch.setattr(audit, "predict", lambda z, p, X, **k: predicted.append(len(p)) or predict(z, p, X, **k))
    again, points2 = audit.audit(zoo, X, y, generated, **kw)
    assert predicted == [6]                                          # the generated set only
    assert json.dumps(again, default=str) == json.dumps(rows, default=str)
    assert list(points2) == list(points) and all(torch.equal(points[k]["acc"], points2[k]["acc"]) for k in points)
    audit.audit(zoo, X, y, generated, **{**kw, "n": 7})             # other settings: scored and kept apart
    assert len(list((tmp_path / "z.audit").glob("baselines-*.safetensors"))) == 2 and len(predicted) > 1
