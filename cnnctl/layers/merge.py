"""Layers that join several inputs: element-wise add (residual) and concat (Inception, U-Net)."""

from __future__ import annotations

from ..errors import ShapeError
from ..shapes import Shape, numel
from .activation import ACT_NAMES
from .args import Arg, Choice, Int
from .base import Args, LayerKind, activation_flops, require_volume


class Add(LayerKind):
    """Element-wise sum of its inputs (a residual connection): `add with=x act=relu`.

    All inputs must have the same shape, which is the output's. No params, no
    multiplications. FLOPs: ``(inputs - 1)`` adds per value + the activation's. cnnctl
    counts residual adds; no other counter does.
    """

    name = "add"
    args = (Arg("act", Choice(*ACT_NAMES), "none", "activation applied to the sum, g(z + a)"),)
    min_inputs = 2
    max_inputs = None

    def shape(self, a: Args, ins: list[Shape]) -> Shape:
        if any(s != ins[0] for s in ins):
            raise ShapeError(
                "cannot add different shapes",
                hint="make every path end in the same HxWxC: a 1x1 conv changes the channels, a stride the size",
            )
        return ins[0]

    def flops(self, a: Args, ins: list[Shape], out: Shape) -> int:
        return (len(ins) - 1) * numel(out) + activation_flops(a, out)


class Concat(LayerKind):
    """Concatenation along channels: `concat with=skip`. Free: no params, no FLOPs.

    Inputs must share height and width; output channels are their sum. Vectors
    concatenate into a longer vector.
    """

    name = "concat"
    min_inputs = 2
    max_inputs = None

    def shape(self, a: Args, ins: list[Shape]) -> Shape:
        if all(len(s) == 1 for s in ins):
            return (sum(s[0] for s in ins),)
        if any(len(s) != 3 or s[:2] != ins[0][:2] for s in ins):
            raise ShapeError(
                "concat needs inputs of the same height and width",
                hint="pad or pool the branches to one size (p=same keeps the size at stride 1)",
            )
        return ins[0][0], ins[0][1], sum(s[2] for s in ins)


class Upsample(LayerKind):
    """Nearest-neighbour upsampling: `upsample 2` repeats each value in a 2x2 block.

    Output ``(H*scale) x (W*scale) x C``; no params, no FLOPs (a copy).
    """

    name = "upsample"
    args = (Arg("scale", Int(), 2, "factor per axis", positional=True, show=True),)

    def shape(self, a: Args, ins: list[Shape]) -> Shape:
        h, w, c = require_volume("upsample", ins[0])
        return h * a.scale, w * a.scale, c
