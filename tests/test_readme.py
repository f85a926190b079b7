"""The README's quickstart is a tested contract: its python block runs at the smoke preset."""
import re

from workbench import io


def test_readme_quickstart_runs(tmp_path, monkeypatch):
    text = (io.ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks, "README has no python quickstart"
    monkeypatch.chdir(tmp_path)
    exec(compile(blocks[0], "README.md", "exec"), {})
