"""Layers that join several inputs: element-wise add (residual) and multiply (gates), concat
(Inception, U-Net); and upsampling (nearest, bilinear)."""

from __future__ import annotations

from ..errors import ShapeError
from ..shapes import Shape, format_shape, numel
from .activation import ACT
from .args import BOOL, Arg, Choice, Int
from .base import (
    IDENTITY,
    OWN,
    Args,
    LayerKind,
    Saved,
    Window,
    activation_flops,
    activation_saved,
    registered,
    require_volume,
)

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
    counted = "residual/add and mul 1 per value per extra input"
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
    synonyms = {"sum": "add"}  # noqa: RUF012 - never mutated
    verb = "add"
    args = (Arg("act", ACT, "none", "activation applied to the sum, g(z + a)"),)

    def passes_gradient(self, a: Args) -> bool:
        return True


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
    synonyms = {"cat": "concat"}  # noqa: RUF012 - never mutated
    min_inputs = 2
    max_inputs = None

    def passes_gradient(self, a: Args) -> bool:
        return True

    def shape(self, a: Args, ins: list[Shape]) -> Shape:
        if all(len(s) == 1 for s in ins):
            return (sum(s[0] for s in ins),)
        if any(len(s) != 3 or s[:2] != ins[0][:2] for s in ins):
            raise ShapeError(
                "concat needs inputs of the same height and width",
                hint="pad or pool the branches to one size (p=same keeps the size at stride 1), or cut the larger "
                "down to the smaller's with `crop`",
            )
        return ins[0][0], ins[0][1], sum(s[2] for s in ins)


# FLOPs per output value of bilinear upsampling: a weighted sum of the 2x2 nearest input values,
# 4 multiply-adds (fvcore's count for aten::upsample_bilinear2d), 2 FLOPs each as a weight's are
BILINEAR_FLOPS = 8


@registered
class Upsample(LayerKind):
    """Upsampling by a whole factor: `upsample 2` repeats each value in a 2x2 block (nearest);
    `upsample 2 mode=bilinear` interpolates between the 2x2 input values nearest each output.

    Output ``(H*scale) x (W*scale) x C``; no params, no multiplications (none by weights).
    Bilinear (PyTorch's ``upsample_bilinear2d``): output position ``o`` along an axis of ``n``
    inputs reads input ``x = (o + 0.5)/scale - 0.5`` (clamped at 0), or with
    ``align_corners=true`` ``x = o*(n - 1)/(n*scale - 1)`` (the corners' values kept): the values
    at ``floor(x)`` and ``floor(x) + 1`` (the last one at the edge), weighted ``1 - t`` and ``t``
    (``t = x - floor(x)``), per axis. FLOPs: nearest ``0`` (a copy); bilinear ``8`` per output
    value, ``8*(H*scale)*(W*scale)*C``: 4 multiply-adds (the weighted 2x2 values; fvcore counts
    the same 4, one "flop" per multiply-add), 2 FLOPs each as for a weight. Backward: as many.
    Keeps nothing (its gradient needs only the sizes, either mode).
    Receptive field: nearest, each output position sees one input position, ``1/scale`` apart;
    bilinear (align_corners false), input ``m`` reaches outputs ``m*scale - scale//2`` to
    ``m*scale - scale//2 + k - 1``, ``k = 2*scale - scale%2`` (a deconv of that window: a
    position where ``t`` is 0 reads one input); align_corners true, ``floor(x)`` to ``ceil(x)``.
    """

    name = "upsample"
    counted = "bilinear upsample 8 per output value (4 multiply-adds)"
    args = (
        Arg("scale", Int(), 2, "factor per axis", positional=True, show=True),
        Arg("mode", Choice("nearest", "bilinear"), "nearest", "nearest (copies) or bilinear (interpolates)"),
        Arg("align_corners", BOOL, None, "bilinear only: the corner values kept (PyTorch's), default false"),
    )

    def check_args(self, a: Args) -> None:
        if a.mode == "nearest" and a.align_corners is not None:
            raise ShapeError(
                "`align_corners` is for bilinear upsampling: nearest copies each value, it has no corners to align",
                hint="drop `align_corners`, or write `mode=bilinear`",
            )

    def shape(self, a: Args, ins: list[Shape]) -> Shape:
        self.check_args(a)
        h, w, c = require_volume("upsample", ins[0])
        return h * a.scale, w * a.scale, c

    def flops(self, a: Args, ins: list[Shape], out: Shape) -> int:
        return BILINEAR_FLOPS * numel(out) if a.mode == "bilinear" else 0

    def window(self, a: Args, ins: list[Shape], out: Shape) -> tuple[Window, Window]:
        s = a.scale
        if a.mode == "nearest":
            return Window(s, s, 0, transposed=True), Window(s, s, 0, transposed=True)
        if s == 1:  # bilinear by 1 is a copy
            return IDENTITY
        if not a.align_corners:  # input m reaches the outputs whose x lies within 1 of m
            spread = Window(2 * s - s % 2, s, s // 2, transposed=True)
            return spread, spread
        return tuple(_corners_window(n, n * s) for n in ins[0][:2])  # type: ignore[return-value]


def _corners_window(n: int, out: int) -> Window:
    """Bilinear upsampling of `n` positions to `out` with align_corners: output ``o`` reads
    ``floor(o*a/b)`` to ``ceil(o*a/b)`` (``a = n - 1``, ``b = out - 1``), which ``o*a/b`` less
    or more ``(b - 1)/b`` contains (the `k`, `s`, `p` that bound them)."""
    a, b = n - 1, out - 1
    return Window(1 + 2 * (b - 1) / b, a / b, (b - 1) / b, corners=(a, b))
