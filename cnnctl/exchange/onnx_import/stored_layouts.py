"""Stored weights that the graph only lays out anew: a Transpose, Reshape, Unsqueeze, Squeeze,
Identity or Cast to a floating-point type whose input is an initializer (or a Constant node's
value, or another such) is read as a stored value of its own, as constant folding would have
stored it.

torch.onnx.export with do_constant_folding=False writes nn.Linear's weight as stored and
transposed in the graph (a Transpose of `fc1.weight` feeding the MatMul), a factor's `.view(1, C,
1, 1)` as a Reshape of it; with folding (the default) the file stores the result instead. The
readers look for stored weights among the initializers, so each such output is made one before
the pass (fold_stored_layouts): its dims worked out here from the operator and the source's dims,
nothing read, its values laid out from the source's only when a weight is read (laid_out_values).
Its node is read with it, as nothing of its own. What it came from stays known (origin): the id a
layer takes from its weight's name (`fc1.weight` -> `fc1`) and what reading a weight costs are the
stored tensor's.

Some exporters write weights as Constant nodes rather than initializers; torch writes its literals
(`torch.tensor([...])` in forward) so. A Constant's value is a stored value too, so a conv reads its
weights from one, and one laid out as above is folded as well; but it is never a learned factor
(`literals`: a Mul by one per channel is a fixed `affine`, not a `layerscale`).

A Cast of a weight to float16 or bfloat16 is how torch.onnx.export writes a model under autocast
without constant folding (a float32 weight cast before each Conv and Gemm); to float32, a float16
or float64 one used in float32. A Cast of a weight to another type (an integer) is no exporter's:
it is told at its node; a small tensor cast (a size) is a value the reader works out.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from ...errors import shown
from ...limits import MAX_ONNX_CONSTANT
from .attributes import attr_int, attr_ints, attributes_of
from .told import Unread
from .values import plain, value_count, worked_out

if TYPE_CHECKING:
    import numpy as np
    from onnx import NodeProto

# The operators that lay out values without computing them; a Cast only to a floating-point type (FLOATS).
LAYOUTS = frozenset({"Transpose", "Reshape", "Unsqueeze", "Squeeze", "Identity", "Cast"})
FLOATS = frozenset({1, 10, 16, 11})  # ONNX's FLOAT, FLOAT16, BFLOAT16, DOUBLE

# The hint where a layout does not fit the weight it lays out: the file is at fault, not its reading.
UNFIT = "the file's graph does not fit its own weights: onnx.checker.check_model(model, full_check=True) says more"


class StoredLayouts:
    """Layouts of stored weights, folded into stored values of their own before the pass."""

    def fold_stored_layouts(self) -> None:
        """Each node of LAYOUTS reading an initializer (or a layout folded before it), its other
        inputs constants: its output is made a stored value, of the dims the operator gives, of
        the source's element type (float32 after a Cast). One that cannot lay out the values it
        reads (a reshape to another count of them) is told at its node, and not read again."""
        from onnx import TensorProto

        for i, node in enumerate(self.nodes):
            if node.op_type == "Constant" and node.output and node.output[0] in self.constants:
                self.inits[node.output[0]] = self.constants[node.output[0]]  # a value written in the graph
                self.literals.add(node.output[0])
                continue
            if node.op_type not in LAYOUTS or not node.input or not node.output or not node.output[0]:
                continue
            held = self.inits.get(node.input[0])
            if held is None or any(t not in self.constants for t in node.input[1:] if t):
                continue
            try:
                dims = self.laid_out_dims(node, [int(d) for d in held.dims])
            except Unread as refused:
                self.tell(i, refused.message, refused.hint)
                self.failed.update(t for t in node.output if t)
                continue
            except (IndexError, KeyError, ValueError, TypeError, OverflowError):  # malformed: told by its reader
                continue
            if dims is None:
                continue
            out = node.output[0]
            kind = attr_int(attributes_of(node), "to", 0) if node.op_type == "Cast" else held.data_type
            self.inits[out] = self.constants[out] = TensorProto(name=out, dims=dims, data_type=kind)
            self.laid_out[out] = i

    def laid_out_dims(self, node: NodeProto, dims: list[int]) -> list[int] | None:
        """The dims of layout `node`'s output on stored values of `dims`, as ONNX defines the
        operator; None for a Cast of a few values (a size) to another type than a floating-point
        one (not a layout: its reader's). A permutation, a reshape or axes that do not fit the
        values is refused (Unread), and so is a Cast of a weight to an integer type."""
        a, op = attributes_of(node), node.op_type
        what = f"the stored {shown(node.input[0])} of {'x'.join(str(d) for d in dims) or 'one value'}"
        if op == "Identity":
            return dims
        if op == "Cast":
            to = attr_int(a, "to", 0)
            if to in FLOATS:
                return dims
            if value_count(dims, MAX_ONNX_CONSTANT) is not None:  # a size, or a few values: the reader's
                return None
            from onnx import TensorProto

            named = TensorProto.DataType.Name(to) if to in TensorProto.DataType.values() else str(to)
            raise Unread(
                f"casts {what} to {named}: cnnctl reads weights as floating-point numbers",
                "a Cast of a weight to float32, float16, bfloat16 or float64 is read as the weight; a quantized "
                "model (int8) is not read: import the model before quantization",
            )
        if op == "Transpose":
            perm = attr_ints(a, "perm", list(range(len(dims)))[::-1])
            if sorted(perm) != list(range(len(dims))):
                raise Unread(f"transposes {what} by {shown(perm, 30)}: not an order of its {len(dims)} dims", UNFIT)
            return [dims[p] for p in perm]
        given = self.const(node, 1) if len(node.input) > 1 and node.input[1] else None
        if op == "Reshape":
            if given is None:
                raise Unread(f"reshapes {what} to no shape given", UNFIT)
            target = [int(v) for v in given.reshape(-1)]
            asked = list(target)
            if not attr_int(a, "allowzero", 0):  # 0 copies the size at that place
                target = [dims[k] if v == 0 and k < len(dims) else v for k, v in enumerate(target)]
            known, count = math.prod(v for v in target if v != -1), math.prod(dims)
            if target.count(-1) == 1 and known > 0 and count % known == 0:
                target[target.index(-1)] = count // known
            if min(target, default=0) < 0 or math.prod(target) != count:
                raise Unread(f"reshapes {what} to {shown(asked, 30)}: not its {count:,} values", UNFIT)
            return target
        # Unsqueeze and Squeeze: the axes an input from opset 13, an attribute before
        axes = [int(v) for v in given.reshape(-1)] if given is not None else attr_ints(a, "axes", [])
        rank = len(dims) + len(axes) if op == "Unsqueeze" else len(dims)
        at = [v + rank if v < 0 else v for v in axes]
        unfit = len(set(at)) != len(at) or any(not 0 <= v < rank for v in at)
        if unfit or (op == "Squeeze" and any(dims[k] != 1 for k in at)):
            verb = "unsqueezes" if op == "Unsqueeze" else "squeezes"
            raise Unread(f"{verb} {what} at axes {shown(axes, 30)}: not axes it has{' of size 1' * (op == 'Squeeze')}",
                         UNFIT)  # fmt: skip
        if op == "Unsqueeze":
            rest = iter(dims)
            return [1 if k in at else next(rest) for k in range(rank)]
        return [d for k, d in enumerate(dims) if (k not in at if at else d != 1)]

    def origin(self, t: str) -> str:
        """The initializer stored value `t` is laid out from (`t` itself where it is one)."""
        while t in self.laid_out:
            t = self.nodes[self.laid_out[t]].input[0]
        return t

    def laid_out_values(self, t: str, cap: int, role: str) -> np.ndarray:
        """The values of the folded layout `t`: its source's (read as any stored tensor is, at most
        `cap` of them) laid out by its node."""
        import numpy as np

        node = self.nodes[self.laid_out[t]]
        source = node.input[0]
        x = self.values(self.constants[source], source, cap, role)
        if node.op_type != "Identity":
            given = [self.const(node, k) if node.input[k] else None for k in range(1, len(node.input))]
            x = plain(np.asarray(worked_out(node.op_type, [x, *given], attributes_of(node))))
        if list(x.shape) != [int(d) for d in self.constants[t].dims]:  # its dims were worked out by ONNX's rules
            raise Unread(f"the {role} {shown(t)} laid out from {shown(source)} is not of the dims worked out for it")
        return x
