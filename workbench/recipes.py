"""Collecting a zoo by recipe: train the nets, save each finished checkpoint, write the zoo (workbench.zoo's format).

    zoo = collect(ZooRecipe(recipe="seeds", net="cnn_s", dataset="mnist5k", n_checkpoints=10), "zoos/cnn_s-seeds")

Collection writes each finished checkpoint to `.parts/` atomically, so `kill -9` followed by the same call resumes
without redoing finished work; the manifest is written last, so a folder with a manifest is always complete.

Recipes:
  last_epoch  train, then `checkpoint_epochs` (default 1) more epochs at `final_lr` saving K evenly spaced
              checkpoints (RPG / p-diff protocol)
  seeds       N independent runs (seed, seed+1, ...), the final checkpoint of each (or `per_seed` checkpoints
              evenly spaced over its checkpoint epoch, the last being the final one)
  tasks       one checkpoint per binary class-subset task (a bit per class); `head_only` (default) trains just the
              classifier head on a shared frozen backbone (RPG's PCA and unseen-task experiments concern heads),
              otherwise a whole net per task
"""
from __future__ import annotations

import dataclasses
import functools
import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch
from tqdm.auto import tqdm

from . import io
from .config import Config, check
from .data import Dataset, load_dataset
from .data.tasks import binary_labels, code_to_str, split_codes
from .fit import batch_order, load_momentum, make_sgd, momentum_state, set_lr, train_epochs, train_steps
from .nets import NETS, create_net, head_features, head_name, net_config
from .workers import run_parallel, sgd_steps, workers_for
from .zoo import Zoo, _dataset_entry  # noqa: F401


@dataclass(frozen=True)
class ZooRecipe(Config):
    recipe: Literal["last_epoch", "seeds", "tasks"] = "last_epoch"
    net: str = "cnn_s"
    net_kwargs: dict = field(default_factory=dict)   # in_channels/image_size are filled from the dataset
    dataset: str = "mnist5k"
    dataset_kwargs: dict = field(default_factory=dict)
    n_checkpoints: int = 50     # K checkpoints (last_epoch) / N seeds (seeds)
    epochs: int = 30            # training epochs at `lr` before the checkpoints
    checkpoint_epochs: int = 1  # epochs at `final_lr` the checkpoints come from (raise it for K > steps per epoch)
    per_seed: int = 1           # seeds: checkpoints kept per seed, evenly spaced over its checkpoint epoch(s)
    lr: float = 1e-2
    final_lr: float = 1e-3      # learning rate of the extra epoch that the checkpoints come from
    momentum: float = 0.9
    weight_decay: float = 0.0
    batch_size: int = 32
    seed: int = 0
    n_tasks: int | None = None  # tasks: how many of the 1,022 codes (None = all), chosen by `task_seed`
    n_unseen: int = 20          # tasks: codes held out from generator training (recorded in the manifest)
    task_seed: int = 0
    head_only: bool = True      # tasks: train only the head on the shared backbone
    head_epochs: int = 10
    head_lr: float = 0.05
    task_chunk: int = 128       # tasks trained together per batched step (a resume unit)

    def validate(self):
        check(self.recipe in ("last_epoch", "seeds", "tasks"), f"unknown recipe {self.recipe!r}; use last_epoch, seeds or tasks")
        check(self.net in NETS, f"unknown net {self.net!r}; available: {', '.join(NETS.available())}")
        check(self.n_checkpoints >= 1, "n_checkpoints must be >= 1")
        check(self.epochs >= 0 and self.batch_size >= 1 and self.lr > 0 and self.final_lr > 0, "epochs >= 0, batch_size >= 1, lr > 0 required")
        check(self.checkpoint_epochs >= 1 and self.per_seed >= 1, "checkpoint_epochs >= 1 and per_seed >= 1 required")
        NETS.check_kwargs(self.net, self.net_kwargs)   # a misspelt option is an error, never silently dropped


# the net options each kind of data fills in, and their values read from the data
INPUT_OPTIONS = {"image": ("in_channels", "image_size"), "tabular": ("in_features",), "text": ("vocab_size",)}


def _input_sizes(data: Dataset) -> dict:
    if data.kind == "image":
        return {"in_channels": data.input_shape[0], "image_size": data.input_shape[-1]}
    if data.kind == "tabular":
        return {"in_features": data.input_shape[0]}
    return {"vocab_size": int(data.meta.get("vocab_size", 5000))}


def _net_kwargs(recipe: ZooRecipe, data: Dataset, num_classes: int | None = None) -> dict:
    """The net's full kwargs: input size read from the data, the recipe's own options on top (they win)."""
    accepted = set(NETS.fields(recipe.net) or ())
    NETS.check_kwargs(recipe.net, recipe.net_kwargs)
    takes = [kind for kind, opts in INPUT_OPTIONS.items() if set(opts) & accepted]
    if takes and data.kind not in takes:      # a net that says what it takes, and it is not this
        raise ValueError(f"net {recipe.net!r} takes {' or '.join(takes)} inputs, but dataset {data.name!r} is {data.kind} "
                         f"{[None, *data.input_shape]}" + (": use net='mlp', which reads its input width from the data"
                                                          if data.kind == "tabular" else ""))
    kw = {k: v for k, v in _input_sizes(data).items() if k in accepted}
    kw.update(recipe.net_kwargs)
    if "num_classes" in accepted:
        kw["num_classes"] = num_classes or data.num_classes
    return net_config(recipe.net, **kw)


# ---- collecting -------------------------------------------------------------------------------------------

class _Parts:
    """Finished units of work, one safetensors file each, written atomically under <zoo>/.parts/."""

    def __init__(self, out: Path, recipe: ZooRecipe, data_fingerprint: str | None = None, *, worker: bool = False):
        self.dir = out / ".parts"
        self.fingerprint = data_fingerprint
        if worker:         # a worker process of this collection (_seeds): the parent has checked and cleaned the folder
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        rfile = self.dir / "recipe.json"
        ident = {**json.loads(recipe.to_json()), "data_fingerprint": data_fingerprint}
        if rfile.exists() and json.loads(rfile.read_text()) != ident:
            raise ValueError(f"{out} holds an interrupted collection with a different recipe or data; delete {self.dir} "
                             f"or collect into another folder")
        io.atomic_write_text(rfile, json.dumps(ident, indent=2, sort_keys=True))
        for stale in self.dir.glob(".*.tmp"):  # half-written files of a killed run: never read, just removed
            stale.unlink()

    def path(self, name: str) -> Path:
        return self.dir / f"{name}.safetensors"

    def has(self, name: str) -> bool:
        return self.path(name).exists()

    def save(self, name: str, tensors: dict[str, torch.Tensor], meta: dict) -> None:
        io.save_tensors(self.path(name), tensors, metadata={"meta": json.dumps(meta)})

    def load(self, name: str) -> tuple[dict[str, torch.Tensor], dict]:
        from safetensors import safe_open

        with safe_open(str(self.path(name)), "pt") as fh:
            meta = json.loads(fh.metadata()["meta"])
        return io.load_tensors(self.path(name)), meta


def _split(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}


def _train_base(recipe: ZooRecipe, data: Dataset, kw: dict, seed: int, parts: _Parts, name: str, bar) -> tuple:
    """Train `epochs` at lr from seed; cached as a part so an interrupted collection does not redo it."""
    torch.manual_seed(seed)
    net = create_net(recipe.net, **kw)
    opt = make_sgd(net, recipe.lr, recipe.momentum, recipe.weight_decay)
    if parts.has(name):
        t, _ = parts.load(name)
        net.load_state_dict(_split(t, "sd."))
        load_momentum(net, opt, _split(t, "opt."))
    else:
        train_epochs(net, data.X_train, data.y_train, epochs=recipe.epochs, lr=recipe.lr, momentum=recipe.momentum,
                     batch_size=recipe.batch_size, seed=seed, opt=opt, progress=bar)
        parts.save(name, _pack(net, opt), {"seed": seed})
    return net, opt


def _pack(net, opt) -> dict[str, torch.Tensor]:
    out = {f"sd.{k}": v for k, v in net.state_dict().items()}
    out.update({f"opt.{k}": v for k, v in momentum_state(net, opt).items()})
    return out


def _last_epoch(recipe, data, kw, parts, bar) -> list[str]:
    net, opt = _train_base(recipe, data, kw, recipe.seed, parts, "base", bar)
    set_lr(opt, recipe.final_lr)
    batches = _checkpoint_batches(recipe, len(data.y_train), recipe.seed)
    S, K = len(batches), recipe.n_checkpoints          # K <= S was checked before any training (_check_steps)
    per_epoch = S // recipe.checkpoint_epochs
    ends = [round((k + 1) * S / K) for k in range(K)]           # save after these steps: evenly spaced over the epoch
    names = [f"ckpt_{k:05d}" for k in range(K)]
    done = 0
    while done < K and parts.has(names[done]):
        done += 1
    if done:  # resume from the last finished checkpoint: its weights and momentum, then the same batch order
        t, _ = parts.load(names[done - 1])
        net.load_state_dict(_split(t, "sd."))
        load_momentum(net, opt, _split(t, "opt."))
    bar.update(done)
    step = ends[done - 1] if done else 0
    for k in range(done, K):
        for _ in train_steps(net, opt, data.X_train, data.y_train, batches[step: ends[k]]):
            pass
        step = ends[k]
        parts.save(names[k], _pack(net, opt), {"index": k, "seed": recipe.seed,
                                               "epoch": recipe.epochs + (step - 1) // per_epoch, "step": step})
        bar.update(1)
    return names


def _seed_names(recipe, i: int) -> list[str]:
    return [f"ckpt_{i:05d}"] if recipe.per_seed == 1 else [f"ckpt_{i:05d}_{k:03d}" for k in range(recipe.per_seed)]


def _seed_run(recipe, data, kw, parts, i: int, bar) -> None:
    """Run i of a seeds zoo (seed recipe.seed + i): train, then its per_seed checkpoints, each saved as a part."""
    seed, mine, K = recipe.seed + i, _seed_names(recipe, i), recipe.per_seed
    net, opt = _train_base(recipe, data, kw, seed, parts, f"base_{i:05d}", bar)
    set_lr(opt, recipe.final_lr)
    batches = _checkpoint_batches(recipe, len(data.y_train), seed)
    ends = [round((k + 1) * len(batches) / K) for k in range(K)]     # the last is the end of the final epoch
    step = 0
    for k in range(K):
        for _ in train_steps(net, opt, data.X_train, data.y_train, batches[step: ends[k]]):
            pass
        step = ends[k]
        parts.save(mine[k], _pack(net, opt), {"index": i * K + k, "seed": seed,
                                              "epoch": recipe.epochs + recipe.checkpoint_epochs,
                                              "step": 0 if K == 1 else step})
    parts.path(f"base_{i:05d}").unlink(missing_ok=True)


@functools.lru_cache(maxsize=2)
def _named_dataset(name: str, kwargs_json: str) -> Dataset:
    return load_dataset(name, **json.loads(kwargs_json))


def _seed_job(job: tuple) -> None:
    """One run of a seeds zoo in a worker process (workbench.workers): the dataset is loaded there by name."""
    recipe, kw, out, i = job
    data = _named_dataset(recipe.dataset, json.dumps(recipe.dataset_kwargs, sort_keys=True))
    _seed_run(recipe, data, kw, _Parts(Path(out), recipe, worker=True), i, tqdm(disable=True))


def _seeds(recipe, data, kw, parts, bar) -> list[str]:
    todo = [i for i in range(recipe.n_checkpoints) if not all(parts.has(n) for n in _seed_names(recipe, i))]
    bar.update(recipe.n_checkpoints - len(todo))
    steps = sgd_steps(len(todo), recipe.epochs + recipe.checkpoint_epochs, len(data.y_train), recipe.batch_size)
    n = workers_for(len(todo), steps) if parts.fingerprint is None else 1   # your own data stays in this process
    if n > 1:
        bar.set_postfix_str(f"{n} worker processes")
        run_parallel(_seed_job, [(recipe, kw, str(parts.dir.parent), i) for i in todo], n, on_done=lambda _: bar.update(1))
    else:
        for i in todo:
            _seed_run(recipe, data, kw, parts, i, bar)
            bar.update(1)
    return [name for i in range(recipe.n_checkpoints) for name in _seed_names(recipe, i)]


def _tasks(recipe, data, kw, parts, bar) -> list[str]:
    taskset = split_codes(recipe.n_unseen, seed=recipe.task_seed, n_tasks=recipe.n_tasks, num_classes=data.num_classes)
    names = [f"ckpt_{i:05d}" for i in range(len(taskset))]
    meta = lambda i: {"index": i, "seed": recipe.seed, "task": i, "code": code_to_str(taskset.codes[i]),  # noqa: E731
                      "unseen": bool((taskset.unseen == i).any())}
    todo = [i for i in range(len(taskset)) if not parts.has(names[i])]
    bar.update(len(taskset) - len(todo))
    if not recipe.head_only:  # a whole net per task, trained on the task's binary labels
        for i in todo:
            task_data = dataclasses.replace(data, y_train=binary_labels(data.y_train, taskset.codes[i]),
                                            y_test=binary_labels(data.y_test, taskset.codes[i]), num_classes=2)
            net, opt = _train_base(recipe, task_data, kw, recipe.seed, parts, f"base_{i:05d}", bar)
            _final_epoch(recipe, net, opt, task_data, recipe.seed)
            parts.save(names[i], _pack(net, opt), meta(i))
            parts.path(f"base_{i:05d}").unlink(missing_ok=True)
            bar.update(1)
        return names
    backbone, opt = _train_base(recipe, data, _with_classes(recipe, kw, data.num_classes), recipe.seed, parts, "base", bar)
    if not parts.has("backbone"):
        _final_epoch(recipe, backbone, opt, data, recipe.seed)
        parts.save("backbone", _pack(backbone, opt), {})
    backbone.load_state_dict(_split(parts.load("backbone")[0], "sd."))
    backbone.eval()
    Ftr, hname = head_features(backbone, data.X_train), head_name(backbone)
    sd = {k: v for k, v in backbone.state_dict().items() if not k.startswith(hname + ".")}
    for c0 in range(0, len(todo), recipe.task_chunk):
        idx = todo[c0: c0 + recipe.task_chunk]
        W, b = _train_heads(Ftr, binary_labels(data.y_train, taskset.codes[idx]), idx, recipe)
        for j, i in enumerate(idx):
            t = {**sd, f"{hname}.weight": W[j], f"{hname}.bias": b[j]}
            parts.save(names[i], {f"sd.{k}": v for k, v in t.items()}, meta(i))
        bar.update(len(idx))
    return names


def _check_steps(recipe: ZooRecipe, data: Dataset) -> None:
    """A last_epoch zoo needs a step per checkpoint: refuse before training, saying which knob fixes it."""
    per_epoch = -(-len(data.y_train) // recipe.batch_size)
    S = per_epoch * recipe.checkpoint_epochs
    K = {"last_epoch": recipe.n_checkpoints, "seeds": recipe.per_seed}.get(recipe.recipe, 1)
    if K > S:
        what = "n_checkpoints" if recipe.recipe == "last_epoch" else "per_seed"
        raise ValueError(f"{what}={K} exceeds the {S} steps of {recipe.checkpoint_epochs} checkpoint epoch(s) "
                         f"({len(data.y_train)} training rows / batch_size {recipe.batch_size}); set "
                         f"checkpoint_epochs={-(-K // per_epoch)} (more steps at final_lr; the training before the "
                         f"checkpoints is unchanged) or take fewer checkpoints")


def _checkpoint_batches(recipe, n: int, seed: int) -> list[torch.Tensor]:
    """The minibatches of the `checkpoint_epochs` epochs at `final_lr` that follow the `epochs` of training."""
    return [b for e in range(recipe.checkpoint_epochs) for b in batch_order(n, recipe.batch_size, seed, recipe.epochs + e)]


def _final_epoch(recipe, net, opt, data, seed) -> None:
    """The `checkpoint_epochs` (default one) more epochs at `final_lr` that the checkpoints of every recipe come from."""
    set_lr(opt, recipe.final_lr)
    for _ in train_steps(net, opt, data.X_train, data.y_train, _checkpoint_batches(recipe, len(data.y_train), seed)):
        pass


def _with_classes(recipe, kw, n):
    return net_config(recipe.net, **{**kw, "num_classes": n})


def _train_heads(F: torch.Tensor, Y: torch.Tensor, task_ids: list[int], recipe: ZooRecipe):
    """Train T independent 2-way linear heads at once: loss is a sum over tasks, so gradients never mix.

    Each head's init is seeded by its task index and every head sees the same minibatch order, so a task's head
    does not depend on which other tasks share its chunk (resume-safe).
    """
    T, f = len(task_ids), F.shape[1]
    bound = 1 / f ** 0.5  # nn.Linear's default init range
    inits = [torch.rand(2 * f + 2, generator=torch.Generator().manual_seed(recipe.seed * 7919 + i)) for i in task_ids]
    init = (torch.stack(inits) * 2 - 1) * bound
    W = init[:, : 2 * f].reshape(T, 2, f).clone().requires_grad_()
    b = init[:, 2 * f:].clone().requires_grad_()
    opt = torch.optim.SGD([W, b], lr=recipe.head_lr, momentum=recipe.momentum)
    for epoch in range(recipe.head_epochs):
        for idx in batch_order(F.shape[0], recipe.batch_size * 4, recipe.seed, 10_000 + epoch):
            logits = torch.einsum("nf,tcf->tnc", F[idx], W) + b[:, None, :]              # (T, B, 2)
            loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 2), Y[:, idx].reshape(-1), reduction="sum") / len(idx)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return W.detach(), b.detach()


RECIPES = {"last_epoch": _last_epoch, "seeds": _seeds, "tasks": _tasks}


def collect(recipe: ZooRecipe, out: str | Path, *, data: Dataset | None = None, progress: bool = True) -> Zoo:
    """Collect (or resume, or just load) the zoo of `recipe` into folder `out`.

    `data` brings your own Dataset (e.g. `workbench.data.from_tensors`): the recipe then records its name (not the
    recipe's `dataset`), and the zoo keeps its tensors beside it (`dataset.safetensors`), so `zoo.dataset()` gives
    them back. By default `recipe.dataset` is loaded by name. A complete zoo made with the same recipe (and data) is
    loaded, not redone; one made with another recipe or other data is an error.
    """
    out = Path(out)
    fingerprint = None
    if data is not None:
        recipe = recipe.replace(dataset=data.name, dataset_kwargs={})
        fingerprint = data.fingerprint()
    if (out / io.MANIFEST_FILE).exists():
        zoo = Zoo.load(out)
        stored = ZooRecipe.from_dict(zoo.manifest.get("recipe") or {})   # fields added since then take their defaults
        if json.loads(stored.to_json()) != json.loads(recipe.to_json()):
            raise ValueError(f"{out} already holds a zoo made with a different recipe; choose another folder or delete it")
        if zoo.manifest.get("dataset_fingerprint") != fingerprint:
            raise ValueError(f"{out} already holds a zoo of other data named {recipe.dataset!r} (fingerprints "
                             f"{zoo.manifest.get('dataset_fingerprint')} vs {fingerprint}); choose another folder or delete it")
        return zoo
    if out.exists():
        io.refuse_pickles(out)
    dataset = data if data is not None else recipe.dataset
    data = data or load_dataset(recipe.dataset, **recipe.dataset_kwargs)
    kw = _net_kwargs(recipe, data, 2 if recipe.recipe == "tasks" else None)
    _check_steps(recipe, data)
    parts = _Parts(out, recipe, fingerprint)
    t0 = time.perf_counter()
    total = recipe.n_checkpoints if recipe.recipe != "tasks" else len(split_codes(recipe.n_unseen, seed=recipe.task_seed, n_tasks=recipe.n_tasks,
                                                                                   num_classes=data.num_classes))
    with tqdm(total=total, desc=f"zoo {out.name} [{recipe.recipe}]", disable=None if progress else True) as bar:
        names = RECIPES[recipe.recipe](recipe, data, kw, parts, bar)
    seconds = time.perf_counter() - t0
    loaded = [parts.load(n) for n in names]
    sds = [_split(t, "sd.") for t, _ in loaded]
    checkpoints = [m for _, m in loaded]
    zoo = Zoo.from_state_dicts(sds, net=recipe.net, net_kwargs=kw, dataset=dataset, checkpoints=checkpoints,
                               dataset_kwargs=recipe.dataset_kwargs, recipe=json.loads(recipe.to_json()),
                               collect_seconds=round(seconds, 2))
    from .evaluate import accuracy  # evaluation fills in each checkpoint's test accuracy

    y = data.y_test if zoo.codes is None else binary_labels(data.y_test, zoo.codes)
    for c, a in zip(checkpoints, accuracy(zoo, zoo.flat, data.X_test, y).tolist()):
        c["test_accuracy"] = a
    zoo.save(out)
    shutil.rmtree(parts.dir)
    return zoo
