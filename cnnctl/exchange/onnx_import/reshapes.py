"""The operators that move values without computing them: Identity, Concat, Flatten and Reshape
(a flatten, a channel shuffle's grid, a radix softmax's parts), Transpose, Gather and Unsqueeze
of one channel, Slice and Split of the channels, and Resize as an upsample (nearest or bilinear).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from ...errors import shown
from ...limits import MAX_CHANNEL_VALUES
from .attributes import attr_int, attr_ints, attr_text, attributes_of
from .layer import Layer, node_id
from .stored_layouts import FLOATS
from .told import Unread
from .values import FOLDED, MAX_FOLDED, value_count

if TYPE_CHECKING:
    import numpy as np
    from onnx import NodeProto


class Reshapes:
    """The readers of reshapes, joins and picks."""

    def identity(self, node: NodeProto, a: dict, ins: list) -> None:
        self.alias[node.output[0]] = ins[0]

    def cast(self, node: NodeProto, a: dict, ins: list) -> None:
        """A Cast of the network's values to a floating-point type is nothing cnnctl holds (a model
        exported under torch.autocast casts its input to float16 before the first conv: the figures
        are float32's unless told --dtype, as the note on its weights says); of known values, a value."""
        if node.input[0] in self.data and attr_int(a, "to", 0) in FLOATS:
            return self.identity(node, a, ins)
        return self.fold(node, a, ins)

    def concat(self, node: NodeProto, a: dict, ins: list) -> Layer | None:
        if self.known(node):  # of sizes: a value
            return self.fold(node, a, ins)
        axis = attr_int(a, "axis", 1)
        if len(ins) == 1:  # torch.cat([x], 1): x itself (DenseNet's first layer of each block)
            self.alias[node.output[0]] = ins[0]
            return None
        if axis != 1:
            raise Unread(f"joins along axis {axis}", "cnnctl concatenates channels (axis 1)")
        return self.layer("concat", [], ins, node_id(node, "concat"))

    def flatten(self, node: NodeProto, a: dict, ins: list) -> Layer:
        axis = attr_int(a, "axis", 1)
        if axis != 1:
            raise Unread(f"flattens from axis {axis}", "cnnctl flattens everything but the batch")
        return self.layer("flatten", [], ins[:1], node_id(node, "flatten"))

    def flattens(self, node: NodeProto, a: dict, target: list[int]) -> bool:
        """Whether a reshape to `target` keeps the batch and flattens the rest: x.view(N, -1),
        x.reshape(N, C*H*W) (0 copies the batch where allowzero is not set)."""
        dims = self.shape(node.input[0])
        batch = {-1 if target[1] != -1 else None, None if attr_int(a, "allowzero", 0) else 0}
        if dims is None or len(dims) != 4 or None in dims[1:]:
            return target[1] == -1 and target[0] in {1, *batch}
        return target[0] in {dims[0], *batch} and target[1] in (-1, dims[1] * dims[2] * dims[3])

    def reshape(self, node: NodeProto, a: dict, ins: list) -> Layer | None:
        if self.known(node):  # of sizes: a value
            return self.fold(node, a, ins)
        shape = self.const(node, 1)
        x = ins[0]
        if x in self.radix_out and shape is not None and len(shape) in (2, 4):  # a radix softmax, back
            self.alias[node.output[0]] = x
            self.made[x].nodes.append(self.index)
            return None
        # a radix softmax's groups of parts: N, groups, radix, D/groups, H, W
        if shape is not None and shape.shape == (6,) and x not in self.radix:
            self.radix[node.output[0]] = (x, int(shape[1]), int(shape[2]), False, [self.index])
            return None
        # a shuffle's grid: N, groups, C/groups, H, W (or a radix softmax's parts: N, radix, D, H, W)
        if shape is not None and shape.shape == (5,) and x not in self.grid:
            self.grid[node.output[0]] = (x, int(shape[1]), False, [self.index])
            return None
        if x in self.grid and self.grid[x][2] and shape is not None and len(shape) in (2, 4):
            volume, groups, _, nodes = self.grid[x]
            return self.layer("shuffle", [str(groups)], [volume], node_id(node, "shuffle"), nodes)
        if shape is not None and shape.shape == (1,) and self.strided_back(node):  # the tensor itself
            self.alias[node.output[0]] = x
            return None
        if shape is not None and shape.shape == (2,) and self.flattens(node, a, [int(v) for v in shape]):
            return self.layer("flatten", [], ins[:1], node_id(node, "flatten"))
        before, after = self.shape(node.input[0]), self.shape(node.output[0])
        sizes = f": {_dims(before)} to {_dims(after)}" if before or after else ""
        raise Unread(
            f"a reshape other than a channel shuffle's or a flatten's (to N x -1){sizes}",
            "cnnctl reads a Reshape as a flatten (N x C x H x W to N x -1), or as a step of a channel shuffle, "
            "a radix softmax or a squeeze-and-excitation by fcs (a global pool viewed as N x C, Linear layers and "
            "activations, viewed back as N x C x 1 x 1, each read by the next alone)",
        )

    def strided_back(self, node: NodeProto) -> bool:
        """Whether this Reshape to -1 is read only by a Gather of every value in order, shaped as
        the tensor was (torch's `as_strided` of a tensor to its own size, as the dynamo exporter
        writes it after the mean of an adaptive average pool): the two give the tensor back."""
        import numpy as np

        dims, gather = self.shape(node.input[0]), self.only_reader(node.output[0])
        if dims is None or None in dims or gather is None:
            return False
        after = self.nodes[gather]
        if after.op_type != "Gather" or len(after.input) != 2 or attr_int(attributes_of(after), "axis", 0) != 0:
            return False
        tensor = self.constants.get(after.input[1])
        if tensor is None or tensor is FOLDED or [int(d) for d in tensor.dims] != list(dims):
            return False
        positions = self.values(tensor, after.input[1], cap=MAX_CHANNEL_VALUES)
        if not np.array_equal(positions.reshape(-1), np.arange(positions.size)):
            return False
        self.restrided[gather] = node.input[0]
        return True

    def gather(self, node: NodeProto, a: dict, ins: list) -> Layer | None:
        """The Gather of torch's as_strided (strided_back): the tensor; of one channel, read
        only by an Unsqueeze back at axis 1 (torchvision's transform_input, x[:, k] then
        unsqueeze(1)): a chunk of one channel; of known values: a value."""
        x = self.restrided.get(self.index)
        if x is not None:
            self.alias[node.output[0]] = self.real(x)
            return None
        if self.known(node):
            return self.fold(node, a, ins)
        index, channels = self.const(node, 1), self.channels(node.input[0])
        after = self.only_reader(node.output[0])
        one = index is not None and index.shape == () and channels is not None and -channels <= int(index) < channels
        if attr_int(a, "axis", 0) != 1 or not one or after is None or not self.unsqueezes_channels(self.nodes[after]):
            raise Unread(
                "a Gather other than of one channel, unsqueezed back (x[:, k] then unsqueeze(1))",
                "cnnctl reads one channel picked this way as a `chunk` of one channel",
            )
        self.picked.add(node.output[0])
        k = int(index) % channels
        return self.layer("chunk", [str(channels), f"i={k + 1}"], ins[:1], node_id(node, "chunk"))

    def unsqueezes_channels(self, node: NodeProto) -> bool:
        """Whether `node` is an Unsqueeze at axis 1 (its axes an input from opset 13, else an attribute)."""
        if node.op_type != "Unsqueeze" or node.domain not in ("", "ai.onnx"):
            return False
        axes = self.const(node, 1) if len(node.input) > 1 and node.input[1] else attributes_of(node).get("axes")
        return axes is not None and [int(v) for v in list(axes)] == [1]

    def unsqueeze(self, node: NodeProto, a: dict, ins: list) -> Layer | None:
        """The Unsqueeze after a Gather of one channel (gather): with it, the chunk. Of known values: a value."""
        if self.known(node):  # of sizes: a value
            return self.fold(node, a, ins)
        if node.input[0] not in self.picked or not self.unsqueezes_channels(node):
            raise Unread("an Unsqueeze other than of one channel a Gather picked, at axis 1")
        self.alias[node.output[0]] = ins[0]
        self.made[ins[0]].nodes.append(self.index)

    def transpose(self, node: NodeProto, a: dict, ins: list) -> None:
        held = self.constants.get(node.input[0])
        small = held is FOLDED or (held is not None and value_count(held.dims, MAX_FOLDED) is not None)
        if self.known(node) and small:  # of sizes: a value (F.pad's pads, reordered); not a weight transposed
            return self.fold(node, a, ins)
        perm, x, out = attr_ints(a, "perm", []), ins[0], node.output[0]
        if perm == [0, 2, 1, 3, 4, 5] and x in self.radix and not self.radix[x][3]:
            volume, groups, radix, _, nodes = self.radix[x]
            self.radix[out] = (volume, groups, radix, True, [*nodes, self.index])
        elif perm == [0, 2, 1, 3, 4] and x in self.grid:
            volume, groups, _, nodes = self.grid[x]
            self.grid[out] = (volume, groups, True, [*nodes, self.index])
        elif perm == [0, 2, 3, 1]:
            self.nhwc[out] = (x, self.index)
        elif perm == [0, 3, 1, 2] and node.input[0] in self.normed:
            self.alias[out] = x  # back to NCHW: the output of the layer read on channels-last data
            self.made[x].nodes.append(self.index)
        else:
            raise Unread(f"a transpose {shown(perm, 30)} that is not part of a channel shuffle or layer norm")

    def slice(self, node: NodeProto, a: dict, ins: list) -> Layer | None:
        if self.known(node):  # of sizes: a value
            return self.fold(node, a, ins)
        starts, ends, axes = self.const(node, 1), self.const(node, 2), self.const(node, 3)
        steps = self.const(node, 4)
        channels = self.channels(node.input[0])
        spatial = self.crop(node, starts, ends, axes, steps, ins)
        if spatial is not None:
            return spatial
        one = all(v is not None and v.shape == (1,) for v in (starts, ends, axes))
        if not one or int(axes[0]) != 1 or channels is None:
            raise Unread("a slice other than a part of the channels, or of rows and columns about the centre (crop)")
        if steps is not None and (steps.shape != (1,) or int(steps[0]) != 1):
            raise Unread("a strided slice")
        # ONNX's bounds: a negative one counts from the end; both are clamped to the channels
        start, end = (min(max(b + channels if b < 0 else b, 0), channels) for b in (int(starts[0]), int(ends[0])))
        size = end - start
        if size <= 0:
            raise Unread(f"channels {start} to {end} of {channels}: none")
        if channels % size or start % size:  # channels at any bounds (ReXNet's x[:, :C_in])
            words = [str(start)] + ([str(end)] if end < channels else [])
            return self.layer("slice", words, ins[:1], node_id(node, "slice"))
        return self.layer("chunk", [str(channels // size), f"i={start // size + 1}"], ins[:1], node_id(node, "chunk"))

    def crop(
        self,
        node: NodeProto,
        starts: np.ndarray | None,
        ends: np.ndarray | None,
        axes: np.ndarray | None,
        steps: np.ndarray | None,
        ins: list,
    ) -> Layer | None:
        """A Slice of rows and columns of a map (axes 2 and 3 of NCHW), each about the centre and
        step 1: cnnctl's `crop HxW` (what its export writes for one: `x[:, :, top:top + h, left:left
        + w]`, top = (H - h) // 2). None where the slice is not of rows or columns; an Unread where
        it is, but not of a centre crop."""
        dims = self.shape(node.input[0])
        if axes is None or starts is None or ends is None or dims is None or len(dims) != 4 or None in dims[2:]:
            return None
        picked = [int(v) + 4 if int(v) < 0 else int(v) for v in axes.reshape(-1)]
        if not picked or any(v not in (2, 3) for v in picked) or len(set(picked)) != len(picked):
            return None
        if steps is not None and any(int(s) != 1 for s in steps.reshape(-1)):
            raise Unread("a strided slice of rows or columns: no cnnctl layer kind keeps every other row")
        from ...layers.crop import crop_offsets

        size = {2: dims[2], 3: dims[3]}
        for axis, first, last in zip(picked, starts.reshape(-1), ends.reshape(-1), strict=True):
            whole = dims[axis]
            start, end = (min(max(int(b) + whole if int(b) < 0 else int(b), 0), whole) for b in (first, last))
            if end - start <= 0:
                raise Unread(f"rows or columns {start} to {end} of {whole}: none")
            if start != crop_offsets((whole, whole), (end - start, end - start))[0]:  # the crop layer's one rule
                raise Unread(
                    f"{'rows' if axis == 2 else 'columns'} {start} to {end - 1} of {whole}: not about the centre, "
                    "and a cnnctl `crop` cuts a map about its centre"
                )
            size[axis] = end - start
        return self.layer("crop", [f"{size[2]}x{size[3]}"], ins[:1], node_id(node, "crop"))

    def split(self, node: NodeProto, a: dict, ins: list) -> None:
        """A Split into equal parts of the channels (how the dynamo exporter writes x.chunk):
        a `chunk` layer for each part something reads."""
        channels, parts = self.channels(node.input[0]), len(node.output)
        if attr_int(a, "axis", 0) != 1 or channels is None:
            raise Unread("a split other than into parts of the channels", "cnnctl's chunk splits the channels")
        sizes = self.const(node, 1) if len(node.input) > 1 and node.input[1] else a.get("split")  # opset 13+: input
        sizes = [int(v) for v in sizes] if sizes is not None else [channels // parts] * parts
        if len(set(sizes)) != 1 or sum(sizes) != channels:
            raise Unread(f"channels split {shown(sizes, 40)}: not equal parts", "cnnctl's chunk takes equal parts")
        name = node_id(node, "chunk")
        for i, out in enumerate(node.output):
            if out and self.readers.get(out):
                layer = self.layer("chunk", [str(parts), f"i={i + 1}"], ins[:1], f"{name}_{i + 1}", [self.index])
                self.made[out] = layer
                self.order.append((out, layer))
        return None

    def resize(self, node: NodeProto, a: dict, ins: list) -> Layer:
        hint = "cnnctl's upsample repeats or interpolates each pixel a whole number of times, across and down alike"
        scales = self.const(node, 2 if node.op_type == "Resize" else 1)
        if node.op_type == "Resize" and (scales is None or scales.size == 0):
            scales = self.scales_of_sizes(node)
        mode = attr_text(a, "mode", "nearest")
        if mode not in ("nearest", "linear"):
            raise Unread(f"{mode} interpolation", "cnnctl's upsample is nearest or bilinear")
        if scales is None or scales.shape != (4,):
            raise Unread("only upsampling by constant scales (or sizes) is read", hint)
        n, c, h, w = (float(s) for s in scales)
        if (n, c) != (1.0, 1.0):
            raise Unread(f"scales N and C by {n:g} and {c:g}", "cnnctl's upsample scales height and width only")
        if h != w:
            raise Unread(f"scales height by {h:g} and width by {w:g}", hint)
        if not (math.isfinite(h) and h.is_integer() and h >= 1):
            raise Unread(
                f"scales by {h:g}: not a whole factor",
                "the notation has no fractional resize: `upsample N` repeats or interpolates by a whole factor N, "
                "across and down alike, so the model must change (scale_factor=2, or an output size a whole "
                "multiple of the input's) to be read",
            )
        words = [str(int(h))] + (self.bilinear(node, a) if mode == "linear" else [])
        return self.layer("upsample", words, ins[:1], node_id(node, "upsample"))

    def bilinear(self, node: NodeProto, a: dict) -> list[str]:
        """The words of a linear Resize that is PyTorch's bilinear upsampling (by a whole
        factor, 2-D): half_pixel (or pytorch_half_pixel, the same for any output longer than
        1) is align_corners false, align_corners true; exclude_outside off. `antialias=1` is
        read too: ONNX applies its filter only when downscaling, and the caller has already
        refused every scale below 1 (a whole factor), so upscaling it changes nothing.
        Anything else places or weighs the samples otherwise, and is refused."""
        if node.op_type == "Upsample":  # opset 7-9: linear samples x = o/scale, PyTorch's never do
            raise Unread(
                "Upsample's linear mode (samples at o/scale: no bilinear of PyTorch's)",
                "cnnctl reads bilinear upsampling from a Resize (opset 11+): export at a newer opset",
            )
        where = attr_text(a, "coordinate_transformation_mode", "half_pixel")
        corners = {"half_pixel": False, "pytorch_half_pixel": False, "align_corners": True}.get(where)
        if corners is None:
            raise Unread(
                f"linear interpolation with coordinate_transformation_mode {shown(where, 30)}",
                "cnnctl's bilinear upsample is PyTorch's: half_pixel (align_corners false) or align_corners",
            )
        attr_int(a, "antialias", 0)  # read all the same: a value that is no whole number is told
        if attr_int(a, "exclude_outside", 0) != 0:
            raise Unread(
                f"linear interpolation with exclude_outside={attr_int(a, 'exclude_outside', 0)}",
                "PyTorch's bilinear has it off",
            )
        return ["mode=bilinear"] + (["align_corners=true"] if corners else [])

    def scales_of_sizes(self, node: NodeProto) -> np.ndarray | None:
        """The scales of a Resize given its output's sizes (its fourth input: how the exporters
        write F.interpolate(x, size=...), and a scale_factor on dynamic sizes), where they and
        its input's sizes are known: each size over the input's. None where not."""
        import numpy as np

        sizes = self.const(node, 3) if len(node.input) > 3 and node.input[3] else None
        dims = self.shape(node.input[0])
        if sizes is None or sizes.shape != (4,) or dims is None or len(dims) != 4 or None in dims or 0 in dims:
            return None
        return sizes.astype(np.float64) / np.array(dims, dtype=np.float64)


def _dims(dims: tuple | None) -> str:
    """A tensor's dims as a message shows them: `1x8x1x1` (`?` for one unknown)."""
    return "an unknown shape" if not dims else "x".join("?" if d is None else str(d) for d in dims)
