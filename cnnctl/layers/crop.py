"""Centre crop: a map cut down to a smaller height and width (the original U-Net's crop-and-copy,
which joins an encoder map of 64x64 with a decoder map of 56x56)."""

from __future__ import annotations

from ..errors import ShapeError
from ..shapes import Shape, format_shape
from .args import Arg, Pair
from .base import Args, LayerKind, Window, registered, require_volume


def crop_offsets(size: tuple[int, int], to: tuple[int, int]) -> tuple[int, int]:
    """The first row and column kept when an ``H x W`` map is cut to ``h x w`` about its centre:
    ``(H - h) // 2`` and ``(W - w) // 2`` (an odd surplus leaves its extra row at the bottom, its
    extra column at the right). One rule, for the shape, the backend and the export alike."""
    return (size[0] - to[0]) // 2, (size[1] - to[1]) // 2


@registered
class Crop(LayerKind):
    """Centre crop to a height and width: `crop 56` or `crop 56x48` (a size), or to the size of
    a second input: `crop from=c1,up1` cuts `c1` to `up1`'s height and width (U-Net's
    crop-and-copy; `crop with=up1` cuts the previous layer's output to it).

    Output ``h x w x C``: rows ``top`` to ``top + h - 1`` and columns ``left`` to
    ``left + w - 1`` of the ``H x W x C`` input, ``top = (H - h) // 2``, ``left = (W - w) // 2``
    (an odd surplus leaves its extra row at the bottom, its extra column at the right); ``h <= H``,
    ``w <= W``. The second input gives only its height and width (its channels, any). Free: no
    params, no FLOPs (PyTorch's ``x[:, :, top:top + h, left:left + w]``, a view: it keeps nothing
    for backward, and a layer that keeps it keeps the whole input). Receptive field: each output
    position sees the input position ``top`` rows and ``left`` columns further on.
    """

    name = "crop"
    synonyms = {"center_crop": "crop", "centercrop": "crop", "cropping2d": "crop"}  # noqa: RUF012 - never mutated
    max_inputs = 2
    sized_by_last = True
    args = (Arg("size", Pair(), None, "the height and width kept, `56` or HxW (or a second input's)", positional=True),)

    def target(self, a: Args, ins: list[Shape]) -> tuple[int, int]:
        """The height and width kept: the written size, or the second input's."""
        if len(ins) == 2:
            if a.size is not None:
                raise ShapeError(
                    "crop has both a size and a second input to take its size from",
                    hint="write the size (`crop 56`) or the second input (`from=A,B`, `with=B`), not both",
                )
            return require_volume("crop", ins[1])[:2]
        if a.size is None:
            raise ShapeError(
                "crop needs the size to cut to",
                hint="write it (`crop 56` or `crop 56x48`), or take another layer's: `crop from=BIG,SMALL`",
            )
        return a.size

    def shape(self, a: Args, ins: list[Shape]) -> Shape:
        h, w, c = require_volume("crop", ins[0])
        to = self.target(a, ins)
        if to[0] > h or to[1] > w:
            raise ShapeError(
                f"cannot crop {format_shape((h, w, c))} to {to[0]}x{to[1]}: a crop only makes a map smaller",
                hint="crop the larger map to the smaller one's size; to make a map larger, pad (`p=`) or upsample",
            )
        return to[0], to[1], c

    def is_view(self, a: Args) -> bool:
        return True

    def window(self, a: Args, ins: list[Shape], out: Shape) -> tuple[Window, Window]:
        top, left = crop_offsets(ins[0][:2], out[:2])  # type: ignore[arg-type]
        return Window(1, 1, -top), Window(1, 1, -left)
