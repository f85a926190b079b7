"""The demo as a person uses it: JupyterLab in headless Chromium, run the demo notebook, click *Generate*.

Run with `make ui-test` (installs Debian's chromium and Playwright for Python; no browser download). Leaves a
screenshot in figures/09_demo__browser.png and the measured seconds in reports/09_demo_browser.json.
"""
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab():
    if CHROMIUM is None:
        pytest.fail("no chromium executable: `make ui-test` installs Debian's chromium (or set CHROMIUM=/path)")
    port, token = _free_port(), secrets.token_hex(16)
    tmp = tempfile.mkdtemp(prefix="workbench-ui-")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1", "MPLBACKEND": "module://matplotlib_inline.backend_inline",
           # generators and zoos come from the checkout's cache (zoos/, not the test session's temp dir that the root
           # conftest.py sets: a cold small demo trains its generators, ~8 min on 2 cores); outputs go to a temp dir
           "WORKBENCH_ZOOS": os.environ.get("WORKBENCH_UI_ZOOS") or str(ROOT / "zoos"),
           "WORKBENCH_REPORTS": os.path.join(tmp, "reports"), "WORKBENCH_FIGURES": os.path.join(tmp, "figures")}
    log = open(os.path.join(tmp, "lab.log"), "w+")       # a file, not a pipe: a full pipe would stall the server
    proc = subprocess.Popen([sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}",
                             "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={token}",
                             f"--ServerApp.root_dir={ROOT}", "--LabApp.news_url=",
                             *(["--allow-root"] if os.geteuid() == 0 else [])],   # containers often run as root
                            env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(120):
        try:
            urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=1)
            break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        log.seek(0)
        pytest.fail(f"jupyter lab did not start: {log.read()[-2000:]}")
    yield url, token, log
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()
    shutil.rmtree(tmp, ignore_errors=True)


def test_demo_generates_a_net_on_a_click(lab):
    from playwright.sync_api import sync_playwright

    url, token, log = lab
    (ROOT / "figures").mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{url}/lab/tree/notebooks/09_demo.ipynb?token={token}")
        page.wait_for_selector(".jp-Notebook", timeout=120_000)
        # the kernel is started and idle (the status bar says so) before anything runs
        page.get_by_text("Python 3 (ipykernel) | Idle").wait_for(timeout=120_000)
        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.get_by_text("Run All Cells", exact=True).click()
        generate = page.locator("button.jupyter-button", has_text="Generate")
        try:
            generate.wait_for(timeout=900_000)   # a cold cache trains the small generators first
        except Exception:
            page.screenshot(path=str(ROOT / "figures" / "09_demo__browser_failed.png"), full_page=True)
            log.seek(0)
            print("jupyter lab log (tail):\n" + log.read()[-4000:])     # the kernel's errors land here
            raise
        # the notebook's timing cell presses Generate itself; wait until the kernel is done with every cell
        page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=600_000)
        time.sleep(1)
        before = page.locator(".widget-html-content", has_text="accuracy").first.inner_text()
        t0 = time.perf_counter()
        generate.click()
        page.wait_for_function(
            "b => [...document.querySelectorAll('.widget-html-content')].some("
            "e => e.innerText.includes('accuracy') && e.innerText !== b)", arg=before, timeout=120_000)
        seconds = time.perf_counter() - t0
        text = page.locator(".widget-html-content", has_text="accuracy").first.inner_text()
        shot = ROOT / "figures" / "09_demo__browser.png"
        shot.parent.mkdir(exist_ok=True)
        no_news = page.get_by_role("button", name="No", exact=True)
        if no_news.count():
            no_news.first.click()                    # JupyterLab's "news?" toast would cover the figure
        ui = page.locator(".jp-OutputArea-output .widget-vbox").first   # the demo: controls, numbers, figure
        ui.scroll_into_view_if_needed()
        ui.screenshot(path=str(shot))
        shown = ui.inner_text()
        selected = ui.locator("select").first.evaluate("s => s.options[s.selectedIndex].text").replace("\xa0", " ")  # shown with nbsp
        browser.close()
    # the output area under the widget is clean (progress bars cleared, warnings kept off-screen), the preset is
    # on screen, and the result shown is the selected method's
    assert "it/s" not in shown and "Warning" not in shown, shown
    assert "preset " in shown
    from workbench.widgets import METHODS

    assert f"{METHODS[selected]}: done" in shown, (selected, shown)
    acc = float(re.search(r"accuracy ([0-9.]+) %", text).group(1))
    assert 0 <= acc <= 100
    out = ROOT / "reports" / "09_demo_browser.json"
    out.write_text(json.dumps({"click_to_result_s": round(seconds, 2), "accuracy": acc, "text": text,
                               "screenshot": shot.name}, indent=1))
    print(f"click -> evaluated net shown: {seconds:.2f} s ({text})")    # the target (<= 5 s) is read here, not asserted
