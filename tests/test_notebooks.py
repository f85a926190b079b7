"""What the notebooks write at the smoke preset: the numbers they record are range-checked.

`make test` runs notebooks/ through nbval first, in this session's temp dir; each notebook runs once: a test here
reads the report that run wrote, and runs the notebook with papermill itself only when there is none (e.g.
`pytest tests/test_notebooks.py` alone).
"""
import json
import math

import pytest

from workbench import io, reproduce


def executed(name: str, out_dir) -> dict:
    """The report of notebook `name` at smoke from this test session (its temp dir), running the notebook if needed."""
    path = io.reports_dir() / f"{name}.json"
    if not (path.exists() and json.loads(path.read_text()).get("preset") == "smoke"):
        # a cell that hangs fails the test in 10 minutes instead of holding CI to its limit
        assert reproduce.run([io.ROOT / "notebooks" / f"{name}.ipynb"], "smoke", out_dir=out_dir,
                             cell_timeout=600) == {name: "ok"}
    return json.loads(path.read_text())


@pytest.mark.notebook
def test_00_zoos_writes_sane_report(tmp_path):
    executed("00_zoos", tmp_path)
    report = json.loads((io.reports_dir() / "00_zoos.json").read_text())
    assert report["preset"] == "smoke" and report["environment"]["packages"]["torch"]
    t = report["tables"]
    assert {"zoo_accuracy", "baselines", "exchange", "noise_sensitivity", "task_zoo"} <= set(t)
    for row in t["zoo_accuracy"] + t["baselines"]:
        for k in ("best", "mean", "median", "min"):
            assert 0 <= row[k] <= 100 and not math.isnan(row[k])
    assert [r["model"] for r in t["exchange"]] == ["A", "A+10%B", "B+10%A", "B"]
    assert t["task_zoo"][0]["tasks"] == 24
    for f in report["figures"]:
        assert (io.figures_dir() / f).stat().st_size > 0
    md = (io.reports_dir() / "00_zoos.md").read_text()
    assert "| zoo | recipe | net | params |" in md


@pytest.mark.notebook
def test_01_rpg_main_rows_carry_the_issue_columns(tmp_path):
    executed("01_rpg_main", tmp_path)
    report = json.loads((io.reports_dir() / "01_rpg_main.json").read_text())
    rows = report["tables"]["main_results"]
    assert {"rpg", "pdiff", "original", "per-coordinate gaussian", "random init"} <= {r["method"] for r in rows}
    assert any(r["method"].startswith("checkpoint average (k=") for r in rows)
    for r in rows:
        assert {"zoo", "method", "kind", "params", "best", "mean", "median", "min", "ratio", "max_iou", "verdict",
                "dist_nearest", "train_dist_nearest"} <= set(r)
        assert 0 <= r["min"] <= r["mean"] <= r["best"] <= 100
        assert r["kind"] == "original" or 0 <= r["max_iou"] <= 1
    assert len({r["zoo"] for r in rows}) == 3   # smoke: two last_epoch zoos + the seeds zoo
    assert {v["method"] for v in report["tables"]["targets"]} == {"rpg", "pdiff"}
    assert any(f.startswith("01_rpg_main__scatter_") for f in report["figures"])


@pytest.mark.notebook
def test_01_and_08_give_the_same_audit_row_for_the_same_zoo_and_method(tmp_path):
    """One audit: notebook 01 (RPG's main table) and notebook 08 (the leaderboard) score rpg on the cnn_s zoos with
    the same function, set size, noise sweep and seed, so their rows agree number for number."""
    main = {(r["zoo"], r["method"]): r for r in executed("01_rpg_main", tmp_path)["tables"]["main_results"]}
    board = {(r["zoo"], r["method"]): r for r in executed("08_leaderboard", tmp_path)["tables"]["leaderboard"]}
    shared = [k for k in main if k in board and k[1] in ("rpg", "pdiff") and board[k]["n"]]
    assert {("cnn_s last_epoch", "rpg"), ("cnn_s seeds", "rpg")} <= set(shared)
    for k in shared:
        for col in ("n", "ratio", "min_ratio", "max_iou", "dist_nearest", "train_dist_nearest", "dist_within",
                    "noise_iou_at_accuracy", "verdict"):
            a, b = main[k].get(col), board[k].get(col)
            assert (a == b) if not isinstance(a, float) else a == pytest.approx(b, rel=1e-9, abs=1e-12), (k, col, a, b)


@pytest.mark.notebook
def test_04_rpg_unseen_rows_carry_the_issue_columns(tmp_path):
    executed("04_rpg_unseen", tmp_path)
    t = json.loads((io.reports_dir() / "04_rpg_unseen.json").read_text())["tables"]
    assert len(t["unseen_codes"]) == 4   # smoke: n_unseen
    for r in t["unseen_codes"] + t["seen_codes"]:
        assert set(r) == {"code", "original", "generated_best", "generated_mean", "generated_std", "majority_baseline"}
        assert len(r["code"]) == 10 and 50 <= r["majority_baseline"] <= 100 and 0 <= r["generated_mean"] <= 100
    for r in t["flipped"]:
        assert [int(a) + int(b) for a, b in zip(r["code"], r["flipped"])] == [1] * 10


@pytest.mark.notebook
def test_05_igpg_main_rows_carry_the_issue_columns(tmp_path):
    executed("05_igpg_main", tmp_path)
    t = json.loads((io.reports_dir() / "05_igpg_main.json").read_text())["tables"]
    main = {"arch", "dataset", "split", "original_mean", "recon_mean", "generated_best", "generated_mean", "generated_min",
            "random_init", "finetune_generated", "finetune_random", "max_iou", "dist_nearest"}
    assert {r["split"] for r in t["main"]} == {"seen", "held-out dataset"}   # smoke: digits28 held out
    for r in t["main"]:
        assert main <= set(r)
        assert 0 <= r["generated_min"] <= r["generated_mean"] <= r["generated_best"] <= 100 and 0 <= r["max_iou"] <= 1
    assert [r["checkpoints"] for r in t["reconstruction"]] == ["train", "held-out"]
    assert {"original_mean", "recon_mean", "loss_points"} <= set(t["reconstruction"][0])
    cb = t["codebook"][0]
    assert {"chunk_size", "codebook_size", "usage", "perplexity", "recon_loss_points"} <= set(cb) and 0 < cb["usage"] <= 1
    for r in t["conditioning"]:
        assert {"arch", "dataset_a", "dataset_b", "own_better"} <= set(r)
    assert len(t["verdict"]) == 6


@pytest.mark.notebook
def test_06_igpg_transfer_rows_carry_the_issue_columns(tmp_path):
    executed("06_igpg_transfer", tmp_path)
    t = json.loads((io.reports_dir() / "06_igpg_transfer.json").read_text())["tables"]
    held = {(m["arch"], m["dataset"]) for m in t["transfer"]}
    assert held == {("cnn_s", "digits28"), ("mlp_8", "digits28")}                    # smoke: digits28 held out
    for r in t["transfer"]:
        assert {"split", "init", "zero_shot", "steps_to_target"} <= set(r)
        assert r["init"] in ("generated", "random", "nearest checkpoint") and 0 <= r["zero_shot"] <= 100
        assert r["steps_to_target"] is None or 0 <= r["steps_to_target"] <= r["epoch_steps"]
    assert [r["source"] for r in t["transfer"] if r["init"] == "nearest checkpoint"] == ["cnn_s on mnist5k", "mlp_8 on mnist5k"]
    assert [r["variant"] for r in t["ablation"]] == ["preset", "downsample=4", "use_arch=False"]
    for r in t["ablation"]:
        assert {"chunk_size", "codebook_size", "usage", "perplexity", "recon_loss_points", "generated_ratio_mean"} <= set(r)


@pytest.mark.notebook
def test_07_neurogen_rows_carry_the_issue_columns(tmp_path):
    executed("07_neurogen_main", tmp_path)
    t = json.loads((io.reports_dir() / "07_neurogen_main.json").read_text())["tables"]
    assert [(r["net"], r["dataset"]) for r in t["table1"]] == [("neurogen_cnn", "mnist5k"), ("text_mlp", "rotten_tomatoes")]
    for r in t["table1"]:
        assert {"classical", "classical_matched", "ratio_matched", "neurogen_mean", "max_iou", "dist_nearest",
                "paper_classical", "paper_neurogen"} <= set(r)
        assert 0 <= r["classical_matched"] <= 100
        assert 0 <= r["neurogen_min"] <= r["neurogen_mean"] <= r["neurogen_best"] <= 100 and 0 <= r["max_iou"] <= 1
    assert [r["variant"] for r in t["ablation"]] == ["stage 1+2", "stage 2 only"]
    for r in t["ablation"]:
        assert {"alpha", "final_accuracy", "steps_to_90pct"} <= set(r) and 0 <= r["final_accuracy"] <= 100
    assert [r["data_fraction"] for r in t["generalisation"]] == [0.1]
    assert {"classical", "neurogen"} <= set(t["generalisation"][0])
    assert [r["instruction"] for r in t["instruction"]] == ["correct", "wrong dataset", "empty"]


@pytest.mark.notebook
def test_08_leaderboard_rows_carry_the_issue_columns(tmp_path):
    from workbench import bench, presets

    executed("08_leaderboard", tmp_path)
    t = json.loads((io.reports_dir() / "08_leaderboard.json").read_text())["tables"]
    rows = t["leaderboard"]
    assert all(set(r) == set(bench.COLUMNS) for r in rows)
    zoos = {r["zoo"] for r in rows}
    assert zoos == {"cnn_s last_epoch", "cnn_s seeds", "cnn_s tasks (unseen codes)"}
    for z in zoos - {"cnn_s tasks (unseen codes)"}:
        by = {r["method"]: r for r in rows if r["zoo"] == z}
        assert {"original", "nearest-checkpoint retrieval", "random init", "per-coordinate gaussian", "rpg", "pdiff",
                "neurogen", "igpg"} <= set(by)
        assert by["nearest-checkpoint retrieval"]["dist_nearest"] == 0
        assert by["nearest-checkpoint retrieval"]["more_novel_than_noise"] is not True   # None: below the floor
        assert by["flow"]["n"] and by["original"]["dist_nearest_aligned"] is not None    # cnn_s: canonicalised
        # IGPG on the zoo as a one-pair collection, and its temperature dial: one scored set per temperature
        dial = [bench.dial_label("igpg", "temperature", t) for t in (0, 0.3, 0.5, 0.7, 1)]
        assert set(dial) <= set(by) and all(by[d]["n"] == by["igpg"]["n"] for d in dial)
        # the dial's value at the preset's own setting (smoke: IGPG's default 0.7) is the igpg row's set, not a redraw
        own = next(r for m, r in by.items() if m in dial and m.endswith("=0.7"))
        assert own["generate_s"] == by["igpg"]["generate_s"] and own["max_iou"] == by["igpg"]["max_iou"]
        for m in ("rpg", "pdiff", "neurogen", "flow", "igpg", dial[0]):
            r = by[m]
            assert r["n"] == presets.get("smoke").audit_n and r["train_s"] > 0 and r["generate_s"] > 0
            # a novelty verdict only at matched accuracy (smoke generators are mostly below the floor)
            if r["ratio"] < bench.ACCURATE:
                assert r["more_novel_than_noise"] is None and r["verdict"] == "inaccurate"
            else:
                assert isinstance(r["more_novel_than_noise"], bool) or r["verdict"].startswith("outside")
    task = {r["method"]: r for r in rows if r["zoo"] == "cnn_s tasks (unseen codes)"}
    assert {"original", "rpg", "nearest seen task (retrieval)", "majority class"} <= set(task)
    assert task["original"]["ratio"] == 1
    assert {"zoo", "column", "winner", "value"} == set(t["winners"][0])
    assert {r["verdict"] for r in t["summary"] if not r["verdict"].startswith("not tested (outside")} <= {
        "new networks", "near-copies", "inaccurate", "not run", "not tested", "farther than training (no noise test)"}
    assert next(r for r in t["summary"] if r["method"] == "nearest-checkpoint retrieval")["verdict"] != "new networks"


@pytest.mark.notebook
def test_09_demo_times_a_click_per_method(tmp_path):
    executed("09_demo", tmp_path)
    rows = json.loads((io.reports_dir() / "09_demo.json").read_text())["tables"]["click_to_result"]
    assert [r["method"] for r in rows] == ["rpg_task", "rpg", "neurogen"]
    for r in rows:
        assert 0 <= r["accuracy"] <= 100 and 0 < r["generate_s"] <= r["click_to_result_s"]


@pytest.mark.notebook
def test_10_new_networks_reports_the_audit_raw_and_aligned_and_the_issue_targets(tmp_path):
    from workbench import presets

    executed("10_new_networks", tmp_path)
    t = json.loads((io.reports_dir() / "10_new_networks.json").read_text())["tables"]
    smoke = presets.get("smoke")
    for r in t["canonicalisation"]:
        assert r["max_abs_logit_diff"] <= 1e-5 and r["nets"] == smoke.many_seeds
        assert r["max_abs_logit_diff_f64"] <= 1e-9        # the permutation itself is exact: only float32 rounding
        assert r["dist_nearest_aligned"] <= r["dist_nearest_raw"] + 1e-9     # alignment never moves nets apart
        assert 0 <= r["midpoint_ratio_raw"] and 0 <= r["midpoint_ratio_aligned"]
    assert {r["zoo"] for r in t["audit"]} == {f"cnn_s {smoke.many_seeds} seeds", f"mlp 784-8-10 {smoke.many_seeds} seeds"}
    rows = {r["method"]: r for r in t["audit"]}
    assert set(smoke.new_networks["variants"]) <= set(rows) and "nearest-checkpoint retrieval" in rows
    on_mlp = {r["method"] for r in t["audit"] if r["zoo"].startswith("mlp") and r["kind"] == "generator"}
    assert on_mlp == set(smoke.new_networks["mlp_variants"])          # the MLP zoo's own rows
    for r in rows.values():
        assert r["dist_nearest_aligned"] <= r["dist_nearest"] + 1e-9 and 0 <= r["max_iou"] <= 1
    assert rows["nearest-checkpoint retrieval"]["dist_nearest_aligned"] == 0
    assert [m["training seeds"] for m in t["more_training_models"]] == list(smoke.seed_counts)
    assert [d["steps"] for d in t["flow_steps_dial"]] == smoke.new_networks["mlp_flow_steps"]
    assert {x["target"].split(" ")[0] for x in t["targets"]} >= {"mean", "min", "flow"}
    assert all(isinstance(x["met"], bool) for x in t["targets"])
    assert len(t["claims"]) == 3 and all(isinstance(c["reproduced"], bool) for c in t["claims"])


@pytest.mark.notebook
def test_11_lora_audits_generated_adapters_like_any_zoo(tmp_path):
    from workbench import bench

    executed("11_lora", tmp_path)
    t = json.loads((io.reports_dir() / "11_lora.json").read_text())["tables"]
    z = t["zoos"][0]
    assert z["adapter_and_head_params"] < 10_000 < 20_000_000 < z["frozen_backbone_params"]
    assert set(r["zoo"] for r in t["leaderboard"]) == {"minilm_lora rotten_tomatoes",
                                                       "minilm_lora rotten_tomatoes last epoch"}   # seeds, last epoch
    by = {r["method"]: r for r in t["leaderboard"] if r["zoo"] == "minilm_lora rotten_tomatoes"}
    assert by["rpg"]["n"] and all(set(r) == set(bench.COLUMNS) for r in t["leaderboard"])
    assert by["flow"]["n"] and by["original"]["dist_nearest_aligned"] is not None   # the adapters' rank symmetry
    assert by["igpg"]["n"] and by["igpg temperature=0"]["n"]    # IGPG on adapters: its dataset embedded from text
    rpg = next(r for r in t["trained_vs_generated"] if r["method"] == "rpg")
    assert 0 < rpg["generated_mean"] <= 100 and rpg["generate_s"] > 0
    task = {r["method"]: r for r in t["unseen_tasks"]}                 # held-out BBC topic subsets
    assert {"original", "rpg", "nearest seen task (retrieval)", "majority class"} <= set(task)
    assert task["original"]["ratio"] == 1 and task["rpg"]["n"] >= 2
    assert task["rpg · description"]["n"] == task["rpg · examples"]["n"] == task["rpg"]["n"]   # from text, too
    per = t["unseen_tasks_per_task"]
    assert len(per) == len(t["beats_retrieval"][0:1]) * t["beats_retrieval"][0]["held_out_tasks"]
    assert per[0]["description"].startswith("Texts about ") and 0 <= per[0]["rpg · examples"] <= 100
    assert all(0 <= r["tasks_won"] <= 1 for r in t["beats_retrieval"])
    assert any(r["zoo"].startswith("LLaMA-7B") for r in json.loads(
        (io.reports_dir() / "11_lora.json").read_text())["paper"].get("trained_vs_generated", []))
