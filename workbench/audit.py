"""The memorisation audit (Zeng et al. 2025): is a method writing new networks, or returning its training set?

One audit for every notebook, `bench`, the task leaderboard and the demo: the baseline sets are built here once
(`audit_sets`), every set is scored once (accuracy, max wrong-prediction IoU, nearest-checkpoint distance, raw and
after weight matching), and the two verdicts (more novel than noise at matched accuracy; farther than training)
are decided here once (`audit`, `classify`, `verdict_line`).

    rows, points = of_preset(zoo, X, y, {"rpg": flat}, preset)   # the preset's set size and noise sweep
    [verdict_line(r) for r in rows if r["kind"] == "generator"]
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch

from .canonical import align, permutation_spec, supported
from .evaluate import as_flat, max_iou, median, nearest_other, pairwise_distances, predict, summary, wrong_masks
from .io import code_key, load_tensors, save_tensors
from .presets import Preset

# Every set of models gets, per model: accuracy, max wrong-prediction IoU to the training checkpoints and the L2
# distance to the nearest one (per-key std units). The verdict compares a method with the baselines at *matched
# accuracy*: noise added to checkpoints at a sweep of sigmas traces how much novelty each point of accuracy costs; a
# method is "more novel than noise" if its max IoU lies below that curve at its own accuracy, and "farther than
# training" if its models sit farther from their nearest checkpoint than the checkpoints sit from each other.

AUDIT_SIGMAS = Preset.audit_sigmas   # the one noise sweep (normalised units); a preset may set its own
ACCURACY_FLOOR = 0.95   # a set below this ratio of the originals' mean accuracy is "inaccurate": no novelty verdict
MAX_SIGMA = 64.0        # the noise sweep grows (x2) until its accuracy falls below the floor, up to this sigma


def key_scale(zoo) -> torch.Tensor:
    """[D] per-coordinate scale: the std of each key's values averaged over the zoo (1 where a key is constant).
    Distances in these units weigh every layer alike and never produce NaN (unlike a log-transformed BN variance)."""
    from .layout import Normalizer

    return Normalizer.fit(zoo.layout, zoo.flat).std[zoo.layout.key_index()]


def retrieval(zoo, n: int, *, seed: int = 0) -> torch.Tensor:
    """The copy machine: n training checkpoints drawn with replacement. Its max IoU is 1 and its distance 0 by
    construction; a generator whose numbers sit next to this row is returning its training set."""
    g = torch.Generator().manual_seed(seed)
    return zoo.flat[torch.randint(len(zoo), (n,), generator=g)]


def audit_sets(zoo, n: int, *, sigmas=AUDIT_SIGMAS, seed: int = 0) -> dict[str, tuple[str, torch.Tensor]]:
    """The baseline sets of the audit: name -> (kind, [n, D]); kind "noise" for the sweep, "baseline" otherwise."""
    from .generators import baselines as B
    from .layout import Normalizer

    norm = Normalizer.fit(zoo.layout, zoo.flat)
    sets = {f"noise σ={s:g}": ("noise", B.noise(zoo, s, n, seed=seed, normalizer=norm)) for s in sigmas}
    k = B.average_k(len(zoo))
    sets[f"checkpoint average (k={k})"] = ("baseline", B.average(zoo, k, n=n, seed=seed))
    sets["per-coordinate gaussian"] = ("baseline", B.gaussian(zoo, n, seed=seed))
    sets["random init"] = ("baseline", B.random_init(zoo, n, seed=seed + 10_000))
    sets["nearest-checkpoint retrieval"] = ("baseline", retrieval(zoo, n, seed=seed))
    return sets


def _extend_sweep(zoo, X, y, points: dict, wrong_o: torch.Tensor, scale: torch.Tensor, z_orig: torch.Tensor, *,
                  n: int, seed: int, target: float) -> None:
    """Add noise levels (the largest sigma doubled each time, up to MAX_SIGMA) to `points` until the sweep's lowest
    mean accuracy is at most `target` (%), so any set at or above the accuracy floor lies inside the sweep."""
    from .generators import baselines as B
    from .layout import Normalizer

    noise = {k: p for k, p in points.items() if p["kind"] == "noise"}
    if not noise:
        return
    sigma = max(float(k.split("=")[1]) for k in noise)
    norm = Normalizer.fit(zoo.layout, zoo.flat)
    last, added = list(noise)[-1], {}
    while min(p["acc"].mean().item() for p in (*noise.values(), *added.values())) > target and sigma < MAX_SIGMA:
        sigma *= 2
        params = B.noise(zoo, sigma, n, seed=seed, normalizer=norm)
        wrong = wrong_masks(predict(zoo, params, X), y)
        added[f"noise σ={sigma:g}"] = {"kind": "noise", "acc": (~wrong).double().mean(1) * 100,
                                       "iou": max_iou(wrong, wrong_o).double(),
                                       "dist": pairwise_distances(params.double() / scale, z_orig).min(1).values,
                                       "within": median(nearest_other(params.double() / scale))}
    if added:                                          # keep the sweep together, in sigma order
        items = list(points.items())
        points.clear()
        for k, v in items:
            points[k] = v
            if k == last:
                points.update(added)


def _interp_iou(acc_curve, iou_curve, at):
    """The noise curve's max IoU at accuracy `at` (linear in accuracy between sweep points; clamped at its ends)."""
    import numpy as np

    order = np.argsort(acc_curve, kind="stable")
    return float(np.interp(at, np.asarray(acc_curve)[order], np.asarray(iou_curve)[order]))


def novelty_test(acc: torch.Tensor, iou: torch.Tensor, noise: list[tuple[torch.Tensor, torch.Tensor]], *,
                 boot: int = 1000, seed: int = 0) -> dict:
    """Max IoU of a set minus the noise curve's at the set's mean accuracy, with a 95 % bootstrap interval that
    resamples the set's models and every noise level's models. more_novel: the whole interval is below 0."""
    import numpy as np

    rng = np.random.default_rng(seed)
    a, i = acc.double().numpy(), iou.double().numpy()
    na = [(x.double().numpy(), y.double().numpy()) for x, y in noise]
    point = i.mean() - _interp_iou([x.mean() for x, _ in na], [y.mean() for _, y in na], a.mean())
    s = np.empty((boot, len(a)), dtype=np.int64)          # the draws in the order of one loop over resamples ...
    t = [np.empty((boot, len(x)), dtype=np.int64) for x, _ in na]
    for b in range(boot):
        s[b] = rng.integers(0, len(a), len(a))
        for tk, (x, _) in zip(t, na):
            tk[b] = rng.integers(0, len(x), len(x))
    curve_a = np.stack([x[tk].mean(1) for tk, (x, _) in zip(t, na)], 1)   # ... and their means at once
    curve_i = np.stack([y[tk].mean(1) for tk, (_, y) in zip(t, na)], 1)
    at, it = a[s].mean(1), i[s].mean(1)
    diffs = np.array([it[b] - _interp_iou(curve_a[b], curve_i[b], at[b]) for b in range(boot)])
    lo, hi = np.percentile(diffs, [2.5, 97.5])
    return {"iou_margin": float(point), "iou_margin_lo": float(lo), "iou_margin_hi": float(hi), "more_novel": bool(hi < 0)}


def farther_test(dist: torch.Tensor, train_dist: torch.Tensor) -> dict:
    """One-sided Mann-Whitney U: are a set's nearest-checkpoint distances larger than the checkpoints' distances to
    their nearest *other* checkpoint? farther: p < 0.05."""
    from scipy.stats import mannwhitneyu

    d, t = dist.double().numpy(), train_dist.double().numpy()
    if len(t) < 2 or len(d) < 2:
        return {"p_farther": float("nan"), "farther": False}
    p = float(mannwhitneyu(d, t, alternative="greater").pvalue)
    return {"p_farther": p, "farther": p < 0.05}


def _aligned_distances(zoo, sets: dict, scale: torch.Tensor, reference: int = 0) -> dict[str, dict] | None:
    """Per set: each model's distance to its nearest training checkpoint after alignment, and the set's median
    distance to its nearest other member, aligned -- a permuted copy is still a copy. None for a net that cannot be
    canonicalised. Every model and checkpoint is weight-matched to checkpoint `reference` (one matching per model,
    not one per model and checkpoint), and a distance is the smaller of the aligned and the raw one: both are upper
    bounds of the distance under the best permutation (a net noised far from checkpoint j can be matched to the
    reference differently from j, and its aligned distance then exceeds its raw one)."""
    if supported(zoo.net, zoo.net_kwargs):
        return None
    spec, canon = permutation_spec(zoo.net, zoo.net_kwargs), zoo.canonical(reference, progress=False)
    z_canon = canon.flat.double() / scale
    out = {}
    for name, (kind, params) in sets.items():
        raw = as_flat(zoo, params).double() / scale
        if kind == "original":
            dist = torch.minimum(nearest_other(z_canon), nearest_other(raw))
            out[name] = {"dist": dist, "within": median(dist)}
            continue
        z = align(spec, zoo.layout, as_flat(zoo, params), canon.flat[reference], ints=zoo.ints()).double() / scale
        dist = torch.minimum(pairwise_distances(z, z_canon).min(1).values, pairwise_distances(raw, zoo.flat.double() / scale).min(1).values)
        out[name] = {"dist": dist, "within": median(torch.minimum(nearest_other(z), nearest_other(raw)))}
    return out


# the code a zoo's baseline scores depend on: a change to it scores them afresh (io.code_key)
AUDIT_CODE = ("audit.py", "evaluate.py", "generators/baselines.py", "canonical.py", "layout.py", "zoo.py", "fit.py",
              "nets")


def _score(zoo, X, y, sets: dict, wrong_o: torch.Tensor, scale: torch.Tensor, z_orig: torch.Tensor,
           progress: bool) -> dict:
    """Each set's per-model accuracy (%), max IoU to the training checkpoints, nearest-checkpoint distance, and the
    median distance of its models to their nearest other member."""
    from tqdm.auto import tqdm

    points = {}
    for name, (kind, params) in tqdm(sets.items(), desc="audit", disable=not progress or not sets):
        params = as_flat(zoo, params)
        wrong = wrong_masks(predict(zoo, params, X), y)
        points[name] = {"kind": kind, "acc": (~wrong).double().mean(1) * 100, "iou": max_iou(wrong, wrong_o).double(),
                        "dist": pairwise_distances(params.double() / scale, z_orig).min(1).values,
                        "within": median(nearest_other(params.double() / scale))}   # one net repeated: 0
    return points


def _baseline_file(zoo, X, y, **settings) -> Path | None:
    """Where an audit keeps the scores of a zoo's baseline sets (the same for every generator audited on it: 01, 08
    and 10 audit the same zoos): beside the zoo's folder, named by the zoo, the data, the settings and AUDIT_CODE.
    None for a zoo that lives in memory only."""
    if getattr(zoo, "path", None) is None:
        return None
    h = hashlib.sha1(json.dumps({**settings, "zoo": zoo.fingerprint(), "code": code_key(AUDIT_CODE)},
                                sort_keys=True).encode())
    h.update(X.contiguous().numpy().tobytes())
    h.update(y.contiguous().numpy().tobytes())
    return Path(f"{zoo.path}.audit") / f"baselines-{h.hexdigest()[:16]}.safetensors"


def _save_baselines(file: Path | None, wrong_o: torch.Tensor, points: dict, aligned: dict | None) -> None:
    if file is None:
        return
    tensors, order = {"wrong_o": wrong_o.to(torch.uint8)}, []
    for i, (name, p) in enumerate(points.items()):
        order.append([name, p["kind"]])
        tensors.update({f"{i}/{k}": p[k] for k in ("acc", "iou", "dist")})
        tensors[f"{i}/within"] = torch.tensor(p["within"], dtype=torch.float64)
        if aligned is not None and name in aligned:
            tensors[f"{i}/dist_aligned"] = aligned[name]["dist"]
            tensors[f"{i}/within_aligned"] = torch.tensor(aligned[name]["within"], dtype=torch.float64)
    try:
        save_tensors(file, tensors, metadata={"order": json.dumps(order)})
    except ValueError:                                 # a NaN score (save_tensors refuses it): this audit is not kept
        pass


def _load_baselines(file: Path | None) -> dict | None:
    if file is None or not file.exists():
        return None
    t = load_tensors(file)
    from safetensors import safe_open

    with safe_open(str(file), "pt") as f:
        order = json.loads(f.metadata()["order"])
    points, aligned = {}, {}
    for i, (name, kind) in enumerate(order):
        points[name] = {"kind": kind, **{k: t[f"{i}/{k}"] for k in ("acc", "iou", "dist")},
                        "within": t[f"{i}/within"].item()}
        if f"{i}/dist_aligned" in t:
            aligned[name] = {"dist": t[f"{i}/dist_aligned"], "within": t[f"{i}/within_aligned"].item()}
    return {"wrong_o": t["wrong_o"].bool(), "points": points, "aligned": aligned}


def audit(zoo, X, y, generated: dict[str, torch.Tensor] | None = None, *, n: int = 100, sigmas=AUDIT_SIGMAS,
          seed: int = 0, boot: int = 1000, baselines: bool = True, progress: bool = False,
          floor: float = ACCURACY_FLOOR, aligned: bool = True) -> tuple[list[dict], dict]:
    """The memorisation audit of every set on one zoo: the originals, the baselines (noise sweep, checkpoint
    average, per-coordinate Gaussian, random init, nearest-checkpoint retrieval; n models each) and each generated
    set ([m, D], zoo layout). X, y: held-out data (y [n]).

    Rows: method, kind (original / noise / baseline / generator), n, best/mean/median/min (%), ratio, best_ratio,
    median_ratio, min_ratio (of the originals' mean), max_iou (mean over models of the highest wrong-prediction IoU
    to a training checkpoint; originals: to another one), dist_nearest (median L2 to the nearest checkpoint, per-key
    std units; originals: to another one), train_dist_nearest (the originals' median), dist_within (median distance of
    a set's models to their nearest other member: 0 for one net repeated), noise_iou_at_accuracy,
    iou_margin (+ 95 % interval), more_novel_than_noise, p_farther, farther_than_training, verdict; with `aligned`
    (nets workbench.canonical handles), the same distances after weight matching every model to checkpoint 0:
    dist_nearest_aligned, train_dist_nearest_aligned, dist_within_aligned, farther_aligned.
    Matched accuracy means matched: the noise sweep is extended (sigma doubled) until its accuracy reaches
    `floor` x the originals'; a set below that floor is "inaccurate" and a set less accurate than the whole sweep
    (sigma capped at MAX_SIGMA) is "outside the noise sweep" -- neither gets a novelty verdict (more_novel_than_noise
    None). A set more accurate than the sweep is compared with its least noisy level, the most copy-like one.
    `points` maps each set to its per-model accuracy (%), max IoU and nearest distance (the figures' clouds)."""
    scale = key_scale(zoo).double()
    z_orig = zoo.flat.double() / scale
    if y.dim() != 1:
        raise ValueError("audit needs one label vector y [n] shared by every model (a single-task zoo); for a task "
                         "zoo, audit each task's models on its own labels")
    file = _baseline_file(zoo, X, y, n=n, sigmas=list(sigmas), seed=seed, floor=floor, aligned=aligned) \
        if baselines else None
    kept = _load_baselines(file)
    wrong_o = kept["wrong_o"] if kept else wrong_masks(predict(zoo, zoo.flat, X), y)
    iou = max_iou(wrong_o, wrong_o, same_set=True) if len(zoo) > 1 else torch.full((1,), float("nan"))
    points = {"original": {"kind": "original", "acc": (~wrong_o).double().mean(1) * 100, "iou": iou.double(),
                           "dist": nearest_other(z_orig), "within": median(nearest_other(z_orig))}}
    al = _aligned_distances(zoo, {"original": ("original", zoo.flat)}, scale) if aligned else None
    orig_mean = points["original"]["acc"].mean().item()
    if kept:                                           # this zoo's baseline sets, scored by an earlier audit
        points.update(kept["points"])
        if al is not None:
            al.update(kept["aligned"])
    elif baselines:
        sets = audit_sets(zoo, n, sigmas=sigmas, seed=seed)
        base = _score(zoo, X, y, sets, wrong_o, scale, z_orig, progress)
        base_al = _aligned_distances(zoo, sets, scale) if aligned else None
        _extend_sweep(zoo, X, y, base, wrong_o, scale, z_orig, n=n, seed=seed, target=floor * orig_mean)
        _save_baselines(file, wrong_o, base, base_al)
        points.update(base)
        if al is not None:
            al.update(base_al)
    gen_sets = {k: ("generator", v) for k, v in (generated or {}).items()}
    points.update(_score(zoo, X, y, gen_sets, wrong_o, scale, z_orig, progress))
    if al is not None:
        al.update(_aligned_distances(zoo, gen_sets, scale))
    for name, d in (al or {}).items():
        points[name]["dist_aligned"] = d["dist"]
    orig = points["original"]
    noise = [(p["acc"], p["iou"]) for p in points.values() if p["kind"] == "noise"]
    span = (min(a.mean().item() for a, _ in noise),) if noise else None
    rows = []
    for name, p in points.items():
        s = summary(p["acc"] / 100)
        row = {"method": name, "kind": p["kind"], "n": len(p["acc"]), **{k: s[k] for k in ("best", "mean", "median", "min")},
               "ratio": s["mean"] / orig_mean, "best_ratio": s["best"] / orig_mean, "median_ratio": s["median"] / orig_mean,
               "min_ratio": s["min"] / orig_mean, "max_iou": p["iou"].nanmean().item(),
               "dist_nearest": median(p["dist"]), "train_dist_nearest": median(orig["dist"]),
               "dist_within": p["within"]}
        if al is not None and name in al:
            row.update({"dist_nearest_aligned": median(al[name]["dist"]),
                        "train_dist_nearest_aligned": median(al["original"]["dist"]),
                        "dist_within_aligned": al[name]["within"]})
            if p["kind"] in ("baseline", "generator"):
                row["farther_aligned"] = farther_test(al[name]["dist"], al["original"]["dist"])["farther"]
        if p["kind"] in ("baseline", "generator") and noise:
            ft = farther_test(p["dist"], orig["dist"])
            row.update({"p_farther": ft["p_farther"], "farther_than_training": ft["farther"],
                        "more_novel_than_noise": None})
            if row["ratio"] < floor:
                row["verdict"] = "inaccurate"
            elif s["mean"] < span[0]:        # above the sweep: compared with its least noisy level (conservative)
                row["verdict"] = f"outside the noise sweep (its lowest accuracy: {span[0]:.1f} %)"
            else:
                nt = novelty_test(p["acc"], p["iou"], noise, boot=boot, seed=seed)   # not seed + row: a verdict must not depend on where its row sits
                row.update({"noise_iou_at_accuracy": row["max_iou"] - nt["iou_margin"], "iou_margin": nt["iou_margin"],
                            "iou_margin_ci": f"[{nt['iou_margin_lo']:.3f}, {nt['iou_margin_hi']:.3f}]",
                            "more_novel_than_noise": nt["more_novel"],
                            "verdict": "more novel than noise" if nt["more_novel"] else "not more novel than noise"})
        rows.append(row)
    return rows, points


def of_preset(zoo, X, y, generated: dict[str, torch.Tensor] | None = None, preset=None, *, seed: int = 0,
              **kw) -> tuple[list[dict], dict]:
    """`audit` with the preset's set size (audit_n) and noise sweep (audit_sigmas): the call every notebook makes."""
    if preset is None:
        raise ValueError("of_preset needs the preset (workbench.presets.get(name)) for its audit_n and audit_sigmas")
    return audit(zoo, X, y, generated, n=preset.audit_n, sigmas=preset.audit_sigmas, seed=seed, **kw)


def classify(row: dict) -> str:
    """The leaderboard's one-word answer for a set: new networks / near-copies / inaccurate / not run / not tested."""
    if not row.get("n"):
        return "not run"
    if row["ratio"] < ACCURACY_FLOOR:
        return "inaccurate"
    if row.get("more_novel_than_noise") is None:
        why = "not tested" + (f" ({row['verdict']})" if row.get("verdict") else "")
        return why if not row.get("farther_than_training") else "farther than training (no noise test)"
    far = row["farther_than_training"] and row.get("farther_aligned") is not False    # after alignment too, if measured
    return "new networks" if row["more_novel_than_noise"] and far else "near-copies"


def verdict_line(row: dict) -> str:
    """One sentence a reader can quote: does this method write new networks?"""
    if not row.get("n"):
        return f"{row['method']}: not run ({row.get('note')})"
    if row.get("more_novel_than_noise") is None:                 # inaccurate, or outside the noise sweep
        why = row.get("verdict") or "no noise sweep"
        floor = f" (below the {ACCURACY_FLOOR:.2f} floor)" if why == "inaccurate" else ""
        return (f"{row['method']}: {why}: {row['ratio']:.3f} of the originals' accuracy{floor}, no novelty verdict "
                f"(max IoU {row['max_iou']:.3f}, nearest-checkpoint distance {row['dist_nearest']:.3g})")
    novel = "more novel than noise of equal accuracy" if row["more_novel_than_noise"] else \
        "not more novel than noise of equal accuracy"
    far = "farther from its nearest training checkpoint than the checkpoints are from each other" \
        if row["farther_than_training"] else "not farther from the training checkpoints than they are from each other"
    aligned = ""
    if row.get("dist_nearest_aligned") is not None:          # the honest copy test: a permuted copy is still a copy
        aligned = (f"; after weight matching {'farther' if row.get('farther_aligned') else 'not farther'} (median "
                   f"{row['dist_nearest_aligned']:.3g} vs {row['train_dist_nearest_aligned']:.3g})")
    return (f"{row['method']}: {row['ratio']:.3f} of the originals' accuracy, {novel} (max IoU {row['max_iou']:.3f} vs "
            f"{row['noise_iou_at_accuracy']:.3f}, margin 95 % interval {row['iou_margin_ci']}), {far} (median "
            f"{row['dist_nearest']:.3g} vs {row['train_dist_nearest']:.3g}, p = {row['p_farther']:.2g}){aligned}")
