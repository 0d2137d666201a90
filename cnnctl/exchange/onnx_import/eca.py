"""ECA's convolution across the channels (Wang et al. 2020), as three writers lay it out: cnnctl's
ChannelConv, the paper's code and timm's EcaModule; each a pattern, read as a `channelconv`.
"""

from __future__ import annotations

import math

from .attributes import _attrs, _int, _ints
from .layer import Layer, _node_id
from .operators import OPERATORS
from .patterns import Pattern


class ECA:
    """The patterns of a convolution across the channels, and the reader of their last node."""

    def channelconv_at(self, c: int) -> Pattern | None:
        """A convolution across the channels (ECA), as cnnctl's ChannelConv writes it: Reshape of
        x (N x C x H x W, or N x C) to N x 1 x C x H*W, a Conv of one stored f x 1 filter, no bias,
        padding (f-1)/2 along the channels, and Reshape back to x's own shape."""
        node = self.nodes[c]
        a = _attrs(node)
        weight = self.inits.get(node.input[1]) if len(node.input) == 2 else None
        if weight is None or [int(d) for d in weight.dims][:2] != [1, 1] or len(weight.dims) != 4:
            return None
        f, width = (int(d) for d in weight.dims[2:])
        plain = _int(a, "group", 1) == 1 and a.get("strides", [1, 1]) == [1, 1] and a.get("dilations", [1, 1]) == [1, 1]
        if width != 1 or f % 2 == 0 or not plain or a.get("pads", [0, 0, 0, 0]) != [(f - 1) // 2, 0, (f - 1) // 2, 0]:
            return None
        laid, back = self.maker.get(node.input[0]), self.only_reader(node.output[0])
        if laid is None or back is None or self.only_reader(node.input[0]) != c:
            return None
        if self.nodes[laid].op_type != "Reshape" or self.nodes[back].op_type != "Reshape":
            return None
        x = self.nodes[laid].input[0]
        dims, target = self.shape(x), self.const(self.nodes[laid], 1)
        if dims is None or None in dims[1:] or len(dims) not in (2, 4) or target is None:
            return None
        c_in, positions = dims[1], math.prod(dims[2:])
        out = self.shape(self.nodes[back].output[0])
        if [int(v) for v in target.reshape(-1)][1:] != [1, c_in, positions] or out is None or out[1:] != dims[1:]:
            return None
        return Pattern("channelconv", x, [laid, c], back, (node.input[1], f))

    def conv1d_filter(self, c: int) -> int | None:
        """Where Conv node `c` is a Conv1d of one stored filter (1 x 1 x f), f odd, no bias, padding
        (f-1)/2, stride and dilation 1 (ECA's): f."""
        node = self.nodes[c]
        a = _attrs(node)
        weight = self.inits.get(node.input[1]) if len(node.input) == 2 else None
        if weight is None or [int(d) for d in weight.dims][:2] != [1, 1] or len(weight.dims) != 3:
            return None
        f = int(weight.dims[2])
        plain = _int(a, "group", 1) == 1 and a.get("strides", [1]) == [1] and a.get("dilations", [1]) == [1]
        if f % 2 == 0 or not plain or a.get("pads", [0, 0]) != [(f - 1) // 2] * 2:
            return None
        return f

    def channelconv1d_at(self, c: int) -> Pattern | None:
        """ECA's convolution as the paper's code writes it, on a pooled N x C x 1 x 1: Squeeze of
        the last axis, Transpose to N x 1 x C, a Conv1d of one stored filter of f, no bias, padding
        (f-1)/2, Transpose back and Unsqueeze of the last axis."""
        node, f = self.nodes[c], self.conv1d_filter(c)
        if f is None:
            return None
        turned, back = self.maker.get(node.input[0]), self.only_reader(node.output[0])
        squeezed = self.maker.get(self.nodes[turned].input[0]) if turned is not None else None
        unsqueezed = self.only_reader(self.nodes[back].output[0]) if back is not None else None
        chain = [squeezed, turned, c, back, unsqueezed]
        if None in chain or [self.nodes[i].op_type for i in chain] != ["Squeeze", "Transpose", "Conv", "Transpose",
                                                                        "Unsqueeze"]:  # fmt: skip
            return None
        if any(self.only_reader(self.nodes[i].output[0]) != j for i, j in zip(chain[:-1], chain[1:], strict=True)):
            return None
        x = self.nodes[squeezed].input[0]
        dims = self.shape(x)
        turns = [_ints(_attrs(self.nodes[i]), "perm", []) for i in (turned, back)]
        ends = [self.axes(self.nodes[i]) for i in (squeezed, unsqueezed)]
        if dims is None or len(dims) != 4 or dims[2:] != (1, 1) or turns != [[0, 2, 1]] * 2 or ends != [[3], [3]]:
            return None
        return Pattern("channelconv", x, chain[:2] + [c, back], unsqueezed, (node.input[1], f))

    def channelconv_timm_at(self, c: int) -> Pattern | None:
        """ECA's convolution as timm's EcaModule writes it: a ReduceMean of x over height and width
        without keepdims (N x C), Reshape to N x 1 x C, a Conv1d of one stored filter (conv1d_filter),
        its gate (one activation, or none) and a Reshape to N x C x 1 x 1. The mean is read as the
        pool alone and the Reshape back as nothing, so the channel conv reads and makes cnnctl's
        1x1xC; the gate between is read as it is, on the same values."""
        node, f = self.nodes[c], self.conv1d_filter(c)
        laid = self.maker.get(node.input[0])
        if f is None or laid is None or self.nodes[laid].op_type != "Reshape" or self.only_reader(node.input[0]) != c:
            return None
        pooled = self.nodes[laid].input[0]
        mean = self.maker.get(pooled)
        if mean is None or self.nodes[mean].op_type != "ReduceMean" or self.only_reader(pooled) != laid:
            return None
        if self.axes(self.nodes[mean]) != [2, 3] or _int(_attrs(self.nodes[mean]), "keepdims", 1):
            return None
        gate = self.only_reader(node.output[0])
        operator = OPERATORS.get(self.nodes[gate].op_type) if gate is not None else None
        gated = operator is not None and operator.activation and self.nodes[gate].op_type != "Softmax"
        back = self.only_reader(self.nodes[gate].output[0]) if gated else gate
        if back is None or self.nodes[back].op_type != "Reshape":
            return None
        dims = self.shape(pooled)  # N x C, laid out as N x 1 x C and back as N x C x 1 x 1
        if dims is None or len(dims) != 2 or dims[1] is None:
            return None
        n, channels = dims
        laid_out, gated_back = self.shape(node.input[0]), self.shape(self.nodes[back].output[0])
        if laid_out != (n, 1, channels) or gated_back != (n, channels, 1, 1):
            return None
        return Pattern("channelconv", pooled, [laid], c, (node.input[1], f), pooled=pooled, back=back)

    def channelconv(self, node, a: dict, ins: list) -> Layer:
        """The last node of a convolution across the channels (channelconv_at): its stored filter."""
        found = self.patterns[self.index]
        weight, f = found.held
        name = self.weight_name(weight, _node_id(node, "channelconv"))
        stored = (("weight", weight, ""),)
        return self.layer("channelconv", [str(f)], [self.real(found.x)], name, found.nodes, stored)
