"""Normalisation: batch norm and local response normalisation (AlexNet, GoogLeNet)."""

from __future__ import annotations

from ..shapes import Shape, numel
from .activation import ACT_NAMES
from .args import Arg, Choice, Float, Int
from .base import Args, LayerKind, activation_flops, require_volume


class BatchNorm(LayerKind):
    """Batch normalisation: `bn`, or `bn act=relu`. Shape unchanged.

    Params: ``2*C`` (scale gamma and shift beta per channel). Buffers (not trainable):
    ``2*C`` (running mean and variance). No multiplications by the course's convention.
    FLOPs: ``2`` per value (inference form: one scale, one shift) + the activation's.
    """

    name = "bn"
    args = (
        Arg("act", Choice(*ACT_NAMES), "none", "activation applied to the output"),
        Arg("eps", Float(0, 1, lo_open=True), 1e-5, "added to the variance"),
    )

    def shape(self, a: Args, ins: list[Shape]) -> Shape:
        return ins[0]

    def params(self, a: Args, ins: list[Shape], out: Shape) -> int:
        return 2 * out[-1]

    def buffers(self, a: Args, ins: list[Shape], out: Shape) -> int:
        return 2 * out[-1]

    def flops(self, a: Args, ins: list[Shape], out: Shape) -> int:
        return 2 * numel(out) + activation_flops(a, out)


class LRN(LayerKind):
    """Local response normalisation across channels: `lrn size=5`.

    ``b = a / (k + alpha/size * sum of a^2 over `size` neighbouring channels)^beta``.
    Shape unchanged, no params, no multiplications by the course's convention.
    FLOPs: ``2*size + 3`` per value (``size`` squares, ``size - 1`` adds, then scale, add k,
    power and divide).
    """

    name = "lrn"
    args = (
        Arg("size", Int(), 5, "channels in the window", positional=True),
        Arg("alpha", Float(0, 1e6), 1e-4),
        Arg("beta", Float(0, 1e6), 0.75),
        Arg("k", Float(0, 1e6), 2.0),
    )

    def shape(self, a: Args, ins: list[Shape]) -> Shape:
        return require_volume("lrn", ins[0])

    def flops(self, a: Args, ins: list[Shape], out: Shape) -> int:
        return (2 * a.size + 3) * numel(out)
