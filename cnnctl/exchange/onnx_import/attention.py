"""Attention: the radix softmax of split attention (a Softmax across reshaped channels), and the
Expand of a gate to the shape of what it multiplies.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from .attributes import attr_int
from .layer import Layer, node_id
from .told import Unread

if TYPE_CHECKING:
    from onnx import NodeProto


class Attention:
    """The readers of radix softmaxes and a gate's Expand."""

    def softmax(self, node: NodeProto, a: dict, ins: list) -> Layer | None:
        axis = attr_int(a, "axis", 1 if self.opset < 13 else -1)  # opset 13 changed the default
        x = ins[0]
        parts = self.grid.get(x) if x in self.grid and not self.grid[x][2] else None
        if parts is not None or (x in self.radix and self.radix[x][3]):
            if axis != 1:
                raise Unread(f"softmax over axis {axis} of reshaped channels", "cnnctl's rsoftmax runs across parts")
            if parts is not None:  # one group: N x radix x D x H x W
                volume, groups, radix, nodes = parts[0], 1, parts[1], parts[3]
            else:
                volume, groups, radix, _, nodes = self.radix[x]
            if not self.keeps_examples(nodes[0], volume):
                raise Unread(
                    "a softmax across a reshape that mixes the examples or changes the number of values",
                    "cnnctl reads N x radix x ... (or N x groups x radix x ...) of each example's values",
                )
            self.radix_out.add(node.output[0])
            words = [str(radix)] + ([f"groups={groups}"] if groups > 1 else [])
            return self.layer("rsoftmax", words, [volume], node_id(node, "rsoftmax"), list(nodes))
        self.over_the_channels(node, axis)
        if node.input[0] in self.normed:  # over the channels of channels-last data: it stays channels-last
            self.normed.add(node.output[0])
        return self.activation(node, "softmax")

    def over_the_channels(self, node: NodeProto, axis: int) -> None:
        """A Softmax over `axis` is cnnctl's softmax only where it runs over the channels: axis 1
        of NCHW data (or of an fc's N x C), the last of channels-last data; before opset 13 a Softmax
        runs over every axis from `axis` on, so also only where those after the channels are of
        size 1. Anything else (over the width of N x C x H x W: `dim=-1`) is told, never read as
        one over the channels."""
        dims = self.shape(node.input[0])
        channels_last = node.input[0] in self.normed
        if dims is None:  # the rank unknown: only axis 1 of NCHW data, or the last of channels-last data
            if axis == (-1 if channels_last else 1):
                return
            raise Unread(
                f"softmax over axis {axis} of a tensor whose rank is not known here",
                "cnnctl's softmax runs over the channels: export at a fixed size, or give --input",
            )
        rank = len(dims)
        if not -rank <= axis < rank:
            raise Unread(f"softmax over axis {axis} of a tensor of {rank} dims")
        first = axis % rank
        over = range(first, rank) if self.opset < 13 else [first]  # opset 13 made it one axis
        channel = rank - 1 if channels_last else 1
        if channel in over and all(dims[d] == 1 for d in over if d != channel):
            return
        x = self.real(node.input[0])
        laid_out = x == self.source or (x in self.made and not self.made[x].kind.startswith("("))  # no stand-in's
        names = _axis_names(rank, channels_last) if laid_out else [f"axis {d}" for d in range(rank)]
        ran = " x ".join(f"{names[d]} ({_size(dims[d])})" for d in over)
        channels = f", not the channels ({_size(dims[channel])})" if laid_out else ""
        raise Unread(
            f"softmax over axis {axis} of a {'x'.join(_size(d) for d in dims)} tensor: over {ran}{channels}",
            "cnnctl's softmax runs over the channels (dim=1 of N x C x H x W, or of an fc's N x C)",
        )

    def keeps_examples(self, reshape: int, volume: str) -> bool:
        """Whether the Reshape node `reshape` keeps the batch first (-1, 0 or the batch's size)
        and each example's values whole (their product is the volume's C x H x W): then a softmax
        over its axis 1 runs across equal parts of each example's channels, whatever the other dims."""
        dims = [int(d) for d in self.const(self.nodes[reshape], 1)]
        shape = self.shape(volume)
        if shape is None or len(shape) != 4 or None in shape[1:] or any(d <= 0 for d in dims[1:]):
            return False
        return dims[0] in (-1, 0, shape[0]) and math.prod(dims[1:]) == math.prod(shape[1:])

    def expand(self, node: NodeProto, a: dict, ins: list) -> None:
        """y.expand_as(x) read only by an element-wise Mul or Add with x (timm's ECA gate): y itself,
        where what it expands to is x's shape, as the Mul or Add broadcasting y would give the same."""
        import numpy as np

        target, dims = self.const(node, 1), self.shape(node.input[0])
        j = self.only_reader(node.output[0])
        joins = j is not None and self.nodes[j].op_type in ("Mul", "Add") and len(self.nodes[j].input) == 2
        other = [t for t in self.nodes[j].input if t != node.output[0]] if joins else []
        theirs = self.shape(other[0]) if len(other) == 1 else None
        expanded = None
        if target is not None and target.ndim == 1 and dims is not None and None not in dims:
            try:
                expanded = np.broadcast_shapes(dims, tuple(int(v) for v in target))
            except ValueError:  # shapes that do not broadcast: ONNX's own rule broken
                expanded = None
        if expanded is None or theirs is None or tuple(theirs) != expanded:
            raise Unread(
                "an Expand other than to the shape of what the one Mul or Add reading it takes with it",
                "cnnctl's mul and add broadcast a 1x1xC or HxWx1 input themselves: x * y.expand_as(x) is read as x * y",
            )
        self.alias[node.output[0]] = ins[0]


def _axis_names(rank: int, channels_last: bool) -> list[str]:
    """What each axis of a tensor of `rank` dims holds, as a message names it."""
    if rank == 4:
        return ["N", "H", "W", "C"] if channels_last else ["N", "C", "H", "W"]
    return ["N", "C", *(f"axis {d}" for d in range(2, rank))][:rank]


def _size(d: int | None) -> str:
    return "?" if d is None else str(d)
