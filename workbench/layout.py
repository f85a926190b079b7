"""A net's state dict <-> one flat float vector, and per-key z-score normalisation (RPG's, from zoo statistics).

Floating tensors (parameters and float buffers such as BatchNorm statistics) are flattened in state-dict order;
integer buffers (`num_batches_tracked`) are not generated: they are copied from a reference checkpoint.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Key:
    name: str
    shape: tuple[int, ...]
    dtype: str

    @property
    def numel(self) -> int:
        n = 1
        for s in self.shape:
            n *= s
        return n

    @property
    def is_float(self) -> bool:
        return self.dtype.startswith("float") or self.dtype.startswith("bfloat")


class Layout:
    """Ordered keys of a state dict; `flatten` / `unflatten` between stacked state dicts and [N, D] vectors."""

    def __init__(self, keys: list[Key]):
        self.keys = list(keys)
        self.float_keys = [k for k in self.keys if k.is_float]
        self.slices: dict[str, slice] = {}
        o = 0
        for k in self.float_keys:
            self.slices[k.name] = slice(o, o + k.numel)
            o += k.numel
        self.dim = o

    @classmethod
    def from_state_dict(cls, sd: dict[str, torch.Tensor]) -> "Layout":
        return cls([Key(n, tuple(t.shape), str(t.dtype).replace("torch.", "")) for n, t in sd.items()])

    @classmethod
    def from_json(cls, rows: list[dict]) -> "Layout":
        return cls([Key(r["name"], tuple(r["shape"]), r["dtype"]) for r in rows])

    def to_json(self) -> list[dict]:
        return [{"name": k.name, "shape": list(k.shape), "dtype": k.dtype} for k in self.keys]

    def flatten(self, stacked: dict[str, torch.Tensor]) -> torch.Tensor:
        """{key: [N, *shape]} -> [N, D] float32."""
        return torch.cat([stacked[k.name].reshape(stacked[k.name].shape[0], -1).float() for k in self.float_keys], 1)

    def unflatten(self, flat: torch.Tensor, ints: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        """[N, D] -> {key: [N, *shape]}; integer keys come from `ints` ({key: [*shape]}, broadcast over N)."""
        if flat.dim() != 2 or flat.shape[1] != self.dim:
            raise ValueError(f"expected flat parameters of shape [N, {self.dim}], got {list(flat.shape)}")
        out = {}
        for k in self.keys:
            if k.is_float:
                out[k.name] = flat[:, self.slices[k.name]].reshape(flat.shape[0], *k.shape).to(getattr(torch, k.dtype))
            else:
                if ints is None or k.name not in ints:
                    raise ValueError(f"integer buffer {k.name!r} is not generated: pass it in `ints`")
                out[k.name] = ints[k.name].expand(flat.shape[0], *k.shape).clone()
        return out

    def key_index(self) -> torch.Tensor:
        """[D] index of the key each flat coordinate belongs to."""
        return torch.cat([torch.full((k.numel,), i) for i, k in enumerate(self.float_keys)])

    def select(self, prefix: str) -> torch.Tensor:
        """Boolean [D] mask of coordinates whose key starts with `prefix` (e.g. a head's module name)."""
        mask = torch.zeros(self.dim, dtype=torch.bool)
        for k in self.float_keys:
            if k.name.startswith(prefix):
                mask[self.slices[k.name]] = True
        return mask


def _is_running_var(name: str) -> bool:
    return name.endswith("running_var")


class Normalizer:
    """Per-key z-score, mean and std of each tensor averaged over the zoo's checkpoints (RPG's official recipe).

    BatchNorm running_var first goes through log(v / (0.95 * mean_v) + 0.05), as in the reference code.
    """

    def __init__(self, layout: Layout, mean: torch.Tensor, std: torch.Tensor, var_mean: torch.Tensor):
        self.layout, self.mean, self.std, self.var_mean = layout, mean, std, var_mean  # each [num float keys]

    @classmethod
    def fit(cls, layout: Layout, flat: torch.Tensor) -> "Normalizer":
        means, stds, vms = [], [], []
        for k in layout.float_keys:
            x = flat[:, layout.slices[k.name]].double()
            vm = x.mean() if _is_running_var(k.name) else torch.tensor(1.0, dtype=torch.float64)
            if _is_running_var(k.name):
                x = torch.log(x / (0.95 * vm) + 0.05)
            means.append(x.mean(1).mean())
            stds.append(x.std(1).mean() if x.shape[1] > 1 else torch.tensor(0.0, dtype=torch.float64))  # 1-element keys: std 1
            vms.append(vm)
        std = torch.stack(stds).float()
        return cls(layout, torch.stack(means).float(), torch.where(std > 1e-8, std, torch.ones_like(std)), torch.stack(vms).float())

    def _expand(self, v: torch.Tensor) -> torch.Tensor:
        return v[self.layout.key_index()]

    def _var_mask(self) -> torch.Tensor:
        m = torch.zeros(self.layout.dim, dtype=torch.bool)
        for k in self.layout.float_keys:
            if _is_running_var(k.name):
                m[self.layout.slices[k.name]] = True
        return m

    def normalize(self, flat: torch.Tensor) -> torch.Tensor:
        x = flat.clone()
        vm = self._var_mask()
        if vm.any():
            x[:, vm] = torch.log(x[:, vm] / (0.95 * self._expand(self.var_mean)[vm]) + 0.05)
        return (x - self._expand(self.mean)) / self._expand(self.std)

    def denormalize(self, z: torch.Tensor) -> torch.Tensor:
        x = z * self._expand(self.std) + self._expand(self.mean)
        vm = self._var_mask()
        if vm.any():
            x[:, vm] = ((torch.exp(x[:, vm]) - 0.05) * 0.95 * self._expand(self.var_mean)[vm]).clamp_min(1e-8)
        return x
