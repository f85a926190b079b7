"""Every result is a file: reports/<notebook>.json (tables + config + environment) and reports/<notebook>.md.

    report = Report("00_zoos", preset)
    report.table("zoo_accuracy", rows, paper=[...], note="...")
    report.figure(fig, "pca_heads")          # figures/00_zoos__pca_heads.png
    report.write()
"""
from __future__ import annotations

import importlib.metadata
import math
import os
import platform
import subprocess
import time
from pathlib import Path

from . import io

PACKAGES = ("torch", "torchvision", "numpy", "scikit-learn", "transformers", "timm", "peft", "safetensors", "mamba-ssm")


def environment() -> dict:
    """Package versions, git commit (+dirty flag), device: what a number needs to be reproduced."""
    import torch

    versions = {}
    for p in PACKAGES:
        try:
            versions[p] = importlib.metadata.version(p)
        except importlib.metadata.PackageNotFoundError:
            pass
    env = {"python": platform.python_version(), "platform": platform.platform(), "packages": versions,
           "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"cpu ({os.cpu_count()} cores)",
           "torch_threads": torch.get_num_threads(), "cpu": _cpu_model(),
           # the instruction set torch dispatches its CPU kernels to: floats can differ in the last bits across
           # AVX2 / AVX512 machines, and SGD amplifies that (zoo accuracies move by up to ~1 point across CPUs)
           "cpu_isa": torch.backends.cpu.get_cpu_capability()}
    try:
        git = lambda *a: subprocess.run(["git", *a], cwd=io.ROOT, capture_output=True, text=True, timeout=10).stdout.strip()  # noqa: E731
        env["git_commit"] = git("rev-parse", "HEAD") or None
        # dirty: a tracked source file differs from the commit (reports/ and figures/ are what runs write)
        env["git_dirty"] = bool(git("status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)reports",
                                    ":(exclude)figures"))
    except (OSError, subprocess.SubprocessError):
        env["git_commit"] = None
    return env


def _cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _fmt(v) -> str:
    if v is None:                       # a value that does not exist (e.g. a target never reached): an empty cell
        return ""
    if isinstance(v, float):
        return "nan" if math.isnan(v) else f"{v:.2f}" if abs(v) >= 0.01 or v == 0 else f"{v:.2e}"
    return str(v)


def markdown_table(rows: list[dict]) -> str:
    if not rows:
        return "_(empty)_\n"
    cols = list(rows[0])
    for r in rows[1:]:
        cols += [c for c in r if c not in cols]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(_fmt(r.get(c, "")) for c in cols) + " |" for r in rows]
    return "\n".join(lines) + "\n"


class Report:
    def __init__(self, notebook: str, preset=None, config: dict | None = None):
        self.notebook = notebook
        self.preset = preset
        self.config = {"preset": preset.to_dict() if preset is not None else None, **(config or {})}
        self.tables: dict[str, list[dict]] = {}
        self.paper: dict[str, list[dict]] = {}
        self.notes: dict[str, str] = {}
        self.figures: list[str] = []
        self.t0 = time.perf_counter()

    def table(self, name: str, rows: list[dict], *, paper: list[dict] | None = None, note: str = "") -> str:
        """Record a table (rows of equal columns); `paper` holds the paper's numbers to print beside ours."""
        self.tables[name] = [dict(r) for r in rows]
        if paper is not None:
            self.paper[name] = paper
        if note:
            self.notes[name] = note
        return markdown_table(rows)

    def figure(self, fig, panel: str) -> Path:
        path = io.figures_dir() / f"{self.notebook}__{panel}.png"
        io.atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight"))
        self.figures.append(path.name)
        return path

    def to_dict(self) -> dict:
        return {"notebook": self.notebook, "preset": getattr(self.preset, "name", None), "config": self.config,
                "environment": environment(), "seconds": round(time.perf_counter() - self.t0, 1),
                "tables": self.tables, "paper": self.paper, "notes": self.notes, "figures": self.figures}

    def write(self) -> tuple[Path, Path]:
        d = self.to_dict()
        out = io.reports_dir()
        jpath, mpath = out / f"{self.notebook}.json", out / f"{self.notebook}.md"
        env = d["environment"]
        md = [f"# {self.notebook} (preset `{d['preset']}`)\n",
              f"{d['seconds']} s on {env['device']}, {env.get('cpu')} ({env.get('cpu_isa')}); "
              f"torch {env['packages'].get('torch')}; "
              f"commit {str(env.get('git_commit'))[:10]}{' (dirty)' if env.get('git_dirty') else ''}.\n"]
        for name, rows in self.tables.items():
            md.append(f"## {name}\n")
            md.append(markdown_table(rows))
            if name in self.paper:
                md.append("\nPaper:\n\n" + markdown_table(self.paper[name]))
            if name in self.notes:
                md.append(f"\n{self.notes[name]}\n")
        md += [f"\n![{f}](../figures/{f})\n" for f in self.figures]
        io.write_json(jpath, d)
        io.atomic_write_text(mpath, "\n".join(md))
        return jpath, mpath
