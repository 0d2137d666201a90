"""The network's input size: the graph input's height, width and channels, those the file leaves
unknown (an export with dynamic axes or dynamic shapes) given by `cnnctl import --input HxWxC`.
The sizes are then set in the graph's input itself, so that ONNX's shape inference, and what is
worked out from the sizes (a Shape, a reshape's target, a resize's sizes), sees one image of them.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, NamedTuple

from ...errors import CnnctlError, Loc
from ...shapes import Shape, format_shape
from .told import comment_text

if TYPE_CHECKING:
    from onnx import ValueInfoProto

NCHW = (2, 3, 1)  # where height, width and channels lie in a float input, N x C x H x W
NHWC = (1, 2, 3)  # in uint8 pixels (the prelude cnnctl's export --with-preprocessing writes)

FIXED = (
    "give them: `cnnctl import {file} --input HxWxC` (e.g. --input 224x224x3), or re-export the model at a fixed "
    "size (torch.onnx.export without dynamic_axes or dynamic_shapes)"
)


class Unknowns(NamedTuple):
    """Sizes for only those the file leaves unknown, kept where it fixes them: the input of the
    network an ONNX file's weights are given to (`--weights model.onnx`), not an `--input`."""

    volume: Shape


def input_volume(given: ValueInfoProto, wanted: Shape | Unknowns | None, path: str) -> Shape:
    """(H, W, C) of the graph's input `given` (a ValueInfoProto), its unknown sizes `wanted`'s
    (--input); a CnnctlError at the file where one is unknown and not given, or where `wanted`
    differs from a size the file fixes. The sizes are set in `given` (an unknown batch as 1: a
    network file reads one image, and a size worked out from the batch is then that image's)."""
    from onnx import TensorProto

    from ...words import plural

    dims = list(given.type.tensor_type.shape.dim)
    layout = NHWC if given.type.tensor_type.elem_type == TensorProto.UINT8 else NCHW
    known = [d.dim_value if d.dim_value > 0 else None for d in dims]
    written = "x".join(str(d) if d else "?" for d in known[:8]) + ("x..." if len(known) > 8 else "")
    order = "N x H x W x C" if layout is NHWC else "N x C x H x W"
    if len(dims) != 4:
        kind = {3: " (N x C x L: a 1-D network, nn.Conv1d's)", 5: " (N x C x D x H x W: a 3-D network, nn.Conv3d's)"}
        raise CnnctlError.at(
            f"its input is {written or 'of no shape'}{kind.get(len(dims), '')}: cnnctl reads networks of an image "
            "NCHW with known C, H and W",
            Loc(path),
            hint="a 1-D network is read written as a 2-D one of height 1 (x.unsqueeze(2), nn.Conv2d with kernel (1, f))"
            if len(dims) == 3
            else None,
        )
    own = tuple(known[i] for i in layout)  # (H, W, C), None where unknown
    if isinstance(wanted, Unknowns):  # the file's own sizes first: the weights' shapes are checked where placed
        wanted = None if None not in own else tuple(o or w for o, w in zip(own, wanted.volume, strict=True))
    if wanted is None:
        if None in own:
            unknown = " and ".join(
                what for what, size in zip(("height", "width", "channels"), own, strict=True) if size is None
            )
            raise CnnctlError.at(
                f"its input is {written} ({order}): its {unknown} are not fixed (an export with dynamic sizes)",
                Loc(path),
                hint=FIXED.format(file=comment_text(os.path.basename(path))),
            )
        return _one_image(dims, own)
    if own[2] is not None and own[2] != wanted[2]:
        raise CnnctlError.at(
            f"--input {format_shape(wanted)} gives {plural(wanted[2], 'channel')}; "
            f"the file's input ({written}, {order}) has {own[2]}",
            Loc(path),
            hint=f"--input {wanted[0]}x{wanted[1]}x{own[2]}",
        )
    fixed = [
        (what, mine, theirs)
        for what, mine, theirs in zip(("height", "width"), own[:2], wanted[:2], strict=True)
        if mine is not None
    ]
    if any(mine != theirs for _, mine, theirs in fixed):
        said = " and ".join(f"{what} {mine}" for what, mine, _ in fixed)
        raise CnnctlError.at(
            f"--input {format_shape(wanted)}: the file fixes its input's {said} ({written}, {order})",
            Loc(path),
            hint="--input gives only the sizes the file leaves unknown (`?`): leave it out to read the file at "
            "its own size, or re-export the model at the size you want",
        )
    for i, size in zip(layout, wanted, strict=True):
        dims[i].dim_value = size  # a dim_param ("height") gives way to the size
    return _one_image(dims, wanted)


def _one_image(dims: list, volume: Shape) -> Shape:
    """`volume`, its batch set to 1 where the file leaves it unknown."""
    if dims[0].dim_value <= 0:
        dims[0].dim_value = 1
    return volume
