import json
import os

import matplotlib.pyplot as plt
import nbformat
import pytest

from workbench import presets, reproduce
from workbench.registry import Registry
from workbench.reporting import Report


def test_report_json_and_markdown_share_columns(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_REPORTS", str(tmp_path / "r"))
    monkeypatch.setenv("WORKBENCH_FIGURES", str(tmp_path / "f"))
    rep = Report("99_test", presets.get("smoke"), {"seed": 3})
    rep.table("t", [{"a": 1, "b": 0.5}, {"a": 2, "b": 0.25}], paper=[{"a": 1, "b": 0.6}], note="n")
    fig, ax = plt.subplots()
    rep.figure(fig, "panel")
    jpath, mpath = rep.write()
    d = json.loads(jpath.read_text())
    assert d["tables"]["t"][1] == {"a": 2, "b": 0.25} and d["config"]["seed"] == 3
    assert d["environment"]["packages"]["torch"] and "git_commit" in d["environment"]
    md = mpath.read_text()
    assert "| a | b |" in md and "Paper:" in md and "99_test__panel.png" in md
    assert (tmp_path / "f" / "99_test__panel.png").stat().st_size > 0


def test_presets_and_configs_round_trip():
    p = presets.get("small")
    assert type(p).from_dict(json.loads(p.to_json())) == p
    with pytest.raises(KeyError, match="unknown preset 'huge'.*smoke"):
        presets.get("huge")
    r = p.zoo_recipe("seeds")
    assert r.n_checkpoints == p.n_seeds and type(r).from_dict(json.loads(r.to_json())) == r
    with pytest.raises(ValueError, match="unknown field"):
        type(r).from_dict({"nett": "x"})
    with pytest.raises(ValueError, match="unknown net"):
        p.zoo_recipe("last_epoch", net="nope")


def test_registry_lists_and_refuses_duplicates():
    reg = Registry("thing")
    reg.register("a", None)(lambda cfg: cfg)
    assert reg.available() == ["a"] and reg.create("a", x=1) == {"x": 1}
    with pytest.raises(ValueError, match="already registered"):
        reg.register("a", None)(lambda cfg: cfg)


def _nb(path, code):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell('PRESET = "smoke"', metadata={"tags": ["parameters"]}), nbformat.v4.new_code_cell(code)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def test_reproduce_bounds_a_hung_cell_and_a_closing_reply_that_never_comes(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_REPORTS", str(tmp_path / "r"))
    _nb(tmp_path / "a_sleeps.ipynb", "import time\ntime.sleep(120)")
    res = reproduce.run(reproduce.notebooks(folder=tmp_path), "smoke", out_dir=tmp_path / "exec", cell_timeout=3)
    assert res["a_sleeps"].startswith("FAILED") and "timed out" in res["a_sleeps"]
    # papermill's closing kernel_info wait has no limit (nteract/papermill#711); here its reply never comes
    monkeypatch.setattr(reproduce, "_closing_request", lambda kc: "a-request-nobody-answers")
    monkeypatch.setattr(reproduce, "KERNEL_INFO_TIMEOUT", 2)
    (tmp_path / "a_sleeps.ipynb").unlink()
    _nb(tmp_path / "b_ok.ipynb", "x = PRESET")
    assert reproduce.run(reproduce.notebooks(folder=tmp_path), "smoke", out_dir=tmp_path / "exec") == {"b_ok": "ok"}


def test_reproduce_reports_failures_by_name_and_keeps_good_reports(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_REPORTS", str(tmp_path / "r"))
    (tmp_path / "r").mkdir()
    good_report = tmp_path / "r" / "b_fails.json"
    good_report.write_text('{"earlier": "good"}')
    _nb(tmp_path / "a_ok.ipynb", "x = PRESET")
    _nb(tmp_path / "b_fails.ipynb", "raise RuntimeError('boom')\nopen('should-not-exist', 'w')")
    res = reproduce.run(reproduce.notebooks(folder=tmp_path), "smoke", out_dir=tmp_path / "exec")
    assert res["a_ok"] == "ok" and res["b_fails"].startswith("FAILED") and "boom" in res["b_fails"]
    assert json.loads(good_report.read_text()) == {"earlier": "good"}
    assert (tmp_path / "exec" / "a_ok.ipynb").exists()
    timing = json.loads((tmp_path / "r" / "reproduce.json").read_text())     # the per-notebook time table
    assert [t["notebook"] for t in timing["notebooks"]] == ["a_ok", "b_fails"] and timing["preset"] == "smoke"
    assert timing["notebooks"][1]["status"].startswith("FAILED") and timing["seconds"] > 0
    assert timing["environment"]["cpu"] and {"zoos_collected", "generators_trained"} <= set(timing["notebooks"][0])
    with pytest.raises(KeyError, match="unknown preset"):
        reproduce.run([], "huge")


def test_reproduce_counts_a_collections_nested_zoos_and_generator_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_ZOOS", str(tmp_path))
    for d in ("smoke/cnn_s-mnist5k", "smoke/collection-ab-code12/mnist5k-cnn_s", "smoke/collection-ab-code12/digits28-cnn_s",
              "smoke/cnn_s-mnist5k.canonical-0", "smoke/collection-ab-code12/mnist5k-cnn_s.canonical-0"):   # aligned copies
        (tmp_path / d).mkdir(parents=True)
        (tmp_path / d / "manifest.json").write_text("{}")
    (tmp_path / "smoke/generators/rpg-1").mkdir(parents=True)
    (tmp_path / "smoke/generators/rpg-1/info.json").write_text("{}")
    (tmp_path / "smoke/generators/half-done").mkdir()          # no info.json: not finished, not counted
    made = reproduce._cached("smoke")
    assert made == {"cnn_s-mnist5k", "collection-ab-code12/mnist5k-cnn_s", "collection-ab-code12/digits28-cnn_s",
                    "generators/rpg-1"}


def test_reproduce_counts_what_each_notebook_reused_and_what_making_it_had_cost(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_ZOOS", str(tmp_path / "z"))
    monkeypatch.setenv("WORKBENCH_REPORTS", str(tmp_path / "r"))
    root = tmp_path / "z" / "smoke"
    for d, name, rec in (("zoo-a", "manifest.json", {"collect_seconds": 30.0}),
                         ("collection-ab-code1/mnist5k-cnn_s", "manifest.json", {"collect_seconds": 5.0}),
                         ("collection-ab-code1/mnist5k-cnn_s.canonical-0", "manifest.json", {"collect_seconds": 5.0}),
                         ("generators/rpg-1", "info.json", {"seconds": 100.0})):
        (root / d).mkdir(parents=True)
        (root / d / name).write_text(json.dumps(rec))
    use = ("from workbench import io\n"
           + "".join(f"io.note_cache_use({str(root / d)!r})\n" for d in ("zoo-a", "collection-ab-code1", "generators/rpg-1")))
    _nb(tmp_path / "a_uses.ipynb", use)
    _nb(tmp_path / "b_uses_again.ipynb", use)
    _nb(tmp_path / "c_uses_nothing.ipynb", "x = 1")
    assert set(reproduce.run(reproduce.notebooks(folder=tmp_path), "smoke", out_dir=tmp_path / "exec").values()) == {"ok"}
    timing = json.loads((tmp_path / "r" / "reproduce.json").read_text())
    a, b, c = timing["notebooks"]
    assert (a["zoos_reused"], a["generators_reused"], a["reused_work_s"]) == (2, 1, 135.0)   # the aligned copy: derived
    assert (b["zoos_reused"], b["generators_reused"], b["reused_work_s"]) == (2, 1, 0.0)     # paid for by a
    assert (c["zoos_reused"], c["generators_reused"], c["reused_work_s"]) == (0, 0, 0.0)
    assert timing["cold_estimate_s"] == pytest.approx(timing["seconds"] + 135.0)
    assert reproduce.io.CACHE_LOG not in os.environ


def test_cache_keys_follow_the_code(tmp_path):
    """A zoo folder's name carries a hash of the code that trains zoos: an edit there gives a new folder."""
    from workbench import io, presets

    (tmp_path / "nets").mkdir()
    (tmp_path / "zoo.py").write_text("A = 1\n")
    (tmp_path / "nets" / "a.py").write_text("B = 2\n")
    before = io.code_key(("zoo.py", "nets"), pkg=tmp_path)
    assert io.code_key(("zoo.py", "nets"), pkg=tmp_path) == before
    (tmp_path / "nets" / "a.py").write_text("B = 3\n")
    assert io.code_key(("zoo.py", "nets"), pkg=tmp_path) != before
    assert presets.get("smoke").zoo_dir().name.endswith(f"-code{io.code_key()}")


def test_reports_record_the_cpu_and_its_instruction_set():
    import torch

    from workbench.reporting import environment

    env = environment()
    assert env["cpu"] and env["cpu_isa"] == torch.backends.cpu.get_cpu_capability()
