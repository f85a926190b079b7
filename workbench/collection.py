"""A collection of zoos: many (architecture, dataset) pairs for one generator (IGPG's claim is one generator for all).

    spec = preset.collection_spec()                       # architectures x datasets x seeds, held-out lists
    col = collect_collection(spec, "zoos/small/collection")   # one `seeds` zoo per pair (resumable), manifest last
    for m in col.members("seen"):                          # m.arch, m.dataset, m.split, m.description
        zoo = col.zoo(m)                                   # an ordinary Zoo: every evaluation works on it
    emb = col.embeddings(image_encoder(), text_encoder())  # {"data": {dataset: [d]}, "arch": {arch: [a]}}, cached

A collection folder holds `collection.json` (the spec, the members with their split and architecture description)
and one zoo folder per pair; embeddings are cached per encoder in `embeddings.safetensors`. Splits: `seen` (the
generator trains on it), `held-out dataset` (a dataset no seen pair uses), `held-out depth` (an architecture the
generator never sees, e.g. a ResNet depth between seen ones).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm.auto import tqdm

from . import io
from .config import Config, check
from .data import DATASETS, load_dataset
from .nets import NETS
from .zoo import Zoo
from .recipes import ZooRecipe, collect
from .workers import run_parallel, sgd_steps, workers_for

MANIFEST = "collection.json"
EMBEDDINGS = "embeddings.safetensors"
FORMAT = "workbench-collection/1"


@dataclass(frozen=True)
class CollectionSpec(Config):
    archs: dict = field(default_factory=lambda: {"cnn_s": {"net": "cnn_s"}})   # label -> {"net": name, **net kwargs}
    datasets: tuple[str, ...] = ("mnist5k",)
    held_out_datasets: tuple[str, ...] = ()
    held_out_archs: tuple[str, ...] = ()
    dataset_kwargs: dict = field(default_factory=dict)   # for every dataset (e.g. max_train at the smoke preset)
    seeds: int = 3               # independent runs per pair: each pair is a distribution, not a point
    per_seed: int = 2            # checkpoints per run, from its final epoch
    epochs: int = 10
    # at least this many SGD steps per run at `lr`: a smaller dataset trains more epochs, so every pair gets about the
    # same optimisation (at 8 epochs sklearn digits' 1,437 images gave a ResNet-1 a third of mnist5k's steps: 73-85 %)
    min_steps: int = 0
    lr: float = 1e-2
    final_lr: float = 1e-3
    batch_size: int = 32

    def validate(self):
        for label, a in self.archs.items():
            check(isinstance(a, dict) and a.get("net") in NETS,
                  f"arch {label!r} must be {{'net': <registered net>, ...}}; available nets: {', '.join(NETS.available())}")
            NETS.check_kwargs(a["net"], {k: v for k, v in a.items() if k != "net"})
        for d in (*self.datasets, *self.held_out_datasets):
            check(d in DATASETS, f"unknown dataset {d!r}; available: {', '.join(DATASETS.available())}")
        check(set(self.held_out_datasets) <= set(self.datasets), "held_out_datasets must be among datasets")
        check(set(self.held_out_archs) <= set(self.archs), "held_out_archs must be among archs")
        check(len(set(self.datasets) - set(self.held_out_datasets)) >= 1 and len(set(self.archs) - set(self.held_out_archs)) >= 1,
              "at least one dataset and one architecture must be seen")
        check(self.seeds >= 1 and self.per_seed >= 1, "seeds >= 1 and per_seed >= 1 required")
        check(self.min_steps >= 0, "min_steps must be >= 0 (0: train exactly `epochs`)")

    def epochs_for(self, dataset: str) -> int:
        """`epochs`, or more where one epoch of `dataset` is too few steps to reach `min_steps` in them."""
        if not self.min_steps:
            return self.epochs
        per_epoch = math.ceil(len(load_dataset(dataset, **self.dataset_kwargs).y_train) / self.batch_size)
        return max(self.epochs, math.ceil(self.min_steps / per_epoch))

    def recipe(self, arch: str, dataset: str) -> ZooRecipe:
        a = dict(self.archs[arch])
        return ZooRecipe(recipe="seeds", net=a.pop("net"), net_kwargs=a, dataset=dataset,
                         dataset_kwargs=dict(self.dataset_kwargs), n_checkpoints=self.seeds, per_seed=self.per_seed,
                         epochs=self.epochs_for(dataset), lr=self.lr, final_lr=self.final_lr, batch_size=self.batch_size)

    def split(self, arch: str, dataset: str) -> str:
        if dataset in self.held_out_datasets:
            return "held-out dataset"
        return "held-out depth" if arch in self.held_out_archs else "seen"


@dataclass(frozen=True)
class Member:
    arch: str
    dataset: str
    split: str
    zoo: str                 # folder, relative to the collection
    net: str
    net_kwargs: dict
    description: str         # the architecture text the architecture embedding is made from


class Collection:
    def __init__(self, path: Path | None, manifest: dict):
        self.path, self.manifest = (Path(path) if path is not None else None), manifest
        self._zoo_view: Zoo | None = None        # of_zoo: the one zoo this collection is
        self.spec = CollectionSpec.from_dict(manifest["spec"])
        self._members = [Member(**m) for m in manifest["members"]]
        self._zoos: dict[str, Zoo] = {}

    @classmethod
    def load(cls, path: str | Path) -> "Collection":
        path = Path(path)
        if not (path / MANIFEST).exists():
            raise FileNotFoundError(f"no complete collection at {path} (no {MANIFEST}); collect it with "
                                    f"workbench.collection.collect_collection(spec, {str(path)!r}), which resumes")
        m = io.read_json(path / MANIFEST)
        if m.get("format") != FORMAT:
            raise ValueError(f"{path / MANIFEST}: format {m.get('format')!r} is not {FORMAT!r}")
        return cls(path, m)

    @classmethod
    def of_zoo(cls, zoo: Zoo, arch: str | None = None) -> "Collection":
        """One zoo seen as a one-pair collection (its only member `seen`), in memory: how a collection generator
        (IGPG) trains on a single zoo, e.g. the leaderboard's. Embeddings are cached beside the zoo's folder
        (<folder>.collection/); the label and fingerprint are the zoo's."""
        from .encoders import describe_architecture

        if zoo.manifest.get("dataset_file") or zoo.manifest["dataset"] not in DATASETS:
            raise ValueError(f"zoo {zoo.path}: its dataset {zoo.manifest['dataset']!r} is not a registered one, and a "
                             f"collection embeds its datasets by name; register a loader with workbench.data.DATASETS")
        arch = arch or zoo.net
        spec = CollectionSpec(archs={arch: {"net": zoo.net, **zoo.net_kwargs}}, datasets=(zoo.manifest["dataset"],),
                              dataset_kwargs=dict(zoo.manifest.get("dataset_kwargs", {})))
        member = {"arch": arch, "dataset": zoo.manifest["dataset"], "split": "seen", "zoo": "zoo", "net": zoo.net,
                  "net_kwargs": zoo.net_kwargs, "description": describe_architecture(zoo.net, zoo.net_kwargs)}
        path = zoo.path.with_name(f"{zoo.path.name}.collection") if zoo.path is not None else None
        col = cls(path, {"format": FORMAT, "spec": json.loads(spec.to_json()), "members": [member], "of_zoo": True})
        col._zoos["zoo"] = zoo
        col._zoo_view = zoo
        return col

    @property
    def single_zoo(self) -> Zoo | None:
        """The zoo a one-pair collection was made from (of_zoo), else None."""
        return self._zoo_view

    def members(self, split: str | None = None) -> list[Member]:
        return [m for m in self._members if split is None or m.split == split]

    def member(self, arch: str, dataset: str) -> Member:
        for m in self._members:
            if (m.arch, m.dataset) == (arch, dataset):
                return m
        raise KeyError(f"no pair ({arch!r}, {dataset!r}) in {self.path}; pairs: "
                       f"{[(m.arch, m.dataset) for m in self._members][:12]}")

    def subset(self, archs=None, datasets=None) -> "Collection":
        """The same folder seen through fewer members (e.g. an ablation on a few pairs); its label and fingerprint
        name the members it keeps, so a generator trained on it is cached apart from the full collection's."""
        keep = [m for m in self.manifest["members"] if (archs is None or m["arch"] in archs)
                and (datasets is None or m["dataset"] in datasets)]
        if not keep:
            raise ValueError(f"no member of {self.path} has an architecture in {archs} and a dataset in {datasets}")
        spec = {**self.manifest["spec"], "archs": {a: v for a, v in self.manifest["spec"]["archs"].items()
                                                   if any(m["arch"] == a for m in keep)},
                "datasets": [d for d in self.manifest["spec"]["datasets"] if any(m["dataset"] == d for m in keep)]}
        spec["held_out_datasets"] = [d for d in spec.get("held_out_datasets", ()) if d in spec["datasets"]]
        spec["held_out_archs"] = [a for a in spec.get("held_out_archs", ()) if a in spec["archs"]]
        sub = Collection(self.path, {**self.manifest, "spec": spec, "members": keep})
        sub._zoos = self._zoos
        return sub

    def zoo(self, m: Member) -> Zoo:
        if m.zoo not in self._zoos:
            self._zoos[m.zoo] = Zoo.load(self.path / m.zoo)
        return self._zoos[m.zoo]

    @property
    def label(self) -> str:
        """Short name for run folders: collection-<pairs> (of_zoo: the zoo's label)."""
        return self._zoo_view.label if self._zoo_view is not None else f"collection-{len(self._members)}"

    def fingerprint(self) -> str:
        """A short hash of every member zoo: equal collections, equal fingerprints (of_zoo: the zoo's)."""
        import hashlib

        if self._zoo_view is not None:
            return self._zoo_view.fingerprint()

        h = hashlib.sha1(self.spec.to_json().encode())
        for m in self._members:
            h.update(self.zoo(m).fingerprint().encode())
        return h.hexdigest()[:12]

    @property
    def archs(self) -> list[str]:
        return list(self.spec.archs)

    @property
    def datasets(self) -> list[str]:
        return list(self.spec.datasets)

    def embeddings(self, image_enc, text_enc, *, per_class: int = 5) -> dict[str, dict[str, torch.Tensor]]:
        """Dataset embeddings (features of `per_class` examples per class, mean-pooled: images by `image_enc`, texts
        by `text_enc`) and architecture embeddings (the members' descriptions), cached per encoder in
        embeddings.safetensors."""
        from .encoders import dataset_embedding

        file = self.path / EMBEDDINGS if self.path is not None else None
        cache = io.load_tensors(file) if file is not None and file.exists() else {}
        n_before = len(cache)

        def data_key(d: str) -> str:          # a text dataset is embedded by the text encoder, an image one by the image's
            for enc in (image_enc, text_enc):
                if f"data/{enc.name}/{d}" in cache:
                    return f"data/{enc.name}/{d}"
            data = load_dataset(d, **self.spec.dataset_kwargs)
            enc = text_enc if data.kind == "text" else image_enc
            cache[f"data/{enc.name}/{d}"] = dataset_embedding(data, enc, per_class=per_class)
            return f"data/{enc.name}/{d}"

        missing = [d for d in self.datasets if not any(f"data/{e.name}/{d}" in cache for e in (image_enc, text_enc))]
        for a in self.archs:
            if f"arch/{text_enc.name}/{a}" not in cache:
                cache[f"arch/{text_enc.name}/{a}"] = text_enc.embed([next(m.description for m in self._members
                                                                          if m.arch == a)])[0]
        keys = {d: data_key(d) for d in tqdm(self.datasets, desc="embeddings", disable=None if missing else True)}
        if len(cache) > n_before and file is not None:
            io.save_tensors(file, cache)
        widths = {cache[k].shape[-1] for k in keys.values()}
        if len(widths) > 1:
            raise ValueError(f"collection {self.path}: its datasets mix images and texts ({sorted(keys.values())}); one "
                             "prior reads one dataset-embedding width: make a collection of one kind")
        return {"data": {d: cache[k] for d, k in keys.items()}, "arch": {a: cache[f"arch/{text_enc.name}/{a}"] for a in self.archs}}


def collect_collection(spec: CollectionSpec, out: str | Path, *, progress: bool = True) -> Collection:
    """Collect every (architecture, dataset) pair's zoo under `out` (each resumes like any zoo), then the manifest.

    A complete collection made with the same spec is loaded; one made with another spec is an error.
    """
    from .encoders import describe_architecture

    out = Path(out)
    if (out / MANIFEST).exists():
        col = Collection.load(out)
        if json.loads(col.spec.to_json()) != json.loads(spec.to_json()):
            raise ValueError(f"{out} already holds a collection made with a different spec; choose another folder")
        return col
    members = []
    pairs = [(a, d) for a in spec.archs for d in spec.datasets]
    todo = [(a, d) for a, d in pairs if not (out / f"{d}-{a}" / io.MANIFEST_FILE).exists()]
    n_train = {d: len(load_dataset(d, **spec.dataset_kwargs).y_train) for d in {d for _, d in todo}}
    steps = sum(sgd_steps(spec.seeds, spec.epochs_for(d), n_train[d], spec.batch_size) for _, d in todo)
    bar = tqdm(total=len(pairs), initial=len(pairs) - len(todo), desc=f"collection {out.name}", disable=None if progress else True)
    n = workers_for(len(todo), steps)
    if n > 1:                # whole zoos in worker processes (each resumes like any zoo); loaded below
        bar.set_postfix_str(f"{n} worker processes")
        run_parallel(_collect_member, [(spec, arch, dataset, str(out)) for arch, dataset in todo], n,
                     on_done=lambda _: bar.update(1))
    for arch, dataset in pairs:
        folder = f"{dataset}-{arch}"
        done = (out / folder / io.MANIFEST_FILE).exists()
        zoo = collect(spec.recipe(arch, dataset), out / folder, progress=False)
        if not done:
            bar.update(1)
        members.append({"arch": arch, "dataset": dataset, "split": spec.split(arch, dataset), "zoo": folder,
                        "net": zoo.net, "net_kwargs": zoo.net_kwargs,
                        "description": describe_architecture(zoo.net, zoo.net_kwargs)})
    bar.close()
    io.write_json(out / MANIFEST, {"format": FORMAT, "spec": json.loads(spec.to_json()), "members": members,
                                   "held_out": {"datasets": list(spec.held_out_datasets), "archs": list(spec.held_out_archs)}})
    return Collection.load(out)


def _collect_member(job: tuple) -> None:
    """One pair's zoo, in a worker process (workbench.workers)."""
    spec, arch, dataset, out = job
    collect(spec.recipe(arch, dataset), Path(out) / f"{dataset}-{arch}", progress=False)

