"""Evaluation of many parameter sets at once: accuracy, summary statistics, wrong-prediction IoU, novelty.

    acc = accuracy(zoo, flat_params, X_test, y_test)     # flat_params: [N, D] in the zoo's layout
    summary(acc)                                         # best / mean / median / min / std (in %)
"""
from __future__ import annotations

import torch
from torch.func import functional_call, vmap

from .canonical import align, permutation_spec, supported
from .fit import resolve_device


def _as_flat(zoo, params) -> torch.Tensor:
    params = torch.as_tensor(params)
    if params.dim() == 1:
        params = params[None]
    if params.dim() != 2 or params.shape[1] != zoo.layout.dim:
        raise ValueError(f"parameters must be [N, {zoo.layout.dim}] for net {zoo.net!r}, got {list(params.shape)}")
    if not torch.isfinite(params).all():
        bad = (~torch.isfinite(params).all(1)).nonzero().flatten().tolist()
        raise ValueError(f"parameter sets {bad[:10]} contain NaN/inf: the generator diverged; these cannot be evaluated")
    return params.float()


@torch.inference_mode()
def predict(zoo, params, X: torch.Tensor, *, model_chunk: int = 25, data_chunk: int = 2048,
            device: str = "auto", strategy: str = "auto") -> torch.Tensor:
    """Predicted labels [N, n] of N parameter sets (rows of `params`, zoo layout) on inputs X [n, ...].

    strategy "vmap": torch.func.vmap over functional_call, one batched forward per chunk of models;
    "loop": functional_call model by model. "auto" takes vmap on CUDA and the loop on CPU, where vmap turns
    convolutions into grouped ones and is slower (100 CNN-s on 1,000 images, 2 cores: vmap 5.0-8.1 s, loop 3.6 s).
    Nets that vmap cannot batch (e.g. RNNs) fall back to the loop; both give the same predictions.
    """
    dev = resolve_device(device)
    if strategy not in ("auto", "vmap", "loop"):
        raise ValueError(f"strategy must be auto, vmap or loop, got {strategy!r}")
    use_vmap = strategy == "vmap" or (strategy == "auto" and dev.type == "cuda")
    params = _as_flat(zoo, params)
    net = zoo.build_net().to(dev)
    out = []
    for m0 in range(0, params.shape[0], model_chunk):
        stacked = {k: v.to(dev) for k, v in zoo.unflatten(params[m0: m0 + model_chunk]).items()}
        preds = []
        for d0 in range(0, X.shape[0], data_chunk):
            x = X[d0: d0 + data_chunk].to(dev)
            preds.append(_forward_many(net, stacked, x, use_vmap).argmax(-1).cpu())
        out.append(torch.cat(preds, 1))
    return torch.cat(out)


def _forward_many(net, stacked, x, use_vmap: bool):
    if use_vmap:
        try:
            return vmap(lambda p: functional_call(net, p, (x,)))(stacked)      # (M, n, C)
        except (RuntimeError, NotImplementedError, ValueError):
            pass
    m = next(iter(stacked.values())).shape[0]
    return torch.stack([functional_call(net, {k: v[i] for k, v in stacked.items()}, (x,)) for i in range(m)])


def accuracy(zoo, params, X: torch.Tensor, y: torch.Tensor, **kw) -> torch.Tensor:
    """Accuracy (fraction) of each parameter set: y is [n] (one task) or [N, n] (a label vector per model)."""
    pred = predict(zoo, params, X, **kw)
    return (pred == y.expand_as(pred)).float().mean(1)


def median(x: torch.Tensor) -> float:
    """The ordinary median (the mean of the two middle values for an even count; NaNs ignored). torch's
    `median()` returns the lower of the two, which the reports once printed as "median"."""
    return torch.nanquantile(torch.as_tensor(x, dtype=torch.float64).reshape(-1), 0.5).item()


def summary(acc: torch.Tensor) -> dict[str, float]:
    """best / mean / median / min / std of accuracies, in percent (the papers' tables)."""
    a = torch.as_tensor(acc, dtype=torch.float64) * 100
    return {"best": a.max().item(), "mean": a.mean().item(), "median": median(a), "min": a.min().item(),
            "std": a.std().item() if a.numel() > 1 else 0.0}


def wrong_masks(pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return pred != y.expand_as(pred)


def iou_matrix(wrong_a: torch.Tensor, wrong_b: torch.Tensor) -> torch.Tensor:
    """Wrong-prediction IoU [Na, Nb] between two sets of models (p-diff / RPG's similarity measure)."""
    a, b = wrong_a.float(), wrong_b.float()
    inter = a @ b.T
    union = a.sum(1, keepdim=True) + b.sum(1)[None] - inter
    return torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(inter))


def max_iou(wrong: torch.Tensor, wrong_originals: torch.Tensor, *, same_set: bool = False) -> torch.Tensor:
    """Each model's highest IoU to any original ([N]); `same_set` excludes the model itself."""
    m = iou_matrix(wrong, wrong_originals)
    if same_set:
        m.fill_diagonal_(-1)
    return m.max(1).values


def pairwise_distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Exact L2 distances [Na, Nb], in float64 by direct differences.

    torch.cdist's default path (|a|^2 + |b|^2 - 2ab) cancels catastrophically when the distances are tiny next to
    the norms, as between the checkpoints of one last-epoch zoo: it reported 0.000 where the true value is 0.004-0.04.
    """
    a, b = a.double(), b.double()
    return torch.cdist(a, b, compute_mode="donot_use_mm_for_euclid_dist")


def nearest_other(x: torch.Tensor) -> torch.Tensor:
    """Each row's exact L2 distance to its nearest *other* row ([N]; a single row: NaN, it has no neighbour)."""
    if x.shape[0] < 2:
        return torch.full((x.shape[0],), float("nan"), dtype=torch.float64)
    return pairwise_distances(x, x).fill_diagonal_(float("inf")).min(1).values


def distances(params: torch.Tensor, originals: torch.Tensor, scale: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Novelty in parameter space: exact (float64) L2 distance to the nearest original and to the originals' mean.

    Pass `scale` ([D], e.g. per-key std) to measure in normalised units.
    """
    s = (scale if scale is not None else torch.ones(params.shape[1])).double()
    p, o = params.double() / s, originals.double() / s
    return {"to_nearest": pairwise_distances(p, o).min(1).values, "to_mean": (p - o.mean(0)).norm(dim=1)}


def compare(zoo, X, y, generated: dict[str, torch.Tensor] | None = None, *, sigmas=(0.01, 0.05, 0.1), n: int = 10,
            seed: int = 0, baselines: bool = True) -> tuple[list[dict], dict]:
    """Rows for the originals, the baselines every generator is compared with, and each generated set [n, D].

    Baselines: originals + noise (each sigma, normalised units), n averages of k random checkpoints (k = 16, or half
    a smaller zoo: `baselines.average_k`; the row is named with k), a per-coordinate Gaussian fitted to the zoo. Each row: method, n, best/mean/median/min/std (%), original_mean, ratio (mean /
    originals' mean), min_ratio, max_iou (mean of each model's highest wrong-prediction IoU to any original; for the
    originals, to any *other* one), dist_nearest / dist_mean (normalised L2 to the nearest original / to the zoo
    mean: a copy of the mean must not pass as novel). `points` maps method -> (accuracy %, max IoU) per model.
    """
    from .generators import baselines as B
    from .layout import Normalizer

    norm = Normalizer.fit(zoo.layout, zoo.flat)
    sets = {"original": zoo.flat}
    if baselines:
        sets.update({f"noise σ={s:g}": B.noise(zoo, s, n, seed=seed, normalizer=norm) for s in sigmas})
        k = B.average_k(len(zoo))
        sets[f"checkpoint average (k={k})"] = B.average(zoo, k, n=n, seed=seed)
        sets["per-coordinate gaussian"] = B.gaussian(zoo, n, seed=seed)
    sets.update(generated or {})
    wrong_o = wrong_masks(predict(zoo, zoo.flat, X), y)
    orig_mean = (~wrong_o).float().mean().item() * 100
    z_orig = norm.normalize(zoo.flat)
    rows, points = [], {}
    for name, params in sets.items():
        is_orig = params is zoo.flat
        wrong = wrong_o if is_orig else wrong_masks(predict(zoo, params, X), y)
        acc = (~wrong).float().mean(1)
        d = distances(norm.normalize(params), z_orig)
        if is_orig:  # an original's nearest *other* original
            d["to_nearest"] = nearest_other(z_orig)
        iou = max_iou(wrong, wrong_o, same_set=is_orig) if len(zoo) > 1 or not is_orig else torch.ones(1)
        s = summary(acc)
        rows.append({"method": name, "n": int(params.shape[0]), **s, "original_mean": orig_mean,
                     "ratio": s["mean"] / orig_mean, "min_ratio": s["min"] / orig_mean, "max_iou": iou.mean().item(),
                     "dist_nearest": d["to_nearest"].mean().item(), "dist_mean": d["to_mean"].mean().item()})
        points[name] = (acc * 100, iou)
    return rows, points


def baseline_rows(zoo, X, y, *, sigmas=(0.01, 0.05, 0.1), n: int = 10, seed: int = 0) -> list[dict]:
    """The rows of `compare` without generated sets: originals and the baselines every generator must beat."""
    return compare(zoo, X, y, sigmas=sigmas, n=n, seed=seed)[0]


def exchange_experiment(zoo, X, y, *, a: int = 0, b: int = 1, fraction: float = 0.1, seed: int = 0) -> list[dict]:
    """RPG Fig. 2: accuracy of A, A+f·B, B+f·A, B for two checkpoints of different seeds."""
    from .generators.baselines import exchange

    A, B = zoo.flat[a], zoo.flat[b]
    sets = torch.stack([A, exchange(A, B, fraction, seed=seed), exchange(B, A, fraction, seed=seed), B])
    acc = accuracy(zoo, sets, X, y) * 100
    pct = f"{fraction:.0%}"
    names = ["A", f"A+{pct}B", f"B+{pct}A", "B"]
    seeds = [zoo.manifest["checkpoints"][i].get("seed") for i in (a, a, b, b)]
    return [{"model": n, "seed_of_base": s, "accuracy": v} for n, s, v in zip(names, seeds, acc.tolist())]


def noise_sensitivity(zoos: dict, data: dict, *, sigmas=(0.01, 0.1, 1.0), n: int = 10, seed: int = 0) -> list[dict]:
    """RPG Table 16: accuracy decline (originals' mean minus noised mean, points) per zoo and noise level.

    Noise is Gaussian with std sigma in normalised units (per-key z-score), added to n evenly spaced checkpoints.
    """
    from .generators.baselines import noise, spread

    rows = []
    for name, zoo in zoos.items():
        X, y = data[name]
        base = accuracy(zoo, spread(zoo, n), X, y).mean().item() * 100   # the same n checkpoints, no noise
        row = {"zoo": name, "params": zoo.num_params, "original_mean": base}
        for s in sigmas:
            row[f"decline σ={s:g}"] = base - accuracy(zoo, noise(zoo, s, n, seed=seed), X, y).mean().item() * 100
        rows.append(row)
    return sorted(rows, key=lambda r: r["params"])


def zoo_rows(zoos: dict) -> list[dict]:
    """One row per zoo: recipe, net, parameter count, checkpoints, accuracy summary, collection time."""
    return [{"zoo": name, "recipe": z.manifest.get("recipe", {}).get("recipe", "custom"), "net": z.net,
             "params": z.num_params, "checkpoints": len(z), **summary(z.accuracies),
             "collect_s": z.manifest.get("collect_seconds")} for name, z in zoos.items()]


# ---- the memorisation audit (Zeng et al. 2025): is a method writing new networks, or returning its training set? --
# Every set of models gets, per model: accuracy, max wrong-prediction IoU to the training checkpoints and the L2
# distance to the nearest one (per-key std units). The verdict compares a method with the baselines at *matched
# accuracy*: noise added to checkpoints at a sweep of sigmas traces how much novelty each point of accuracy costs; a
# method is "more novel than noise" if its max IoU lies below that curve at its own accuracy, and "farther than
# training" if its models sit farther from their nearest checkpoint than the checkpoints sit from each other.

AUDIT_SIGMAS = (0.003, 0.01, 0.03, 0.1, 0.3, 1.0)
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
    diffs = np.empty(boot)
    for b in range(boot):
        s = rng.integers(0, len(a), len(a))
        curve_a, curve_i = [], []
        for x, y in na:
            t = rng.integers(0, len(x), len(x))
            curve_a.append(x[t].mean())
            curve_i.append(y[t].mean())
        diffs[b] = i[s].mean() - _interp_iou(curve_a, curve_i, a[s].mean())
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
        raw = _as_flat(zoo, params).double() / scale
        if kind == "original":
            dist = torch.minimum(nearest_other(z_canon), nearest_other(raw))
            out[name] = {"dist": dist, "within": median(dist)}
            continue
        z = align(spec, zoo.layout, _as_flat(zoo, params), canon.flat[reference], ints=zoo.ints()).double() / scale
        dist = torch.minimum(pairwise_distances(z, z_canon).min(1).values, pairwise_distances(raw, zoo.flat.double() / scale).min(1).values)
        out[name] = {"dist": dist, "within": median(torch.minimum(nearest_other(z), nearest_other(raw)))}
    return out


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
    from tqdm.auto import tqdm

    scale = key_scale(zoo).double()
    z_orig = zoo.flat.double() / scale
    sets = {"original": ("original", zoo.flat)}
    if baselines:
        sets.update(audit_sets(zoo, n, sigmas=sigmas, seed=seed))
    sets.update({k: ("generator", v) for k, v in (generated or {}).items()})
    if y.dim() != 1:
        raise ValueError("audit needs one label vector y [n] shared by every model (a single-task zoo); for a task "
                         "zoo, audit each task's models on its own labels")
    wrong_o = wrong_masks(predict(zoo, zoo.flat, X), y)
    points = {}
    for name, (kind, params) in tqdm(sets.items(), desc="audit", disable=not progress):
        params = _as_flat(zoo, params)
        if kind == "original":
            wrong = wrong_o
            iou = max_iou(wrong, wrong_o, same_set=True) if len(zoo) > 1 else torch.full((1,), float("nan"))
            dist = nearest_other(z_orig)
        else:
            wrong = wrong_masks(predict(zoo, params, X), y)
            iou = max_iou(wrong, wrong_o)
            dist = pairwise_distances(params.double() / scale, z_orig).min(1).values
        within = median(nearest_other(params.double() / scale))   # a set that is one net repeated: 0
        points[name] = {"kind": kind, "acc": (~wrong).double().mean(1) * 100, "iou": iou.double(), "dist": dist,
                        "within": within}
    al = _aligned_distances(zoo, sets, scale) if aligned else None
    for name, d in (al or {}).items():
        points[name]["dist_aligned"] = d["dist"]
    orig = points["original"]
    orig_mean = orig["acc"].mean().item()
    if baselines:
        _extend_sweep(zoo, X, y, points, wrong_o, scale, z_orig, n=n, seed=seed, target=floor * orig_mean)
    noise = [(p["acc"], p["iou"]) for p in points.values() if p["kind"] == "noise"]
    span = (min(a.mean().item() for a, _ in noise),) if noise else None
    rows = []
    for i, (name, p) in enumerate(points.items()):
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
                nt = novelty_test(p["acc"], p["iou"], noise, boot=boot, seed=seed + i)
                row.update({"noise_iou_at_accuracy": row["max_iou"] - nt["iou_margin"], "iou_margin": nt["iou_margin"],
                            "iou_margin_ci": f"[{nt['iou_margin_lo']:.3f}, {nt['iou_margin_hi']:.3f}]",
                            "more_novel_than_noise": nt["more_novel"],
                            "verdict": "more novel than noise" if nt["more_novel"] else "not more novel than noise"})
        rows.append(row)
    return rows, points
