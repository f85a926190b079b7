"""benchmarks/compare_reports.py: the before/after check that a change moved no accuracy."""
import importlib.util
import json
from pathlib import Path

spec = importlib.util.spec_from_file_location("compare_reports", Path(__file__).parents[1] / "benchmarks" / "compare_reports.py")
compare_reports = importlib.util.module_from_spec(spec)
spec.loader.exec_module(compare_reports)


def _report(folder: Path, rows: list[dict], extra: dict | None = None):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "01_x.json").write_text(json.dumps({"tables": {"main": rows, **(extra or {})}}))


def test_only_accuracies_count_and_every_difference_is_named(tmp_path, capsys):
    rows = [{"method": "rpg", "generated_mean": 95.0, "ratio": 1.0, "train_s": 12.0, "dist_nearest": 3.0}]
    _report(tmp_path / "a", rows)
    _report(tmp_path / "b", [{**rows[0], "train_s": 40.0, "dist_nearest": 2.5}])    # time and distance only
    assert compare_reports.compare(tmp_path / "a", tmp_path / "b") == []
    _report(tmp_path / "c", [{**rows[0], "generated_mean": 94.0}], {"new": []})
    diffs = compare_reports.compare(tmp_path / "a", tmp_path / "c")
    assert diffs == ["01_x.json / main / row 0 (rpg) / generated_mean: 95.0 -> 94.0", "01_x.json / new: only in after"]
    assert compare_reports.main([str(tmp_path / "a"), str(tmp_path / "c")]) == 1
    assert "2 accuracies differ" in capsys.readouterr().out
    assert compare_reports.main([str(tmp_path / "a"), str(tmp_path / "b")]) == 0
