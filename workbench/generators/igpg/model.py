"""IGPG: one generator for many (architecture, dataset) pairs — a Gumbel VQ-VAE over weight chunks and a GPT-2 prior
over their codes, conditioned on a dataset embedding and an architecture-text embedding (papers/igpg-summary.md).

    col = preset.load_collection()                                    # workbench.collection.Collection
    igpg = IGPG.from_collection(col, IGPGConfig(...))                 # embeddings from the configured encoders
    igpg.fit(col, TrainConfig(steps=...), batch_size=32)              # stage 1: VQ-VAE; stage 2: prior
    flat = igpg.generate(4, seed=0, arch="cnn_s", dataset="mnist5k")  # [4, D] in that pair's zoo layout

Per architecture the net's floating parameters are z-scored per key and cut into chunks (the road's "flat"
tokenizer); a chunk is `chunk_size / downsample` codes; a net's code sequence is its chunks' codes in order.

Where this differs from IGPG, and why:
- Per-key normalisation (see vqvae.py). An architecture the collection holds no checkpoints of (held-out depth) takes
  each key's statistics from the seen keys with the same name suffix and shape (e.g. every ResNet's `conv1.weight` of
  that width), since IGPG's single global z-score has no per-key statistics to transfer.
- Generator training covers the `seen` members only; held-out pairs are kept for evaluation, as the paper's transfer
  experiments require.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ...config import Config, check
from ...layout import Layout, Normalizer
from ...tokenizers import Tokenizer, TokenizerConfig
from ...train import TrainConfig, fit, sampler
from .. import GENERATORS, Generator, seeded
from .prior import CodePrior, PriorConfig
from .vqvae import ChunkVQVAE, VQConfig


@dataclass(frozen=True)
class IGPGConfig(Config):
    chunk_size: int = 64
    downsample: int = 4
    codebook_size: int = 256
    code_dim: int = 64
    vq_hidden: int = 64
    vq_loss: str = "l1"
    kl_weight: float = 1e-3
    vq_steps: int = 2000            # stage 1 (the temperature anneals over these steps)
    vq_lr: float = 1e-3
    vq_batch: int = 256             # chunks per VQ-VAE step
    context: int = 256              # codes per prior window
    n_embd: int = 128
    n_layer: int = 4
    n_head: int = 4
    use_arch: bool = True           # ablation: prior without the architecture embedding
    image_encoder: str = "efficientnet_lite0"
    text_encoder: str = "minilm"
    image_size: int = 224           # encoder input size
    data_dim: int = 0               # filled from the encoders by from_collection
    arch_dim: int = 0

    def validate(self):
        check(self.vq_steps >= 1 and self.vq_batch >= 1, "vq_steps, vq_batch >= 1")

    def vq(self) -> VQConfig:
        return VQConfig(chunk_size=self.chunk_size, downsample=self.downsample, codebook_size=self.codebook_size,
                        code_dim=self.code_dim, hidden=self.vq_hidden, loss=self.vq_loss, kl_weight=self.kl_weight,
                        anneal_steps=self.vq_steps)

    def prior(self) -> PriorConfig:
        return PriorConfig(vocab=self.codebook_size, data_dim=self.data_dim, arch_dim=self.arch_dim,
                           use_arch=self.use_arch, context=self.context, n_embd=self.n_embd, n_layer=self.n_layer,
                           n_head=self.n_head)


def _suffix(name: str) -> str:
    parts = name.split(".")
    return ".".join(p for p in parts if not p.isdigit())[-40:]   # "3.conv1.weight" -> "conv1.weight"


def _transfer_stats(layout: Layout, known: dict[tuple, list]) -> Normalizer:
    """Per-key statistics for an architecture without checkpoints, from seen keys with the same suffix and shape."""
    rows = []
    for k in layout.float_keys:
        cands = known.get((_suffix(k.name), k.shape)) or known.get((_suffix(k.name), None)) or known[("*", None)]
        rows.append(torch.tensor(cands).mean(0))
    st = torch.stack(rows)                                                    # [keys, 3]: mean, std, var_mean
    return Normalizer(layout, st[:, 0], st[:, 1], st[:, 2])


class IGPG(Generator):
    name = "igpg"
    stages = 2    # VQ-VAE, then prior

    def __init__(self, config: IGPGConfig, tokenizer, target: dict):
        super().__init__(config, None, target)
        self.vq = ChunkVQVAE(config.vq())
        self.prior = CodePrior(config.prior())
        self.stage = "prior"
        emb = target["embeddings"]
        self.register_buffer("data_emb", torch.tensor([emb["data"][d] for d in target["datasets"]]).float())
        self.register_buffer("arch_emb", torch.tensor([emb["arch"][a] for a in target["archs"]]).float())
        self._toks = {a: self._tokenizer(a) for a in target["archs"]}

    # ---- construction -------------------------------------------------------------------------------------
    @classmethod
    def from_collection(cls, col, config: IGPGConfig = IGPGConfig(), *, seed: int | None = 0,
                        image_enc=None, text_enc=None) -> "IGPG":
        """Statistics from the seen members, embeddings of every dataset and architecture of the collection."""
        from ...encoders import image_encoder, text_encoder

        image_enc = image_enc or image_encoder(config.image_encoder, size=config.image_size)
        text_enc = text_enc or text_encoder(config.text_encoder)
        emb = col.embeddings(image_enc, text_enc)
        config = config.replace(data_dim=image_enc.dim, arch_dim=text_enc.dim)
        archs = {}
        known: dict[tuple, list] = {("*", None): []}
        for a in col.archs:
            seen = [m for m in col.members("seen") if m.arch == a]
            member = seen[0] if seen else next(m for m in col.members() if m.arch == a)
            zoo = col.zoo(member)
            entry = {"net": member.net, "net_kwargs": member.net_kwargs, "keys": zoo.layout.to_json(), "seen": bool(seen)}
            if seen:   # per-key statistics over every seen checkpoint of this architecture
                flat = torch.cat([col.zoo(m).flat for m in seen if col.zoo(m).num_params == zoo.num_params])
                norm = Normalizer.fit(zoo.layout, flat)
                entry["stats"] = torch.stack([norm.mean, norm.std, norm.var_mean], 1).tolist()
                for k, row in zip(zoo.layout.float_keys, entry["stats"]):
                    for key in ((_suffix(k.name), k.shape), (_suffix(k.name), None), ("*", None)):
                        known.setdefault(key, []).append(row)
            archs[a] = entry
        for a, entry in archs.items():   # held-out architectures borrow statistics from seen keys
            if "stats" not in entry:
                norm = _transfer_stats(Layout.from_json(entry["keys"]), known)
                entry["stats"] = torch.stack([norm.mean, norm.std, norm.var_mean], 1).tolist()
        target = {"collection": str(col.path), "archs": list(col.archs), "datasets": list(col.datasets),
                  "arch_info": archs, "splits": {f"{m.arch}|{m.dataset}": m.split for m in col.members()},
                  "embeddings": {"data": {d: v.tolist() for d, v in emb["data"].items()},
                                 "arch": {a: v.tolist() for a, v in emb["arch"].items()}},
                  "encoders": {"image": image_enc.name, "text": text_enc.name}}
        with seeded(seed):
            return cls(config, None, target)

    @classmethod
    def from_preset(cls, col, preset, *, seed: int = 0, **overrides) -> "IGPG":
        if not hasattr(col, "members"):
            raise TypeError("IGPG trains on a collection of (architecture, dataset) zoos: pass preset.load_collection(), "
                            "not a single zoo")
        return cls.from_collection(col, IGPGConfig.from_dict({**preset.igpg, **overrides}), seed=seed)

    @classmethod
    def preset_training(cls, preset) -> dict:
        return {"steps": preset.igpg_steps, "batch_size": preset.igpg_batch}

    def with_steps(self, steps: int) -> "IGPG":
        return self.__class__(self.config.replace(vq_steps=steps), None, self.target)

    def _tokenizer(self, arch: str) -> Tokenizer:
        info = self.target["arch_info"][arch]
        layout = Layout.from_json(info["keys"])
        st = torch.tensor(info["stats"])
        return Tokenizer(TokenizerConfig("flat", self.config.chunk_size), layout, Normalizer(layout, st[:, 0], st[:, 1], st[:, 2]))

    def _index(self, kind: str, name: str) -> int:
        names = self.target["archs" if kind == "arch" else "datasets"]
        if name not in names:
            raise KeyError(f"unknown {'architecture' if kind == 'arch' else 'dataset'} {name!r} for this generator; "
                           f"it knows: {', '.join(names)} (its collection: {self.target['collection']})")
        return names.index(name)

    def num_codes(self, arch: str) -> int:
        return self._toks[arch].num_tokens * self.vq.config.codes_per_chunk

    # ---- training -----------------------------------------------------------------------------------------
    def forward(self, batch: dict) -> torch.Tensor:
        return self.vq(batch) if self.stage == "vq" else self.prior(batch)

    def _seen(self, col):
        for m in col.members("seen"):
            yield m, self._toks[m.arch].encode(col.zoo(m).flat)                     # [N, chunks, chunk_size]

    def fit(self, col, cfg: TrainConfig, *, batch_size: int = 32, out=None, progress: bool = True) -> list[dict]:
        """Stage 1: VQ-VAE on every chunk of every seen checkpoint (vq_steps at vq_lr); stage 2: the prior (cfg) on
        windows of every seen checkpoint's code sequence, each with its dataset and architecture embedding."""
        from pathlib import Path

        sub = (lambda s: Path(out) / s) if out is not None else (lambda s: None)
        chunks = torch.cat([t.reshape(-1, self.config.chunk_size) for _, t in self._seen(col)])
        self.stage = "vq"
        hist = fit(self, sampler({"tokens": chunks}, self.config.vq_batch, seed=cfg.seed),
                   cfg.replace(steps=self.config.vq_steps, lr=self.config.vq_lr), out=sub("vq"), progress=progress)
        self.stage = "prior"
        hist += fit(self, sampler(self._windows(col), batch_size, seed=cfg.seed), cfg, out=sub("prior"), progress=progress)
        self.eval()
        return hist

    @torch.no_grad()
    def encode(self, arch: str, flat: torch.Tensor) -> torch.Tensor:
        """[N, D] parameters of `arch` -> [N, num_codes] code sequences."""
        t = self._toks[arch].encode(flat)
        return self.vq.encode(t.reshape(-1, self.config.chunk_size)).reshape(len(flat), -1)

    @torch.no_grad()
    def decode(self, arch: str, codes: torch.Tensor) -> torch.Tensor:
        """[N, num_codes] -> [N, D] parameters in `arch`'s zoo layout."""
        tok = self._toks[arch]
        chunks = self.vq.decode(codes.reshape(-1, self.vq.config.codes_per_chunk)).reshape(len(codes), tok.num_tokens, -1)
        return tok.decode(chunks)

    def reconstruct(self, arch: str, flat: torch.Tensor) -> torch.Tensor:
        """VQ-VAE round trip of real parameters (the reconstruction-fidelity measurement)."""
        return self.decode(arch, self.encode(arch, flat))

    def _windows(self, col) -> dict[str, torch.Tensor]:
        W = self.config.context
        rows = {"codes": [], "offset": [], "valid": [], "data": [], "arch": []}
        self.vq.eval()
        for m, _ in self._seen(col):
            seqs = self.encode(m.arch, col.zoo(m).flat)                               # [N, T]
            T = seqs.shape[1]
            starts = sorted({0, *range(0, max(1, T - W + 1), max(1, W // 2)), max(0, T - W)})
            for s in starts:
                win = seqs[:, s: s + W]
                valid = torch.ones_like(win, dtype=torch.bool)
                if win.shape[1] < W:                                                  # a net shorter than a window
                    pad = W - win.shape[1]
                    valid = torch.cat([valid, torch.zeros(len(win), pad, dtype=torch.bool)], 1)
                    win = torch.cat([win, torch.zeros(len(win), pad, dtype=torch.long)], 1)
                rows["codes"].append(win)
                rows["valid"].append(valid)
                rows["offset"].append(torch.full((len(win),), s))
                rows["data"].append(self.data_emb[self._index("data", m.dataset)].expand(len(win), -1))
                rows["arch"].append(self.arch_emb[self._index("arch", m.arch)].expand(len(win), -1))
        return {k: torch.cat(v) for k, v in rows.items()}

    # ---- generation ---------------------------------------------------------------------------------------
    def sample(self, n: int, *, seed: int = 0, arch: str, dataset: str, temperature: float = 1.0,
               top_k: int | None = None, window: int | None = None, overlap: int | None = None) -> torch.Tensor:
        """[n, num_codes(arch)] codes for the (arch, dataset) pair."""
        a, d = self._index("arch", arch), self._index("data", dataset)
        return self.prior.generate(self.data_emb[d].expand(n, -1), self.arch_emb[a].expand(n, -1), self.num_codes(arch),
                                   seed=seed, window=window, overlap=overlap, temperature=temperature, top_k=top_k)

    def generate(self, n: int, *, seed: int = 0, arch: str, dataset: str, **kw) -> torch.Tensor:
        """n parameter sets [n, D] for `arch` on `dataset` (seen or held out), in that pair's zoo layout."""
        return self.decode(arch, self.sample(n, seed=seed, arch=arch, dataset=dataset, **kw).cpu())


GENERATORS.register("igpg", IGPGConfig, help="IGPG: Gumbel VQ-VAE weight codes + GPT-2 prior over many architectures")(IGPG)
