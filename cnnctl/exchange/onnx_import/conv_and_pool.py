"""Convolutions and pools: Conv and ConvTranspose, a MatMul by stored weights on channels-last
data (a 1x1 conv), Gemm (an fc), MaxPool, AveragePool, the global pools and ReduceMean or
ReduceMax over height and width (a global pool) or over the channels.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...errors import shown
from .attributes import attr_float, attr_int, attr_ints, pair_text
from .layer import Layer, node_id, stored_params
from .told import Unread

if TYPE_CHECKING:
    from collections.abc import Iterable

    from onnx import NodeProto


def written_out_layernorm(axes: Iterable[int]) -> Unread:
    """What is told at the first ReduceMean of a LayerNorm written out, as opsets below 17 write it."""
    return Unread(
        f"a reduction over axes {shown(list(axes), 30)}, the mean of a LayerNorm written out (ReduceMean, Sub, Pow, "
        "ReduceMean, Add, Sqrt, Div), as opsets below 17 write it",
        "re-export at opset 17 or later (torch.onnx.export(..., opset_version=17)), where LayerNormalization "
        "is one operator cnnctl reads",
    )


class ConvAndPool:
    """The readers of convolutions, fully connected layers and pools."""

    def conv(self, node: NodeProto, a: dict, ins: list) -> Layer:
        weight = self.inits.get(node.input[1])
        if weight is None:
            raise Unread("its weights are not stored in the file", "export with the weights as initializers")
        if len(weight.dims) != 4:
            axes = len(weight.dims) - 2
            over = f"a {node.op_type} over {axes} dimension{'s' if axes != 1 else ''}" if axes > 0 else "its weights"
            hint = {
                1: "a 1-D conv (nn.Conv1d on N x C x L): cnnctl reads it written as a 2-D one of height 1 "
                "(nn.Conv2d with kernel (1, f) on x.unsqueeze(2))",
                3: "a 3-D conv (nn.Conv3d, on volumes over time or depth): cnnctl's layers are 2-D",
            }.get(axes)
            raise Unread(f"{over}: cnnctl's conv is 2-D (weights of 4 dims: out, in, height, width)", hint)
        groups = attr_int(a, "group", 1)
        transposed = node.op_type == "ConvTranspose"
        if transposed and a.get("output_shape") is not None:
            raise Unread(
                f"output_shape {shown(list(a['output_shape']), 30)} given instead of the padding",
                "cnnctl's deconv is (n - 1)·s - 2p + f + op per side: export with pads and output_padding",
            )
        n_out = int(weight.dims[1]) * groups if transposed else int(weight.dims[0])
        dilations = attr_ints(a, "dilations", [1, 1], 2)
        words = [f"f={pair_text(weight.dims[2:])}", *self.window(node, a, list(weight.dims[2:])), f"n={n_out}"]
        if dilations != [1, 1]:
            words.insert(-1, f"dilation={pair_text(dilations)}")
        if groups != 1:
            words.append(f"groups={groups}")
        output_padding = attr_ints(a, "output_padding", [0, 0], 2) if transposed else [0, 0]
        if any(output_padding):  # nn.ConvTranspose2d's output_padding: deconv's `op` (its builder checks it)
            words.append(f"op={pair_text(output_padding)}")
        if len(node.input) < 3 or not node.input[2]:
            words.append("bias=false")
        kind = "deconv" if transposed else "conv"
        name = self.weight_name(node.input[1], node_id(node, kind))
        return self.layer(kind, words, ins[:1], name, self.pad_nodes(node), stored_params(node, ("weight", "bias")))

    def matmul(self, node: NodeProto, a: dict, ins: list) -> Layer:
        """x @ W over the channels of channels-last data (torch's nn.Linear on an NHWC volume,
        ConvNeXt's MLP): a 1x1 conv of W's C_out (W stored C_in x C_out, cnnctl's weight C_out x
        C_in x 1 x 1: read transposed). The Add of a stored bias of C_out values that alone reads
        the product joins it; the output stays channels-last until a Transpose back."""
        weight = self.inits.get(node.input[1])
        dims = self.shape(node.input[0])
        excited = self.index in self.excited  # of a squeeze-and-excitation's N x C: a 1x1 conv of cnnctl's 1x1xC
        flat = node.input[0] not in self.normed and dims is not None and len(dims) == 2 and not excited  # an fc
        if (node.input[0] not in self.normed and not flat and not excited) or weight is None or len(weight.dims) != 2:
            raise Unread(
                "a MatMul other than by stored weights (C_in x C_out) over the channels of channels-last data "
                "or of an N x C vector",
                "cnnctl reads torch's Linear on NHWC data (after a Transpose to NHWC and a layer norm) as a 1x1 "
                "conv, and on a flattened N x C as an fc",
            )
        c_in, c_out = (int(d) for d in weight.dims)
        if dims is not None and dims[-1] not in (None, c_in):
            raise Unread(f"multiplies {dims[-1]} channels by weights of {c_in} x {c_out}")
        out, stored = node.output[0], [("weight", node.input[1], "transposed")]
        add = self.only_reader(out)
        bias = next((t for t in self.nodes[add].input if t != out), None) if add is not None else None
        biased = add is not None and self.nodes[add].op_type == "Add"  # none where the product is the graph's output
        biased = biased and bias in self.inits and list(self.inits[bias].dims) == [c_out]
        if biased:
            self.biases[add] = out
            stored.append(("bias", bias, ""))
        name = self.weight_name(bias if biased else node.input[1], node_id(node, "fc" if flat else "conv"))
        if flat:  # x @ W (+ b) of an N x C vector: torch's Linear, its W^T stored (an fc without bias, cnnctl's export)
            return self.layer("fc", [str(c_out), *([] if biased else ["bias=false"])], ins[:1], name,
                              stored=tuple(stored))  # fmt: skip
        if not excited:
            self.normed.add(out)
        return self.layer("conv", ["f=1", f"n={c_out}", *([] if biased else ["bias=false"])], ins[:1], name,
                          stored=tuple(stored))  # fmt: skip

    def written_out_layernorm(self, node: NodeProto, axes: Iterable[int] | None) -> bool:
        """Whether ReduceMean `node`, over the last axis alone, is a written-out LayerNorm's mean:
        read by a Sub of it from the very tensor it reduces (x - mean(x))."""
        if node.op_type != "ReduceMean" or not _over_the_last(axes):
            return False
        x, mean = node.input[0], node.output[0]
        return any(
            self.nodes[j].op_type == "Sub" and list(self.nodes[j].input) == [x, mean]
            for j in self.consumers.get(mean, [])
        )

    def gemm(self, node: NodeProto, a: dict, ins: list) -> Layer:
        weight = self.inits.get(node.input[1])
        biased = len(node.input) > 2 and node.input[2]
        plain = attr_float(a, "alpha", 1.0) == 1.0 and not attr_int(a, "transA", 0)
        if weight is None or not plain or (biased and attr_float(a, "beta", 1.0) != 1.0):
            given = [f"{k}={attr_float(a, k, 1.0):g}" for k in ("alpha", "beta") if attr_float(a, k, 1.0) != 1.0]
            given += ["transA=1"] if attr_int(a, "transA", 0) else []
            given += [] if weight is not None else [f"weights {shown(node.input[1])} not stored"]
            raise Unread(
                f"a Gemm with {', '.join(given)}: only x @ W^T + b with stored weights is read",
                "an fc is x @ W^T + b: export the module with alpha and beta of 1 (scale the weights instead)",
            )
        if len(weight.dims) != 2:
            raise Unread(f"its weights have {len(weight.dims)} dims: a Gemm's have 2")
        units = int(weight.dims[0] if attr_int(a, "transB", 0) else weight.dims[1])
        words = [str(units)] + ([] if biased else ["bias=false"])
        stored = stored_params(node, ("weight", "bias"), transposed=() if attr_int(a, "transB", 0) else ("weight",))
        kind = "fc"
        if self.index in self.excited:  # of a squeeze-and-excitation's N x C: a 1x1 conv of cnnctl's 1x1xC
            kind, words = "conv", ["f=1", f"n={units}", *words[1:]]
        return self.layer(kind, words, ins[:1], self.weight_name(node.input[1], node_id(node, kind)), stored=stored)

    def pool(self, node: NodeProto, a: dict, ins: list) -> Layer:
        kernel = attr_ints(a, "kernel_shape", None, 2)
        if attr_ints(a, "dilations", [1, 1], 2) != [1, 1]:
            raise Unread("dilated pooling is not read")
        average = node.op_type == "AveragePool"
        counted = attr_int(a, "count_include_pad", 0) or node.input[0] in self.padded  # a Pad's zeros are values
        # the padding left out and split unevenly: each window over the values it covers, as the file's start
        uneven = self.uncounted_window(node, a, kernel) if average and not counted else None
        words = ["avg" if average else "max", f"f={pair_text(kernel)}"]
        if uneven is not None:
            words.extend(uneven)
        else:
            words.extend(self.window(node, a, kernel, stride=kernel))
            if attr_int(a, "ceil_mode", 0):
                words.append("ceil")
        if average and any(w.startswith("p=") for w in words) and not counted:
            words.append("count_pad=false")  # PyTorch's count_include_pad=False (ONNX's default): the padding left out
        return self.layer("pool", words, ins[:1], node_id(node, "pool"), self.pad_nodes(node))

    def global_pool(self, node: NodeProto, a: dict, ins: list) -> Layer:
        op = "avg" if node.op_type == "GlobalAveragePool" else "max"
        return self.layer("pool", [op, "global"], ins[:1], node_id(node, "pool"))

    def reduce(self, node: NodeProto, a: dict, ins: list) -> Layer:
        """A mean or max over height and width: a global pool (`x.mean([2, 3])`, and how the
        dynamo exporter writes adaptive_avg_pool2d(x, 1)); without keepdims, then flattened.
        Over the channels with keepdims: a pool across them (`x.mean(1, keepdim=True)`)."""
        axes = self.axes_written(node)  # opset 18: an input
        over = self.axes(node)
        op = "avg" if node.op_type == "ReduceMean" else "max"
        if over == [1] and attr_int(a, "keepdims", 1):  # across the channels, kept as one: a spatial map (CBAM)
            return self.layer("pool", [op, "channels"], ins[:1], node_id(node, "pool"))
        if over != [2, 3] and self.written_out_layernorm(node, axes):
            raise written_out_layernorm(axes)
        if over != [2, 3]:
            raise Unread(
                f"a reduction over axes {shown(axes, 30)}",
                "cnnctl reads one over height and width (2, 3), or over the channels (1) keeping them",
            )
        pool = self.layer("pool", [op, "global"], ins[:1], node_id(node, "pool"))
        if attr_int(a, "keepdims", 1) or node.output[0] in self.unflattened:  # (timm's ECA: its N x C read as 1x1xC)
            return pool
        pooled = f"{node.output[0]}#pooled"  # N x C x 1 x 1, then N x C: a flatten of its own
        pool.nodes.append(self.index)
        self.made[pooled] = pool
        self.order.append((pooled, pool))
        return self.layer("flatten", [], [pooled], node_id(node, "flatten"))


def _over_the_last(axes: Iterable[int] | None) -> bool:
    """Whether a Reduce node's `axes` (as written: -1, not 3) are its input's last alone."""
    return axes is not None and [int(v) for v in list(axes)] == [-1]
