"""One bench for every method: train each registered generator on a zoo, generate, and audit it beside the
baselines with the same evaluation (`workbench.audit`). The leaderboard notebook runs it on the preset's zoos;
`python -m workbench.bench --zoo PATH` runs it on anyone's zoo folder.

    rows, points = leaderboard(zoo, preset)                   # every registered method that applies + baselines
    report = bench(zoo, preset, methods=["rpg"])              # + reports/bench__<zoo>.{json,md} and figures
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from . import cost, evaluate, experiments, plots
from .audit import ACCURACY_FLOOR, audit, classify, farther_test, key_scale, verdict_line  # noqa: F401  (bench.classify, bench.verdict_line)
from .generators import available_generators
from .generators import method as method_class

COLUMNS = ("zoo", "method", "kind", "n", "ratio", "best_ratio", "median_ratio", "min_ratio", "max_iou",
           "dist_nearest", "train_dist_nearest", "dist_within", "dist_nearest_aligned", "train_dist_nearest_aligned",
           "dist_within_aligned", "farther_aligned", "noise_iou_at_accuracy", "iou_margin", "iou_margin_ci",
           "more_novel_than_noise", "verdict", "p_farther", "farther_than_training", "train_s", "generate_s", "peak_mb",
           "note")
# the winner of each column: the best value among the generators' rows
BEST = {"ratio": max, "min_ratio": max, "max_iou": min, "dist_nearest": max, "train_s": min, "generate_s": min,
        "peak_mb": min}


def run_method(name: str, zoo, preset, *, n: int, seed: int = 0, memory: bool = True, progress: bool = True,
               **overrides) -> tuple[torch.Tensor | None, dict]:
    """Train (or reload) `name` on `zoo` and generate n models. Returns (flat [n, D] or None, cost/note fields)."""
    why = method_class(name).applies_to(zoo, preset)
    if why:
        return None, {"note": why}
    gen, info = experiments.trained(name, zoo, preset, seed=seed, progress=progress, **overrides)
    gen.eval()
    flat, seconds = cost.generate_timed(gen, n, seed=seed)
    out = {"train_s": info.get("train_seconds", info["seconds"]), "generate_s": seconds / n, "peak_mb": None,
           "note": WORKER_NOTE if info.get("in_worker") else
           "generator reloaded from its cache (train_s from the run that trained it)" if info["cached"] else ""}
    if memory:   # a fresh process: the peak RSS of generating one net, loading excluded (cost.measure)
        out["peak_mb"] = cost.sample_cost(info["path"], n=1, seed=seed)["extra_mb"]
    if gen.dial is not None:      # the method's novelty dial: one more set per value, scored like any set
        knob, values = gen.dial
        out["dial"] = {}
        for v in values:     # the preset's own setting is the method's row: its set, not a second identical draw
            same = getattr(gen.config, knob, None) == v
            dial_flat, dial_seconds = (flat, seconds) if same else cost.generate_timed(gen, n, seed=seed, **{knob: v})
            out["dial"][dial_label(name, knob, v)] = (dial_flat, {
                "train_s": out["train_s"], "generate_s": dial_seconds / n,
                "note": f"{name} sampled at {knob} {v:g} (its novelty dial; the {name} row: the preset's setting)"})
    return flat, out


WORKER_NOTE = "trained in a worker process beside another (experiments.train_in_workers; train_s: its wall clock)"


def dial_label(method: str, knob: str, value: float) -> str:
    """The leaderboard name of a method's set at one setting of its dial, e.g. "igpg temperature=0.7"."""
    return f"{method} {knob}={value:g}"


def unknown_methods(methods) -> list[str]:
    """The names in `methods` that no generator is registered under (the library and the CLI refuse them)."""
    return [m for m in methods or [] if m not in available_generators()]


def leaderboard(zoo, preset, *, methods: list[str] | None = None, label: str | None = None, seed: int = 0,
                n: int | None = None, memory: bool = True, progress: bool = True,
                sets: dict | None = None) -> tuple[list[dict], dict]:
    """Leaderboard rows (COLUMNS) for one zoo: the originals, the audit's baselines and every method in `methods`
    (default: every registered one); a method that does not apply gets a row with its reason in `note`.
    `sets`, if given, receives each method's generated set ([n, D], zoo layout) by name."""
    methods = list(methods or available_generators())
    unknown = unknown_methods(methods)
    if unknown:
        raise KeyError(f"unknown methods {unknown}; registered: {', '.join(available_generators())}")
    if n is not None and (not isinstance(n, int) or n < 1):
        raise ValueError(f"n={n!r} models per set; give a whole number ≥ 1 (or None for the preset's audit_n)")
    if not torch.isfinite(zoo.flat).all():
        raise ValueError(f"zoo {zoo.path}: its checkpoints contain NaN/inf; remove them before benching")
    n = preset.audit_n if n is None else n
    label = label or zoo.label
    data = zoo.dataset()
    generated, extra, dials = {}, {}, {}
    experiments.train_in_workers([{"method": m, "zoo": zoo} for m in methods], preset, seed=seed,
                                 progress=progress)    # side by side where that pays (workers.workers_for)
    for m in methods:
        flat, info = run_method(m, zoo, preset, n=n, seed=seed, memory=memory, progress=progress)
        extra[m] = info
        if flat is not None:
            generated[m] = flat
        for label_v, (dial_flat, dial_info) in info.pop("dial", {}).items():
            generated[label_v], extra[label_v], dials[label_v] = dial_flat, dial_info, m
    if sets is not None:
        sets.update(generated)
    rows, points = audit(zoo, data.X_test, data.y_test, generated, n=n, sigmas=preset.audit_sigmas,
                                  seed=seed, progress=progress)
    for label_v, m in dials.items():      # the scatter figure draws each method's dial as one curve
        points[label_v]["dial"] = m
    out = []
    for r in rows:
        out.append({c: ({"zoo": label, **r, **extra.get(r["method"], {})}).get(c) for c in COLUMNS})
    for m in methods:
        if m not in generated:
            out.append({c: {"zoo": label, "method": m, "kind": "generator", **extra[m]}.get(c) for c in COLUMNS})
    return out, points


def train_generators(zoos, preset, *, methods: list[str] | None = None, task_zoo=None,
                     conditions: tuple[str, ...] = ("code",), task_preset=None, seed: int = 0,
                     progress: bool = True) -> int:
    """Train every generator that `leaderboard` on each of `zoos` (and `task_leaderboard` on `task_zoo` with
    `conditions`, under `task_preset`, default `preset`) will use, in one pool of worker processes where that pays
    (experiments.train_in_workers: one pool balances better than one per zoo). The leaderboards then reload them
    from the cache. Returns how many were trained here."""
    methods = list(methods or available_generators())
    # the longest first, so that no worker is left alone with a long one at the end: IGPG, then the task RPGs (on
    # notebook 11's adapters, one thread each: IGPG ~450 s, a task RPG ~190 s, the others 50-130 s)
    jobs = [{"method": m, "zoo": z} for m in methods if m == "igpg" for z in zoos]
    if task_zoo is not None:
        jobs += [{"task": c, "zoo": task_zoo, "preset": task_preset or preset} for c in conditions]
    jobs += [{"method": m, "zoo": z} for m in methods if m != "igpg" for z in zoos]
    return experiments.train_in_workers(jobs, preset, seed=seed, progress=progress)


def task_leaderboard(task_zoo, preset, *, seed: int = 0, n: int | None = None, label: str | None = None,
                     conditions: tuple[str, ...] = ("code",), progress: bool = True) -> tuple[list[dict], dict]:
    """Rows (COLUMNS) for a binary-task zoo: RPG conditioned on each task's code (and/or the MiniLM embedding of its
    description or of a few examples: `conditions`, experiments.TASK_CONDITIONS), trained on the seen tasks,
    generating for the *unseen* ones, against (a) the unseen task's own held-out checkpoint (ratio = accuracy / its
    accuracy), (b) retrieval of the seen checkpoint whose code is nearest in Hamming distance (the copy machine) and
    (c) the majority class. Novelty: each model's distance to its nearest seen checkpoint against the seen
    checkpoints' distances to each other, and its max wrong-prediction IoU to the seen checkpoints on the unseen
    task's labels. No noise sweep: an unseen task has no training checkpoint to perturb. points[name]["task_acc"]
    is each unseen task's mean accuracy (%) for per-task comparisons."""
    from .data.tasks import binary_labels, majority_baseline

    label = label or f"{task_zoo.label} (unseen codes)"
    gens = {}
    experiments.train_in_workers([{"task": c, "zoo": task_zoo} for c in conditions], preset, seed=seed, progress=progress)
    for cond in conditions:
        name = "rpg" if cond == "code" else f"rpg · {cond}"
        gen, info, seen_idx, unseen_idx = experiments.task_generator(task_zoo, preset, condition=cond, seed=seed,
                                                                     progress=progress)
        gens[name] = (gen, info, experiments.task_conditions(task_zoo, cond, seed=seed), cond)
    n_per = max(1, (n or preset.audit_n) // max(1, len(unseen_idx)))
    data = task_zoo.dataset()
    X, y = data.X_test, data.y_test
    seen = task_zoo.flat[seen_idx]
    scale = key_scale(task_zoo.subset(seen_idx)).double()
    z_seen = seen.double() / scale
    pred_seen = evaluate.predict(task_zoo, seen, X)                      # [S, n] 0/1 predictions of the seen heads
    codes = task_zoo.codes
    names = ["original", "nearest seen task (retrieval)", *gens]
    acc, iou, dist = ({k: [] for k in names} for _ in range(3))
    gen_seconds = dict.fromkeys(gens, 0.0)
    for i in unseen_idx.tolist():
        labels = binary_labels(y, codes[i])
        wrong_seen = pred_seen != labels
        near = (codes[seen_idx] != codes[i]).sum(1).argmin()
        sets = {"original": task_zoo.flat[i: i + 1], "nearest seen task (retrieval)": seen[near: near + 1]}
        for name, (gen, _, cond, _) in gens.items():
            sets[name], sec = cost.generate_timed(gen, n_per, seed=seed * 100_003 + i, codes=cond[i])
            gen_seconds[name] += sec
        for name, params in sets.items():
            wrong = evaluate.wrong_masks(evaluate.predict(task_zoo, params, X), labels)
            acc[name].append((~wrong).double().mean(1) * 100)
            iou[name].append(evaluate.max_iou(wrong, wrong_seen))
            dist[name].append(evaluate.pairwise_distances(params.double() / scale, z_seen).min(1).values)
    task_acc = {k: torch.stack([a.mean() for a in v]) for k, v in acc.items()}
    acc, iou, dist = ({k: torch.cat(v) for k, v in d.items()} for d in (acc, iou, dist))
    orig_acc = acc["original"]
    train_dist = evaluate.nearest_other(z_seen)
    majority = torch.tensor([majority_baseline(y, codes[i]) * 100 for i in unseen_idx.tolist()], dtype=torch.float64)
    rows, points = [], {}
    for name in names:
        per = n_per if name in gens else 1
        r = acc[name] / orig_acc.repeat_interleave(per)
        kind = "original" if name == "original" else "generator" if name in gens else "baseline"
        ft = farther_test(dist[name], train_dist)
        row = {"zoo": label, "method": name, "kind": kind, "n": len(r), "ratio": r.mean().item(),
               "best_ratio": r.max().item(), "median_ratio": evaluate.median(r), "min_ratio": r.min().item(),
               "max_iou": iou[name].mean().item(), "dist_nearest": evaluate.median(dist[name]),
               "train_dist_nearest": evaluate.median(train_dist), "p_farther": ft["p_farther"],
               "farther_than_training": ft["farther"],
               "note": "held-out checkpoint of each unseen task (distance: to the nearest seen one)"
               if name == "original" else ""}
        if name in gens:
            info, cond = gens[name][1], gens[name][3]
            row.update({"train_s": info.get("train_seconds", info["seconds"]), "generate_s": gen_seconds[name] / len(r),
                        "note": (WORKER_NOTE + "; " if info.get("in_worker") else "")
                                + f"conditioned on the unseen task's {cond}"
                                + (" (MiniLM embedding)" if cond != "code" else "")
                                + "; no noise sweep (no training checkpoint of an unseen task to perturb)"})
        rows.append({c: row.get(c) for c in COLUMNS})
        points[name] = {"kind": kind, "acc": acc[name], "iou": iou[name], "dist": dist[name], "task_acc": task_acc[name]}
    points["training ↔ training"] = {"kind": "train", "dist": train_dist}
    rows.append({c: {"zoo": label, "method": "majority class", "kind": "baseline", "n": len(majority),
                     "ratio": (majority / orig_acc).mean().item(), "min_ratio": (majority / orig_acc).min().item(),
                     "note": "always the more frequent label"}.get(c) for c in COLUMNS})
    return rows, points


ACCURATE = ACCURACY_FLOOR   # a set "keeps the accuracy" when its mean is at least this ratio of the originals'
NOVELTY_COLUMNS = ("max_iou", "dist_nearest")   # won only by sets that keep the accuracy (a broken net is "novel")


def winners(rows: list[dict]) -> list[dict]:
    """The generator that wins each column (ties: every one of them), or a note that no generator ran."""
    gens = [r for r in rows if r["kind"] == "generator" and r.get("n")]
    out = []
    for col, pick in BEST.items():
        pool = [r for r in gens if col not in NOVELTY_COLUMNS or r.get("ratio", 0) >= ACCURATE]
        vals = [r[col] for r in pool if r.get(col) is not None]
        if not vals:
            if col in NOVELTY_COLUMNS and gens:
                out.append({"zoo": rows[0]["zoo"], "column": col, "winner": f"none (no set keeps {ACCURATE:.2f} of the "
                            "originals' accuracy)", "value": None})
            continue
        best = pick(vals)
        out.append({"zoo": rows[0]["zoo"], "column": col, "winner": ", ".join(r["method"] for r in pool if r.get(col) == best),
                    "value": best})
    return out


def scatter_figure(points: dict, title: str = ""):
    """Accuracy vs max IoU: the noise sweep as grey clouds (and its mean curve), every other set as its models."""
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plots._fig(6.0, 4.4)
    noise = [(n, p) for n, p in points.items() if p["kind"] == "noise"]
    cmap = plt.get_cmap("Greys")
    for i, (name, p) in enumerate(noise):
        ax.scatter(p["iou"], p["acc"], s=8, color=cmap(0.3 + 0.6 * i / max(1, len(noise) - 1)), alpha=0.5,
                   label=name if i in (0, len(noise) - 1) else None)
    curve = sorted((p["iou"].mean().item(), p["acc"].mean().item()) for _, p in noise)
    if curve:
        ax.plot(*np.array(curve).T, color="k", lw=1, label="noise sweep (means)")
    markers = iter(["o", "^", "s", "D", "v", "P", "X", "*", "<", ">"])
    dials: dict[str, list] = {}
    for name, p in points.items():
        if p.get("dial"):
            dials.setdefault(p["dial"], []).append((name, p))
    for method, sets in dials.items():    # a method's novelty dial: its sets' means joined in dial order, labelled
        xy = np.array([(p["iou"].mean().item(), p["acc"].mean().item()) for _, p in sets])
        ax.plot(*xy.T, color="tab:purple", lw=1.2, marker="o", ms=4, label=f"{method} dial ({sets[0][0].split()[-1].split('=')[0]})")
        for (name, _), (x, y) in zip(sets, xy):
            ax.annotate(name.split("=")[-1], (x, y), fontsize=6, xytext=(3, 3), textcoords="offset points")
    for name, p in points.items():
        if p["kind"] in ("noise", "train") or p.get("dial"):
            continue
        ax.scatter(p["iou"], p["acc"], s=22 if p["kind"] == "generator" else 12, marker=next(markers, "o"),
                   label=name, alpha=0.85, edgecolors="k" if p["kind"] == "generator" else "none", linewidths=0.4)
    ax.set(xlabel="max wrong-prediction IoU to a training checkpoint", ylabel="accuracy (%)", title=title)
    ax.legend(frameon=False, fontsize=7, loc="lower right")
    return fig


def distance_figure(by_zoo: dict):
    """Nearest-checkpoint distance histograms, one panel per zoo: each method's models vs training-to-training."""
    import matplotlib.pyplot as plt
    import numpy as np

    k = len(by_zoo)
    with plt.rc_context(plots.STYLE):
        fig, axes = plt.subplots(1, k, figsize=(4.2 * k, 3.4), squeeze=False)
    for ax, (zoo, points) in zip(axes[0], by_zoo.items()):
        ref = next((p for p in points.values() if p["kind"] == "train"), points["original"])
        sets = {"training ↔ training": ref["dist"]}
        sets.update({n: p["dist"] for n, p in points.items() if p["kind"] == "generator" and not p.get("dial")})
        vals = np.concatenate([v.numpy() for v in sets.values()])
        vals = vals[np.isfinite(vals) & (vals > 0)]
        bins = np.geomspace(vals.min(), vals.max() * 1.01, 30) if len(vals) and vals.max() > vals.min() else 20
        for i, (name, v) in enumerate(sets.items()):
            v = v.numpy()
            ax.hist(v[np.isfinite(v) & (v > 0)], bins=bins, label=name, histtype="stepfilled" if i == 0 else "step",
                    alpha=0.35 if i == 0 else 1.0, lw=1.6)
        if isinstance(bins, np.ndarray):
            ax.set_xscale("log")
        ax.set(title=zoo, ylabel="models")
        ax.legend(frameon=False, fontsize=7)
    fig.supxlabel("L2 distance to the nearest training checkpoint (per-key std units; training: to the nearest other)",
                  fontsize=9)
    fig.tight_layout()
    return fig


def bench(zoo, preset, *, methods=None, name: str | None = None, seed: int = 0, n: int | None = None,
          memory: bool = True, progress: bool = True):
    """The leaderboard of one zoo written as reports/bench__<name>.{json,md} + figures; returns the Report.

    Each generated set it scores is saved in the zoo format under reports/bench__<name>_sets/<method>/ (weights,
    per-model accuracy, generator config and seed), so every number in the report can be recomputed from files."""
    from . import io
    from .reporting import Report

    name = name or (zoo.path.name if zoo.path is not None else zoo.label)
    folder = io.reports_dir() / f"bench__{name}_sets"
    report = Report(f"bench__{name}", preset, config={"zoo": str(zoo.path), "fingerprint": zoo.fingerprint(),
                                                      "methods": methods, "seed": seed, "sets": str(folder)})
    generated: dict = {}
    rows, points = leaderboard(zoo, preset, methods=methods, label=name, seed=seed, n=n, memory=memory,
                               progress=progress, sets=generated)
    for m, flat in generated.items():
        out = zoo.generated(flat, seed=seed, accuracies=points[m]["acc"] / 100)
        out.manifest["generated"].update(generator=m, preset=preset.name)
        out.save(folder / m)
    report.table("leaderboard", rows, note="ratio: mean accuracy / the originals' mean; max_iou and dist_nearest: "
                 "to the nearest training checkpoint (originals: to another one); noise_iou_at_accuracy: the noise "
                 "sweep's max IoU at the method's accuracy; more_novel_than_noise: the 95 % bootstrap interval of "
                 "iou_margin is below 0 (tested only for sets at or above {:.2f} of the originals' accuracy, against a "
                 "noise sweep extended to reach that floor; below it the verdict is \"inaccurate\"); "
                 "farther_than_training: one-sided Mann-Whitney p < 0.05. Medians are ordinary "
                 "medians (the mean of the two middle values for an even count).".format(ACCURATE))
    report.table("winners", winners(rows))
    report.table("verdicts", [{"method": r["method"], "verdict": verdict_line(r)} for r in rows
                              if r["kind"] in ("generator", "baseline")])
    report.figure(scatter_figure(points, name), "accuracy_vs_iou")
    report.figure(distance_figure({name: points}), "nearest_distance")
    plots.close("all")
    report.write()
    return report


class _Parser(argparse.ArgumentParser):
    """Bad arguments: one line on stderr naming the value and what is accepted, exit status 2 (no traceback)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number; give the number of models per set (≥ 1)")
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} models per set; give at least 1 (or leave --n out for the "
                                         f"preset's audit_n)")
    return value


def main(argv: list[str] | None = None) -> int:
    from . import io, presets
    from .zoo import Zoo

    ap = _Parser(prog="python -m workbench.bench",
                 description="Leaderboard and memorisation audit of every method on one zoo folder")
    ap.add_argument("--zoo", required=True, help="a zoo folder (manifest.json + params.safetensors), e.g. from "
                    "Zoo.from_state_dicts(...).save(PATH) or collect(...)")
    ap.add_argument("--methods", default="", help="comma-separated registered methods (default: all of them): "
                    + ", ".join(available_generators()))
    ap.add_argument("--preset", default="small", help="smoke | small | paper (generator sizes and training steps)")
    ap.add_argument("--n", type=_positive, default=None, help="models per set (default: the preset's audit_n)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--name", default=None, help="report name (default: the zoo's folder name)")
    ap.add_argument("--no-memory", action="store_true", help="skip the peak-memory measurement (a process per method)")
    a = ap.parse_args(argv)
    # every argument is checked before anything is trained or written
    if a.preset not in presets.PRESETS:
        ap.error(f"--preset {a.preset!r} is not a preset; accepted: {', '.join(presets.PRESETS)}")
    methods = [m.strip() for m in a.methods.split(",") if m.strip()] or None
    unknown = unknown_methods(methods)
    if unknown:
        ap.error(f"--methods: unknown {', '.join(map(repr, unknown))}; registered: {', '.join(available_generators())}")
    if not (Path(a.zoo) / "manifest.json").exists():
        ap.error(f"--zoo {a.zoo}: no manifest.json there; make a zoo with Zoo.from_state_dicts(...).save(PATH) or "
                 f"workbench.recipes.collect(...)")
    try:
        zoo = Zoo.load(a.zoo)
        zoo.dataset()
    except (ValueError, KeyError, FileNotFoundError) as exc:   # a pickle, shapes that disagree, NaN, missing data
        ap.error(f"--zoo {a.zoo}: {str(exc).strip(chr(34) + chr(39))}")
    report = bench(zoo, presets.get(a.preset), methods=methods, name=a.name, seed=a.seed, n=a.n,
                   memory=not a.no_memory)
    for r in report.tables["verdicts"]:
        print(r["verdict"])
    print(f"wrote {io.reports_dir() / (report.notebook + '.md')} and the generated sets under "
          f"{report.config['sets']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
