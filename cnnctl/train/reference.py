"""Hand-written reference networks, for `cnnctl bench --reference` and the benchmarks.

Written the way torchvision and the course write them, not imported: the point is to
time cnnctl's compiled module against an independent implementation of the same network.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class LeNet5(nn.Module):
    """LeNet-5 as in architectures/lenet5.yaml: tanh, average pooling, fc 120-84-10 (logits)."""

    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(1, 6, 5), nn.Conv2d(6, 16, 5)
        self.fc1, self.fc2, self.fc3 = nn.Linear(400, 120), nn.Linear(120, 84), nn.Linear(84, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.avg_pool2d(torch.tanh(self.conv1(x)), 2)
        x = F.avg_pool2d(torch.tanh(self.conv2(x)), 2).flatten(1)
        return self.fc3(torch.tanh(self.fc2(torch.tanh(self.fc1(x)))))


class _Basic(nn.Module):
    expansion = 1

    def __init__(self, c_in: int, width: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, width, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.down = _projection(c_in, width, stride)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)), inplace=True)
        out = self.bn2(self.conv2(out))
        return F.relu(out + (x if self.down is None else self.down(x)), inplace=True)


class _Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, c_in: int, width: int, stride: int):
        super().__init__()
        out = width * 4
        self.conv1, self.bn1 = nn.Conv2d(c_in, width, 1, bias=False), nn.BatchNorm2d(width)
        self.conv2, self.bn2 = nn.Conv2d(width, width, 3, stride, 1, bias=False), nn.BatchNorm2d(width)
        self.conv3, self.bn3 = nn.Conv2d(width, out, 1, bias=False), nn.BatchNorm2d(out)
        self.down = _projection(c_in, out, stride)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)), inplace=True)
        out = F.relu(self.bn2(self.conv2(out)), inplace=True)
        out = self.bn3(self.conv3(out))
        return F.relu(out + (x if self.down is None else self.down(x)), inplace=True)


def _projection(c_in: int, c_out: int, stride: int) -> nn.Module | None:
    if stride == 1 and c_in == c_out:
        return None
    return nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))


class ResNet(nn.Module):
    """torchvision's ResNet layout (v1.5: the bottleneck's stride on the 3x3 conv)."""

    def __init__(self, block: type[nn.Module], counts: tuple[int, ...], classes: int = 1000):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64)
        layers, c_in = [], 64
        for i, (count, width) in enumerate(zip(counts, (64, 128, 256, 512), strict=True)):
            for j in range(count):
                layers.append(block(c_in, width, 2 if (i > 0 and j == 0) else 1))
                c_in = width * block.expansion
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(c_in, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x)), inplace=True), 3, 2, 1)
        return self.fc(F.adaptive_avg_pool2d(self.layers(x), 1).flatten(1))


class _ChannelsLayerNorm(nn.LayerNorm):
    """Layer norm over the channels of NCHW data, through a channels-last view (torchvision's LayerNorm2d)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class _CNBlock(nn.Module):
    """ConvNeXt's block as torchvision writes it: a 7x7 depthwise conv, then in channels-last
    order a layer norm and an MLP of two Linear layers with GELU, back to NCHW, a layer scale,
    stochastic depth ("row" mode), added to the input."""

    def __init__(self, c: int, drop: float):
        super().__init__()
        self.dwconv = nn.Conv2d(c, c, 7, padding=3, groups=c)
        self.norm = nn.LayerNorm(c, eps=1e-6)
        self.fc1, self.fc2 = nn.Linear(c, 4 * c), nn.Linear(4 * c, c)
        self.layer_scale = nn.Module()  # a module of its own: its parameter comes after the MLP's
        self.layer_scale.weight = nn.Parameter(torch.full((c, 1, 1), 1e-6))
        self.drop = drop

    def forward(self, x):
        out = self.dwconv(x).permute(0, 2, 3, 1)
        out = self.fc2(F.gelu(self.fc1(self.norm(out)))).permute(0, 3, 1, 2)
        out = self.layer_scale.weight * out
        if self.training and self.drop > 0:
            keep = 1.0 - self.drop
            out = out * torch.empty((out.shape[0], 1, 1, 1), dtype=out.dtype, device=out.device).bernoulli_(keep) / keep
        return out + x


class ConvNeXt(nn.Module):
    """ConvNeXt-T in torchvision's layout: a 4x4 stride-4 stem, four stages (3, 3, 9, 3 blocks
    of 96, 192, 384, 768 channels), a layer norm and a 2x2 stride-2 conv between stages;
    stochastic depth growing linearly to 0.1 at the last block. Its parameters are in the
    order of architectures/convnext_tiny.yaml's, so the weights carry over one to one."""

    def __init__(self, depths=(3, 3, 9, 3), widths=(96, 192, 384, 768), drop: float = 0.1, classes: int = 1000):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(3, widths[0], 4, 4), _ChannelsLayerNorm(widths[0], eps=1e-6)]
        total, k = sum(depths), 0
        for i, (depth, width) in enumerate(zip(depths, widths, strict=True)):
            if i:
                layers += [_ChannelsLayerNorm(widths[i - 1], eps=1e-6), nn.Conv2d(widths[i - 1], width, 2, 2)]
            for _ in range(depth):
                layers.append(_CNBlock(width, drop * k / (total - 1)))
                k += 1
        self.features = nn.Sequential(*layers)
        self.norm = nn.LayerNorm(widths[-1], eps=1e-6)
        self.fc = nn.Linear(widths[-1], classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.norm(F.adaptive_avg_pool2d(self.features(x), 1).flatten(1)))


REFERENCES = {
    "lenet5": LeNet5,
    "resnet18": lambda: ResNet(_Basic, (2, 2, 2, 2)),
    "resnet50": lambda: ResNet(_Bottleneck, (3, 4, 6, 3)),
    "convnext_tiny": ConvNeXt,
}
