"""NeuroGen (papers/neurogen.txt): a language model with LoRA reads learnable special tokens P, an instruction and a
few data samples; the hidden states at P go through a projection MLP to one flat parameter vector of the target net.

    ref = preset.zoo("seeds", "neurogen_cnn")                        # reference checkpoints (independent seeds)
    gen = NeuroGen.from_zoo(ref, NeuroGenConfig(backbone="minilm"))  # any transformers model by name or local path
    gen.fit(ref, TrainConfig(steps=600))        # stage 1: MSE to the references; stage 2: task loss of the generated net
    flat = gen.generate(4, seed=0)              # [4, D] in the zoo's layout: 4 nets from 4 sampled data contexts

Stage 1 (parameter reference knowledge injection): the generic instruction "Please help generate parameters of neural
networks." and no data; loss MSE (or 1 - cosine) between the generated vector and a reference checkpoint.
Stage 2 (context-enhanced instruction tuning): the paper's template filled from the net and the dataset, plus
`context_samples` training samples as tokens; loss = cross-entropy of the generated net on a batch of training data,
through a functional forward of the target net, so the gradient reaches P, LoRA and the projection.
Generation is deterministic given the prompt; `generate(n, seed)` draws n data contexts from the stored sample pool.

Where this differs from the paper, and why:
- Projection: one MLP shared by the special tokens, hidden state (d2) -> `values_per_token` values each, concatenated
  (d1 = ceil(|w| / values_per_token) tokens); the paper's single dense map R^{d1 x d2} -> R^{|w|} would need
  d1*d2*|w| weights (2e8 for a 14k-parameter CNN); its per-parameter bias is kept (`out_bias`).
- Outputs are per-key z-scores of the reference checkpoints, mapped back with their statistics (the road's
  Normalizer), so stage 1's MSE weighs every layer alike; the stage-2-only ablation has no references: there the
  outputs are raw and soft-clipped, alpha * tanh(w / alpha) (the paper's rescaling "controlled by alpha").
- Decoder (causal) backbones read [instruction, samples, P] so that P attends to the prompt (the paper writes
  [P, instruction]; with causal attention P would then see nothing); encoder backbones keep the paper's order.
- Text samples enter as the backbone's embeddings of their first `sample_tokens` ids (datasets tokenised with
  MiniLM's tokenizer, so the ids are the backbone's own). Images enter as one token each: a frozen image encoder's features (offline: EfficientNet-Lite0) through a trainable
  linear map into the backbone's embedding space (the paper: the VLM's own vision tower).
- The stage-2 loss batch (`task_batch` examples) contains the `context_samples` shown in the prompt (the paper's D_sub
  is both the prompt's samples and the loss's data; a larger loss batch keeps the gradient less noisy on CPU).
- Optimiser: the shared loop's AdamW (the paper: SGD 1e-3 halved every 10 epochs).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from ..config import Config, check
from ..layout import Layout, Normalizer
from ..train import TrainConfig, fit, sampler
from . import GENERATORS, Generator, seeded

GENERIC_INSTRUCTION = "Please help generate parameters of neural networks."
TEMPLATE = ("Please help generate parameters of the {net} neural network to conduct the {task} task with the "
            "{dataset} data samples.")
LORA_TARGETS = {"bert": ("query", "value"), "gpt2": ("c_attn",), "qwen2": ("q_proj", "v_proj"),
                "llama": ("q_proj", "v_proj"), "mistral": ("q_proj", "v_proj"), "qwen2_vl": ("q_proj", "v_proj")}
TINY = {"tiny-gpt2": "gpt2", "tiny-qwen2": "qwen2"}   # randomly initialised small causal LMs (tests, no weights)


@dataclass(frozen=True)
class NeuroGenConfig(Config):
    backbone: str = "minilm"          # "minilm" (offline, pretrained encoder), a transformers name or local folder,
                                      # or "tiny-gpt2" / "tiny-qwen2" (random small causal LMs)
    tiny_hidden: int = 64             # sizes of the tiny backbones
    tiny_layers: int = 2
    lora_r: int = 8
    lora_alpha: int = 16
    lora_targets: tuple[str, ...] = ()   # () -> by model type (LORA_TARGETS)
    values_per_token: int = 0         # projection outputs per special token (0: the backbone width, the paper's
                                      # d1 * d2 >= |w| with equality)
    proj_hidden: int = 256
    context_samples: int = 8          # data samples in the stage-2 prompt
    sample_tokens: int = 16           # text: tokens of each sample in the prompt
    task_batch: int = 64              # examples per stage-2 loss
    image_encoder: str = "efficientnet_lite0"
    image_size: int = 64              # encoder input size (224 is the encoder's own; 64 keeps CPU runs short)
    pool: int = 256                   # training samples kept (encoded) with the generator for generation contexts
    task: str = "image classification"
    dataset_name: str = ""            # the name written into the instruction (default: the zoo's dataset)
    net_name: str = ""                # the name written into the instruction (default: the zoo's net)
    stage1_steps: int = 300           # 0: the stage-2-only ablation
    stage1_lr: float = 1e-3
    stage1_loss: Literal["mse", "cosine"] = "mse"
    stage1_batch: int = 8             # reference checkpoints per stage-1 step (one generated vector against each)
    stats: Literal["references", "init", "none"] = "references"   # output units: z-scores of the reference
                                      # checkpoints, of freshly initialised nets (no references: transfer), or raw
    clip_alpha: float = 0.0           # > 0: soft clipping alpha * tanh(w / alpha) of the raw outputs
    eval_every: int = 0               # > 0: stage 2 logs the test accuracy of one generated net every so many steps
    data_dim: int = 0                 # filled by from_zoo (image encoder width)

    def validate(self):
        check(self.lora_r >= 1 and self.proj_hidden >= 1 and self.values_per_token >= 0, "lora_r, proj_hidden >= 1")
        check(self.context_samples >= 0 and self.task_batch >= max(1, self.context_samples),
              "task_batch must be >= context_samples (the prompt's samples are part of the loss batch)")
        check(self.stage1_loss in ("mse", "cosine"), f"stage1_loss must be mse or cosine, got {self.stage1_loss!r}")
        check(self.clip_alpha >= 0, "clip_alpha >= 0")
        check(self.stats in ("references", "init", "none"), f"stats must be references, init or none, got {self.stats!r}")
        check(self.stats == "references" or self.stage1_steps == 0,
              "stage 1 aligns to reference checkpoints: it needs stats='references' (or stage1_steps=0)")


def load_backbone(name: str, *, hidden: int = 64, layers: int = 2, seed: int = 0):
    """(tokenizer, model) for a backbone name: "minilm", "tiny-gpt2" / "tiny-qwen2", or any transformers model by hub
    name or local folder. A name that cannot be loaded offline fails at once, saying how to pass a folder."""
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    from ..io import minilm_path

    tok = AutoTokenizer.from_pretrained(str(minilm_path()))
    if name in TINY:
        cfg = AutoConfig.for_model(TINY[name], vocab_size=tok.vocab_size, hidden_size=hidden, n_embd=hidden,
                                   num_hidden_layers=layers, n_layer=layers, num_attention_heads=2, n_head=2,
                                   num_key_value_heads=2, intermediate_size=2 * hidden, max_position_embeddings=1024,
                                   n_positions=1024)
        with seeded(seed):
            return tok, AutoModel.from_config(cfg)
    path = str(minilm_path()) if name == "minilm" else name
    try:
        return AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path)
    except (OSError, ValueError) as exc:
        raise OSError(f"cannot load backbone {name!r} ({str(exc).splitlines()[0]}); offline, pass the path of a local "
                      f"folder holding its config.json, tokenizer and weights, or use backbone='minilm'") from None


def _is_causal(model) -> bool:
    return not getattr(model.config, "is_encoder_decoder", False) and model.config.model_type != "bert" and \
        getattr(model.config, "is_decoder", True) and model.config.model_type not in ("roberta", "distilbert", "xlm-roberta")


def instruction_for(net: str, dataset: str, task: str) -> str:
    """The paper's stage-2 template filled in."""
    return TEMPLATE.format(net=net, task=task, dataset=dataset)


class NeuroGen(Generator):
    name = "neurogen"
    stages = 2    # reference alignment, then task-loss tuning

    def __init__(self, config: NeuroGenConfig, tokenizer, target: dict):
        super().__init__(config, None, target)
        from peft import LoraConfig, get_peft_model

        c = config
        self.text_tokenizer, backbone = load_backbone(c.backbone, hidden=c.tiny_hidden, layers=c.tiny_layers,
                                                      seed=target.get("seed", 0))
        mtype = backbone.config.model_type
        targets = list(c.lora_targets or LORA_TARGETS.get(mtype, ()))
        if not targets:
            raise ValueError(f"no default LoRA target modules for model type {mtype!r}: set lora_targets, e.g. "
                             f"('q_proj', 'v_proj')")
        self.causal = _is_causal(backbone)
        for p in backbone.parameters():
            p.requires_grad_(False)
        self.backbone = get_peft_model(backbone, LoraConfig(r=c.lora_r, lora_alpha=c.lora_alpha, target_modules=targets,
                                                            lora_dropout=0.0, bias="none"))
        d2 = backbone.config.hidden_size
        self.layout = Layout.from_json(target["keys"])
        D = self.layout.dim
        per = c.values_per_token or d2
        self.d1 = math.ceil(D / per)
        self.max_positions = getattr(backbone.config, "max_position_embeddings", None)
        self.special = nn.Parameter(torch.randn(self.d1, d2) * 0.02)                  # P: d1 x d2
        self.proj = nn.Sequential(nn.Linear(d2, c.proj_hidden), nn.GELU(), nn.Linear(c.proj_hidden, per))
        self.out_bias = nn.Parameter(torch.zeros(D))     # the paper's dense projection has one bias per parameter
        self.data_proj = nn.Linear(max(1, c.data_dim), d2)                             # image features -> tokens
        st = torch.tensor(target["stats"]) if target.get("stats") else torch.zeros(len(self.layout.float_keys), 3)
        self.register_buffer("stats", st, persistent=False)
        self.register_buffer("pool", torch.zeros(c.pool, max(1, c.data_dim)))          # encoded samples for generation
        self.stage = "task"
        self._net, self._enc = [None], [None]         # the target net, the image encoder: not submodules, not saved

    # ---- construction -------------------------------------------------------------------------------------
    @classmethod
    def from_zoo(cls, zoo, config: NeuroGenConfig = NeuroGenConfig(), *, seed: int | None = 0, image_enc=None) -> "NeuroGen":
        """Layout and statistics from the reference zoo; the image encoder's width; the instruction's names."""
        from ..encoders import image_encoder
        from ..nets import create_net

        net = create_net(zoo.net, **zoo.net_kwargs)
        keys = sorted(k for k, v in net.state_dict().items() if v.is_floating_point())
        if keys != sorted(k.name for k in zoo.layout.float_keys):
            raise ValueError(f"the target net {zoo.net} {zoo.net_kwargs} does not match the reference zoo's parameters "
                             f"({len(keys)} vs {len(zoo.layout.float_keys)} tensors): pass the zoo of that net")
        data = zoo.dataset()
        if data.kind == "image":
            enc = image_enc or image_encoder(config.image_encoder, size=config.image_size)
            dim, enc_name = enc.dim, enc.name
        elif data.kind == "text":          # samples enter as the backbone's own token embeddings
            if data.meta.get("tokenizer") != "minilm" or config.backbone not in ("minilm", *TINY):
                raise ValueError(f"text samples must be ids of the backbone's tokenizer: use a dataset with "
                                 f"tokenizer='minilm' and backbone 'minilm' (or a tiny-* one), got tokenizer "
                                 f"{data.meta.get('tokenizer', 'words')!r} and backbone {config.backbone!r}")
            enc, dim, enc_name = None, data.X_train.shape[1], None
        else:
            raise ValueError(f"NeuroGen takes image or text datasets, got {data.kind} ({data.name})")
        config = config.replace(data_dim=dim, dataset_name=config.dataset_name or data.name,
                                net_name=config.net_name or zoo.net,
                                task=config.task if data.kind == "image" or config.task != "image classification"
                                else "text classification")
        if config.stats == "references":
            norm = Normalizer.fit(zoo.layout, zoo.flat)
        else:                    # no references used: the statistics of 16 fresh initialisations (unused with "none")
            from .baselines import random_init

            norm = Normalizer.fit(zoo.layout, random_init(zoo, 16, seed=10_000))
        target = {**cls.describe_target(zoo), "keys": zoo.layout.to_json(), "image_encoder": enc_name, "modality": data.kind,
                  "stats": torch.stack([norm.mean, norm.std, norm.var_mean], 1).tolist(), "seed": seed or 0}
        with seeded(seed):
            gen = cls(config, None, target)
        gen._check_prompt()
        gen._enc = [enc]
        return gen

    # steps: stage 2's (stage 1's are config["stage1_steps"]); experiments: notebook 07's (net, dataset) pairs of
    # Table 1 (the first is the ablation's and Fig. 3's), Fig. 2's alphas, Fig. 3's data fractions and smaller CNN, the
    # stage-2 accuracy logging period, and the reference ("classical") zoos: 5 runs of 10 epochs (CPU minutes a pair)
    sizes = {"smoke": {"config": {"stage1_steps": 10, "context_samples": 4, "task_batch": 32, "pool": 32,
                                  "image_size": 32, "proj_hidden": 32, "lora_r": 2}, "steps": 10, "batch_size": 1,
                       "lr": 1e-3, "experiments": {
                           "pairs": [{"net": "neurogen_cnn", "dataset": "mnist5k"},
                                     {"net": "text_mlp", "dataset": "rotten_tomatoes",
                                      "zoo": {"net_kwargs": {"embedding": "minilm", "embed_dim": 384, "hidden": 4}}}],
                           "alphas": [0.2], "fractions": [0.1], "small_channels": [16, 32], "eval_every": 5, "zoo": {}}},
             "small": {"config": {}, "steps": 600, "batch_size": 1, "lr": 1e-3, "experiments": {
                 "pairs": [{"net": "neurogen_cnn", "dataset": "mnist5k"}, {"net": "lenet5", "dataset": "mnist5k"},
                           {"net": "neurogen_cnn", "dataset": "digits28"}, {"net": "lenet5", "dataset": "digits28"},
                           *({"net": n, "dataset": d, "zoo": {"net_kwargs": {"embedding": "minilm", "embed_dim": 384,
                                                                              "hidden": 64}}}
                             for d in ("rotten_tomatoes", "bbc_news") for n in ("text_mlp", "text_rnn"))],
                 "alphas": [0.05, 0.2, 1.0], "fractions": [1.0, 0.1, 0.01], "small_channels": [16, 32],
                 "eval_every": 50, "zoo": {"n_checkpoints": 5, "epochs": 10}}}}
    sizes["paper"] = {**sizes["small"], "lr": 1e-4}

    @classmethod
    def from_preset(cls, zoo, preset, *, seed: int = 0, **overrides) -> "NeuroGen":
        return cls.from_zoo(zoo, NeuroGenConfig.from_dict({**cls.sizes_for(preset)["config"], **overrides}), seed=seed)

    @classmethod
    def applies_to(cls, zoo, preset) -> str | None:
        if hasattr(zoo, "members"):
            return "trains on one zoo (a net and its dataset), not on a collection"
        kind = zoo.dataset().kind
        return None if kind in ("image", "text") else (f"its data samples enter the prompt through an image or text "
                                                         f"encoder; this zoo's data is {kind}")


    def with_steps(self, steps: int) -> "NeuroGen":
        return self.__class__(self.config.replace(stage1_steps=steps if self.config.stage1_steps else 0), None, self.target)

    # ---- state: only what training changes is saved (the backbone reloads by name) --------------------------
    def _trainable_names(self) -> set[str]:
        return {n for n, p in self.named_parameters() if p.requires_grad} | {"pool"}

    def state_dict(self, *args, **kwargs):
        full = super().state_dict(*args, **kwargs)
        keep = self._trainable_names()
        return type(full)((k, v) for k, v in full.items() if k in keep)

    def load_state_dict(self, state, strict: bool = True, assign: bool = False):
        missing = self._trainable_names() - set(state)
        if strict and missing:
            raise KeyError(f"saved NeuroGen lacks {sorted(missing)[:5]}: it was saved with another configuration")
        return super().load_state_dict(state, strict=False, assign=assign)

    # ---- the forward pass -----------------------------------------------------------------------------------
    def _normalizer(self) -> Normalizer:
        s = self.stats
        return Normalizer(self.layout, s[:, 0], s[:, 1], s[:, 2])

    def instruction(self, dataset: str | None = None) -> str:
        c = self.config
        return instruction_for(c.net_name, dataset or c.dataset_name, c.task)

    def _check_prompt(self, text: str | None = None) -> None:
        n = len(self.text_tokenizer(text if text is not None else self.instruction())["input_ids"])
        per = self.config.sample_tokens if self.text else 1
        total = self.d1 + n + self.config.context_samples * per
        if self.max_positions and total > self.max_positions:
            raise ValueError(f"prompt of {total} tokens ({self.d1} special tokens + {n} instruction tokens + "
                             f"{self.config.context_samples} samples x {per}) exceeds the backbone's {self.max_positions} "
                             f"positions: raise values_per_token, shorten the instruction, or use a longer-context model")

    @property
    def text(self) -> bool:
        return self.target.get("modality") == "text"

    def _sample_tokens(self, samples: torch.Tensor) -> torch.Tensor:
        """Prompt tokens [T, d2] of the data samples: an image is one projected feature vector; a text is the
        backbone's embeddings of its first `sample_tokens` non-pad ids."""
        if not self.text:
            return self.data_proj(samples)
        ids = samples.long()[:, : self.config.sample_tokens]
        ids = ids[ids != 0]                                                               # drop padding
        return self.backbone.get_input_embeddings()(ids)

    def raw(self, instruction: str, samples: torch.Tensor | None) -> torch.Tensor:
        """[D] projection output for one prompt (z-units unless stats="none")."""
        dev = self.special.device
        ids = self.text_tokenizer(instruction, return_tensors="pt")["input_ids"].to(dev)
        if self.max_positions:
            self._check_prompt(instruction)
        emb = self.backbone.get_input_embeddings()(ids)[0]                              # (n, d2)
        parts = [emb] if samples is None or not len(samples) else [emb, self._sample_tokens(samples.to(dev))]
        P = self.special
        x = torch.cat([*parts, P] if self.causal else [P, *parts])[None]
        h = self.backbone(inputs_embeds=x).last_hidden_state[0]
        hp = h[-self.d1:] if self.causal else h[:self.d1]                               # hidden states at P
        return self.proj(hp).flatten()[: self.layout.dim] + self.out_bias

    def params(self, raw: torch.Tensor) -> torch.Tensor:
        """Projection output [.., D] -> parameters in the zoo's units."""
        c = self.config
        w = raw if c.stats == "none" else self._normalizer().denormalize(raw)
        return c.clip_alpha * torch.tanh(w / c.clip_alpha) if c.clip_alpha else w

    def net(self) -> nn.Module:
        if self._net[0] is None:
            from ..nets import create_net

            self._net[0] = create_net(self.target["net"], **self.target["net_kwargs"]).to(self.special.device)
        return self._net[0]

    def logits(self, flat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """The target net's output with parameters `flat` [D] on x: a functional forward, so a gradient flows back
        into the generator."""
        from torch.func import functional_call

        sd = {k.name: flat[self.layout.slices[k.name]].view(k.shape) for k in self.layout.float_keys}
        return functional_call(self.net(), sd, (x,))

    def task_loss(self, flat: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of the net with parameters `flat` [D] on (x, y)."""
        return F.cross_entropy(self.logits(flat, x), y)

    @torch.no_grad()
    def test_accuracy(self, x: torch.Tensor, y: torch.Tensor, *, chunk: int = 1024) -> float:
        """Accuracy of one generated net (seed 0) on (x, y): the training monitor (eval_every)."""
        flat = self.generate(1, seed=0)[0].to(self.special.device)
        net = self.net()
        was = net.training
        net.eval()
        right = sum((self.logits(flat, x[i:i + chunk].to(flat.device)).argmax(-1).cpu() == y[i:i + chunk]).sum().item()
                    for i in range(0, len(y), chunk))
        net.train(was)
        return right / len(y)

    def forward(self, batch: dict) -> torch.Tensor:
        if self.stage == "align":                                   # stage 1: the generic instruction, no data
            raw = self.raw(GENERIC_INSTRUCTION, None)
            ref = batch["ref"]                                      # (B, D)
            if self.config.stage1_loss == "mse":
                return F.mse_loss(raw.expand_as(ref), ref)
            return (1 - F.cosine_similarity(raw[None], ref, 1)).mean()
        k = self.config.context_samples
        flat = self.params(self.raw(self.instruction(), batch["feat"][:k]))
        return self.task_loss(flat, batch["x"], batch["y"])

    # ---- training -------------------------------------------------------------------------------------------
    def encoder(self):
        """The frozen image encoder (loaded by name on first use; not part of the saved state)."""
        if self._enc[0] is None:
            from ..encoders import image_encoder

            self._enc[0] = image_encoder(self.target["image_encoder"], size=self.config.image_size)
        return self._enc[0]

    @torch.no_grad()
    def encode_samples(self, X: torch.Tensor, *, progress: bool = False) -> torch.Tensor:
        """[N, C, H, W] images -> [N, data_dim] encoder features (batched); token ids [N, L] are kept as they are."""
        from tqdm.auto import tqdm

        if self.text:
            return X.float()                  # ids < 2^24: exact in float32, so one pool buffer serves both kinds
        enc = self.encoder()
        out = [enc(X[i:i + 256]) for i in tqdm(range(0, len(X), 256), desc="encode samples", disable=None if progress else True)]
        return torch.cat(out)

    def fit(self, zoo, cfg: TrainConfig, *, batch_size: int = 1, out=None, progress: bool = True) -> list[dict]:
        """Stage 1 (config.stage1_steps at stage1_lr): `stage1_batch` reference checkpoints per step; stage 2 (cfg): the task
        loss on `task_batch` training examples, the first `context_samples` of them in the prompt."""
        from pathlib import Path

        sub = (lambda s: Path(out) / s) if out is not None else (lambda s: None)
        data = zoo.dataset()
        feats = self.encode_samples(data.X_train, progress=progress)
        g = torch.Generator().manual_seed(cfg.seed)
        order = torch.randperm(len(feats), generator=g)
        self.pool.copy_(feats[order[torch.arange(self.config.pool) % len(order)]])   # fewer examples: each repeats
        hist = []
        if self.config.stage1_steps:
            self.stage = "align"
            hist += [{**h, "stage": "align"} for h in fit(
                self, sampler({"ref": self._normalizer().normalize(zoo.flat)}, min(len(zoo), self.config.stage1_batch),
                              seed=cfg.seed),
                cfg.replace(steps=self.config.stage1_steps, lr=self.config.stage1_lr), out=sub("align"), progress=progress)]
        self.stage = "task"
        monitor = None
        if self.config.eval_every:
            def monitor(model):
                return {"test_acc": model.test_accuracy(data.X_test, data.y_test)}
        hist += [{**h, "stage": "task"} for h in fit(
            self, sampler({"x": data.X_train, "y": data.y_train, "feat": feats}, self.config.task_batch, seed=cfg.seed),
            cfg, out=sub("task"), progress=progress, monitor=monitor, monitor_every=self.config.eval_every)]
        self.eval()
        return hist

    @classmethod
    def transfer(cls, trained: "NeuroGen", zoo, *, seed: int = 0, **overrides) -> "NeuroGen":
        """A generator for `zoo`'s (other) net that starts from `trained`: its LoRA, projection, sample map and first
        special tokens; no stage 1 and no reference statistics (the paper's Fig. 3: stage 2 only on the new net)."""
        cfg = trained.config.replace(**{"stage1_steps": 0, "stats": "init", "net_name": "", "dataset_name": "", **overrides})
        new = cls.from_zoo(zoo, cfg, seed=seed, image_enc=trained._enc[0])
        state = {k: v for k, v in trained.state_dict().items() if k not in ("special", "pool", "out_bias")}
        if trained.special.shape[1] != new.special.shape[1]:
            raise ValueError("the two generators have different backbones")
        with torch.no_grad():
            n = min(trained.d1, new.d1)
            new.special[:n] = trained.special[:n]
        new.load_state_dict({**state, "special": new.special.detach().clone(), "pool": new.pool.clone(),
                             "out_bias": new.out_bias.detach().clone()})   # per-parameter: the new net starts at 0
        return new

    # ---- generation -----------------------------------------------------------------------------------------
    @torch.no_grad()
    def generate(self, n: int, *, seed: int = 0, instruction: str | None = None, samples: torch.Tensor | None = None,
                 **_) -> torch.Tensor:
        """n parameter sets [n, D]: each from the instruction (default: the training one) and `context_samples`
        encoded samples drawn (from `seed`) from `samples` [M, data_dim] (default: the stored pool)."""
        self.eval()
        pool = self.pool if samples is None else samples
        k = self.config.context_samples
        if pool.shape[-1] != self.pool.shape[-1]:
            raise ValueError(f"samples must be [M, {self.pool.shape[-1]}] encoder features "
                             f"({self.target['image_encoder']}), got {list(pool.shape)}: use encode_samples(images)")
        g = torch.Generator().manual_seed(seed)
        text = self.instruction() if instruction is None else instruction
        rows = []
        for _ in range(n):
            pick = torch.randperm(len(pool), generator=g)[:k]
            rows.append(self.params(self.raw(text, pool[pick] if k else None)).float().cpu())
        return torch.stack(rows)


GENERATORS.register("neurogen", NeuroGenConfig, help="NeuroGen: LM + LoRA + special tokens + projection, two stages")(NeuroGen)
