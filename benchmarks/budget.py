"""What shorter generator training costs the leaderboard's conclusions (issue 21: the reproduction budget).

Every registered method is trained on leaderboard zoos at fractions of its preset's steps (fraction 1 is the
leaderboard's own cached run), n models are generated per run and the memorisation audit scores them beside the
zoo's cached baselines, as notebook 08 does. Printed: per (zoo, method, steps) the accuracy ratio, the worst model,
max IoU, distances and the audit's verdict, so that a cut of the `small` preset's steps can be judged by whether a
verdict or a ratio moves.

    .venv/bin/python benchmarks/budget.py                                    # rpg pdiff flow, 1 / 0.5 / 0.25
    .venv/bin/python benchmarks/budget.py --zoos last_epoch:cnn_s --methods rpg --fractions 1,0.5 --out budget.json

IGPG is not in the default list: its `steps` is only a cap on the prior where no pass count is set (generators/igpg/
sizes.py), and at `small` its length comes from config["vq_steps"] and zoo["prior_passes"]; `--methods igpg` trains
the same run once per fraction (measured: identical rows at 2,000 / 1,000 / 500 steps, ~600 s each).

Run it alone on an idle machine: it trains in one pool of one-thread workers (experiments.train_in_workers), and
the runs land in the generator cache like any other, so a second call only generates and scores.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from workbench import audit, bench, cost, experiments, presets  # noqa: E402
from workbench.generators import available_generators  # noqa: E402
from workbench.generators import method as method_class  # noqa: E402
from workbench.reporting import environment, markdown_table  # noqa: E402

COLUMNS = ("zoo", "method", "steps", "fraction", "train_s", "ratio", "min_ratio", "max_iou", "dist_nearest",
           "dist_within", "dist_nearest_aligned", "verdict")


def budget_rows(preset, zoos: dict, methods: list[str], fractions: list[float], *, n: int, seed: int = 0,
                progress: bool = True) -> list[dict]:
    """One row per (zoo, method, fraction of the method's steps) that applies: the audit's columns (COLUMNS)."""
    runs = []      # (zoo label, zoo, method, fraction, the preset with that method's steps)
    for label, zoo in zoos.items():
        for m in methods:
            if method_class(m).applies_to(zoo, preset):
                continue
            full = preset.train_config(m).steps
            for f in fractions:
                runs.append((label, zoo, m, f, preset.with_method(m, steps=max(1, round(f * full)))))
    # the longest first (IGPG trains ~3x as long as the others), so no worker is left alone with it at the end
    jobs = sorted(({"method": m, "zoo": z, "preset": p} for _, z, m, _, p in runs),
                  key=lambda j: (j["method"] != "igpg", -j["preset"].train_config(j["method"]).steps))
    experiments.train_in_workers(jobs, preset, seed=seed, progress=progress)
    rows = []
    for label, zoo in zoos.items():
        mine = [r for r in runs if r[0] == label]
        if not mine:
            continue
        generated, extra = {}, {}
        for _, _, m, f, p in mine:
            gen, info = experiments.trained(m, zoo, p, seed=seed, progress=progress)
            gen.eval()
            steps = p.train_config(m).steps
            name = f"{m} {steps} steps"
            generated[name], _ = cost.generate_timed(gen, n, seed=seed)
            extra[name] = {"zoo": label, "method": m, "steps": steps, "fraction": f,
                           "train_s": info.get("train_seconds", info["seconds"])}
        data = zoo.dataset()
        scored, _ = audit.audit(zoo, data.X_test, data.y_test, generated, n=n, sigmas=preset.audit_sigmas, seed=seed)
        rows += [{c: {**r, **extra[r["method"]]}.get(c) for c in COLUMNS} for r in scored if r["method"] in extra]
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="small")
    ap.add_argument("--zoos", default="last_epoch:cnn_s,many_seeds:cnn_s",
                    help="comma-separated recipe:net of the preset's zoos (as in its leaderboard_zoos)")
    ap.add_argument("--methods", default="rpg,pdiff,flow", help="comma-separated registered methods")
    ap.add_argument("--fractions", default="1,0.5,0.25", help="fractions of each method's steps")
    ap.add_argument("--n", type=bench._positive, default=None, help="models per set (default: the preset's audit_n)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help="also write the rows and the environment to this JSON file")
    args = ap.parse_args(argv)
    preset = presets.get(args.preset)
    methods = [m for m in args.methods.split(",") if m]
    unknown = bench.unknown_methods(methods)
    if unknown:
        ap.error(f"unknown methods {unknown}; registered: {', '.join(available_generators())}")
    try:
        fractions = [float(f) for f in args.fractions.split(",")]
    except ValueError:
        ap.error(f"--fractions {args.fractions!r}: give comma-separated numbers in (0, 1], e.g. 1,0.5")
    if not all(0 < f <= 1 for f in fractions):
        ap.error(f"--fractions {args.fractions!r}: each must lie in (0, 1]")
    zoos = {}
    for spec in args.zoos.split(","):
        recipe, _, net = spec.partition(":")
        if recipe not in ("last_epoch", "seeds", "many_seeds") or not net:
            ap.error(f"--zoos {spec!r}: give recipe:net with recipe last_epoch, seeds or many_seeds, e.g. last_epoch:cnn_s")
        zoos[preset.zoo_label(recipe, net)] = preset.zoo(recipe, net, seed=args.seed)
    t0 = time.perf_counter()
    rows = budget_rows(preset, zoos, methods, fractions, n=args.n or preset.audit_n, seed=args.seed)
    print(markdown_table(rows))
    print(f"[budget] {len(rows)} rows in {time.perf_counter() - t0:.0f} s (preset {preset.name})")
    if args.out:
        from workbench.io import atomic_write_text

        atomic_write_text(args.out, json.dumps({"rows": rows, "environment": environment()}, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
