"""Layers over the channels: a part of them (ShuffleNet's split), channels at any bounds
(ReXNet's `x[:, :C_in]`), their shuffle between groups (ShuffleNet's channel shuffle), and a
softmax across equal parts of them at each channel (ResNeSt's radix softmax, SKNet's selection)."""

from __future__ import annotations

from ..errors import ShapeError
from ..shapes import Shape, numel
from .activation import ACTIVATIONS_COUNTED
from .args import Arg, Int
from .base import OUTPUT, Args, LayerKind, Saved, registered


@registered
class Chunk(LayerKind):
    """One of `parts` equal parts of the channels: `chunk 2 i=1` (the first half), as
    PyTorch's ``x.chunk(parts, dim=1)[i - 1]``. `parts` must divide ``C``.

    Output ``H x W x C/parts`` (a vector: its ``N/parts`` values). Free: no params, no FLOPs.
    A view of its input (it moves no bytes): a layer that keeps it for backward keeps the whole input.
    """

    name = "chunk"
    args = (
        Arg("parts", Int(), doc="how many equal parts the channels are cut into", positional=True, show=True),
        Arg("i", Int(), 1, "which part, from 1", show=True),
    )

    def check_args(self, a: Args) -> None:
        if a.i > a.parts:
            raise ShapeError(f"part {a.i} of {a.parts}: parts are numbered 1 to {a.parts}")

    def shape(self, a: Args, ins: list[Shape]) -> Shape:
        c = ins[0][-1]
        if c % a.parts:
            raise ShapeError(f"{c} channels do not cut into {a.parts} equal parts", hint=f"parts must divide {c}")
        self.check_args(a)
        return (*ins[0][:-1], c // a.parts)

    def is_view(self, a: Args) -> bool:
        return True


@registered
class Slice(LayerKind):
    """Channels `start` to `end` (not included), counted from 0: `slice 0 27` is PyTorch's
    ``x[:, 0:27]``, `slice 27` the channels from 27 to the last (ReXNet adds its input onto the
    first ``C_in`` channels: `slice 0 ${in_c}`, `add with=input`, then `concat` with `slice ${in_c}`).

    Output ``H x W x (end - start)`` (a vector: its values ``start`` to ``end``); `end` at most
    ``C``, above `start`. Free: no params, no FLOPs. A view of its input (it moves no bytes): a
    layer that keeps it for backward keeps the whole input.
    """

    name = "slice"
    synonyms = {"narrow": "slice"}  # noqa: RUF012 - never mutated
    args = (
        Arg("start", Int(minimum=0), doc="the first channel, from 0", positional=True, show=True),
        Arg("end", Int(), None, "the channel after the last (default: to the last)", positional=True),
    )

    def shape(self, a: Args, ins: list[Shape]) -> Shape:
        c = ins[0][-1]
        end = c if a.end is None else a.end
        if end > c:
            raise ShapeError(f"channels {a.start} to {end} of {c}: past the last", hint=f"`end` is at most {c}")
        if a.start >= end:
            raise ShapeError(
                f"channels {a.start} to {end} of {c}: none", hint=f"`start` is below `end` ({end}), from 0"
            )
        return (*ins[0][:-1], end - a.start)

    def is_view(self, a: Args) -> bool:
        return True


@registered
class Rsoftmax(LayerKind):
    """Softmax across `radix` equal parts of the channels, at each channel: ResNeSt's radix
    softmax and SKNet's selection (`rsoftmax 2`). The ``C = radix * D`` channels are `radix`
    parts of ``D``; value ``i`` of part ``k`` becomes ``exp(x[k, i]) / sum_j exp(x[j, i])``, so
    the parts' weights of each channel sum to 1. With ``groups = G`` (ResNeSt's cardinality) the
    input is read as ``G`` groups of `radix` parts (a grouped conv's output) and the output is
    written part by part (``radix x G x D/G``), as ResNeSt's rSoftMax: part ``k`` of the output
    weighs the channels of path ``k``. `radix * groups` must divide ``C``.

    Shape unchanged. No params. FLOPs: 3 per value (exp, add to the sum, divide), as softmax.
    Keeps its output for backward.
    """

    name = "rsoftmax"
    counted = ACTIVATIONS_COUNTED
    autocast = "out32"  # a softmax: on CUDA autocast's float32 list, not on the CPU's
    autocast_cpu = ""
    synonyms = {"radix_softmax": "rsoftmax"}  # noqa: RUF012 - never mutated
    args = (
        Arg("radix", Int(minimum=2), doc="the parts it runs across (paths, splits)", positional=True, show=True),
        Arg("groups", Int(), 1, "groups of `radix` parts in the input (ResNeSt's cardinality)"),
    )

    def shape(self, a: Args, ins: list[Shape]) -> Shape:
        c = ins[0][-1]
        if c % (a.radix * a.groups):
            raise ShapeError(
                f"{c} channels do not cut into {a.groups} group(s) of {a.radix} equal parts",
                hint=f"radix x groups ({a.radix * a.groups}) must divide {c}",
            )
        return ins[0]

    def flops(self, a: Args, ins: list[Shape], out: Shape) -> int:
        return 3 * numel(out)

    def saved(self, a: Args, ins: list[Shape], out: Shape) -> tuple[Saved, ...]:
        # the softmax's output, written contiguous part by part: the layer's output is a view of it
        return (Saved(OUTPUT),)


@registered
class Shuffle(LayerKind):
    """Channel shuffle between `g` groups: `shuffle 2` (ShuffleNet). The channels, seen as a
    ``g x C/g`` grid, are read out column by column: ``[a1 a2 b1 b2] -> [a1 b1 a2 b2]``.

    `g` must divide ``C``. Shape unchanged. Free: no params, no FLOPs (a copy).
    """

    name = "shuffle"
    synonyms = {"channel_shuffle": "shuffle"}  # noqa: RUF012 - never mutated
    args = (Arg("g", Int(), 2, "groups", positional=True, show=True),)

    def shape(self, a: Args, ins: list[Shape]) -> Shape:
        if ins[0][-1] % a.g:
            raise ShapeError(f"{a.g} groups do not divide the {ins[0][-1]} channels", hint="g must divide C")
        return ins[0]
