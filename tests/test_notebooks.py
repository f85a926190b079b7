"""Notebooks at the smoke preset, run with papermill into a temp dir; the numbers they record are range-checked.

(`make test` also runs every notebook through nbval; this test checks what the notebooks *write*.)
"""
import json
import math

import pytest

from workbench import io, reproduce


@pytest.mark.notebook
def test_00_zoos_writes_sane_report(tmp_path):
    res = reproduce.run([io.ROOT / "notebooks" / "00_zoos.ipynb"], "smoke", out_dir=tmp_path)
    assert res == {"00_zoos": "ok"}
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
