"""Add, Mul, Sub and Div: of two layers (a residual, a gate), SiLU's x * sigmoid(x) and hardswish's
x * hardsigmoid(x), a layer
scale by a stored factor per channel, and an affine by constants, one or one per channel.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...errors import shown
from ...layers.base import exact_number
from ...limits import MAX_CHANNEL_VALUES
from .layer import READ_AS, Layer, node_id
from .told import Unread
from .values import FOLDED, value_count

if TYPE_CHECKING:
    from onnx import NodeProto

# x times a gate of x, as exporters write these activations: one activation (PyTorch's hardsigmoid,
# relu6(x + 3) / 6, is the one the hardsigmoid reader reads, so x * it is exactly PyTorch's hardswish)
GATES = {"sigmoid": "silu", "hardsigmoid": "hardswish"}


class Arithmetic:
    """The readers of element-wise arithmetic."""

    def add(self, node: NodeProto, a: dict, ins: list) -> Layer | None:
        product = self.biases.get(self.index)
        if product is not None:  # a MatMul's bias, joined to its 1x1 conv (or its fc)
            self.alias[node.output[0]] = product
            if product in self.normed:  # the 1x1 conv's: channels-last still
                self.normed.add(node.output[0])
            self.made[product].nodes.append(self.index)
            return None
        if self.known(node):  # arithmetic on sizes (the bounds of x.chunk's slices): a value
            return self.fold(node, a, ins)
        joined = self.shifts.get(node.output[0])
        if joined is not None:  # the shift of the affine the Mul before it began
            self.alias[node.output[0]] = joined
            self.made[joined].nodes.append(self.index)
            return None
        x, y = (ins[1], ins[0]) if ins[0] in self.constants else (ins[0], ins[1])
        shift = self.fixed(y, x) if x not in self.constants else None
        if shift is not None:  # a fixed shift, one or one per channel
            words, stored = _affine_words("shift", shift, y)
            return self.layer("affine", words, [x], node_id(node, "affine"), stored=stored)
        self.refuse_stored(ins, "adds")
        return self.layer("add", [], ins, node_id(node, "add"))

    def mul(self, node: NodeProto, a: dict, ins: list) -> Layer | None:
        if self.known(node):
            return self.fold(node, a, ins)
        x, y = ins[0], ins[1]
        given = node.input[0]  # x as the node names it: its own shape where read through an alias (NHWC, back)
        if x in self.constants and y not in self.constants:  # factor * x, as x * factor
            x, y, given = y, x, node.input[1]
        sig = self.made.get(y)
        if sig is not None and sig.kind in GATES and sig.inputs == [x] and self.readers.get(node.input[1]) == 1:
            self.dropped.add(y)  # x * sigmoid(x): SiLU, x * hardsigmoid(x): hardswish; one activation
            del self.made[y]
            if node.input[0] in self.normed or node.input[1] in self.normed:  # value by value: the layout stays
                self.normed.add(node.output[0])
            return self.activation(node, GATES[sig.kind], reads=2, nodes=sig.nodes)
        scale = self.fixed(y, given) if x not in self.constants else None
        shift, add, held = self.shift_after(node)
        last = given in self.normed  # channels-last data (ConvNeXt's official block: gamma * x before the permute back)
        learned = y in self.inits and self.origin(y) not in self.literals  # a Constant's value is fixed: an affine
        per_channel = learned and self.per_channel([int(d) for d in self.inits[y].dims], given, last)
        if per_channel and shift is None and x not in self.constants:
            name = self.weight_name(y, node_id(node, "layerscale"))  # a learned factor per channel
            if last:  # one per channel still: the layout stays until the Transpose back
                self.normed.add(node.output[0])
            return self.layer("layerscale", [], [x], name, stored=(("weight", y, ""),))
        if scale is not None:  # a fixed factor, one or one per channel, and the fixed shift after it
            words, stored = _affine_words("scale", scale, y)
            if shift is not None:
                shift_words, shift_stored = _affine_words("shift", shift, held)
                words, stored = words + shift_words, stored + shift_stored
                self.shifts[add.output[0]] = node.output[0]
            return self.layer("affine", words, [x], node_id(node, "affine"), stored=stored)
        self.refuse_stored(ins, "multiplies by")
        return self.layer("mul", [], ins, node_id(node, "mul"))

    def shift_after(self, node: NodeProto) -> tuple:
        """(the values, the Add node, the constant holding them) of a fixed shift that the only
        reader of this Mul's output adds (x * scale + shift: one affine); Nones where there is none."""
        out, nothing = node.output[0], (None, None, None)
        if self.readers.get(out) != 1:
            return nothing
        add = self.nodes[self.read_by[out]]
        if add.op_type != "Add" or add.domain not in ("", "ai.onnx") or len(add.input) != 2:
            return nothing
        held = self.real(add.input[1] if add.input[0] == out else add.input[0])
        if held not in self.constants:
            return nothing
        try:
            return self.fixed(held, self.real(node.input[0])), add, held
        except Unread:  # told at the Add itself, when it is read
            return nothing

    def fixed(self, t: str, x: str) -> tuple[float, ...] | None:
        """The values of the constant `t` (stored or a Constant) where they are one number or
        one per channel of `x`, shaped to broadcast over them; None where they are not."""
        tensor = self.constants.get(t)
        if tensor is None or tensor is FOLDED:
            return None
        dims = [int(d) for d in tensor.dims]
        shape = self.shape(x)
        one = value_count(dims, 1) == 1 and len(dims) <= (len(shape) if shape is not None else 4)
        if not (one or self.per_channel(dims, x)):
            return None
        values = self.values(tensor, t, cap=MAX_CHANNEL_VALUES)
        return tuple(float(v) for v in values.reshape(-1))

    def per_channel(self, dims: list[int], x: str, last: bool = False) -> bool:
        """Whether a constant of `dims` holds one value per channel of `x`, shaped to broadcast
        over them: Cx1x1 or 1xCx1x1 on a volume (torch's layer scale), C or 1xC on a vector (a
        C on a volume would scale its columns). Where shape inference does not know `x`, as read
        before: C or Cx1x1. `last`: `x` is channels-last (N x H x W x C): C or 1x1x1xC."""
        shape = self.shape(x)
        if last:
            if shape is not None and len(shape) != 4:
                return False
            channels = shape[-1] if shape is not None else None
            return len(dims) in (1, 4) and dims[:-1] == [1] * (len(dims) - 1) and channels in (None, dims[-1])
        if shape is None or len(shape) not in (2, 4):
            return len(dims) == 1 or (len(dims) == 3 and dims[1:] == [1, 1])
        channels = shape[1]
        forms = ([channels], [1, channels]) if len(shape) == 2 else ([channels, 1, 1], [1, channels, 1, 1])
        return channels is not None and dims in forms

    def sub(self, node: NodeProto, a: dict, ins: list) -> Layer | None:
        """x - c, c a constant of one value or one per channel (torchvision's normalisation
        `(x - mean) / std`): an affine whose shift is -c. Of known values: a value."""
        if self.known(node):
            return self.fold(node, a, ins)
        return self.by_constant(node, ins, "shift", "negated")

    def div(self, node: NodeProto, a: dict, ins: list) -> Layer | None:
        """x / c, c a constant of one value or one per channel: an affine whose scale is 1 / c
        (in float32, as the weights carry it). Of known values: a value."""
        if self.known(node):
            return self.fold(node, a, ins)
        return self.by_constant(node, ins, "scale", "reciprocal")

    def by_constant(self, node: NodeProto, ins: list, name: str, how: str) -> Layer:
        """The affine of a Sub or Div of a layer `x` and a constant after it (`how` its values are read)."""
        import numpy as np

        verb = "takes away" if node.op_type == "Sub" else "divides by"
        x, c = ins
        if x in self.constants or c not in self.constants:
            raise Unread(
                f"a {node.op_type} other than of a layer and a constant after it: no cnnctl layer kind does it",
                "cnnctl reads x - c and x / c, c one value or one per channel, as an affine",
            )
        values = self.fixed(c, node.input[0])
        if values is None:
            self.refuse_stored(ins, verb)
        if how == "reciprocal" and 0.0 in values:
            raise Unread(f"divides by the stored {shown(c)}, which holds a zero")
        values = tuple(float(READ_AS[how](np.float32(v))) for v in values)  # in float32, as the weights are read
        words, stored = _affine_words(name, values, c, how)
        return self.layer("affine", words, [x], node_id(node, "affine"), stored=stored)

    def refuse_stored(self, ins: list, verb: str) -> None:
        """An Add or Mul with stored values where no cnnctl kind takes them (a fixed offset or
        factor, a learned shift, a factor not one per channel): told at the node, with its dims."""
        stored = next((t for t in ins if t in self.constants), None)
        if stored is None:
            return
        tensor = self.constants[stored]
        dims = list(self.decoded[stored].shape) if tensor is FOLDED else [int(d) for d in tensor.dims]
        held = "one value" if value_count(dims, 1) == 1 else "values of " + "x".join(str(d) for d in dims[:6])
        raise Unread(
            f"{verb} the stored {shown(stored)} ({held}), not one value or one per channel: no cnnctl layer kind does",
            "cnnctl reads an Add or Mul of layers (a residual, a gate), and an Add or Mul of a layer and stored "
            "values, one or one per channel (affine, layerscale)",
        )


def _affine_words(name: str, values: tuple[float, ...], t: str, how: str = "") -> tuple[list[str], tuple]:
    """`scale=...` or `shift=...` of an affine, and where its buffer's values are stored (read
    `how`: a Sub's negated, a Div's reciprocal); nothing where they do nothing (a scale of 1, a
    shift of 0: the layer holds no buffer for them)."""
    if all(v == (1.0 if name == "scale" else 0.0) for v in values):
        return [], ()
    return [f"{name}={','.join(exact_number(v) for v in values)}"], ((name, t, how),)
