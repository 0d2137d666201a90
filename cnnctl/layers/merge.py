"""Layers that join several inputs: element-wise add (residual) and multiply (gates), concat
(Inception, U-Net); and nearest-neighbour upsampling."""

from __future__ import annotations

from ..errors import ShapeError
from ..shapes import Shape, format_shape, numel
from .activation import ACT
from .args import Arg, Int
from .base import OWN, Args, LayerKind, Saved, Window, activation_flops, activation_saved, registered, require_volume

TYPE_CHECKING = False  # typing's name for it, without importing typing
if TYPE_CHECKING:
    from typing import ClassVar


def broadcast(ins: list[Shape], verb: str) -> Shape:
    """The shape of an element-wise join of `ins`: all equal, or volumes that broadcast as
    PyTorch's do, along whole axes: a ``1x1xC`` input gives each channel one value (scales or
    shifts a whole channel of an ``HxWxC`` map: squeeze-and-excitation), an ``HxWx1`` input
    gives each position one (scales every channel there alike: CBAM's spatial gate), and a
    ``1x1xC`` and an ``HxWx1`` together give ``HxWxC`` (BAM's attention). The output is
    ``HxWxC`` from the sizes and channels that are not 1. Anything else is refused: maps of two
    sizes have no values in common, channels of two counts no one-to-one pairing, and a vector
    has no positions."""
    if all(s == ins[0] for s in ins):
        return ins[0]
    if all(len(s) == 1 for s in ins):
        raise ShapeError(f"cannot {verb} vectors of different lengths", hint="end every path in the same `fc` size")
    if any(len(s) == 1 for s in ins):
        raise ShapeError(
            f"cannot {verb} a vector and a volume",
            hint="a vector has no positions to pair with a map's: keep the volume (a 1x1 conv is an fc per "
            "position, `pool avg global` gives 1x1xC)",
        )
    size = next((s[:2] for s in ins if s[:2] != (1, 1)), (1, 1))
    # the channels every input must have (or 1): a full map's, named first in a message
    widest = next((s for s in ins if s[2] != 1 and s[:2] == size), None) or next((s for s in ins if s[2] != 1), ins[0])
    for s in ins:
        if s[:2] not in (size, (1, 1)):
            raise ShapeError(
                f"cannot {verb} different shapes",
                hint="make every path end in the same HxWxC, or in 1x1xC (one value per channel) or HxWx1 (one per "
                "position): a 1x1 conv changes the channels, a stride the size",
            )
        if s[2] not in (widest[2], 1):
            raise ShapeError(
                f"cannot {verb} {format_shape(widest)} and {format_shape(s)}: the channels differ "
                f"({widest[2]} and {s[2]})",
                hint=f"end every path in {widest[2]} channels (`n={widest[2]}`), or in 1 for one value per position",
            )
    return size[0], size[1], widest[2]


class ElementWise(LayerKind):
    """Base of `add` and `mul`: 2+ inputs of one shape (or 1x1xC and HxWx1 ones that broadcast,
    see `broadcast`), an inline activation, ``(inputs - 1)`` FLOPs per output value."""

    verb: ClassVar[str] = ""
    min_inputs = 2
    max_inputs = None

    def shape(self, a: Args, ins: list[Shape]) -> Shape:
        return broadcast(ins, self.verb)

    def flops(self, a: Args, ins: list[Shape], out: Shape) -> int:
        return (len(ins) - 1) * numel(out) + activation_flops(a, out)

    def saved(self, a: Args, ins: list[Shape], out: Shape) -> tuple[Saved, ...]:
        return activation_saved(a, out)  # a sum's gradient is the output's, as it is


@registered
class Add(ElementWise):
    """Element-wise sum of its inputs (a residual connection): `add with=x act=relu`.

    The inputs have the same shape, which is the output's, or they broadcast: a ``1x1xC``
    input shifts each channel of the ``HxWxC`` others, an ``HxWx1`` one each position (all its
    channels alike), and ``1x1xC + HxWx1`` is ``HxWxC`` (BAM). No params, no multiplications.
    FLOPs: ``(inputs - 1)`` adds per output value (``H*W*C`` for two inputs, whatever their
    shapes) + the activation's. cnnctl counts residual adds; no other counter does.
    """

    name = "add"
    passes_gradient = True
    synonyms = {"sum": "add"}  # noqa: RUF012 - never mutated
    verb = "add"
    args = (Arg("act", ACT, "none", "activation applied to the sum, g(z + a)"),)


@registered
class Mul(ElementWise):
    """Element-wise product of its inputs: `mul with=scale`; a ``1x1xC`` input scales each
    channel of an ``HxWxC`` one (squeeze-and-excitation's gate, see `gate:`), an ``HxWx1`` one
    each position, all its channels alike (CBAM's spatial gate).

    Shapes as `add`. No params. Multiplications: 0, though it multiplies: they are not by
    weights (as torchvision and FlopCounterMode count). FLOPs: ``(inputs - 1)`` per output
    value (two inputs: ``H*W*C`` products, whatever their shapes) + the activation's. Keeps
    every input (each is the others' gradient factor) and, of 3+ inputs, each product but the
    last: they are multiplied two at a time, ``(x0 * x1) * x2``, and each product keeps both.
    """

    name = "mul"
    verb = "multiply"
    args = (Arg("act", ACT, "none", "activation applied to the product"),)

    def saved(self, a: Args, ins: list[Shape], out: Shape) -> tuple[Saved, ...]:
        partial = (Saved(OWN, numel(broadcast(ins[: j + 1], self.verb))) for j in range(1, len(ins) - 1))
        return (*(Saved(i) for i in range(len(ins))), *partial, *activation_saved(a, out))


@registered
class Concat(LayerKind):
    """Concatenation along channels: `concat with=skip`. Free: no params, no FLOPs.

    Inputs must share height and width; output channels are their sum. Vectors
    concatenate into a longer vector.
    """

    name = "concat"
    passes_gradient = True
    synonyms = {"cat": "concat"}  # noqa: RUF012 - never mutated
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


@registered
class Upsample(LayerKind):
    """Nearest-neighbour upsampling: `upsample 2` repeats each value in a 2x2 block.

    Output ``(H*scale) x (W*scale) x C``; no params, no FLOPs (a copy). Keeps nothing.
    Receptive field: each output position sees one input position, ``1/scale`` apart.
    """

    name = "upsample"
    args = (Arg("scale", Int(), 2, "factor per axis", positional=True, show=True),)

    def shape(self, a: Args, ins: list[Shape]) -> Shape:
        h, w, c = require_volume("upsample", ins[0])
        return h * a.scale, w * a.scale, c

    def window(self, a: Args, ins: list[Shape], out: Shape) -> tuple[Window, Window]:
        return Window(a.scale, a.scale, 0, transposed=True), Window(a.scale, a.scale, 0, transposed=True)
