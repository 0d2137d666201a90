"""Attention: the radix softmax of split attention (a Softmax across reshaped channels), and the
Expand of a gate to the shape of what it multiplies.
"""

from __future__ import annotations

import math

from .attributes import _int
from .layer import Layer, _node_id
from .told import _Unread


class Attention:
    """The readers of radix softmaxes and a gate's Expand."""

    def softmax(self, node, a: dict, ins: list) -> Layer | None:
        axis = _int(a, "axis", -1)
        x = ins[0]
        parts = self.grid.get(x) if x in self.grid and not self.grid[x][2] else None
        if parts is not None or (x in self.radix and self.radix[x][3]):
            if axis != 1:
                raise _Unread(f"softmax over axis {axis} of reshaped channels", "cnnctl's rsoftmax runs across parts")
            if parts is not None:  # one group: N x radix x D x H x W
                volume, groups, radix, nodes = parts[0], 1, parts[1], parts[3]
            else:
                volume, groups, radix, _, nodes = self.radix[x]
            if not self.keeps_examples(nodes[0], volume):
                raise _Unread(
                    "a softmax across a reshape that mixes the examples or changes the number of values",
                    "cnnctl reads N x radix x ... (or N x groups x radix x ...) of each example's values",
                )
            self.radix_out.add(node.output[0])
            words = [str(radix)] + ([f"groups={groups}"] if groups > 1 else [])
            return self.layer("rsoftmax", words, [volume], _node_id(node, "rsoftmax"), list(nodes))
        if axis not in (1, -1):
            raise _Unread(f"softmax over axis {axis}", "cnnctl's runs over the channels")
        return self.activation(node, "softmax")

    def keeps_examples(self, reshape: int, volume: str) -> bool:
        """Whether the Reshape node `reshape` keeps the batch first (-1, 0 or the batch's size)
        and each example's values whole (their product is the volume's C x H x W): then a softmax
        over its axis 1 runs across equal parts of each example's channels, whatever the other dims."""
        dims = [int(d) for d in self.const(self.nodes[reshape], 1)]
        shape = self.shape(volume)
        if shape is None or len(shape) != 4 or None in shape[1:] or any(d <= 0 for d in dims[1:]):
            return False
        return dims[0] in (-1, 0, shape[0]) and math.prod(dims[1:]) == math.prod(shape[1:])

    def expand(self, node, a: dict, ins: list) -> None:
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
            raise _Unread(
                "an Expand other than to the shape of what the one Mul or Add reading it takes with it",
                "cnnctl's mul and add broadcast a 1x1xC or HxWx1 input themselves: x * y.expand_as(x) is read as x * y",
            )
        self.alias[node.output[0]] = ins[0]
