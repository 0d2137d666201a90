"""Normalisations: BatchNormalization, LayerNormalization (on channels-last data, between
transposes), LRN, and GRN (ConvNeXt V2) and group norm written out as patterns.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from .attributes import attr_float, attr_int, attributes_of
from .conv_and_pool import written_out_layernorm
from .layer import Layer, node_id, stored_params
from .patterns import Pattern
from .told import Unread

if TYPE_CHECKING:
    from onnx import NodeProto

# A BatchNormalization's inputs after X, as torch's BatchNorm names them (its
# num_batches_tracked has no ONNX counterpart: it counts training steps, unused at inference).
BN_TENSORS = ("weight", "bias", "running_mean", "running_var")


class Normalisation:
    """The readers of normalisation layers, and GRN's pattern."""

    def bn(self, node: NodeProto, a: dict, ins: list) -> Layer:
        eps = attr_float(a, "epsilon", 1e-5)
        words = [] if math.isclose(eps, 1e-5, rel_tol=1e-6) else [f"eps={eps:g}"]
        momentum = _momentum(attr_float(a, "momentum", 0.9))
        if momentum != 0.1:
            words.append(f"momentum={momentum:g}")
        if attr_int(a, "training_mode", 0):  # normalised by each batch's own statistics in the file: said (writing)
            self.training_bns.append(self.index)
        name = self.weight_name(node.input[1], node_id(node, "bn"))
        return self.layer("bn", words, ins[:1], name, stored=stored_params(node, BN_TENSORS))

    def layernorm(self, node: NodeProto, a: dict, ins: list) -> Layer:
        if attr_int(a, "axis", -1) != -1:
            raise Unread("a layer norm over more than the last axis")
        eps = attr_float(a, "epsilon", 1e-5)
        words = [] if math.isclose(eps, 1e-5, rel_tol=1e-6) else [f"eps={eps:g}"]
        x, nodes = ins[0], []
        if x in self.nhwc:  # over the channels of each position of a volume
            self.normed.add(node.output[0])
            x, transposed = self.nhwc[x]
            nodes = [transposed]
        elif node.input[0] in self.normed:  # on channels-last data already: over its channels too
            self.normed.add(node.output[0])
        else:
            self.over_the_features(node)
        name = self.weight_name(node.input[1], node_id(node, "layernorm"))
        return self.layer("layernorm", words, [x], name, nodes, stored_params(node, ("weight", "bias")))

    def over_the_features(self, node: NodeProto) -> None:
        """A LayerNormalization over the last axis of data that is not channels-last is cnnctl's
        layernorm only where that axis is an fc's features (N x C); over the last of N x C x H x W
        it runs over the width (nn.LayerNorm(W) on NCHW data), not the channels: told."""
        dims = self.shape(node.input[0])
        if dims is not None and len(dims) == 2:
            return
        if dims is None:
            raise Unread(
                "a layer norm over the last axis of a tensor whose rank is not known here",
                "cnnctl's layernorm runs over the channels: export at a fixed size, or give --input",
            )
        shown = "x".join("?" if d is None else str(d) for d in dims)
        over = f"the width ({dims[-1]})" if len(dims) == 4 else f"its last axis ({dims[-1]})"
        raise Unread(
            f"a layer norm over the last axis of a {shown} tensor: over {over}, not the channels ({dims[1]})",
            "cnnctl's layernorm runs over the channels: of channels-last data (x.permute(0, 2, 3, 1), then "
            "nn.LayerNorm(C), then back), or of an fc's features",
        )

    def lrn(self, node: NodeProto, a: dict, ins: list) -> Layer:
        size, alpha = attr_int(a, "size", None), attr_float(a, "alpha", 1e-4)
        beta, k = attr_float(a, "beta", 0.75), attr_float(a, "bias", 1.0)
        words = [str(size), f"alpha={alpha:g}", f"beta={beta:g}", f"k={k:g}"]
        return self.layer("lrn", words, ins[:1], node_id(node, "lrn"))

    def groupnorm_at(self, i: int) -> Pattern | None:
        """Group norm as torch.onnx.export writes nn.GroupNorm (and cnnctl's `groupnorm`): a
        Reshape of x to N x G x -1, an InstanceNormalization of it with a scale of ones and a bias
        of zeros per group, a Reshape back to x's shape, a Mul by a stored factor per channel and
        an Add of a stored value per channel (C x 1 x 1, or C)."""
        import numpy as np

        node = self.nodes[i]
        grouped = self.maker.get(node.input[0])
        if grouped is None or self.nodes[grouped].op_type != "Reshape" or self.only_reader(node.input[0]) != i:
            return None
        x, target = self.nodes[grouped].input[0], self.const(self.nodes[grouped], 1)
        scale, shift = self.const(node, 1), self.const(node, 2)
        if target is None or target.shape != (3,) or int(target[2]) != -1 or scale is None or shift is None:
            return None
        groups = int(target[1])
        if scale.shape != (groups,) or shift.shape != (groups,) or not (np.all(scale == 1) and np.all(shift == 0)):
            return None
        back = self.only_reader(node.output[0])
        if back is None or self.nodes[back].op_type != "Reshape" or self.shape(self.nodes[back].output[0]) is None:
            return None
        if self.shape(self.nodes[back].output[0]) != self.shape(x) or self.shape(x) is None:
            return None
        gamma = self.after(back, "Mul")
        beta = self.after(gamma[0], "Add") if gamma is not None else None
        factors = [self.stored(t) for t in (gamma[1], beta[1])] if beta is not None else [None]
        if None in factors or not all(self.per_channel([int(d) for d in self.inits[t].dims], x) for t in factors):
            return None
        eps = attr_float(attributes_of(node), "epsilon", 1e-5)
        return Pattern("groupnorm", x, [grouped, i, back, gamma[0]], beta[0], (groups, eps, *factors))

    def groupnorm(self, node: NodeProto, a: dict, ins: list) -> Layer:
        """The last node of a group norm (groupnorm_at): its groups, eps, factor and shift per channel."""
        found = self.patterns[self.index]
        groups, eps, gamma, beta = found.held
        words = [str(groups)] + ([] if math.isclose(eps, 1e-5, rel_tol=1e-6) else [f"eps={eps:g}"])
        name = self.weight_name(gamma, node_id(node, "groupnorm"))
        stored = (("weight", gamma, ""), ("bias", beta, ""))
        return self.layer("groupnorm", words, [self.real(found.x)], name, found.nodes, stored)

    def layernorm_written_at(self, r: int) -> Pattern | None:
        """A LayerNorm as opsets below 17 write it (they have no LayerNormalization), from its first
        ReduceMean `r`: ReduceMean of x over its last axis, Sub of it from x, Pow of that by 2,
        ReduceMean over the last axis, Add of eps, Sqrt, Div of the difference by it; then the Mul
        by a stored factor and the Add of a stored shift where they follow. Not read: found whole
        so that it is told once, at its first node (its steps would each be told otherwise, every
        one following from the first), and its output stands in for the layer norm it is, in x's
        layout (layernorm_written), so that what reads it is read and its own problems told."""
        node = self.nodes[r]
        if not self.written_out_layernorm(node, self.axes_written(node)):
            return None
        x, mean = node.input[0], node.output[0]
        sub = next(j for j in self.consumers[mean] if list(self.nodes[j].input) == [x, mean])
        diff = self.nodes[sub].output[0]
        squared = next((j for j in self.consumers.get(diff, []) if self.nodes[j].op_type == "Pow"), None)
        if squared is None or list(self.nodes[squared].input[:1]) != [diff]:
            return None
        if not self.is_value(self.nodes[squared].input[1], 2.0):
            return None
        variance = self.only_reader(self.nodes[squared].output[0])
        if variance is None or not self.written_out_layernorm_variance(variance):
            return None
        plus = self.after(variance, "Add")
        root = self.only_reader(self.nodes[plus[0]].output[0]) if plus and plus[1] in self.constants else None
        if root is None or self.nodes[root].op_type != "Sqrt":
            return None
        div = self.only_reader(self.nodes[root].output[0])
        if div is None or list(self.nodes[div].input) != [diff, self.nodes[root].output[0]]:
            return None
        if sorted(self.consumers[diff]) != sorted([squared, div]) or self.consumers[mean] != [sub]:
            return None
        nodes, last = [r, sub, squared, variance, plus[0], root], div
        for op in ("Mul", "Add"):  # its factor and shift, stored
            step = self.after(last, op)
            if step is None or step[1] not in self.constants:
                break
            nodes, last = [*nodes, last], step[0]
        return Pattern("layernorm_written", x, nodes, last)

    def written_out_layernorm_variance(self, i: int) -> bool:
        """Whether node `i` is a ReduceMean over the last axis alone (a written-out LayerNorm's variance)."""
        return self.nodes[i].op_type == "ReduceMean" and self.axes_written(self.nodes[i]) == [-1]

    def layernorm_written(self, node: NodeProto, a: dict, ins: list) -> None:
        """The last node of a LayerNorm written out (layernorm_written_at): told once, at its first
        node; its output stands in as a layer of no kind, channels-last where x is (a view of an
        NCHW volume, or data already so), as a LayerNormalization's would be."""
        found = self.patterns[self.index]
        first = found.nodes[0]
        told = written_out_layernorm(self.axes_written(self.nodes[first]))
        self.tell(first, told.message, told.hint)
        self.stand_in(node)
        if found.x in self.nhwc or found.x in self.normed:
            self.normed.add(node.output[0])
        return None

    def grn_at(self, r: int) -> Pattern | None:
        """GRN (ConvNeXt V2) as torch.onnx.export writes cnnctl's and the paper's: ReduceL2 of x
        over height and width (kept), ReduceMean of those norms over the channels (kept), Add of
        eps, the norms Div by it, Mul by x, Mul by a stored factor per channel (gamma), Add of a
        stored value per channel (beta), Add of x; each product and sum in either order (timm's
        addcmul adds a Mul by 1 before beta). On NCHW data (axes 2, 3 and 1), or on channels-last
        data (axes 1, 2 and 3: the official ConvNeXt V2 code's and timm's channels-last one, inside
        the block's run on NHWC data; told at the pattern's last node where x is not channels-last)."""
        node = self.nodes[r]
        x, norms = node.input[0], node.output[0]
        over = self.axes(node)
        if over not in ([2, 3], [1, 2]) or not attr_int(attributes_of(node), "keepdims", 1) or x in self.constants:
            return None
        channels_last = over == [1, 2]
        readers = self.consumers.get(norms, [])
        ops = {self.nodes[i].op_type: i for i in readers}
        if len(readers) != 2 or {*ops} != {"ReduceMean", "Div"} or norms in {o.name for o in self.graph.output}:
            return None
        mean, div = ops["ReduceMean"], ops["Div"]
        over_channels = [3] if channels_last else [1]
        if self.axes(self.nodes[mean]) != over_channels or not attr_int(attributes_of(self.nodes[mean]), "keepdims", 1):
            return None
        plus = self.only_reader(self.nodes[mean].output[0])
        eps = self.other(plus, "Add", self.nodes[mean].output[0]) if plus is not None else None
        if eps is None or list(self.nodes[div].input) != [norms, self.nodes[plus].output[0]]:
            return None
        scaled = self.after(div, "Mul", x)
        gamma = self.after(scaled[0], "Mul") if scaled is not None else None
        one = self.after(gamma[0], "Mul") if gamma is not None else None  # timm's addcmul: its value, 1
        ones = [one[0]] if one is not None and self.is_value(one[1], 1.0) else []
        beta = self.after(ones[0] if ones else gamma[0], "Add") if gamma is not None else None
        last = self.after(beta[0], "Add", x) if beta is not None else None
        factors = [self.stored(t) for t in (gamma[1], beta[1])] if last is not None else [None]
        shaped = (self.per_channel([int(d) for d in self.inits[t].dims], x, channels_last) for t in factors)
        if None in factors or not all(shaped):
            return None
        held = (*factors, float(self.decoded[eps].reshape(-1)[0]), channels_last)  # a wrong eps: told when built
        return Pattern("grn", x, [r, mean, plus, div, scaled[0], gamma[0], *ones, beta[0]], last[0], held)

    def grn(self, node: NodeProto, a: dict, ins: list) -> Layer:
        """The last node of a GRN (grn_at): its factor and shift per channel stored, its eps."""
        found = self.patterns[self.index]
        gamma, beta, eps, channels_last = found.held
        if channels_last:  # over axes 1 and 2: height and width only where the data is channels-last
            if found.x not in self.normed:
                raise Unread(
                    "a GRN over axes 1 and 2 (ReduceL2), the channels last (ReduceMean over axis 3), of data that is "
                    "not channels-last",
                    "cnnctl reads it on channels-last data (after a Transpose to NHWC, as in ConvNeXt V2's block), "
                    "and over axes 2 and 3 on NCHW data",
                )
            self.normed.add(node.output[0])  # read over the channels: the output stays channels-last
        words = [] if math.isclose(eps, 1e-6, rel_tol=1e-6) else [f"eps={eps:g}"]
        stored = (("weight", gamma, ""), ("bias", beta, ""))
        return self.layer("grn", words, [self.real(found.x)], node_id(node, "grn"), found.nodes, stored)


def _momentum(kept: float) -> float:
    """Torch's momentum (the batch's share of the running statistics) from ONNX's (theirs kept):
    1 - it, as the shortest decimal whose 1 - d is the float32 stored (0.9 is 0.899999976: 0.1)."""
    import numpy as np

    stored = np.float32(kept)
    for digits in range(1, 10):
        given = round(1.0 - float(stored), digits)
        if np.float32(1.0 - given) == stored:
            return given
    return 1.0 - float(stored)
