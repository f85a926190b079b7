"""Test session set-up shared by tests/ and the nbval notebook runs: offline hubs, outputs into a temp dir.

Notebooks executed by nbval inherit this environment, so a smoke run never overwrites reports/ or figures/.
The temp dir is removed when the test session ends (it held ~30 MB of smoke zoos per run).
"""
import os
import shutil
import tempfile

_tmp = tempfile.mkdtemp(prefix="workbench-test-")
for var, sub in (("WORKBENCH_REPORTS", "reports"), ("WORKBENCH_FIGURES", "figures"), ("WORKBENCH_ZOOS", "zoos")):
    os.environ[var] = os.path.join(_tmp, sub)
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")


# The demo notebook opens on the small preset (trained generators, for people); tests/test_notebooks.py runs it at
# smoke with papermill instead of nbval running it at its default.
collect_ignore = ["notebooks/09_demo.ipynb"]


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_tmp, ignore_errors=True)


def pytest_collection_modifyitems(items):
    """nbval waits only 5 s for each output message after a cell's reply; on a loaded 2-core machine that gap was
    once exceeded after a cell had finished (11_lora cell 3 at 2940c9a), failing a notebook that ran. Wait 120 s."""
    for item in items:
        if type(item).__name__ == "IPyNbCell":
            item.output_timeout = 120
