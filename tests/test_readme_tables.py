"""The README's result tables are views of the reports (workbench.readme): every block matches its report exactly,
and a number typed into a block by hand is caught."""
import json

import pytest

from workbench import io, readme


def test_every_report_block_in_the_readme_matches_its_report():
    text = (io.ROOT / "README.md").read_text()
    assert len(readme.BLOCK.findall(text)) >= 4
    assert readme.stale(text) == [], "run `python -m workbench.readme` after the notebooks that wrote these reports"


def test_a_hand_typed_number_is_caught_and_the_block_rewritten(tmp_path):
    rep = {"preset": "small", "seconds": 12.0, "environment": {"git_commit": "abcdef1234567", "cpu": "a CPU"},
           "tables": {"t": [{"zoo": "a", "ratio": 0.991, "note": "x"}, {"zoo": "b", "ratio": 0.5, "note": "y"}]}}
    (tmp_path / "nb.json").write_text(json.dumps(rep))
    text = "# R\n<!-- report nb t: zoo, ratio where zoo=a -->\n<!-- /report -->\n"
    filled = readme.fill(text, reports=tmp_path)
    assert "| zoo | ratio |" in filled and "| a | 0.99 |" in filled and "| b |" not in filled
    assert "commit abcdef1234" in filled and readme.stale(filled, reports=tmp_path) == []
    typed = filled.replace("| a | 0.99 |", "| a | 0.98 |")
    assert readme.stale(typed, reports=tmp_path) == ["nb t"]
    with pytest.raises(KeyError, match="no columns"):
        readme.render("nb", "t", "zoo, accuracy", reports=tmp_path)
    with pytest.raises(FileNotFoundError, match="reproduce"):
        readme.render("missing", "t", reports=tmp_path)


def test_the_readmes_tables_come_from_one_full_reproduction():
    """Every block's report was written by the last `make reproduce` (reports/reproduce.json): one run, one commit."""
    text = (io.ROOT / "README.md").read_text()
    run = json.loads((io.ROOT / "reports" / "reproduce.json").read_text())
    ran = {t["notebook"] for t in run["notebooks"] if t["status"] == "ok"}
    shown = readme.shown(text) - {"reproduce"}
    assert shown <= ran, f"blocks show reports the last reproduction did not write: {sorted(shown - ran)}"
    env = run["environment"]
    assert not env["git_dirty"] and readme.commits(text) == {env["git_commit"][:10]}


def test_the_reproduction_time_table_renders_as_a_block(tmp_path):
    run = {"preset": "small", "seconds": 30.0, "cold_estimate_s": 95.5,
           "environment": {"git_commit": "0123456789abc", "cpu": "a CPU"},
           "notebooks": [{"notebook": "00_zoos", "status": "ok", "seconds": 30.0, "zoos_collected": 2,
                          "generators_trained": 0}]}
    (tmp_path / "reproduce.json").write_text(json.dumps(run))
    text = "<!-- report reproduce notebooks: notebook, seconds, zoos_collected -->\n<!-- /report -->\n"
    filled = readme.fill(text, reports=tmp_path)
    assert "| 00_zoos | 30.00 | 2 |" in filled and "30.0 s (with empty caches about 95.5 s)" in filled, filled
    assert readme.commits(filled, reports=tmp_path) == {"0123456789"}
    (tmp_path / "t.md").write_text("{{reproduce/run[]/seconds:.0f}} s of {{reproduce/run[]/cold_estimate_s:.0f}}\n")
    assert readme.render_template("t", reports=tmp_path, templates=tmp_path).startswith("30 s of 96\n")


def test_a_template_block_fills_report_cells_and_catches_a_typed_number(tmp_path):
    rep = {"preset": "small", "environment": {"git_commit": "fedcba9876543", "cpu": "a CPU"},
           "tables": {"t": [{"zoo": "a", "method": "x=1", "ratio": 0.991}, {"zoo": "b", "method": "x=2", "ratio": 0.5}]}}
    (tmp_path / "nb.json").write_text(json.dumps(rep))
    (tmp_path / "claims.md").write_text("a keeps {{nb/t[zoo=a; method=x=1]/ratio}} ({{nb/t[zoo=b]/ratio:.0%}}), "
                                        "{{min nb/t[]/ratio:.3f}}–{{max nb/t[zoo=a|b]/ratio:.1f}} over {{count nb/t[]}}, {{sum nb/t[]/ratio:.3f}}\n")
    text = "# R\n<!-- template claims -->\n<!-- /template -->\n"
    filled = readme.fill(text, reports=tmp_path, templates=tmp_path)
    assert "a keeps 0.99 (50%), 0.500–1.0 over 2, 1.491\n" in filled and "commit fedcba9876" in filled, filled
    assert readme.stale(filled, reports=tmp_path, templates=tmp_path) == []
    assert readme.shown(filled, templates=tmp_path) == {"nb"}
    assert readme.commits(filled, reports=tmp_path, templates=tmp_path) == {"fedcba9876"}
    typed = filled.replace("a keeps 0.99", "a keeps 0.98")
    assert readme.stale(typed, reports=tmp_path, templates=tmp_path) == ["template claims"]
    for bad, why in [("{{nb/t[]/ratio}}", "2 rows"), ("{{nb/t[zoo=c]/ratio}}", "0 rows"), ("{{nb/u[]/ratio}}", "no table")]:
        (tmp_path / "claims.md").write_text(bad)
        with pytest.raises((LookupError, KeyError), match=why):
            readme.render_template("claims", reports=tmp_path, templates=tmp_path)
    with pytest.raises(FileNotFoundError, match="no such template"):
        readme.render_template("missing", reports=tmp_path, templates=tmp_path)
