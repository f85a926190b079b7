"""One tiny registry: name -> (config class, builder). Used for nets, datasets and generators."""
from __future__ import annotations

import dataclasses
import fnmatch
from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class Entry:
    name: str
    config_cls: type | None
    builder: Callable[..., Any]
    help: str = ""


class Registry:
    def __init__(self, kind: str, where: str = ""):
        self.kind = kind
        self.where = where          # the importable object users register on, named in error messages
        self._entries: dict[str, Entry] = {}

    def register(self, name: str, config_cls: type | None = None, *, help: str = "", overwrite: bool = False):
        """Decorator: `@NETS.register("cnn_s", CNNsConfig)` over a builder taking the config."""

        def deco(builder):
            if name in self._entries and not overwrite:
                raise ValueError(f"{self.kind} {name!r} is already registered; pass overwrite=True to replace it")
            self._entries[name] = Entry(name, config_cls, builder, help or (builder.__doc__ or "").strip().split("\n")[0])
            return builder

        return deco

    def get(self, name: str) -> Entry:
        if name not in self._entries:
            how = f" Register your own with {self.where}.register(name, ConfigClass)." if self.where else ""
            raise KeyError(f"unknown {self.kind} {name!r}; available: {', '.join(self.available())}.{how}")
        return self._entries[name]

    def fields(self, name: str) -> list[str] | None:
        """The option names `name` accepts (None: its builder takes free-form kwargs)."""
        entry = self.get(name)
        return None if entry.config_cls is None else [f.name for f in dataclasses.fields(entry.config_cls)]

    def check_kwargs(self, name: str, kwargs: dict) -> None:
        """An option `name` does not have is an error that lists the ones it has (never silently dropped)."""
        accepted = self.fields(name)
        unknown = sorted(set(kwargs) - set(accepted)) if accepted is not None else []
        if unknown:
            raise TypeError(f"{self.kind} {name!r} has no option(s) {unknown}; it accepts: {', '.join(accepted)}")

    def config(self, name: str, **kwargs):
        entry = self.get(name)
        if entry.config_cls is None:
            return kwargs
        self.check_kwargs(name, kwargs)
        try:
            return entry.config_cls(**kwargs)
        except TypeError as exc:
            raise TypeError(f"{self.kind} {name!r}: {exc}") from None

    def create(self, name: str, **kwargs):
        entry = self.get(name)
        return entry.builder(self.config(name, **kwargs))

    def available(self, pattern: str = "*") -> list[str]:
        return sorted(n for n in self._entries if fnmatch.fnmatch(n, pattern))

    def __contains__(self, name: str) -> bool:
        return name in self._entries
