"""Layers that rearrange channels without computing: a part of them (ShuffleNet's split) and
their shuffle between groups (ShuffleNet's channel shuffle)."""

from __future__ import annotations

from ..errors import ShapeError
from ..shapes import Shape
from .args import Arg, Int
from .base import Args, LayerKind, registered


@registered
class Chunk(LayerKind):
    """One of `parts` equal parts of the channels: `chunk 2 i=1` (the first half), as
    PyTorch's ``x.chunk(parts, dim=1)[i - 1]``. `parts` must divide ``C``.

    Output ``H x W x C/parts`` (a vector: its ``N/parts`` values). Free: no params, no FLOPs.
    A view of its input: a layer that keeps it for backward keeps the whole input.
    """

    name = "chunk"
    args = (
        Arg("parts", Int(), doc="how many equal parts the channels are cut into", positional=True, show=True),
        Arg("i", Int(), 1, "which part, from 1", show=True),
    )

    def shape(self, a: Args, ins: list[Shape]) -> Shape:
        c = ins[0][-1]
        if c % a.parts:
            raise ShapeError(f"{c} channels do not cut into {a.parts} equal parts", hint=f"parts must divide {c}")
        if a.i > a.parts:
            raise ShapeError(f"part {a.i} of {a.parts}: parts are numbered 1 to {a.parts}")
        return (*ins[0][:-1], c // a.parts)

    def is_view(self, a: Args) -> bool:
        return True


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
