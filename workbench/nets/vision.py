"""Image nets: MLP, LeNet-5, NeuroGen's lightweight CNN, Model-Zoo CNN-s / CNN-m, CIFAR-style ResNet, ViT-Tiny."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..config import Config, check
from . import NETS

ACTS = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU, "sigmoid": nn.Sigmoid}


@dataclass(frozen=True)
class ImageNetConfig(Config):
    in_channels: int = 1   # 1 for (mnist5k, digits, MNIST), 3 for (SVHN, CIFAR-10)
    num_classes: int = 10
    image_size: int = 28

    def validate(self):
        check(self.in_channels > 0 and self.num_classes > 1 and self.image_size > 0,
              f"{type(self).__name__}: in_channels, image_size must be positive and num_classes >= 2")


def _flat_size(body: nn.Module, cfg: ImageNetConfig) -> int:
    with torch.no_grad():
        try:
            out = body(torch.zeros(1, cfg.in_channels, cfg.image_size, cfg.image_size))
        except RuntimeError as exc:
            raise ValueError(f"image_size={cfg.image_size} is too small for this net ({exc}); use a larger "
                             f"image_size (e.g. load the dataset with image_size=28)") from None
    return out.numel()


def _conv_net(body: list[nn.Module], head: list[nn.Module], cfg) -> nn.Sequential:
    """body -> Flatten -> head, with the head's first Linear sized from a dummy forward pass."""
    features = nn.Sequential(*body)
    n = _flat_size(features, cfg)
    first = head[0]
    head[0] = nn.Linear(n, first.out_features)
    return nn.Sequential(*body, nn.Flatten(), *head)


@dataclass(frozen=True)
class MLPConfig(ImageNetConfig):
    hidden: tuple[int, ...] = (64,)
    act: str = "relu"
    in_features: int | None = None   # tabular input width (zoos fill it from [N, F] data); None: in_channels * image_size^2

    def validate(self):
        super().validate()
        check(self.act in ACTS, f"act must be one of {sorted(ACTS)}, got {self.act!r}")
        check(self.in_features is None or self.in_features > 0, f"in_features must be positive, got {self.in_features}")

    @property
    def input_width(self) -> int:
        return self.in_features or self.in_channels * self.image_size ** 2


@NETS.register("mlp", MLPConfig)
def mlp(cfg: MLPConfig) -> nn.Module:
    """Flatten -> [Linear -> act] * len(hidden) -> Linear; takes images [N, C, S, S] or tabular rows [N, F]."""
    dims = [cfg.input_width, *cfg.hidden]
    layers: list[nn.Module] = [nn.Flatten()]
    for a, b in zip(dims[:-1], dims[1:]):
        layers += [nn.Linear(a, b), ACTS[cfg.act]()]
    return nn.Sequential(*layers, nn.Linear(dims[-1], cfg.num_classes))


@dataclass(frozen=True)
class LeNetConfig(ImageNetConfig):
    padding: int = 0   # 0: 44,426 params at 28x28; 2: the 61,706-param variant that keeps 28x28 after conv1


@NETS.register("lenet5", LeNetConfig)
def lenet5(cfg: LeNetConfig) -> nn.Module:
    """LeNet-5: conv(6,5)-relu-pool, conv(16,5)-relu-pool, fc 120-84-classes."""
    body = [nn.Conv2d(cfg.in_channels, 6, 5, padding=cfg.padding), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2)]
    head = [nn.Linear(1, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, cfg.num_classes)]
    return _conv_net(body, head, cfg)


@dataclass(frozen=True)
class NeuroGenCNNConfig(ImageNetConfig):
    channels: tuple[int, ...] = (16, 32, 32)   # NeuroGen uses 3 blocks; 2 blocks is its "smaller CNN"


@NETS.register("neurogen_cnn", NeuroGenCNNConfig)
def neurogen_cnn(cfg: NeuroGenCNNConfig) -> nn.Module:
    """NeuroGen's lightweight CNN: [conv3x3-ReLU-maxpool] x len(channels), global average pool, linear."""
    layers: list[nn.Module] = []
    c = cfg.in_channels
    for out in cfg.channels:
        layers += [nn.Conv2d(c, out, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
        c = out
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, cfg.num_classes))


@dataclass(frozen=True)
class ZooCNNConfig(ImageNetConfig):
    act: str = "relu"

    def validate(self):
        super().validate()
        check(self.act in ACTS, f"act must be one of {sorted(ACTS)}, got {self.act!r}")


@NETS.register("cnn_s", ZooCNNConfig)
def cnn_s(cfg: ZooCNNConfig) -> nn.Module:
    """Model-Zoo CNN-s (RPG's small CNN): 2,464 params at 1x28x28, 2,864 at 3x32x32."""
    A = ACTS[cfg.act]
    body = [nn.Conv2d(cfg.in_channels, 8, 5), nn.MaxPool2d(2), A(), nn.Conv2d(8, 6, 5), nn.MaxPool2d(2), A(),
            nn.Conv2d(6, 4, 2), A()]
    return _conv_net(body, [nn.Linear(1, 20), A(), nn.Linear(20, cfg.num_classes)], cfg)


@NETS.register("cnn_m", ZooCNNConfig)
def cnn_m(cfg: ZooCNNConfig) -> nn.Module:
    """Model-Zoo CNN-m: 10,853 params at 3x32x32 (RPG's CNN-m), 9,665 at 1x28x28."""
    A = ACTS[cfg.act]
    body = [nn.Conv2d(cfg.in_channels, 16, 3), nn.MaxPool2d(2), A(), nn.Conv2d(16, 32, 3), nn.MaxPool2d(2), A(),
            nn.Conv2d(32, 15, 3), nn.MaxPool2d(2), A()]
    return _conv_net(body, [nn.Linear(1, 20), A(), nn.Linear(20, cfg.num_classes)], cfg)


@dataclass(frozen=True)
class ResNetConfig(ImageNetConfig):
    blocks: tuple[int, ...] = (3, 3, 3)   # blocks per stage: (3,3,3) = ResNet-20; vary it for depth transfer
    width: int = 16                       # channels of the first stage; doubled each stage

    def validate(self):
        super().validate()
        check(len(self.blocks) >= 1 and all(b >= 1 for b in self.blocks), f"blocks must be >= 1 each, got {self.blocks}")


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.short = nn.Sequential()
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.short(x))


@NETS.register("resnet", ResNetConfig)
def resnet(cfg: ResNetConfig) -> nn.Module:
    """CIFAR-style ResNet: conv3x3 stem, len(blocks) stages of BasicBlocks (stride 2 between), GAP, linear."""
    layers: list[nn.Module] = [nn.Conv2d(cfg.in_channels, cfg.width, 3, 1, 1, bias=False), nn.BatchNorm2d(cfg.width), nn.ReLU()]
    c = cfg.width
    for i, n in enumerate(cfg.blocks):
        out = cfg.width * 2 ** i
        for j in range(n):
            layers.append(BasicBlock(c, out, 2 if (i > 0 and j == 0) else 1))
            c = out
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, cfg.num_classes))


@dataclass(frozen=True)
class ViTConfig(ImageNetConfig):
    patch_size: int = 4
    embed_dim: int = 192   # ViT-Tiny: 192 wide, 12 deep, 3 heads
    depth: int = 12
    num_heads: int = 3

    def validate(self):
        super().validate()
        check(self.image_size % self.patch_size == 0, f"image_size {self.image_size} must be a multiple of patch_size {self.patch_size}")


@NETS.register("vit_tiny", ViTConfig)
def vit_tiny(cfg: ViTConfig) -> nn.Module:
    """ViT-Tiny through timm at small image sizes (random init; pass depth/embed_dim to shrink it)."""
    from timm.models.vision_transformer import VisionTransformer

    return VisionTransformer(img_size=cfg.image_size, patch_size=cfg.patch_size, in_chans=cfg.in_channels,
                             num_classes=cfg.num_classes, embed_dim=cfg.embed_dim, depth=cfg.depth,
                             num_heads=cfg.num_heads)
