"""Run notebooks headlessly with papermill at a preset: `python -m workbench.reproduce --preset small`.

Executed copies go to reports/executed/; each notebook writes its own reports/<name>.{json,md} and figures, only
when it reaches its last cell, so a notebook that fails leaves the earlier good reports in place. Failures are
listed by name and make the exit status non-zero. At the end a table of seconds per notebook is printed and written
to reports/reproduce.json, with the zoos and generator runs each notebook had to make, those it reused from the caches
(and the seconds their making had cost: a cold run's estimate adds them back), the commit and the CPU.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

from . import io
from .presets import PRESETS

NOTEBOOKS = io.ROOT / "notebooks"


def notebooks(pattern: str = "*.ipynb", folder: Path = NOTEBOOKS) -> list[Path]:
    found = sorted(p for p in Path(folder).glob(pattern) if ".ipynb_checkpoints" not in p.parts)
    if not found:
        raise FileNotFoundError(f"no notebooks match {pattern!r} in {folder}")
    return found


KERNEL_INFO_TIMEOUT = 60     # seconds papermill may wait for the kernel's last reply once every cell has run


def _closing_request(kc) -> str:
    """The msg_id of the request whose reply ends a run (a seam for the test of a reply that never comes)."""
    return kc.kernel_info()


def _engine() -> str:
    """papermill's nbclient engine with one change: once every cell has run, the closing kernel_info request waits
    at most KERNEL_INFO_TIMEOUT. papermill waits for it without a limit, and that reply sometimes never comes
    (nteract/papermill#711): a CI run hung there for 90 minutes after a notebook had finished and written its report."""
    from nbclient.util import run_sync
    from papermill.clientwrap import PapermillNotebookClient
    from papermill.engines import NBClientEngine, papermill_engines

    class Client(PapermillNotebookClient):
        async def _closing_reply(self):
            try:
                return await asyncio.wait_for(self.async_wait_for_reply(_closing_request(self.kc)), KERNEL_INFO_TIMEOUT)
            except asyncio.TimeoutError:
                return None

        def execute(self, **kwargs):
            self.reset_execution_trackers()
            with self.setup_kernel(**kwargs):
                self.papermill_execute_cells()
                info = run_sync(self._closing_reply)()
                if info:
                    self.nb.metadata["language_info"] = info["content"]["language_info"]
                else:
                    self.log.warning(f"no kernel_info reply in {KERNEL_INFO_TIMEOUT} s after the last cell; "
                                     "the notebook ran, its language_info metadata is left out")
                self.set_widgets_metadata()
            return self.nb

    class Engine(NBClientEngine):
        @classmethod
        def execute_managed_notebook(cls, nb_man, kernel_name, log_output=False, stdout_file=None, stderr_file=None,
                                     start_timeout=60, execution_timeout=None, **kwargs):
            kwargs = {k: v for k, v in kwargs.items() if k not in ("input_path", "timeout", "startup_timeout")}
            return Client(nb_man, timeout=execution_timeout, startup_timeout=start_timeout, kernel_name=kernel_name,
                          log=logging.getLogger("papermill"), log_output=log_output, stdout_file=stdout_file,
                          stderr_file=stderr_file, **kwargs).execute()

    papermill_engines.register("workbench", Engine)
    return "workbench"


def run(paths: list[Path], preset: str, *, out_dir: Path | None = None, kernel: str | None = None,
        parameters: dict | None = None, cell_timeout: float | None = None) -> dict[str, str]:
    """Execute each notebook with PRESET=preset; returns {name: "ok" | error line}. cell_timeout: seconds any one
    cell may run before the notebook fails (default: no limit; the tests set one, so a hang fails instead of waiting)."""
    import papermill as pm

    if preset not in PRESETS:
        raise KeyError(f"unknown preset {preset!r}; available: {', '.join(PRESETS)}")
    out_dir = Path(out_dir or io.reports_dir() / "executed")
    out_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TQDM_MININTERVAL", "5")
    results, timing, paid = {}, [], set()    # paid: cache entries an earlier notebook of this run made or used
    for nb in paths:
        before = _cached(preset)
        fd, log = tempfile.mkstemp(prefix=f"{nb.stem}-", suffix=".cache.log")
        os.close(fd)
        log = Path(log)
        previous_log, os.environ[io.CACHE_LOG] = os.environ.get(io.CACHE_LOG), str(log)   # the kernel inherits it
        t0 = time.perf_counter()
        print(f"[reproduce] {nb.name} at preset {preset} ...", flush=True)
        try:
            pm.execute_notebook(str(nb), str(out_dir / nb.name), parameters={"PRESET": preset, **(parameters or {})},
                                kernel_name=kernel, cwd=str(nb.parent), progress_bar=False, engine_name=_engine(),
                                execution_timeout=cell_timeout)
            results[nb.stem] = "ok"
        except Exception as exc:  # noqa: BLE001  (any failure is reported by name; the batch goes on)
            msg = [ln for ln in str(exc).strip().splitlines() if ln.strip("- ")]
            if type(exc).__name__ == "CellTimeoutError":
                msg = [f"a cell ran past cell_timeout = {cell_timeout:g} s (timed out): {msg[-1] if msg else ''}"]
            results[nb.stem] = f"FAILED: {type(exc).__name__}: {msg[-1] if msg else ''}"
        finally:
            if previous_log is None:
                del os.environ[io.CACHE_LOG]
            else:
                os.environ[io.CACHE_LOG] = previous_log
        seconds = time.perf_counter() - t0
        after = _cached(preset)
        made, used = after - before, _used(log, preset, after)
        log.unlink(missing_ok=True)
        reused = used - made
        timing.append({"notebook": nb.stem, "status": results[nb.stem], "seconds": round(seconds, 1),
                       "zoos_collected": sum(1 for m in made if not m.startswith("generators/")),
                       "generators_trained": sum(1 for m in made if m.startswith("generators/")),
                       "zoos_reused": sum(1 for m in reused if not m.startswith("generators/")),
                       "generators_reused": sum(1 for m in reused if m.startswith("generators/")),
                       "reused_work_s": round(sum(_recorded_seconds(preset, m) for m in reused - paid), 1)})
        paid |= used | made
        print(f"[reproduce] {nb.name}: {results[nb.stem]} ({seconds:.0f} s)", flush=True)
    _write_timing(timing, preset)
    return results


def _cached(preset: str) -> set[str]:
    """The finished zoos and generator runs in the cache for `preset` (a folder with a manifest / info.json)."""
    root = io.zoos_dir() / preset
    if not root.is_dir():
        return set()
    zoos = [*root.glob("*/manifest.json"), *root.glob("collection-*/*/manifest.json")]  # a collection's zoos nest
    zoos = [p for p in zoos if ".canonical-" not in p.parent.name]   # an aligned copy is derived, not collected
    done = {p.parent for p in zoos} | {p.parent for p in root.glob("generators/*/info.json")}
    return {str(p.relative_to(root)) for p in done}


def _used(log: Path, preset: str, entries: set[str]) -> set[str]:
    """The finished cache entries (of `entries`, as `_cached` names them) that a notebook's kernel logged using
    (io.note_cache_use); a logged collection stands for the zoos inside it."""
    root = (io.zoos_dir() / preset).resolve()
    logged = {str(Path(p).relative_to(root)) for p in (log.read_text().splitlines() if log.exists() else [])
              if Path(p).is_relative_to(root)}
    return {e for e in entries if e in logged or e.split("/")[0] in logged}


def _recorded_seconds(preset: str, entry: str) -> float:
    """What a cache entry cost when it was made, as it recorded: a generator run's training seconds (info.json;
    one run trained in a worker beside another counts its own wall clock), a zoo's collect_seconds (a resumed
    collection records only its last part). 0 where nothing is recorded."""
    path = io.zoos_dir() / preset / entry
    try:
        if entry.startswith("generators/"):
            return float(io.read_json(path / "info.json").get("seconds") or 0)
        return float(io.read_json(path / io.MANIFEST_FILE).get("collect_seconds") or 0)
    except (OSError, ValueError):
        return 0.0


def _write_timing(timing: list[dict], preset: str) -> None:
    import json

    from .reporting import environment, markdown_table

    env = environment()
    total = sum(t["seconds"] for t in timing)
    cold = total + sum(t.get("reused_work_s", 0) for t in timing)
    print(f"[reproduce] preset {preset}, {total:.0f} s in all ({total / 3600:.2f} h) on {env['cpu']}:\n"
          + markdown_table(timing + [{"notebook": "total", "seconds": round(total, 1)}])
          + f"\n[reproduce] with empty caches about {cold:.0f} s ({cold / 3600:.2f} h): this run's seconds plus the "
          "recorded seconds of the zoos and generators it reused (reused_work_s)", flush=True)
    io.atomic_write_text(io.reports_dir() / "reproduce.json", json.dumps(
        {"preset": preset, "seconds": round(total, 1), "cold_estimate_s": round(cold, 1), "notebooks": timing,
         "environment": env}, indent=1))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="small", choices=sorted(PRESETS))
    ap.add_argument("notebooks", nargs="*", help="notebook paths (default: every notebooks/*.ipynb)")
    ap.add_argument("--kernel", default=None)
    ap.add_argument("--cell-timeout", type=float, default=None, help="seconds one cell may run (default: no limit)")
    args = ap.parse_args(argv)
    paths = [Path(p) for p in args.notebooks] or notebooks()
    results = run(paths, args.preset, kernel=args.kernel, cell_timeout=args.cell_timeout)
    failed = {k: v for k, v in results.items() if v != "ok"}
    print(f"[reproduce] {len(results) - len(failed)}/{len(results)} notebooks ok" +
          ("".join(f"\n  {k}: {v}" for k, v in failed.items())))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
