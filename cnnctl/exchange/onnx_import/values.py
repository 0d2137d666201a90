"""What is known of a tensor: a constant's values (read only where small, external data only
inside the model's folder), a stored weight's, its shape from ONNX's shape inference, and values
worked out from known sizes (`fold`).
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

from ...errors import CnnctlError, Loc, shown
from ...files import TooShort, regular_bytes
from ...limits import MAX_ONNX_BYTES, MAX_ONNX_CONSTANT, leads_out
from .attributes import attr_int, attributes_of
from .told import Unread

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy as np
    from onnx import ModelProto, NodeProto, TensorProto

# The element types of a constant whose values are read (TensorProto's names).
NUMBERS = {"FLOAT", "DOUBLE", "FLOAT16", "BFLOAT16", "BOOL", "INT8", "INT16", "INT32", "INT64",
           "UINT8", "UINT16", "UINT32", "UINT64"}  # fmt: skip


def plain(x: np.ndarray) -> np.ndarray:
    """Values in a type numpy itself has: bfloat16 (ml_dtypes', which onnx decodes to and neither numpy
    nor safetensors' numpy writer knows) as float32, which holds each of its values exactly."""
    import numpy as np

    return x.astype(np.float32) if x.dtype.name == "bfloat16" else x


FOLDED = object()  # in Reader.constants: a value worked out from known ones (Reader.fold)


# The operators `fold` works out on known values (a Shape on a tensor whose size is known).
FOLDS = (
    "Shape",
    "Gather",
    "Add",
    "Sub",
    "Mul",
    "Div",
    "Floor",
    "Ceil",
    "ReduceProd",
    "Range",
    "Concat",
    "Unsqueeze",
    "Squeeze",
    "Cast",
    "Slice",
    "Reshape",
    "ConstantOfShape",
    "Transpose",
)


MAX_ROUNDS = 8  # the most times shape inference is run again with sizes worked out here (inferred)


MAX_FOLDED = 64  # the most values an operation on known sizes reads (a shape has a few)


def _whole(text: str) -> int | None:
    """A whole number written in an external data entry, or None (a 5,000-digit one too)."""
    return int(text) if text.isdecimal() and len(text) <= 20 else None


def constant_value(node: NodeProto) -> TensorProto | None:
    """The tensor a Constant node holds: its `value`, or (opset 12 on) `value_float`, `value_floats`,
    `value_int` or `value_ints` as a tensor of them (float32 or int64, a scalar or a list); None
    for another (a sparse tensor, strings: no number a reader takes)."""
    from onnx import TensorProto, helper

    for a in node.attribute:
        if a.name == "value" and a.HasField("t"):
            return a.t
        made = {
            "value_float": (TensorProto.FLOAT, [], [a.f]),
            "value_floats": (TensorProto.FLOAT, [len(a.floats)], list(a.floats)),
            "value_int": (TensorProto.INT64, [], [a.i]),
            "value_ints": (TensorProto.INT64, [len(a.ints)], list(a.ints)),
        }.get(a.name)
        if made is not None:
            return helper.make_tensor(node.output[0], *made)
    return None


def value_count(dims: Sequence[int], cap: int) -> int | None:
    """The values of a tensor of `dims`, or None above `cap` (without multiplying them all)."""
    count = 1
    for d in dims:
        count *= d
        if count > cap:
            return None
    return count


class Values:
    """The values and shapes of tensors, read where a reader asks for them."""

    def constant(self, node: NodeProto, a: dict, ins: list) -> None:
        return None  # its value is read where another node needs it (const)

    def const(self, node: NodeProto, i: int) -> np.ndarray | None:
        """The values of input `i` of `node` where it is a constant (None where it is not), read
        only where small, and from external data only inside the model's folder."""
        t = node.input[i] if len(node.input) > i else ""
        tensor = self.constants.get(t) if t else None
        if tensor is None:
            return None
        if t not in self.decoded:
            self.decoded[t] = self.values(tensor, t)
        return self.decoded[t]

    def values(
        self, tensor: TensorProto | object, t: str, cap: int = MAX_ONNX_CONSTANT, role: str = "constant"
    ) -> np.ndarray:  # tensor: FOLDED too
        from onnx import TensorProto, helper, numpy_helper

        if tensor is FOLDED:  # worked out here from known sizes (fold): a value, never stored weights
            if role != "constant":
                raise Unread(f"reads {shown(t)}, a value worked out from sizes, as its {role}")
            return self.decoded[t]
        if t in self.laid_out:  # a stored weight laid out by the graph (stored_layouts): its source's values
            return self.laid_out_values(t, cap, role)
        what = f"the {role} {shown(t)}"
        dims = list(tensor.dims)
        if any(d < 0 for d in dims):
            raise Unread(f"{what} has negative dims {shown(dims, 40)}")
        count = value_count(dims, cap)
        if count is None:
            sizes = " x ".join(f"{d:,}" for d in dims[:6]) + (" x ..." if len(dims) > 6 else "")
            raise Unread(f"{what} of {sizes} values: cnnctl reads {role}s of at most {cap:,}")
        if tensor.data_type not in {getattr(TensorProto, kind) for kind in NUMBERS}:
            raise Unread(f"{what} does not hold numbers")
        size = count * helper.tensor_dtype_to_np_dtype(tensor.data_type).itemsize
        if tensor.data_location == TensorProto.EXTERNAL:
            data = self.external(tensor, what, size)
            tensor = TensorProto(name=tensor.name, dims=dims, data_type=tensor.data_type, raw_data=bytes(data))
        elif tensor.raw_data and len(tensor.raw_data) != size:
            raise Unread(f"{what} claims {count} values and holds {len(tensor.raw_data):,} bytes")
        try:
            return plain(numpy_helper.to_array(tensor))
        except Exception:  # the values do not fit the dims: onnx's numpy_helper says so its own ways
            raise Unread(f"{what} does not hold the {count} values its dims claim") from None

    def external(self, tensor: TensorProto, what: str, size: int) -> bytearray:
        """The `size` bytes of a tensor stored outside the file: only from a regular file
        inside the model's folder, the offset and length fitting it."""
        info = {e.key: e.value for e in tensor.external_data}
        location = info.get("location", "")
        what = f"{what} is stored outside the file, in {shown(location)}"
        hint = "cnnctl reads data stored outside an ONNX file only from files in the model's own folder"
        parts = re.split(r"[/\\]", location)
        if not location or "\0" in location or os.path.isabs(location) or ".." in parts:
            raise Unread(f"{what}: not a file inside the model's folder", hint)
        folder = os.path.realpath(self.folder)
        real = os.path.realpath(os.path.join(folder, location))
        if leads_out(real, folder) is not None:
            raise Unread(f"{what}: not a file inside the model's folder (a link leads out of it)", hint)
        offset, length = info.get("offset", "0"), info.get("length", str(size))
        if _whole(offset) is None or _whole(length) != size:
            raise Unread(f"{what} at offset {shown(offset, 24)}, length {shown(length, 24)}: it holds {size} bytes")
        try:
            data = regular_bytes(real, size, _whole(offset), size, inside=folder)
        except TooShort as short:  # the model's folder is right: its data file is not the one the model was saved with
            raise Unread(
                f"{what}: {short.message}: the file is shorter than the model says",
                "was it cut short, or is it another model's? export the model again, or copy its whole data file "
                f"({shown(location)}) beside it",
            ) from None
        except Unread as refused:
            raise Unread(f"{what}: {refused.message}", hint) from None
        if len(data) != size:
            raise Unread(f"{what}: the file was cut short while read")
        return data

    def weight(self, t: str) -> np.ndarray:
        """The values of the stored weight `t` (a numpy array): from the file, or from external
        data inside the model's folder, as a constant's are; a CnnctlError at the file if not."""
        try:
            return self.values(self.constants[t], t, cap=MAX_ONNX_BYTES, role="weight")
        except Unread as refused:
            raise CnnctlError.at(refused.message, Loc(self.path), hint=refused.hint) from None

    def is_value(self, t: str | None, expected: float) -> bool:
        """Whether `t` is a constant of one value, exactly `expected` in float32 (as exporters write it)."""
        import numpy as np

        if not t or t not in self.constants or self.constants[t] is FOLDED:
            return False
        try:
            if t not in self.decoded:
                self.decoded[t] = self.values(self.constants[t], t)
            value = self.decoded[t]
        except Unread:
            return False
        return value.size == 1 and np.float32(value.reshape(-1)[0]) == np.float32(expected)

    def shape(self, t: str) -> tuple | None:
        """The dims of tensor `t` (None for one unknown), from ONNX's shape inference, run once
        where a reader needs a shape (a slice's channels, a reshape's, a factor's)."""
        if self._shapes is None:
            try:
                self._shapes = self.inferred()
            except Exception:  # shapes are a help only: without them what needs one is not read
                self._shapes = {}
        return self._shapes.get(t)

    def inferred(self) -> dict:
        """Each tensor's dims from ONNX's shape inference. Where sizes are worked out from sizes
        (an export with dynamic sizes, read at --input: x.chunk's bounds from x.shape, then a
        Shape of the part), inference is run again with those it could not carry through
        worked out here (sizes_known) and given as constants, until no more are found."""

        shapes, found = _inferred_shapes(self.model), {}
        for _ in range(MAX_ROUNDS):
            more = self.sizes_known(shapes)
            new = more.keys() - found.keys()
            if not any(_unknown(shapes.get(out)) for t in new for j in self.consumers.get(t, []) for out in
                       self.nodes[j].output):  # fmt: skip
                break  # nothing read from what it did not know
            found.update(more)
            try:
                shapes = {**shapes, **_inferred_shapes(self.with_values(found))}
            except Exception:  # what was inferred before stands
                break
        return shapes

    def sizes_known(self, shapes: dict) -> dict:
        """The values (sizes, not data) that `fold` would work out, given the tensors' `shapes`:
        each a small numpy array, by its tensor."""
        import numpy as np

        known: dict = {}
        for node in self.nodes:
            if node.op_type not in FOLDS or not node.output or any(t in self.data for t in node.output):
                continue
            try:
                if node.op_type == "Shape":
                    dims = shapes.get(node.input[0])
                    if dims is None or None in dims:
                        continue
                    value = worked_out("Shape", [np.array(dims, dtype=np.int64)], attributes_of(node))
                else:
                    values = [known.get(t, self.const(node, i) if t in self.constants else None) if t else None
                              for i, t in enumerate(node.input)]  # fmt: skip
                    if not values or any(
                        v is None or v.size > MAX_FOLDED for v, t in zip(values, node.input, strict=True) if t
                    ):
                        continue
                    value = worked_out(node.op_type, values, attributes_of(node))
            except Exception:  # told, if at all, where the reader reads the node
                continue
            known[node.output[0]] = np.asarray(value)
        return known

    def with_values(self, values: dict[str, np.ndarray]) -> ModelProto:
        """A model for shape inference alone: the graph with the nodes making `values` replaced
        by them as constants; its large weights given as inputs of their dims (not copied)."""
        from onnx import helper, numpy_helper

        graph = self.graph
        small = [i for i in graph.initializer if value_count(i.dims, MAX_ONNX_CONSTANT) is not None]
        listed = {i.name for i in graph.input}  # IR 3 lists initializers among the inputs too
        weights = [
            helper.make_tensor_value_info(i.name, i.data_type, list(i.dims))
            for i in graph.initializer
            if value_count(i.dims, MAX_ONNX_CONSTANT) is None and i.name not in listed
        ]
        light = helper.make_graph(
            [n for n in graph.node if not (n.output and all(t in values for t in n.output if t))],
            graph.name,
            [*graph.input, *weights],
            list(graph.output),
            [*small, *(numpy_helper.from_array(v, name=t) for t, v in values.items())],
        )
        model = helper.make_model(light, opset_imports=list(self.model.opset_import))
        model.ir_version = self.model.ir_version
        model.functions.extend(self.model.functions)
        return model

    def channels(self, t: str) -> int | None:
        """The channels of tensor `t` (NCHW's C), where shape inference knows them."""
        dims = self.shape(t)
        return dims[1] if dims is not None and len(dims) >= 2 else None

    def known(self, node: NodeProto) -> bool:
        """Whether every input of `node` is a known value (a constant, or one folded)."""
        return all(t in self.constants for t in node.input if t)

    def fold(self, node: NodeProto, a: dict, ins: list) -> None:
        """Arithmetic on sizes, worked out here: Shape of a tensor whose size is known, and of
        known values Gather, Add, Sub, Mul, Div, Floor, Ceil, ReduceProd, Range, Concat,
        Unsqueeze, Squeeze, Cast, Slice, Reshape, ConstantOfShape and Transpose (the torch exporters' bounds
        of x.chunk's slices, a view's or a resize's sizes computed from x.shape, `x.numel()` as a ReduceProd
        of it, known once the input's size is; F.pad's pads, reordered from constants). The result is a value the next
        nodes read, as a Constant's."""
        import numpy as np

        op = node.op_type
        if op == "Shape":
            dims = self.shape(node.input[0])
            if dims is None or None in dims:
                raise Unread("the shape of a tensor whose size is not known here")
            value = worked_out(op, [np.array(dims, dtype=np.int64)], a)
        else:
            if any(t in self.data for t in node.input):  # of the network's values, not of sizes (torch.floor(x))
                raise Unread(f"{op} of the network's values: no cnnctl layer kind does this")
            values = [self.const(node, i) if t else None for i, t in enumerate(node.input)]
            if not values or values[0] is None or any(v is not None and v.size > MAX_FOLDED for v in values):
                raise Unread(f"{op} of values that are not small known ones")
            value = worked_out(op, values, a)
        self.constants[node.output[0]] = FOLDED
        self.decoded[node.output[0]] = np.asarray(value)
        return None


def _inferred_shapes(model) -> dict:
    """Each tensor's dims (None for one unknown) by ONNX's shape inference on `model`."""
    import onnx

    # data_prop: sizes worked out from sizes (a reshape's target from x.shape) carried through
    graph = onnx.shape_inference.infer_shapes(model, data_prop=True).graph
    return {
        info.name: tuple(d.dim_value if d.dim_value > 0 else None for d in info.type.tensor_type.shape.dim)
        for info in [*graph.value_info, *graph.input, *graph.output]
    }


def _unknown(dims: tuple | None) -> bool:
    return dims is None or None in dims


def worked_out(op: str, values: list, a: dict) -> np.ndarray:
    """ONNX's `op` of the known `values` (None for an input not given; for a Shape, the dims),
    with attributes `a`."""
    import numpy as np
    from onnx import numpy_helper

    x = values[0]
    y = values[1] if len(values) > 1 else None
    if op == "Shape":  # x: the dims of the tensor, known
        return x[attr_int(a, "start", 0) : a.get("end")]
    if op == "Gather":
        return np.take(x, y.astype(np.int64), axis=attr_int(a, "axis", 0))
    if op == "Concat":
        return np.concatenate([v for v in values if v is not None], axis=attr_int(a, "axis", 0))
    if op in ("Unsqueeze", "Squeeze"):  # axes: an input from opset 13, an attribute before
        axes = [int(v) for v in (y if y is not None else a.get("axes", []))]
        if op == "Unsqueeze":
            return np.expand_dims(x, tuple(axes))
        return np.squeeze(x, tuple(axes) if axes else None)
    if op == "Cast":
        from onnx import helper

        return x.astype(helper.tensor_dtype_to_np_dtype(attr_int(a, "to", 0)))
    if op == "Reshape":
        target = [int(v) for v in y]
        if not attr_int(a, "allowzero", 0):  # 0 copies the size at that place
            target = [x.shape[i] if v == 0 else v for i, v in enumerate(target)]
        return x.reshape(target)
    if op == "Slice":
        axes = values[3] if len(values) > 3 and values[3] is not None else range(len(y))
        steps = values[4] if len(values) > 4 and values[4] is not None else [1] * len(y)
        picked = [slice(None)] * x.ndim
        for axis, start, end, step in zip(axes, y, values[2], steps, strict=True):
            picked[int(axis)] = slice(int(start), int(end), int(step))
        return x[tuple(picked)]
    if op == "ConstantOfShape":  # x: the shape; its one value an attribute (a float 0 where none is given)
        value = a.get("value")
        filler = numpy_helper.to_array(value).reshape(-1) if value is not None else np.zeros(1, np.float32)
        if filler.size != 1 or np.prod(x) > MAX_FOLDED:
            raise Unread("a ConstantOfShape of more than a few values, or of a value that is not one")
        return np.full([int(v) for v in x], filler[0], dtype=filler.dtype)
    if op == "Transpose":
        return np.transpose(x, a.get("perm"))
    if op in ("Floor", "Ceil"):
        return np.floor(x) if op == "Floor" else np.ceil(x)
    if op == "ReduceProd":  # x.numel() of a known shape; axes an input from opset 18, an attribute before
        axes = y if y is not None else a.get("axes")
        kept = bool(attr_int(a, "keepdims", 1))
        return np.prod(x, axis=None if axes is None or len(axes) == 0 else tuple(int(v) for v in axes), keepdims=kept)
    if op == "Range":  # start, limit, delta: scalars
        return np.arange(x, y, values[2]).astype(x.dtype)
    if op == "Div" and np.issubdtype(x.dtype, np.integer):
        if not np.all(y):
            raise Unread("a division by zero")
        return np.trunc(x / y).astype(x.dtype)  # ONNX's integer division truncates
    return {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide}[op](x, y)
