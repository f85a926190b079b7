"""Did a change move any accuracy? Compare every accuracy in the reports of two runs of the notebooks.

    python benchmarks/compare_reports.py reports_before/ reports_after/          # two folders of reports/*.json
    python benchmarks/compare_reports.py --run c5d79cf                          # run notebooks 00-09 at smoke at that
                                                                                # commit and at this checkout, compare

Accuracy columns are those whose name says so (accuracy, best / mean / min ..., *_mean, ratio, original, recon,
generated, random_init, finetune, decline ...); time, memory and distance columns are left out (they differ run to run). A
row is matched by its position in its table, and tables by name; a table or row present on one side only is listed.
Exit status 1 when any accuracy differs by more than --tol (in the column's own units).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ACCURACY = re.compile(r"^(best|mean|median|min|max|std)$|acc|decline|margin|_mean$|_best$|_min$|_max$|ratio|^original|^recon|^generated|random_init|finetune|"
                      r"^trained|^zero_shot|^retrieval|^majority|^a_on_|^b_on_|_on_own|_on_other")
NOT_ACCURACY = re.compile(r"second|_s$|_s_|time|memory|mib|rss|dist|iou|loss|nll|entropy|step|passes|param|codes|"
                          r"windows|sigma|perplexity|usage")
ROOT = Path(__file__).resolve().parents[1]


def accuracy_columns(rows: list[dict]) -> list[str]:
    cols = {k for r in rows for k, v in r.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    return sorted(c for c in cols if ACCURACY.search(c) and not NOT_ACCURACY.search(c))


def compare(before: Path, after: Path, tol: float = 1e-6) -> list[str]:
    """Lines naming every accuracy that differs (notebook / table / row / column: before -> after)."""
    out = []
    names = sorted({p.name for p in before.glob("*.json")} | {p.name for p in after.glob("*.json")})
    for name in names:
        a, b = before / name, after / name
        if not (a.exists() and b.exists()):
            out.append(f"{name}: only in {'before' if a.exists() else 'after'}")
            continue
        ta, tb = json.loads(a.read_text()).get("tables", {}), json.loads(b.read_text()).get("tables", {})
        for table in sorted(set(ta) | set(tb)):
            ra, rb = ta.get(table), tb.get(table)
            if ra is None or rb is None:
                out.append(f"{name} / {table}: only in {'before' if rb is None else 'after'}")
                continue
            if len(ra) != len(rb):
                out.append(f"{name} / {table}: {len(ra)} rows before, {len(rb)} after")
            for i, (x, y) in enumerate(zip(ra, rb)):
                for col in accuracy_columns([x, y]):
                    u, v = x.get(col), y.get(col)
                    if not isinstance(u, (int, float)) or not isinstance(v, (int, float)) or abs(u - v) > tol:
                        label = next((str(x[k]) for k in ("method", "zoo", "arch", "pair", "task", "model")
                                      if k in x), str(i))
                        out.append(f"{name} / {table} / row {i} ({label}) / {col}: {u} -> {v}")
    return out


def run_notebooks(checkout: Path, work: Path, notebooks: list[str]) -> Path:
    """Run `notebooks` at smoke in `checkout` with its own zoos, reports and figures under `work`; the reports."""
    env = {**os.environ, "PYTHONPATH": str(checkout), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "MPLBACKEND": "Agg", "TQDM_DISABLE": "1", "WORKBENCH_ZOOS": str(work / "zoos"),
           "WORKBENCH_REPORTS": str(work / "reports"), "WORKBENCH_FIGURES": str(work / "figures")}
    subprocess.run([sys.executable, "-m", "workbench.reproduce", "--preset", "smoke",
                    *[str(checkout / "notebooks" / n) for n in notebooks]], cwd=checkout, env=env, check=False)
    return work / "reports"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("before", nargs="?", help="a folder of report JSONs (or use --run)")
    ap.add_argument("after", nargs="?", help="a folder of report JSONs (default with --run: this checkout's run)")
    ap.add_argument("--run", metavar="REV", help="run the notebooks at smoke at REV (a git worktree) and here")
    ap.add_argument("--notebooks", default="0[0-9]_*.ipynb", help="glob under notebooks/ (default: 00-09)")
    ap.add_argument("--tol", type=float, default=1e-6)
    args = ap.parse_args(argv)
    if args.run:
        nbs = sorted(p.name for p in (ROOT / "notebooks").glob(args.notebooks))
        work = Path(tempfile.mkdtemp(prefix="compare_reports_"))
        tree = work / "before_checkout"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), args.run], check=True)
        try:
            before = run_notebooks(tree, work / "before", [n for n in nbs if (tree / "notebooks" / n).exists()])
            after = run_notebooks(ROOT, work / "after", nbs)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=False)
        print(f"[compare_reports] reports under {work}")
    elif args.before and args.after:
        before, after = Path(args.before), Path(args.after)
    else:
        ap.error("give two report folders, or --run REV")
    for folder in (before, after):
        if not list(Path(folder).glob("*.json")):
            ap.error(f"{folder} holds no report JSONs (a reports/ folder, e.g. WORKBENCH_REPORTS of a run)")
    diffs = compare(before, after, args.tol)
    n = sum(len(json.loads(p.read_text()).get("tables", {})) for p in Path(before).glob("*.json"))
    print(f"[compare_reports] {len(list(Path(before).glob('*.json')))} reports, {n} tables compared: "
          f"{len(diffs)} accuracies differ (tol {args.tol:g})")
    for line in diffs:
        print("  " + line)
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
