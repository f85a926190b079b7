"""IGPG: one generator for many (architecture, dataset) pairs — a Gumbel VQ-VAE over weight chunks and a GPT-2 prior
over their codes, conditioned on a dataset embedding and an architecture-text embedding (papers/igpg-summary.md).

    col = preset.load_collection()                                    # workbench.collection.Collection
    igpg = IGPG.from_collection(col, IGPGConfig(...))                 # embeddings from the configured encoders
    igpg.fit(col, TrainConfig(steps=...), batch_size=32)              # stage 1: VQ-VAE; stage 2: prior
    flat = igpg.generate(4, seed=0, arch="cnn_s", dataset="mnist5k")  # [4, D] in that pair's zoo layout
    flat = igpg.generate(4, arch="cnn_s", dataset="mnist5k", temperature=0)   # greedy (also top_k=, top_p=)

Per architecture the net's floating parameters are z-scored per key and cut into chunks (the road's "flat"
tokenizer); a chunk is `chunk_size / downsample` codes; a net's code sequence is its chunks' codes in order.

Where this differs from IGPG, and why:
- Per-key normalisation (see vqvae.py). An architecture the collection holds no checkpoints of (held-out depth) takes
  each key's statistics from the seen keys with the same name suffix and shape (e.g. every ResNet's `conv1.weight` of
  that width), since IGPG's single global z-score has no per-key statistics to transfer.
- Generator training covers the `seen` members only; held-out pairs are kept for evaluation, as the paper's transfer
  experiments require.
- The prior trains to a criterion (`prior_target`, checked every ~10 passes, with a step cap of `prior_passes`
  passes) rather than for a fixed budget: a net decodes to an accurate one only if almost every code is right, and a
  prior stopped early samples per-layer code histograms. The criterion is teacher-forced argmax accuracy on its
  training windows, or (`prior_stop="greedy"`) every seen pair's greedy sample matching a training sequence on that
  share of codes: one teacher-forced miss on the greedy path derails the rest of the net, so a teacher-forced 99.9 %
  was met (reports/05 at 9bf9e57) by a prior whose greedy samples matched 0.77-1.00 of a sequence.
- Sampling defaults to temperature 0.7 (IGPG states none; T = 1 derails even a memorised prior), with top-k / top-p.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from ...config import Config, check
from ...data import DATASETS
from ...layout import Layout, Normalizer
from ...tokenizers import Tokenizer, TokenizerConfig
from ...train import TrainConfig, fit, sampler
from .. import GENERATORS, Generator, seeded
from .layouts import collection_layouts, pair_rows, recalibrated
from .prior import CodePrior, PriorConfig
from .sizes import SIZES
from .vqvae import ChunkVQVAE, VQConfig


# greedy is measured once teacher-forced accuracy reaches this: greedy 0.999 needed teacher-forced >= 0.9997 in every
# run (6aee02b, 6c70282); 6 of 6c70282's 8 checks (~5 s each at small) came before and failed
GREEDY_AFTER_TF = 0.999


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
    vq_hard: bool = False           # straight-through one-hot codes while training the VQ-VAE
    diversity_weight: float = 0.0   # batch-level codebook-usage term (see vqvae.py)
    vq_logits: str = "linear"       # "distance": code logits from distances to the codebook (see vqvae.py)
    vq_kernel: int = 3              # encoder/decoder convolution width (1: pointwise codes with downsample 1)
    vq_restart: int = 0             # dead-code restart period in VQ-VAE steps (distance logits; see vqvae.py)
    vq_refine: int = 0              # > 0: decoder steps on the frozen encoder's argmax codes after stage 1 (vqvae.py)
    context: int = 256              # codes per prior window
    n_embd: int = 128
    n_layer: int = 4
    n_head: int = 4
    use_arch: bool = True           # ablation: prior without the architecture embedding
    overlap: int | None = None      # codes of the previous window each later window reads (None: half the context);
                                    # training windows start where generation's do (CodePrior.blocks)
    prior_target: float = 0.0       # > 0: stop the prior once its teacher-forced argmax accuracy on the training
                                    # windows reaches this (IGPG trains for a fixed budget; a net decodes to an accurate
                                    # one only if almost every code is right, so the criterion is what matters)
    prior_passes: float = 0.0       # > 0: the prior's step cap is this many passes over its windows (else the steps
                                    # of the TrainConfig)
    prior_check_every: int = 0      # steps between criterion checks (0: every ~10 passes)
    prior_stop: str = "tf_acc"      # the criterion's measure: "tf_acc" (teacher-forced accuracy on the windows) or
                                    # "greedy" (the worst seen pair's greedy sample's match to its nearest sequence)
    temperature: float = 0.7        # sampling: 0 greedy; below 1 by measurement (notebook 05's temperature table;
                                    # IGPG does not state one: T = 1 derails even a memorised prior)
    top_k: int = 0                  # 0: off
    top_p: float = 1.0              # 1: off
    bn_recalibrate: int = 0         # > 0: after decoding, BatchNorm statistics re-estimated from this many batches of
                                    # the pair's training images (not in IGPG; the ResNets' decoded running statistics
                                    # are what breaks them, notebook 05)
    image_encoder: str = "efficientnet_lite0"
    text_encoder: str = "minilm"
    image_size: int = 224           # encoder input size
    holdout_seeds: int = 1          # the last seed(s) of every pair stay out of training (held-out reconstruction)
    train_checkpoints: int = 0      # > 0: at most this many of a pair's training checkpoints, evenly spaced (a code per
                                    # value makes a CPU prior's windows grow with every checkpoint)
    data_dim: int = 0               # filled from the encoders by from_collection
    arch_dim: int = 0

    def validate(self):
        check(self.vq_steps >= 1 and self.vq_batch >= 1 and self.vq_refine >= 0, "vq_steps, vq_batch >= 1, vq_refine >= 0")
        check(0 <= self.prior_target <= 1, f"prior_target must be in [0, 1], got {self.prior_target}")
        check(self.temperature >= 0, f"temperature must be >= 0 (0: greedy), got {self.temperature}")
        check(self.top_k >= 0 and 0 < self.top_p <= 1, "top_k >= 0 and top_p in (0, 1] required")
        check(self.prior_passes >= 0 and self.prior_check_every >= 0, "prior_passes, prior_check_every >= 0")
        check(self.prior_stop in ("tf_acc", "greedy"), f"prior_stop must be 'tf_acc' or 'greedy', got {self.prior_stop!r}")
        check(self.bn_recalibrate >= 0, f"bn_recalibrate must be >= 0, got {self.bn_recalibrate}")

    def vq(self) -> VQConfig:
        return VQConfig(chunk_size=self.chunk_size, downsample=self.downsample, codebook_size=self.codebook_size,
                        code_dim=self.code_dim, hidden=self.vq_hidden, loss=self.vq_loss, kl_weight=self.kl_weight,
                        anneal_steps=self.vq_steps, hard=self.vq_hard, diversity_weight=self.diversity_weight,
                        logits=self.vq_logits, kernel=self.vq_kernel, restart_every=self.vq_restart)

    def prior(self) -> PriorConfig:
        return PriorConfig(vocab=self.codebook_size, data_dim=self.data_dim, arch_dim=self.arch_dim,
                           use_arch=self.use_arch, context=self.context, n_embd=self.n_embd, n_layer=self.n_layer,
                           n_head=self.n_head)


class IGPG(Generator):
    name = "igpg"
    stages = 2    # VQ-VAE, then prior
    trains_on = "collection"   # one zoo comes as its one-pair collection (experiments.training_target)
    sizes = SIZES              # sizes.py: config, prior training, and the IGPG notebooks' settings per scale

    def __init__(self, config: IGPGConfig, tokenizer, target: dict):
        super().__init__(config, None, target)
        self.vq = ChunkVQVAE(config.vq())
        self.prior = CodePrior(config.prior())
        self.stage = "prior"
        emb = target["embeddings"]
        self.register_buffer("data_emb", torch.tensor([emb["data"][d] for d in target["datasets"]]).float())
        self.register_buffer("arch_emb", torch.tensor([emb["arch"][a] for a in target["archs"]]).float())
        self._toks = {lid: self._tokenizer(lid) for lid in target["layouts"]}
        self._images: dict[str, torch.Tensor] = {}

    # ---- construction -------------------------------------------------------------------------------------
    @classmethod
    def from_collection(cls, col, config: IGPGConfig = IGPGConfig(), *, seed: int | None = 0,
                        image_enc=None, text_enc=None) -> "IGPG":
        """Statistics from the seen members' training checkpoints, embeddings of every dataset and architecture."""
        from ...encoders import image_encoder, text_encoder

        image_enc = image_enc or image_encoder(config.image_encoder, size=config.image_size)
        text_enc = text_enc or text_encoder(config.text_encoder)
        emb = col.embeddings(image_enc, text_enc)
        config = config.replace(data_dim=next(iter(emb["data"].values())).shape[-1], arch_dim=text_enc.dim)
        layouts, pair_layout, train_seeds, train_rows = collection_layouts(col, config)
        target = {"collection": str(col.path), "archs": list(col.archs), "datasets": list(col.datasets),
                  "layouts": layouts, "pair_layout": pair_layout, "train_seeds": train_seeds, "train_rows": train_rows,
                  "splits": {f"{m.arch}|{m.dataset}": m.split for m in col.members()},
                  "embeddings": {"data": {d: v.tolist() for d, v in emb["data"].items()},
                                 "arch": {a: v.tolist() for a, v in emb["arch"].items()}},
                  "encoders": {"image": image_enc.name, "text": text_enc.name},
                  "dataset_kwargs": dict(col.spec.dataset_kwargs)}
        with seeded(seed):
            return cls(config, None, target)

    @classmethod
    def from_preset(cls, col, preset, *, seed: int = 0, **overrides) -> "IGPG":
        """Built for a collection (preset.load_collection()) with the sizes' config, or for one zoo (the leaderboard's)
        as a one-pair collection with the config + the sizes' `zoo` settings (every checkpoint seen, as for every
        other method)."""
        col = _collection(col)
        if col.single_zoo is not None:
            why = cls.applies_to(col, preset)
            if why:
                raise ValueError(f"IGPG cannot train on zoo {col.label}: {why}")
            overrides = {**_zoo_settings(preset), **overrides}
        return cls.from_collection(col, IGPGConfig.from_dict({**cls.sizes_for(preset)["config"], **overrides}), seed=seed)

    @classmethod
    def applies_to(cls, zoo, preset) -> str | None:
        if hasattr(zoo, "members"):          # a collection: applies, unless it is one zoo (of_zoo) that does not
            zoo = zoo.single_zoo
            if zoo is None:
                return None
        data = zoo.dataset()
        if data.kind not in ("image", "text") or (data.kind == "text" and data.meta.get("tokenizer") != "minilm"):
            return (f"its dataset embedding reads images or MiniLM-tokenised texts; this zoo's data is {data.kind}"
                    + (f" (tokenizer {data.meta.get('tokenizer')!r})" if data.kind == "text" else ""))
        if zoo.manifest.get("dataset_file") or zoo.manifest["dataset"] not in DATASETS:
            return (f"its dataset {zoo.manifest['dataset']!r} is not a registered one, and IGPG embeds datasets by "
                    "name; register a loader with workbench.data.DATASETS")
        cap = cls.sizes_for(preset)["zoo"].get("max_params", 0)
        if cap and zoo.num_params > cap:
            return (f"{zoo.num_params:,} parameters: one code per value makes the prior's sequence as long as the net; "
                    f"the {preset.name} preset's IGPG takes single zoos up to {cap:,} (its sizes' zoo['max_params'])")
        return None

    dial = ("temperature", (0.0, 0.3, 0.5, 0.7, 1.0))

    def with_steps(self, steps: int) -> "IGPG":
        # the decoder refinement is left out of a cost measurement: it is a fraction of stage 1's cost per step
        return self.__class__(self.config.replace(vq_steps=steps, vq_refine=0), None, self.target)

    def _tokenizer(self, lid: str) -> Tokenizer:
        info = self.target["layouts"][lid]
        layout = Layout.from_json(info["keys"])
        st = torch.tensor(info["stats"])
        return Tokenizer(TokenizerConfig("flat", self.config.chunk_size), layout, Normalizer(layout, st[:, 0], st[:, 1], st[:, 2]))

    def _index(self, kind: str, name: str) -> int:
        names = self.target["archs" if kind == "arch" else "datasets"]
        if name not in names:
            raise KeyError(f"unknown {'architecture' if kind == 'arch' else 'dataset'} {name!r} for this generator; "
                           f"it knows: {', '.join(names)} (its collection: {self.target['collection']})")
        return names.index(name)

    def tokenizer_of(self, arch: str, dataset: str) -> Tokenizer:
        """The chunk tokenizer of the pair's parameter layout (its zoo's layout)."""
        self._index("arch", arch), self._index("data", dataset)
        key = f"{arch}|{dataset}"
        if key not in self.target["pair_layout"]:
            raise KeyError(f"({arch!r}, {dataset!r}) is not a pair of this generator's collection, so its parameter "
                           f"layout is unknown; pairs: {sorted(self.target['pair_layout'])[:12]}")
        return self._toks[self.target["pair_layout"][key]]

    def num_codes(self, arch: str, dataset: str) -> int:
        return self.tokenizer_of(arch, dataset).num_tokens * self.vq.config.codes_per_chunk

    def split_rows(self, zoo, arch: str, dataset: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Indices of the pair's checkpoints the generator trained on, and of its held-out seeds' checkpoints
        (checkpoints of training seeds left out by `train_checkpoints` are neither)."""
        key = f"{arch}|{dataset}"
        seen = pair_rows(zoo, self.target["train_seeds"][key])
        train = torch.tensor(self.target["train_rows"][key], dtype=torch.long) if "train_rows" in self.target else seen
        held = torch.tensor([i for i in range(len(zoo)) if i not in set(seen.tolist())], dtype=torch.long)
        return train, held

    # ---- training -----------------------------------------------------------------------------------------
    def forward(self, batch: dict) -> torch.Tensor:
        if self.stage == "refine":
            return self.vq.refine_loss(batch)
        return self.vq(batch) if self.stage == "vq" else self.prior(batch)

    def _seen(self, col):
        """(member, its training checkpoints [N, D]) for every seen pair: held-out seeds stay out of training."""
        for m in col.members("seen"):
            zoo = col.zoo(m)
            yield m, zoo.flat[self.split_rows(zoo, m.arch, m.dataset)[0]]

    def fit(self, col, cfg: TrainConfig, *, batch_size: int = 32, out=None, progress: bool = True) -> list[dict]:
        """Stage 1: VQ-VAE on every chunk of every seen checkpoint (vq_steps at vq_lr; then `vq_refine` decoder steps on
        its argmax codes); stage 2: the prior on windows of every seen checkpoint's code sequence, each with its dataset
        and architecture embedding, for cfg.steps or `prior_passes` over the windows, stopping early once the
        `prior_stop` measure reaches `prior_target`. The last history entry says which happened:
        {"stopped": "criterion" | "cap", "tf_acc", ("greedy_match"), "passes"}."""
        sub = (lambda s: Path(out) / s) if out is not None else (lambda s: None)
        col = _collection(col)
        chunks = self.training_chunks(col)
        self.stage = "vq"
        hist = fit(self, sampler({"tokens": chunks}, self.config.vq_batch, seed=cfg.seed),
                   cfg.replace(steps=self.config.vq_steps, lr=self.config.vq_lr), out=sub("vq"), progress=progress)
        if self.config.vq_refine:
            self.stage = "refine"
            hist += fit(self, sampler({"tokens": chunks}, self.config.vq_batch, seed=cfg.seed + 1),
                        cfg.replace(steps=self.config.vq_refine, lr=self.config.vq_lr), out=sub("refine"),
                        progress=progress)
        self.stage = "prior"
        windows = self._windows(col)
        n = len(windows["codes"])
        c = self.config
        steps = max(1, round(c.prior_passes * n / batch_size)) if c.prior_passes else cfg.steps
        every = c.prior_check_every or max(1, round(10 * n / batch_size))
        target = c.prior_target
        measure = "greedy_match" if c.prior_stop == "greedy" else "tf_acc"   # the history key the criterion reads
        seqs = {(m.arch, m.dataset): self.encode(m.arch, m.dataset, flat) for m, flat in self._seen(col)}
        greedy = lambda model: min(m for m, _, _ in model.greedy_match(seqs).values())   # noqa: E731

        def monitor(model):
            h = model.prior_stats(windows)
            out = {"tf_acc": h["tf_acc"], "tf_nll": h["nll"]}
            if c.prior_stop == "greedy" and h["tf_acc"] >= GREEDY_AFTER_TF:
                out["greedy_match"] = greedy(model)
            return out

        prior_hist = fit(self, sampler(windows, batch_size, seed=cfg.seed), cfg.replace(steps=steps), out=sub("prior"),
                         progress=progress, monitor=monitor if target else None, monitor_every=every if target else 0,
                         stop=(lambda e: e.get(measure, 0.0) >= target) if target else None)
        last = prior_hist[-1]                                           # the final measure is always reported
        if c.prior_stop == "greedy" and "greedy_match" not in last:
            last["greedy_match"] = greedy(self)
        last.update({"stopped": last.get("stopped", "cap"), "passes": last["step"] * batch_size / n, "windows": n,
                     "step_cap": steps})
        self.eval()
        return hist + prior_hist

    @torch.no_grad()
    def prior_stats(self, windows: dict, batch: int = 64) -> dict:
        """Teacher-forced argmax accuracy, nll and predictive entropy (nats per code) of the prior over `windows`."""
        was = self.training
        self.eval()
        dev = next(self.parameters()).device
        tot = {"hits": 0.0, "nll": 0.0, "entropy": 0.0, "count": 0.0}
        for i in range(0, len(windows["codes"]), batch):
            part = self.prior.teacher_forced({k: v[i:i + batch].to(dev) for k, v in windows.items()})
            for k in tot:
                tot[k] += part[k].sum().item()
        self.train(was)
        n = max(tot["count"], 1)
        return {"tf_acc": tot["hits"] / n, "nll": tot["nll"] / n, "entropy": tot["entropy"] / n, "codes": int(tot["count"])}

    @torch.no_grad()
    def prior_health(self, col, *, seed: int = 0) -> list[dict]:
        """Per seen pair: the prior's teacher-forced accuracy / nll / entropy on the pair's training windows, and a
        greedy sample's agreement with the nearest training sequence (`greedy_match`, share of codes); `greedy` holds
        that sample's parameters [1, D] for the caller to evaluate."""
        seen = list(self._seen(_collection(col)))
        seqs = {(m.arch, m.dataset): self.encode(m.arch, m.dataset, flat) for m, flat in seen}
        greedy = self.greedy_match(seqs, seed=seed)
        rows = []
        for m, flat in seen:
            st = self.prior_stats(self._windows_of(m, flat))
            match, nearest, codes = greedy[(m.arch, m.dataset)]
            s = seqs[(m.arch, m.dataset)]
            rows.append({"arch": m.arch, "dataset": m.dataset, "train_sequences": len(s), "codes": s.shape[1],
                         "tf_acc": st["tf_acc"], "tf_nll": st["nll"], "entropy": st["entropy"],
                         "greedy_match": match, "nearest_sequence": nearest,
                         "greedy": self.decode(m.arch, m.dataset, codes)})
        return rows

    @torch.no_grad()
    def greedy_match(self, seqs: dict[tuple[str, str], torch.Tensor], *, seed: int = 0) -> dict:
        """Greedy samples of pairs against their code sequences ({(arch, dataset): [N, L]}), one batched prior pass per
        architecture and sequence length: {(arch, dataset): (share of codes equal to the nearest sequence, its index,
        the sample's codes [1, L])}."""
        was = self.training
        self.eval()
        groups: dict[tuple[str, int], list[str]] = {}
        for a, d in seqs:
            groups.setdefault((a, seqs[(a, d)].shape[1]), []).append(d)
        out = {}
        for (a, length), ds in groups.items():
            data = self.data_emb[torch.tensor([self._index("data", d) for d in ds])]
            codes = self.prior.generate(data, self.arch_emb[self._index("arch", a)].expand(len(ds), -1), length,
                                        seed=seed, **self._knobs(0, None, None, None)).cpu()
            for i, d in enumerate(ds):
                match = (seqs[(a, d)] == codes[i]).float().mean(1)
                out[(a, d)] = (match.max().item(), int(match.argmax()), codes[i:i + 1])
        self.train(was)
        return out

    def training_chunks(self, col) -> torch.Tensor:
        """[M, chunk_size] every chunk of every training checkpoint (NaN where padding)."""
        return torch.cat([self.tokenizer_of(m.arch, m.dataset).encode(f).reshape(-1, self.config.chunk_size)
                          for m, f in self._seen(col)])

    @torch.no_grad()
    def encode(self, arch: str, dataset: str, flat: torch.Tensor) -> torch.Tensor:
        """[N, D] parameters of the pair's layout -> [N, num_codes] code sequences."""
        t = self.tokenizer_of(arch, dataset).encode(flat)
        return self.vq.encode(t.reshape(-1, self.config.chunk_size)).reshape(len(flat), -1)

    @torch.no_grad()
    def decode(self, arch: str, dataset: str, codes: torch.Tensor) -> torch.Tensor:
        """[N, num_codes] -> [N, D] parameters in the pair's zoo layout (BatchNorm statistics re-estimated on the
        dataset's training images where `bn_recalibrate` > 0)."""
        tok = self.tokenizer_of(arch, dataset)
        chunks = self.vq.decode(codes.reshape(-1, self.vq.config.codes_per_chunk)).reshape(len(codes), tok.num_tokens, -1)
        flat = tok.decode(chunks)
        if not self.config.bn_recalibrate:
            return flat

        def images():                                                    # unlabelled training images, loaded once
            if dataset not in self._images:
                from ...data import load_dataset

                self._images[dataset] = load_dataset(dataset, **self.target.get("dataset_kwargs", {})).X_train
            return self._images[dataset]

        info = self.target["layouts"][self.target["pair_layout"][f"{arch}|{dataset}"]]
        return recalibrated(info, flat, images, self.config.bn_recalibrate)

    def reconstruct(self, arch: str, dataset: str, flat: torch.Tensor) -> torch.Tensor:
        """VQ-VAE round trip of real parameters (the reconstruction-fidelity measurement)."""
        return self.decode(arch, dataset, self.encode(arch, dataset, flat))

    def _windows(self, col) -> dict[str, torch.Tensor]:
        """Every training window of every seen pair (see _windows_of)."""
        self.vq.eval()
        parts = [self._windows_of(m, flat) for m, flat in self._seen(col)]
        return {k: torch.cat([p[k] for p in parts]) for k in parts[0]}

    def _windows_of(self, m, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        """The prior's training windows of one pair's checkpoints [N, D] (CodePrior.windows: at every offset that
        windowed generation reads from), each with the pair's dataset and architecture embedding."""
        w = self.prior.windows(self.encode(m.arch, m.dataset, flat), overlap=self.config.overlap)
        n = len(w.pop("row"))
        return {**w, "data": self.data_emb[self._index("data", m.dataset)].expand(n, -1),
                "arch": self.arch_emb[self._index("arch", m.arch)].expand(n, -1)}

    # ---- generation ---------------------------------------------------------------------------------------
    def _knobs(self, temperature, top_k, top_p, overlap) -> dict:
        c = self.config
        return {"temperature": c.temperature if temperature is None else temperature,
                "top_k": c.top_k if top_k is None else top_k, "top_p": c.top_p if top_p is None else top_p,
                "overlap": c.overlap if overlap is None else overlap}

    def sample(self, n: int, *, seed: int = 0, arch: str, dataset: str, temperature: float | None = None,
               top_k: int | None = None, top_p: float | None = None, window: int | None = None,
               overlap: int | None = None) -> torch.Tensor:
        """[n, num_codes(arch)] codes for the (arch, dataset) pair; sampling knobs default to the config's
        (temperature 0: greedy). A window or overlap other than the config's reads contexts training never saw."""
        a, d = self._index("arch", arch), self._index("data", dataset)
        return self.prior.generate(self.data_emb[d].expand(n, -1), self.arch_emb[a].expand(n, -1), self.num_codes(arch, dataset),
                                   seed=seed, window=window, **self._knobs(temperature, top_k, top_p, overlap))

    def generate(self, n: int, *, seed: int = 0, arch: str | None = None, dataset: str | None = None,
                 **kw) -> torch.Tensor:
        """n parameter sets [n, D] for `arch` on `dataset` (seen or held out), in that pair's zoo layout; a generator
        of one pair (trained on one zoo) may leave both out."""
        if arch is None or dataset is None:
            pairs = [p.split("|") for p in self.target["pair_layout"]]
            if len(pairs) != 1:
                raise TypeError(f"this IGPG knows {len(pairs)} (architecture, dataset) pairs: say which with arch= and "
                                f"dataset= (e.g. {pairs[0]})")
            arch, dataset = arch or pairs[0][0], dataset or pairs[0][1]
        return self.decode(arch, dataset, self.sample(n, seed=seed, arch=arch, dataset=dataset, **kw).cpu())

    def generate_many(self, n: int, *, seed: int = 0, arch: str, datasets: list[str], temperature: float | None = None,
                      top_k: int | None = None, top_p: float | None = None, window: int | None = None,
                      overlap: int | None = None) -> dict:
        """{dataset: [n, D]} for `arch` on several datasets in one batched pass of the prior (one code sequence per row,
        each row with its own dataset embedding). The datasets must give `arch` the same parameter layout."""
        if len({self.tokenizer_of(arch, d) for d in datasets}) != 1:   # also checks every name
            raise ValueError(f"{arch!r} has different parameter layouts on {datasets} (e.g. heads of another class "
                             f"count): generate them separately")
        a = self._index("arch", arch)
        d = torch.tensor([self._index("data", x) for x in datasets]).repeat_interleave(n)
        codes = self.prior.generate(self.data_emb[d], self.arch_emb[a].expand(len(d), -1), self.num_codes(arch, datasets[0]),
                                    seed=seed, window=window, **self._knobs(temperature, top_k, top_p, overlap)).cpu()
        return {x: self.decode(arch, x, codes[i * n:(i + 1) * n]) for i, x in enumerate(datasets)}


def _collection(col):
    """IGPG trains on collections (trains_on): a zoo must come as its one-pair collection."""
    if not hasattr(col, "members"):
        raise TypeError(f"IGPG trains on a collection of (architecture, dataset) zoos, got {type(col).__name__}: pass "
                        "workbench.collection.Collection.of_zoo(zoo) (experiments.trained does this for you)")
    return col


def _zoo_settings(preset) -> dict:
    """The preset's IGPGConfig overrides for a single zoo (the sizes' `zoo` without its size cap)."""
    return {k: v for k, v in IGPG.sizes_for(preset)["zoo"].items() if k != "max_params"}


GENERATORS.register("igpg", IGPGConfig, help="IGPG: Gumbel VQ-VAE weight codes + GPT-2 prior over many architectures")(IGPG)
