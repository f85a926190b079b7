"""The README is a tested contract: its quickstart and its bring-your-own block run as written, at the smoke preset."""
import re

from workbench import io


def _blocks():
    text = (io.ROOT / "README.md").read_text()
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_readme_quickstart_runs(tmp_path, monkeypatch):
    blocks = _blocks()
    assert blocks, "README has no python quickstart"
    monkeypatch.chdir(tmp_path)
    exec(compile(blocks[0], "README.md", "exec"), {})


def test_readme_bring_your_own_runs(tmp_path, monkeypatch):
    block = next(b for b in _blocks() if b.startswith("# bring your own"))
    assert 'presets.get("smoke")' in block
    monkeypatch.chdir(tmp_path)
    scope = {}
    exec(compile(block, "README.md", "exec"), scope)
    tables = scope["report"].tables
    assert set(tables) == {"cancer-mlp", "digits8x8-neurogen_cnn"}
    for rows in tables.values():
        by = {r["method"]: r for r in rows}
        assert by["rpg"]["n"] == scope["preset"].n_eval and 0 <= by["rpg"]["mean"] <= 100
        assert by["rpg"]["verdict"] and by["random init"]["kind"] == "baseline"      # the audit's rows and verdicts
    saved = scope["Zoo"].load(tmp_path / "generated" / "cancer-rpg")
    assert saved.manifest["generated"]["generator"] == "rpg" and saved.manifest["generated"]["seed"] == 0
    assert saved.net_kwargs["in_features"] == 30 and saved.dataset().name == "cancer"


def test_readme_own_text_runs(tmp_path, monkeypatch):
    """The README's text block: strings -> from_texts -> zoo -> NeuroGen -> bench report, as written."""
    import json

    block = next(b for b in _blocks() if b.startswith("# your own text"))
    monkeypatch.chdir(tmp_path)
    scope = {}
    exec(compile(block, "README.md", "exec"), scope)
    ds = scope["reviews"]
    assert ds.meta["tokenizer"] == "minilm" and ds.meta["vocab_size"] == 30522
    assert ds.meta["labels"] == ["negative", "positive"]
    rows = {r["method"]: r for r in json.loads((io.reports_dir() / "bench__my_reviews.json").read_text())
            ["tables"]["leaderboard"]}
    assert rows["neurogen"]["n"] == scope["preset"].audit_n and 0 <= rows["neurogen"]["ratio"] <= 2
    assert (io.reports_dir() / "bench__my_reviews_sets" / "neurogen" / io.MANIFEST_FILE).exists()
