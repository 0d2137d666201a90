"""One builder per layer kind, keyed by the same names as the analysis rules (cnnctl.layers.KINDS).

A builder takes the analyzed node and its input shapes and returns the torch module for
it. Shapes are cnnctl's HxWxC; torch works in NCHW, so channels are `shape[-1]` here.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from ..graph import Node
from ..layers.conv import resolve_padding
from ..layers.pool import Pool
from ..shapes import Shape, numel
from . import functional as fn

Builder = Callable[[Node, list[Shape]], nn.Module]


def _split(pads: tuple[tuple[int, int], tuple[int, int]]) -> tuple[tuple[int, int] | None, tuple[int, int, int, int]]:
    """Symmetric padding as torch's `padding=(h, w)`, else None and F.pad's (left, right, top, bottom)."""
    (top, bottom), (left, right) = pads
    if top == bottom and left == right:
        return (top, left), (0, 0, 0, 0)
    return None, (left, right, top, bottom)


def conv(node: Node, ins: list[Shape]) -> nn.Module:
    a = node.args
    symmetric, explicit = _split(resolve_padding(a, ins[0][0], ins[0][1]))
    module = fn.Conv2d(
        ins[0][2], a.n, a.f, stride=a.s, padding=symmetric or 0, dilation=a.dilation, groups=a.groups, bias=a.bias
    )
    module.setup(a.act, None if symmetric else explicit)
    return module


def deconv(node: Node, ins: list[Shape]) -> nn.Module:
    a = node.args
    module = fn.ConvTranspose2d(
        ins[0][2], a.n, a.f, stride=a.s, padding=a.p, dilation=a.dilation, groups=a.groups, bias=a.bias
    )
    module.setup(a.act)
    return module


def pool(node: Node, ins: list[Shape]) -> nn.Module:
    a = node.args
    if a["global"] or a.out is not None:
        size = a.out or (1, 1)
        return nn.AdaptiveMaxPool2d(size) if a.op == "max" else nn.AdaptiveAvgPool2d(size)
    symmetric, explicit = _split(Pool().padding(a, ins))
    cls = fn.MaxPool2d if a.op == "max" else fn.AvgPool2d
    module = cls(a.f, stride=a.s or a.f, padding=symmetric or 0, ceil_mode=a.ceil)
    module.setup("none", None if symmetric else explicit, float("-inf") if a.op == "max" else 0.0)
    return module


def fc(node: Node, ins: list[Shape]) -> nn.Module:
    module = fn.Linear(numel(ins[0]), node.args.units, bias=node.args.bias)
    module.setup(node.args.act)
    return module


def _norm(cls: type, node: Node, *args) -> nn.Module:
    """A normalization layer of `args` and the node's eps, with its inline activation."""
    module = cls(*args, eps=node.args.eps)
    module.setup(node.args.act)
    return module


def bn(node: Node, ins: list[Shape]) -> nn.Module:
    return _norm(fn.BatchNorm2d if len(ins[0]) == 3 else fn.BatchNorm1d, node, ins[0][-1])


def layernorm(node: Node, ins: list[Shape]) -> nn.Module:
    return _norm(fn.ChannelLayerNorm, node, ins[0][-1])


def groupnorm(node: Node, ins: list[Shape]) -> nn.Module:
    return _norm(fn.GroupNorm, node, node.args.g, ins[0][-1])


def lrn(node: Node, ins: list[Shape]) -> nn.Module:
    a = node.args
    return nn.LocalResponseNorm(a.size, alpha=a.alpha, beta=a.beta, k=a.k)


def activation(node: Node, ins: list[Shape]) -> nn.Module:
    return fn.Activation(node.kind, node.args.get("slope", 0.01))


BUILDERS: dict[str, Builder] = {
    "conv": conv,
    "deconv": deconv,
    "pool": pool,
    "fc": fc,
    "flatten": lambda node, ins: nn.Flatten(),
    "dropout": lambda node, ins: nn.Dropout(node.args.rate),
    "droppath": lambda node, ins: fn.DropPath(node.args.rate),
    "bn": bn,
    "layernorm": layernorm,
    "groupnorm": groupnorm,
    "layerscale": lambda node, ins: fn.LayerScale(ins[0][-1], node.args.init, volume=len(ins[0]) == 3),
    "lrn": lrn,
    "add": lambda node, ins: fn.Add(node.args.act),
    "mul": lambda node, ins: fn.Mul(node.args.act),
    "concat": lambda node, ins: fn.Concat(),
    "chunk": lambda node, ins: fn.Chunk(node.args.parts, node.args.i - 1),
    "shuffle": lambda node, ins: fn.Shuffle(node.args.g),
    "upsample": lambda node, ins: nn.Upsample(scale_factor=node.args.scale, mode="nearest"),
    **{name: activation for name in fn.ACTIVATION_NAMES},
}
