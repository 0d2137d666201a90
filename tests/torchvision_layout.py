"""MobileNetV2, EfficientNet-B0 and ConvNeXt-T written by hand in torchvision's layout.

Independent of cnnctl, and of torchvision's source: written from the papers (Sandler et al.
2018, Tan & Le 2019, Liu et al. 2022) and torchvision's documented layout, so that a
state_dict of one has the names and the order of torchvision's published files (`features`,
`classifier`, Conv2dNormActivation's children 0, 1, 2, MBConv's `block`, ConvNeXt's
`layer_scale` before its `block`, its 1x1 convolutions as Linear layers over channels-last
data). Stochastic depth is left out: in evaluation it passes its input through.
"""

import torch
from torch import nn

from tests.helpers import make_divisible


def conv_bn(cin: int, cout: int, k: int, stride: int = 1, groups: int = 1, act: type[nn.Module] | None = nn.ReLU6):
    """torchvision's Conv2dNormActivation: a conv without bias (child 0), batch norm (1), the activation (2)."""
    layers = [nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    return nn.Sequential(*layers, *([act()] if act else []))


def pooled(features: torch.Tensor) -> torch.Tensor:
    """The global average of each channel, flattened: what every network here classifies."""
    return features.mean(dim=(2, 3))


# -- MobileNetV2 ----------------------------------------------------------------------------------
class InvertedResidual(nn.Module):
    """Expand t times with a 1x1 conv (none when t = 1), 3x3 depthwise at the stride, a linear
    1x1 projection; the input added when the size and the channels stay."""

    def __init__(self, cin: int, cout: int, stride: int, t: int):
        super().__init__()
        hidden = cin * t
        expand = [conv_bn(cin, hidden, 1)] if t != 1 else []
        self.conv = nn.Sequential(
            *expand,
            conv_bn(hidden, hidden, 3, stride, groups=hidden),
            nn.Conv2d(hidden, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
        )
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        return x + self.conv(x) if self.residual else self.conv(x)


MOBILENET_V2_STAGES = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                       (6, 320, 1, 1))  # the paper's Table 2: t, c, n, s  # fmt: skip


class MobileNetV2(nn.Module):
    def __init__(self, classes: int = 1000):
        super().__init__()
        layers, cin = [conv_bn(3, 32, 3, 2)], 32
        for t, c, n, s in MOBILENET_V2_STAGES:
            for i in range(n):
                layers.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
                cin = c
        layers.append(conv_bn(cin, 1280, 1))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, classes))

    def forward(self, x):
        return self.classifier(pooled(self.features(x)))


# -- EfficientNet-B0 -------------------------------------------------------------------------------
class SqueezeExcitation(nn.Module):
    """Hu et al. 2018 as EfficientNet uses it: the channels' means through fc1 (SiLU) and fc2
    (sigmoid) scale the channels."""

    def __init__(self, channels: int, squeeze: int):
        super().__init__()
        self.fc1, self.fc2 = nn.Conv2d(channels, squeeze, 1), nn.Conv2d(squeeze, channels, 1)

    def forward(self, x):
        return x * torch.sigmoid(self.fc2(nn.functional.silu(self.fc1(x.mean(dim=(2, 3), keepdim=True)))))


class MBConv(nn.Module):
    """Expand t times (none when t = 1), k x k depthwise at the stride, squeeze-and-excitation to
    a quarter of the *input* channels, a linear 1x1 projection; SiLU; the input added when the
    size and the channels stay."""

    def __init__(self, cin: int, cout: int, k: int, stride: int, t: int):
        super().__init__()
        hidden = make_divisible(cin * t)
        expand = [conv_bn(cin, hidden, 1, act=nn.SiLU)] if hidden != cin else []
        self.block = nn.Sequential(
            *expand,
            conv_bn(hidden, hidden, k, stride, groups=hidden, act=nn.SiLU),
            SqueezeExcitation(hidden, max(1, cin // 4)),
            conv_bn(hidden, cout, 1, act=None),
        )
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        return x + self.block(x) if self.residual else self.block(x)


EFFICIENTNET_B0_STAGES = ((1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3), (6, 5, 1, 112, 3),
                          (6, 5, 2, 192, 4), (6, 3, 1, 320, 1))  # the paper's Table 1: t, k, s, c, n  # fmt: skip


class EfficientNetB0(nn.Module):
    def __init__(self, classes: int = 1000):
        super().__init__()
        layers, cin = [conv_bn(3, 32, 3, 2, act=nn.SiLU)], 32
        for t, k, s, c, n in EFFICIENTNET_B0_STAGES:  # each stage a Sequential of its own: features.1 ... 7
            stage = []
            for i in range(n):
                stage.append(MBConv(cin, c, k, s if i == 0 else 1, t))
                cin = c
            layers.append(nn.Sequential(*stage))
        layers.append(conv_bn(cin, 4 * cin, 1, act=nn.SiLU))  # 1280
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(4 * cin, classes))

    def forward(self, x):
        return self.classifier(pooled(self.features(x)))


# -- ConvNeXt-T ------------------------------------------------------------------------------------
class Permute(nn.Module):
    def __init__(self, *dims: int):
        super().__init__()
        self.dims = dims

    def forward(self, x):
        return x.permute(*self.dims)


class LayerNorm2d(nn.LayerNorm):
    """Layer norm over the channels of each position of an NCHW volume."""

    def forward(self, x):
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class CNBlock(nn.Module):
    """7x7 depthwise, layer norm over channels (channels last), Linear expanding 4 times, GELU,
    Linear back, scaled per channel by the layer scale, added to the input."""

    def __init__(self, dim: int):
        super().__init__()
        self.layer_scale = nn.Parameter(torch.full((dim, 1, 1), 1e-6))  # before the block: first in its state
        self.block = nn.Sequential(
            nn.Conv2d(dim, dim, 7, padding=3, groups=dim),
            Permute(0, 2, 3, 1),
            nn.LayerNorm(dim, eps=1e-6),
            nn.Linear(dim, 4 * dim),
            nn.GELU(),
            nn.Linear(4 * dim, dim),
            Permute(0, 3, 1, 2),
        )

    def forward(self, x):
        return x + self.layer_scale * self.block(x)


CONVNEXT_T_STAGES = ((96, 3), (192, 3), (384, 9), (768, 3))  # channels, blocks


class ConvNeXtTiny(nn.Module):
    def __init__(self, classes: int = 1000):
        super().__init__()
        first = CONVNEXT_T_STAGES[0][0]
        layers = [nn.Sequential(nn.Conv2d(3, first, 4, 4), LayerNorm2d(first, eps=1e-6))]  # the 4x4 patchify stem
        for i, (dim, n) in enumerate(CONVNEXT_T_STAGES):
            layers.append(nn.Sequential(*(CNBlock(dim) for _ in range(n))))
            if i + 1 < len(CONVNEXT_T_STAGES):  # downsampling between stages
                layers.append(nn.Sequential(LayerNorm2d(dim, eps=1e-6), nn.Conv2d(dim, 2 * dim, 2, 2)))
        self.features = nn.Sequential(*layers)
        last = CONVNEXT_T_STAGES[-1][0]
        self.classifier = nn.Sequential(LayerNorm2d(last, eps=1e-6), nn.Flatten(1), nn.Linear(last, classes))

    def forward(self, x):
        return self.classifier(self.features(x).mean(dim=(2, 3), keepdim=True))


NETWORKS = {"mobilenet_v2": MobileNetV2, "efficientnet_b0": EfficientNetB0, "convnext_tiny": ConvNeXtTiny}
