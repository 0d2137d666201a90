"""ECA's convolution across the channels (Wang et al. 2020), as three writers lay it out: cnnctl's
ChannelConv, the paper's code and timm's EcaModule; each a pattern, read as a `channelconv`
(`channelconv f bias` where its Conv1d has a bias).

One variant is found only to be told at its first Conv1d, as the notation cannot hold it
exactly: timm's `use_mlp` (each channel to rd values and back, by weights shared across the
channels).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from .attributes import attr_int, attr_ints, attributes_of
from .layer import Layer, node_id
from .operators import OPERATORS
from .patterns import Pattern
from .told import Unread, comment_text

if TYPE_CHECKING:
    from onnx import NodeProto


class ECA:
    """The patterns of a convolution across the channels, and the readers of their last node."""

    def one_bias(self, node: NodeProto) -> str | None:
        """The bias of Conv `node` of one filter: "" where it has none, its name where it is one
        stored value, else None (computed, or not one value: not ECA's)."""
        if len(node.input) < 3 or not node.input[2]:
            return ""
        bias = self.inits.get(node.input[2])
        return node.input[2] if bias is not None and [int(d) for d in bias.dims] == [1] else None

    def channelconv_at(self, c: int) -> Pattern | None:
        """A convolution across the channels (ECA), as cnnctl's ChannelConv writes it: Reshape of
        x (N x C x H x W, or N x C) to N x 1 x C x H*W, a Conv of one stored f x 1 filter (and at
        most one stored bias), padding (f-1)/2 along the channels, and Reshape back to x's own
        shape."""
        node = self.nodes[c]
        a = attributes_of(node)
        weight = self.inits.get(node.input[1]) if len(node.input) in (2, 3) else None
        bias = self.one_bias(node)
        if weight is None or bias is None or [int(d) for d in weight.dims][:2] != [1, 1] or len(weight.dims) != 4:
            return None
        f, width = (int(d) for d in weight.dims[2:])
        plain = (
            attr_int(a, "group", 1) == 1 and a.get("strides", [1, 1]) == [1, 1] and a.get("dilations", [1, 1]) == [1, 1]
        )
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
        return Pattern("channelconv", x, [laid, c], back, (node.input[1], f, bias))

    def conv1d_filter(self, c: int) -> tuple[int, str] | None:
        """Where Conv node `c` is a Conv1d of one stored filter (1 x 1 x f), f odd, padding (f-1)/2,
        stride and dilation 1 (ECA's), and at most one stored bias: f, and its bias ("" where it
        has none, as ECA's paper and timm's have none)."""
        node = self.nodes[c]
        a = attributes_of(node)
        weight = self.inits.get(node.input[1]) if len(node.input) in (2, 3) else None
        bias = self.one_bias(node)
        if weight is None or bias is None or [int(d) for d in weight.dims][:2] != [1, 1] or len(weight.dims) != 3:
            return None
        f = int(weight.dims[2])
        plain = attr_int(a, "group", 1) == 1 and a.get("strides", [1]) == [1] and a.get("dilations", [1]) == [1]
        if f % 2 == 0 or not plain or a.get("pads", [0, 0]) != [(f - 1) // 2] * 2:
            return None
        return f, bias

    def channelconv1d_at(self, c: int) -> Pattern | None:
        """ECA's convolution as the paper's code writes it, on a pooled N x C x 1 x 1: Squeeze of
        the last axis, Transpose to N x 1 x C, a Conv1d of one stored filter of f (with or without
        a bias), padding (f-1)/2, Transpose back and Unsqueeze of the last axis."""
        node, found = self.nodes[c], self.conv1d_filter(c)
        if found is None:
            return None
        turned = self.maker.get(node.input[0])
        squeezed = self.maker.get(self.nodes[turned].input[0]) if turned is not None else None
        laid = [squeezed, turned, c]
        if None in laid or [self.nodes[i].op_type for i in laid] != ["Squeeze", "Transpose", "Conv"]:
            return None
        if any(self.only_reader(self.nodes[i].output[0]) != j for i, j in zip(laid[:-1], laid[1:], strict=True)):
            return None
        x = self.nodes[squeezed].input[0]
        dims = self.shape(x)
        turn, end = attr_ints(attributes_of(self.nodes[turned]), "perm", []), self.axes(self.nodes[squeezed])
        if dims is None or len(dims) != 4 or dims[2:] != (1, 1) or turn != [0, 2, 1] or end != [3]:
            return None
        f, bias = found
        back = self.only_reader(node.output[0])
        unsqueezed = self.only_reader(self.nodes[back].output[0]) if back is not None else None
        if None in (back, unsqueezed) or [self.nodes[i].op_type for i in (back, unsqueezed)] != ["Transpose",
                                                                                              "Unsqueeze"]:  # fmt: skip
            return None
        if attr_ints(attributes_of(self.nodes[back]), "perm", []) != [0, 2, 1] or self.axes(self.nodes[unsqueezed]) != [
            3
        ]:
            return None
        return Pattern("channelconv", x, laid[:2] + [c, back], unsqueezed, (node.input[1], f, bias))

    def timm_laid(self, c: int) -> tuple[int, str] | None:
        """Where Conv node `c` reads the pooled channels as timm's EcaModule lays them out, a
        ReduceMean of x over height and width without keepdims (N x C) and a Reshape to N x 1 x C,
        each read by the next alone: (the Reshape, the mean)."""
        node = self.nodes[c]
        laid = self.maker.get(node.input[0])
        if laid is None or self.nodes[laid].op_type != "Reshape" or self.only_reader(node.input[0]) != c:
            return None
        pooled = self.nodes[laid].input[0]
        mean = self.maker.get(pooled)
        if mean is None or self.nodes[mean].op_type != "ReduceMean" or self.only_reader(pooled) != laid:
            return None
        if self.axes(self.nodes[mean]) != [2, 3] or attr_int(attributes_of(self.nodes[mean]), "keepdims", 1):
            return None
        dims = self.shape(pooled)  # N x C, laid out as N x 1 x C
        if dims is None or len(dims) != 2 or dims[1] is None or self.shape(node.input[0]) != (dims[0], 1, dims[1]):
            return None
        return laid, pooled

    def channelconv_timm_at(self, c: int) -> Pattern | None:
        """ECA's convolution as timm's EcaModule writes it: on the mean laid out as N x 1 x C
        (timm_laid), a Conv1d of one stored filter (conv1d_filter), its gate (one activation, or
        none) and a Reshape to N x C x 1 x 1. The mean is read as the pool alone and the Reshape back
        as nothing, so the channel conv reads and makes cnnctl's 1x1xC; the gate between is read as
        it is, on the same values."""
        found, laid = self.conv1d_filter(c), self.timm_laid(c)
        if found is None or laid is None:
            return None
        (f, bias), (laid, pooled), node = found, laid, self.nodes[c]
        gate = self.only_reader(node.output[0])
        operator = OPERATORS.get(self.nodes[gate].op_type) if gate is not None else None
        gated = operator is not None and operator.activation and self.nodes[gate].op_type != "Softmax"
        back = self.only_reader(self.nodes[gate].output[0]) if gated else gate
        if back is None or self.nodes[back].op_type != "Reshape":
            return None
        n, channels = self.shape(pooled)
        if self.shape(self.nodes[back].output[0]) != (n, channels, 1, 1):
            return None
        return Pattern("channelconv", pooled, [laid], c, (node.input[1], f, bias), pooled=pooled, back=back)

    def eca_mlp_at(self, c: int) -> Pattern | None:
        """timm's EcaModule with use_mlp, from its first Conv1d: on the mean laid out as N x 1 x C
        (timm_laid), a Conv1d of 1 to rd filters of 1, one activation, and a Conv1d of rd filters of
        f to 1, each read by the next alone. Found only to be told, at that first Conv1d (eca_mlp)."""
        node, laid = self.nodes[c], self.timm_laid(c)
        weight = self.inits.get(node.input[1])
        if laid is None or weight is None or len(weight.dims) != 3 or [int(d) for d in weight.dims[1:]] != [1, 1]:
            return None
        rd, act = int(weight.dims[0]), self.only_reader(node.output[0])
        operator = OPERATORS.get(self.nodes[act].op_type) if act is not None else None
        second = self.only_reader(self.nodes[act].output[0]) if operator is not None and operator.activation else None
        if second is None or self.nodes[second].op_type != "Conv":
            return None
        back = self.inits.get(self.nodes[second].input[1])
        if back is None or len(back.dims) != 3 or [int(d) for d in back.dims[:2]] != [1, rd]:
            return None
        return Pattern("eca_mlp", laid[1], [laid[0]], c, (rd, self.nodes[act].op_type, int(back.dims[2])))

    def channelconv(self, node: NodeProto, a: dict, ins: list) -> Layer:
        """The last node of a convolution across the channels (channelconv_at): its stored filter,
        and its bias where it has one (`bias`)."""
        found = self.patterns[self.index]
        weight, f, bias = found.held
        name = self.weight_name(weight, node_id(node, "channelconv"))
        stored = (("weight", weight, ""), *((("bias", bias, ""),) if bias else ()))
        words = [str(f), *(["bias"] if bias else [])]  # a flag, a bare word as `pool avg global`
        return self.layer("channelconv", words, [self.real(found.x)], name, found.nodes, stored)

    def eca_mlp(self, node: NodeProto, a: dict, ins: list) -> None:
        """The first Conv1d of timm's ECA with use_mlp (eca_mlp_at): told, as no layer kind does it."""
        rd, act, f = self.patterns[self.index].held
        raise Unread(
            f"timm's ECA with use_mlp (a Conv1d of 1 to {rd} filters of 1, {comment_text(act, 40)}, "
            f"a Conv1d of {rd} to 1 filter of {f}): no cnnctl layer kind maps each channel to {rd} values and back "
            "by weights shared by all the channels (`channelconv` is one filter, and at most one bias; an `fc` or "
            "a 1x1 `conv` holds weights for every channel, so the parameters and multiplications would not be the "
            "module's)",
            "timm's EcaModule with use_mlp=False (its default) imports as `channelconv`",
        )
