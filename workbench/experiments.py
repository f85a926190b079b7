"""Generator runs and their cache: train (or reload) any registered method with a preset's settings, and the task
runs of a task zoo (scoring: workbench.audit; cost: workbench.cost; fine-tuning probes: workbench.probes; baseline
weights: workbench.generators.baselines).

    gen, info = trained("rpg", zoo, preset, seed=0)            # cached under $WORKBENCH_ZOOS/<preset>/generators/
"""
from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import torch

from . import evaluate
from .generators import Generator, load
from .generators import method as method_class
from .io import GENERATOR_CODE, MANIFEST_FILE, atomic_write_text, code_key, note_cache_use, zoos_dir
from .train import is_main
from .workers import TRAIN_THREADS, torch_threads


def preset_batch(method_name: str, preset) -> int:
    """The batch size `method_name` trains with under `preset` (its sizes)."""
    return method_class(method_name).preset_training(preset)["batch_size"]


def training_target(method_name: str, zoo):
    """What `method_name` trains on when given `zoo`: the zoo itself, or for a method that trains on collections
    (`Generator.trains_on`) that zoo as its one-pair collection (a collection passes through)."""
    if method_class(method_name).trains_on == "collection" and not hasattr(zoo, "members"):
        from .collection import Collection

        return Collection.of_zoo(zoo)
    return zoo


# notebook 10's audit rows: label -> (method, trained on the canonical zoo, `trained`'s overrides)
NEW_NETWORK_VARIANTS = {"rpg": ("rpg", False, {}), "rpg (no permutation state)": ("rpg", False, {"permutation_state": False}),
                        "rpg (canonical zoo)": ("rpg", True, {}), "pdiff": ("pdiff", False, {}),
                        "pdiff (canonical zoo)": ("pdiff", True, {}), "flow": ("flow", False, {}),
                        "flow (raw weights)": ("flow", False, {"align": False})}


def new_network_variants(preset, *, mlp: bool = False) -> dict[str, tuple[str, bool, dict]]:
    """Notebook 10's generator rows on a zoo: preset.new_networks["variants"] (default: all); on its MLP zoo
    "mlp_variants" (default: the same), with "mlp_methods"' per-method config overrides merged in."""
    spec = preset.new_networks
    keep = spec.get("variants", NEW_NETWORK_VARIANTS)
    extra = {}
    if mlp:
        keep, extra = spec.get("mlp_variants", keep), spec.get("mlp_methods", {})
    return {label: (m, on_canon, {**extra.get(m, {}), **kw})
            for label, (m, on_canon, kw) in NEW_NETWORK_VARIANTS.items() if label in keep}


def build(method_name: str, zoo, preset, overrides: dict | None = None, seed: int = 0) -> Generator:
    """Any registered method, built for `zoo` with the preset's settings (workbench.generators.method)."""
    return method_class(method_name).from_preset(zoo, preset, seed=seed, **(overrides or {}))


def trained(method: str, zoo, preset, *, seed: int = 0, train: dict | None = None,
            batch_size: int | None = None, progress: bool = True, **overrides) -> tuple[Generator, dict]:
    """Train `method` on `zoo` with the preset's settings (+ overrides), or reload the identical earlier run.

    Returns the generator and {seconds, steps, final_loss, cached}. Runs live in
    $WORKBENCH_ZOOS/<preset>/generators/<zoo>-<method>-<hash of all settings>/ (resumable while training).
    """
    gen, zoo, cfg, batch, run = _run(method, zoo, preset, seed=seed, train=train, batch_size=batch_size,
                                     overrides=overrides)
    final = run / "final"
    note_cache_use(run)
    if (run / "info.json").exists():               # written last: a run killed while saving resumes at its end and saves again
        meta = json.loads((run / "info.json").read_text())
        return load(final), {**meta, "cached": True, "path": str(final), "in_worker": str(run) in TRAINED_IN_WORKERS}
    t0 = time.perf_counter()
    with torch_threads(TRAIN_THREADS):             # the same last bits in a notebook and in a worker (workers.py)
        hist = gen.fit(zoo, cfg, batch_size=batch, out=run / "train", progress=progress)
    seconds = round(time.perf_counter() - t0, 1)   # wall clock of this call (all stages; a resumed run: the rest)
    info = {"seconds": seconds, "steps": cfg.steps, "final_loss": hist[-1]["loss"], "train_seconds": seconds,
            "threads": TRAIN_THREADS, "history": hist}   # every stage's logged steps (resumed: from its checkpoints)
    if is_main():                                  # under torchrun every process trained the same model; one writes
        gen.save(final)
        atomic_write_text(run / "info.json", json.dumps(info))
    return gen, {**info, "cached": False, "path": str(final)}


def _run(method: str, zoo, preset, *, seed: int, train: dict | None, batch_size: int | None, overrides: dict):
    """(generator, training target, TrainConfig, batch, run folder) of `trained`'s call: the folder's name hashes
    every setting, the zoo's fingerprint and the generators' code (changed code trains afresh)."""
    zoo = training_target(method, zoo)
    gen = build(method, zoo, preset, overrides, seed)      # initial weights from `seed`, batches and noise from cfg.seed
    cfg = preset.train_config(method, seed=seed, **{"checkpoint_every": 100, **(train or {})})   # train: TrainConfig overrides, e.g. {"steps": 300}
    batch = batch_size or preset_batch(method, preset)
    key = json.dumps({"gen": gen.config.to_dict(), "train": cfg.to_dict(), "zoo": zoo.fingerprint(), "batch": batch,
                      "threads": TRAIN_THREADS, "code": code_key(GENERATOR_CODE)}, sort_keys=True)
    run = zoos_dir() / preset.name / "generators" / f"{zoo.label}-{method}-{hashlib.sha1(key.encode()).hexdigest()[:10]}"
    return gen, zoo, cfg, batch, run


def is_trained(method: str, zoo, preset, *, seed: int = 0, train: dict | None = None, batch_size: int | None = None,
               **overrides) -> bool:
    """Whether `trained` with these arguments would reload a finished run from the cache."""
    return (_run(method, zoo, preset, seed=seed, train=train, batch_size=batch_size, overrides=overrides)[4]
            / "info.json").exists()


def igpg_ablation(col, preset) -> tuple:
    """Notebook 06's IGPG ablation on collection `col`: (the sub-collection of preset.sizes("igpg")["ablation"]'s
    archs and datasets, [(variant, `trained`'s keyword arguments)] with the preset's own row first); (None, []) where
    the preset has none."""
    abl = preset.sizes("igpg").get("ablation") or {}
    if not abl:
        return None, []
    sub = col.subset(archs=abl["archs"], datasets=abl["datasets"])
    return sub, [(variant, {"train": {"steps": abl["steps"]}, **abl.get("igpg", {}), **variant})
                 for variant in [{}] + list(abl["variants"])]


def igpg_jobs(col, preset) -> list[dict]:
    """`train_in_workers`' jobs for every IGPG run of notebooks 05 and 06 on `col`: the main one, then the ablation's
    (trained side by side, the ablation's rows beside the main run, where one core would otherwise idle)."""
    sub, rows = igpg_ablation(col, preset)
    return [{"method": "igpg", "zoo": col}] + [{"method": "igpg", "zoo": sub, "kwargs": kw} for _, kw in rows]


TRAINED_IN_WORKERS: set[str] = set()   # run folders that `train_in_workers` trained for this process


def train_in_workers(jobs: list[dict], preset, *, seed: int = 0, progress: bool = True) -> int:
    """Train the generators of `jobs` that the cache lacks side by side in worker processes (workers.run_parallel:
    one thread each, in the jobs' order), so that the `trained` / `task_generator` calls that follow reload them.
    A job is {"method": name, "zoo": a zoo or collection saved on disk, "kwargs": trained's keyword arguments} or
    {"task": condition, "zoo": a task zoo} (`task_generator`), each with an optional "preset" of its own (else
    `preset`). Jobs that name the same run are trained once. Methods that do not apply to their zoo, work too small
    for workers (workers.workers_for with GENERATOR_MIN_STEPS) and zoos that are not the ones saved at their path are
    left to the calls that follow. Returns how many were trained."""
    from .workers import GENERATOR_MIN_STEPS, run_parallel, workers_for

    todo = []
    for job in jobs:
        p, zoo, kw = job.get("preset", preset), job["zoo"], dict(job.get("kwargs", {}))
        if "task" in job:     # the worker gets these very condition vectors (an embedding made with another thread
            kw = task_generator_kwargs(zoo, p, condition=job["task"], seed=seed)     # count can differ in its last bits)
            method, zoo = "rpg", kw.pop("zoo")
            job = {**job, "conditions": zoo.conditions}
        else:
            method = job["method"]
        if not _on_disk(job["zoo"]) or method_class(method).applies_to(zoo, p):
            continue
        train, batch = kw.pop("train", None), kw.pop("batch_size", None)
        run = _run(method, zoo, p, seed=seed, train=train, batch_size=batch, overrides=kw)[4]
        if (run / "info.json").exists() or any(r == str(run) for _, _, r in todo):   # one worker per run
            continue
        steps = (train or {}).get("steps") or p.train_config(method).steps
        members = [(m.arch, m.dataset) for m in job["zoo"].members()] if _is_collection(job["zoo"]) else None
        todo.append(({"zoo": str(job["zoo"].path), "fingerprint": job["zoo"].fingerprint(), "preset": p,
                      "members": members, "seed": seed,
                      **{k: job[k] for k in ("method", "kwargs", "task", "conditions") if k in job}},
                     steps, str(run)))
    workers = workers_for(len(todo), sum(s for _, s, _ in todo), min_steps=GENERATOR_MIN_STEPS) if todo else 1
    if workers < 2:
        return 0
    from tqdm.auto import tqdm

    bar = tqdm(total=len(todo), desc=f"training {len(todo)} generators in {workers} workers", disable=not progress)
    runs = {id(j): r for j, _, r in todo}

    def done(job):
        TRAINED_IN_WORKERS.add(runs[id(job)])
        bar.update()

    run_parallel(_train_job, [j for j, _, _ in todo], workers, on_done=done)
    bar.close()
    return len(todo)


def _is_collection(zoo) -> bool:
    from .collection import Collection

    return isinstance(zoo, Collection) and zoo.single_zoo is None


def _on_disk(zoo) -> bool:
    """A zoo saved at its path, or a collection (or a subset of one: its members) saved at its."""
    from .collection import MANIFEST
    from .zoo import Zoo

    path = getattr(zoo, "path", None)
    if path is None or not (_is_collection(zoo) or isinstance(zoo, Zoo)):
        return False
    return (Path(path) / (MANIFEST if _is_collection(zoo) else MANIFEST_FILE)).exists()


def _train_job(job: dict) -> None:
    """One job of `train_in_workers`, in a worker: the zoo (or the collection, seen through the job's members)
    reloaded from its folder, refused if it is not the same."""
    from .collection import Collection
    from .zoo import Zoo

    if job.get("members") is not None:
        zoo = Collection.load(job["zoo"])
        if len(job["members"]) != len(zoo.members()):
            zoo = zoo.subset(archs={a for a, _ in job["members"]}, datasets={d for _, d in job["members"]})
    else:
        zoo = Zoo.load(job["zoo"])
    if zoo.fingerprint() != job["fingerprint"]:
        raise RuntimeError(f"{job['zoo']} changed on disk since the job was made: rerun to train on the zoo there now")
    if "task" in job:
        kw = task_generator_kwargs(zoo, job["preset"], condition=job["task"], conditions=job["conditions"])
        trained("rpg", kw.pop("zoo"), job["preset"], seed=job["seed"], progress=False, **kw)
    else:
        trained(job["method"], zoo, job["preset"], seed=job["seed"], progress=False, **job.get("kwargs", {}))


TASK_CONDITIONS = ("code", "description", "examples")


def task_conditions(task_zoo, condition: str = "code", *, seed: int = 0) -> torch.Tensor:
    """[T, dim] what a task-conditioned generator reads for each task of a task zoo: its code (a bit per class), or
    a MiniLM embedding of its one-line description or of a few labelled examples (encoders.task_embeddings)."""
    if condition not in TASK_CONDITIONS:
        raise ValueError(f"unknown task condition {condition!r}; accepted: {', '.join(TASK_CONDITIONS)}")
    if condition == "code":
        return task_zoo.codes.float()
    from .encoders import task_embeddings

    return task_embeddings(task_zoo.dataset(), task_zoo.codes, how=condition, seed=seed)


def task_generator(task_zoo, preset, *, condition: str = "code", seed: int = 0,
                   progress: bool = True) -> tuple[Generator, dict, torch.Tensor, torch.Tensor]:
    """RPG conditioned on each task's code (or description / examples embedding, `task_conditions`), trained on the
    seen tasks of a task zoo only (notebook 04's generator). Returns (generator, info, seen indices, unseen indices);
    generate for task i with `codes=task_conditions(task_zoo, condition)[i]`."""
    kw = task_generator_kwargs(task_zoo, preset, condition=condition, seed=seed)
    gen, info = trained("rpg", kw.pop("zoo"), preset, seed=seed, progress=progress, **kw)
    unseen = torch.tensor([c["unseen"] for c in task_zoo.manifest["checkpoints"]])
    return gen, info, (~unseen).nonzero().flatten(), unseen.nonzero().flatten()


def task_generator_kwargs(task_zoo, preset, *, condition: str = "code", seed: int = 0,
                          conditions: torch.Tensor | None = None) -> dict:
    """`trained`'s arguments for `task_generator` ("zoo": the seen tasks, with their conditions; `conditions`: the
    seen tasks' vectors, made already)."""
    unseen = torch.tensor([c["unseen"] for c in task_zoo.manifest["checkpoints"]])
    if conditions is not None:
        return {**task_generator_kwargs(task_zoo, preset), "code_dim": conditions.shape[1],
                "zoo": task_zoo.subset((~unseen).nonzero().flatten()).with_conditions(conditions, f"minilm {condition}")
                if condition != "code" else task_zoo.subset((~unseen).nonzero().flatten())}
    zoo = task_zoo if condition == "code" else task_zoo.with_conditions(task_conditions(task_zoo, condition, seed=seed),
                                                                        f"minilm {condition}")
    return {"zoo": zoo.subset((~unseen).nonzero().flatten()), "batch_size": preset.task_batch,
            "train": {"steps": preset.task_steps}, "permutation_state": False, "condition": "head",
            "code_dim": zoo.conditions.shape[1]}   # a bit per class of the zoo's dataset, or the embedding's width


def code_str(zoo, i: int) -> str:
    """The 10-bit code of task checkpoint i as a string ("0100010111")."""
    from .data.tasks import code_to_str

    return code_to_str(zoo.codes[i])


def task_rows(gen: Generator, zoo, indices, X, y, *, n: int, seed: int = 0) -> tuple[list[dict], torch.Tensor]:
    """For each task index: the original checkpoint's accuracy and n generated models' best/mean/std on the task's
    binary labels, plus the majority-class baseline. Returns rows and the generated parameters [len, n, D]."""
    from .data.tasks import binary_labels, code_to_str, majority_baseline

    rows, flats = [], []
    for i in torch.as_tensor(indices).tolist():
        code = zoo.codes[i]
        flat = gen.generate(n, seed=seed * 100_003 + i, codes=code)
        labels = binary_labels(y, code)
        acc = evaluate.accuracy(zoo, flat, X, labels) * 100
        rows.append({"code": code_to_str(code), "original": float(zoo.accuracies[i]) * 100,
                     "generated_best": acc.max().item(), "generated_mean": acc.mean().item(),
                     "generated_std": acc.std().item() if n > 1 else 0.0, "majority_baseline": majority_baseline(y, code) * 100})
        flats.append(flat)
    return rows, torch.stack(flats)
