"""Frozen dataclass configs that validate themselves and round-trip through JSON."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T", bound="Config")


@dataclasses.dataclass(frozen=True)
class Config:
    """Base class: subclasses add fields and check them in `validate()`."""

    def __post_init__(self):
        self.validate()

    def validate(self) -> None:  # overridden where there is something to check
        pass

    def to_dict(self) -> dict[str, Any]:
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls: type[T], d: dict[str, Any]) -> T:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"{cls.__name__}: unknown field(s) {sorted(unknown)}; known: {sorted(names)}")
        kw = {}
        for f in dataclasses.fields(cls):
            if f.name in d:
                v = d[f.name]
                kw[f.name] = _tuples(v) if isinstance(v, list) else v
        return cls(**kw)

    def replace(self: T, **kw) -> T:
        return dataclasses.replace(self, **kw)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    def save(self, path: str | Path) -> None:
        from .io import atomic_write_text

        atomic_write_text(Path(path), self.to_json())

    @classmethod
    def load(cls: type[T], path: str | Path) -> T:
        return cls.from_dict(json.loads(Path(path).read_text()))


def _tuples(v):
    """JSON lists back to the tuples a config holds, nested ones too ((("seeds", "cnn_s"), ...))."""
    return tuple(_tuples(x) for x in v) if isinstance(v, list) else v


def _plain(v):
    if isinstance(v, Config):
        return v.to_dict()
    if isinstance(v, (tuple, list)):
        return [_plain(x) for x in v]
    return v


def check(cond: bool, msg: str) -> None:
    """Raise ValueError(msg) unless cond: keeps `validate()` bodies one line per rule."""
    if not cond:
        raise ValueError(msg)
