"""The steps the notebooks share: train (or reload) a generator, generate, measure cost (scoring: workbench.audit).

    gen, info = trained("rpg", zoo, preset, seed=0)            # cached under $WORKBENCH_ZOOS/<preset>/generators/
    cost = train_cost("rpg", zoo, preset, steps=5)              # seconds/step, peak RSS (CPU) or CUDA memory
"""
from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import resource
import time
import torch

from . import evaluate
from .generators import Generator, load
from .generators.baselines import random_init  # noqa: F401  (experiments.random_init in the notebooks)
from .generators import method as method_class
from .io import GENERATOR_CODE, atomic_write_text, code_key, zoos_dir
from .train import is_main

def _batch(method_name: str, preset) -> int:
    return method_class(method_name).preset_training(preset)["batch_size"]


def training_target(method_name: str, zoo):
    """What `method_name` trains on when given `zoo`: the zoo itself, or for a method that trains on collections
    (`Generator.trains_on`) that zoo as its one-pair collection (a collection passes through)."""
    if method_class(method_name).trains_on == "collection" and not hasattr(zoo, "members"):
        from .collection import Collection

        return Collection.of_zoo(zoo)
    return zoo


def _build(method_name: str, zoo, preset, overrides: dict, seed: int = 0) -> Generator:
    """Any registered method, built for `zoo` with the preset's settings (workbench.generators.method)."""
    return method_class(method_name).from_preset(zoo, preset, seed=seed, **overrides)


def trained(method: str, zoo, preset, *, seed: int = 0, train: dict | None = None,
            batch_size: int | None = None, progress: bool = True, **overrides) -> tuple[Generator, dict]:
    """Train `method` on `zoo` with the preset's settings (+ overrides), or reload the identical earlier run.

    Returns the generator and {seconds, steps, final_loss, cached}. Runs live in
    $WORKBENCH_ZOOS/<preset>/generators/<zoo>-<method>-<hash of all settings>/ (resumable while training).
    """
    zoo = training_target(method, zoo)
    gen = _build(method, zoo, preset, overrides, seed)      # initial weights from `seed`, batches and noise from cfg.seed
    cfg = preset.train_config(method, seed=seed, **{"checkpoint_every": 100, **(train or {})})   # train: TrainConfig overrides, e.g. {"steps": 300}
    batch = batch_size or _batch(method, preset)
    key = json.dumps({"gen": gen.config.to_dict(), "train": cfg.to_dict(), "zoo": zoo.fingerprint(), "batch": batch,
                      "code": code_key(GENERATOR_CODE)}, sort_keys=True)   # changed generator code trains afresh
    run = zoos_dir() / preset.name / "generators" / f"{zoo.label}-{method}-{hashlib.sha1(key.encode()).hexdigest()[:10]}"
    final = run / "final"
    if (run / "info.json").exists():               # written last: a run killed while saving resumes at its end and saves again
        meta = json.loads((run / "info.json").read_text())
        return load(final), {**meta, "cached": True, "path": str(final)}
    t0 = time.perf_counter()
    hist = gen.fit(zoo, cfg, batch_size=batch, out=run / "train", progress=progress)
    seconds = round(time.perf_counter() - t0, 1)   # wall clock of this call (all stages; a resumed run: the rest)
    info = {"seconds": seconds, "steps": cfg.steps, "final_loss": hist[-1]["loss"], "train_seconds": seconds,
            "history": hist}                       # every stage's logged steps (a resumed run: from its checkpoints)
    if is_main():                                  # under torchrun every process trained the same model; one writes
        gen.save(final)
        atomic_write_text(run / "info.json", json.dumps(info))
    return gen, {**info, "cached": False, "path": str(final)}


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
    unseen = torch.tensor([c["unseen"] for c in task_zoo.manifest["checkpoints"]])
    seen_idx, unseen_idx = (~unseen).nonzero().flatten(), unseen.nonzero().flatten()
    zoo = task_zoo if condition == "code" else task_zoo.with_conditions(task_conditions(task_zoo, condition, seed=seed),
                                                                        f"minilm {condition}")
    gen, info = trained("rpg", zoo.subset(seen_idx), preset, seed=seed, batch_size=preset.task_batch,
                        train={"steps": preset.task_steps}, permutation_state=False, condition="head",
                        code_dim=zoo.conditions.shape[1],   # a bit per class of the zoo's dataset, or the embedding's width
                        progress=progress)
    return gen, info, seen_idx, unseen_idx


def generate_timed(gen: Generator, n: int, *, seed: int = 0, **kw) -> tuple[torch.Tensor, float]:
    t0 = time.perf_counter()
    flat = gen.generate(n, seed=seed, **kw)
    return flat, time.perf_counter() - t0


def finetune(zoo, flat: torch.Tensor, data, *, epochs: int = 1, lr: float = 1e-2, momentum: float = 0.9,
             batch_size: int = 32, seed: int = 0, every: int | None = None) -> dict:
    """Test accuracy of each parameter set [N, D] (zoo layout) after `epochs` of SGD on `data`'s training split, the
    same batch order for every set (IGPG's "fine-tuning from generated vs random init"). With `every`, also the
    accuracy every that many steps: {"final": [N], "steps": [P], "curve": [N, P]} (step 0 = before training)."""
    from .fit import batch_order, make_sgd, train_steps

    batches = [b for e in range(epochs) for b in batch_order(len(data.y_train), batch_size, seed, e)]
    marks = sorted({0, len(batches), *(range(0, len(batches), every) if every else ())})
    finals, curves = [], []
    for row in evaluate.as_flat(zoo, flat):
        net = zoo.build_net()
        net.load_state_dict({k: v[0] for k, v in zoo.unflatten(row[None]).items()})
        opt = make_sgd(net, lr, momentum)
        curve, done = [], 0
        for m in marks:
            for _ in train_steps(net, opt, data.X_train, data.y_train, batches[done:m]):
                pass
            done = m
            net.eval()
            with torch.no_grad():
                curve.append((net(data.X_test).argmax(1) == data.y_test).float().mean().item())
        finals.append(curve[-1])
        curves.append(curve)
    return {"final": torch.tensor(finals), "steps": marks, "curve": torch.tensor(curves)}


def train_matched(zoo, data, *, steps: int, lr: float, batch_size: int, n: int = 1, seed: int = 0) -> torch.Tensor:
    """Test accuracy [n] of the zoo's net trained from n fresh initialisations (seeds seed..seed+n-1) with AdamW at
    `lr` for `steps` steps of `batch_size` examples: classical training with the optimiser, steps and examples a
    generator's task-loss stage uses (NeuroGen's stage 2), against which "beats classical training" is fair."""
    from .fit import batch_order, train_steps

    accs = []
    for row, s in zip(random_init(zoo, n, seed=seed), range(seed, seed + n)):
        net = zoo.build_net()
        net.load_state_dict({k: v[0] for k, v in zoo.unflatten(row[None]).items()})
        opt = torch.optim.AdamW(net.parameters(), lr=lr)
        batches, epoch = [], 0
        while len(batches) < steps:
            batches += batch_order(len(data.y_train), batch_size, s, epoch)
            epoch += 1
        for _ in train_steps(net, opt, data.X_train, data.y_train, batches[:steps]):
            pass
        net.eval()
        with torch.no_grad():
            accs.append((net(data.X_test).argmax(1) == data.y_test).float().mean().item())
    return torch.tensor(accs)


def steps_to(curve: torch.Tensor, steps: list[int], target: float) -> int | None:
    """First step at which the mean curve reaches `target` (None if never)."""
    mean = curve.mean(0)
    hit = (mean >= target).nonzero().flatten()
    return steps[int(hit[0])] if len(hit) else None


def transplant(src_zoo, src_flat: torch.Tensor, dst_zoo, *, seed: int = 0) -> tuple[torch.Tensor, float]:
    """Parameters for `dst_zoo`'s net taken from `src_flat` [D_src] where a key has the same name and shape (e.g. the
    blocks a shallower ResNet shares with a deeper one), the rest freshly initialised from `seed`.
    Returns ([1, D_dst], the fraction of dst values that came from the source)."""
    src = {k: v[0] for k, v in src_zoo.unflatten(src_flat[None]).items()}
    out = {k: v[0].clone() for k, v in dst_zoo.unflatten(random_init(dst_zoo, 1, seed=seed)).items()}
    moved = 0
    for k in dst_zoo.layout.float_keys:
        if k.name in src and tuple(src[k.name].shape) == tuple(k.shape):
            out[k.name] = src[k.name].clone()
            moved += k.numel
    total = sum(k.numel for k in dst_zoo.layout.float_keys)
    return dst_zoo.layout.flatten({k: v[None] for k, v in out.items()}), moved / total


def nearest_start(col, gen, m, *, seed: int = 0) -> tuple[torch.Tensor, str, float]:
    """(parameters [1, D], where they came from, fraction of values taken) for held-out pair m of collection `col`:
    the baseline a generated initialisation must beat (notebook 06). Held-out dataset: the best checkpoint of the same
    architecture on the seen dataset whose embedding (gen's) is closest. Held-out depth (or a held-out architecture
    on a held-out dataset): the seen architecture sharing most values (`transplant`), on this dataset if it is seen,
    else on the seen dataset with the closest embedding."""
    zoo = col.zoo(m)
    seen = col.members("seen")
    emb = dict(zip(gen.target["datasets"], gen.data_emb))

    def near(s):
        return torch.cosine_similarity(emb[s.dataset], emb[m.dataset], 0).item()

    same = [s for s in seen if s.arch == m.arch and col.zoo(s).num_params == zoo.num_params]
    if same:
        src = max(same, key=near)
        z = col.zoo(src)
        return z.flat[z.accuracies.argmax()][None], f"{src.arch} on {src.dataset}", 1.0
    home = m.dataset if any(s.dataset == m.dataset for s in seen) else max(seen, key=near).dataset
    best = None
    for s in seen:
        if s.dataset != home:
            continue
        z = col.zoo(s)
        flat, share = transplant(z, z.flat[z.accuracies.argmax()], zoo, seed=seed)
        if best is None or share > best[2]:
            best = (flat, f"{s.arch} on {s.dataset} ({share:.0%} of values)", share)
    return best


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


# ---- cost ---------------------------------------------------------------------------------------------------
# Peak memory is measured around a `run` callable made by a setup function: imports, data and the model are the
# baseline, what `run` allocates on top is the cost. CPU: in a fresh spawned process (peak RSS cannot be reset
# inside one). CUDA: torch.cuda.max_memory_allocated in this process.

def _setup_train(method_name: str, zoo_path: str, preset, steps: int, device: str, overrides: dict):
    from .zoo import Zoo

    zoo = training_target(method_name, Zoo.load(zoo_path))
    gen = _build(method_name, zoo, preset, overrides, 0).with_steps(steps)     # every stage `steps` long
    cfg = preset.train_config(method_name, steps=steps, device=device)
    return lambda: gen.fit(zoo, cfg, batch_size=_batch(method_name, preset), progress=False)


def _setup_sample(path: str, n: int, device: str, kw: dict):
    from .fit import resolve_device

    gen = load(path).to(resolve_device(device))
    return lambda: gen.generate(n, **kw)


def _rss_mb(field: str) -> float | None:
    try:
        for line in open("/proc/self/status"):
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _child(q, setup, args):
    import gc

    run = setup(*args)
    gc.collect()
    try:  # Linux: reset the peak RSS (VmHWM) to the current RSS, so the peak is this run's alone
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        base = _rss_mb("VmRSS")
    except OSError:  # elsewhere: the peak so far (imports and loading included) is the baseline
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    run()
    seconds = time.perf_counter() - t0
    peak = _rss_mb("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    q.put({"seconds": seconds, "baseline_mb": base, "peak_mb": peak})


def measure(setup, *args, device: str = "cpu") -> dict:
    """{seconds, baseline_mb, peak_mb, extra_mb} of setup(*args)() (see above for what counts)."""
    if torch.device(device).type == "cuda":
        run = setup(*args)
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        t0 = time.perf_counter()
        run()
        torch.cuda.synchronize()
        out = {"seconds": time.perf_counter() - t0, "baseline_mb": base / 2**20, "peak_mb": torch.cuda.max_memory_allocated() / 2**20}
    else:
        ctx = mp.get_context("spawn")
        q = ctx.Queue()
        p = ctx.Process(target=_child, args=(q, setup, args))
        p.start()
        p.join()
        if p.exitcode:
            raise RuntimeError(f"measure({setup.__name__}): the measured run failed in its process (exit code {p.exitcode})")
        out = q.get()
    return {**out, "extra_mb": out["peak_mb"] - out["baseline_mb"]}


def train_cost(method_name: str, zoo, preset, steps: int, *, device: str = "cpu", **overrides) -> dict:
    """Seconds per step and peak memory of `steps` training steps (per stage) of a fresh generator on a saved zoo."""
    out = measure(_setup_train, method_name, str(zoo.path), preset, steps, device, overrides, device=device)
    return {**out, "seconds_per_step": out["seconds"] / (method_class(method_name).stages * steps)}


def sample_cost(path, n: int = 1, *, device: str = "cpu", **sample_kw) -> dict:
    """Time and peak memory of generating n models with the saved generator at `path`."""
    return measure(_setup_sample, str(path), n, device, sample_kw, device=device)
