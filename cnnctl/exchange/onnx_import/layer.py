"""A layer read from one or more ONNX nodes (Layer): its kind, words, inputs and name, and where
its stored weights are and how each is read (READ_AS).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...records import record

if TYPE_CHECKING:
    from onnx import NodeProto

# How a stored tensor becomes a parameter or buffer of cnnctl's layer (Layer.stored): as it is;
# transposed (Gemm's W^T, a MatMul's C_in x C_out as a 1x1 conv's C_out x C_in); negated (what a
# Sub takes away, an affine's shift); its reciprocal (what a Div divides by, an affine's scale).
READ_AS = {"": lambda v: v, "transposed": lambda v: v.T, "negated": lambda v: -v, "reciprocal": lambda v: 1 / v}


@record
class Layer:
    kind: str  # cnnctl kind, for fusing
    words: list  # the shorthand after the kind: ["f=3", "n=64"]
    inputs: list  # tensor names read
    name: str  # the id it would take
    nodes: list  # the indices of the ONNX nodes it comes from
    stored: tuple = ()  # (its parameter in cnnctl's module, the ONNX tensor holding it, how: READ_AS)


def stored_params(node: NodeProto, params: tuple, transposed: tuple = ()) -> tuple:
    """(parameter, ONNX tensor, how) for each of `params`, read from the node's inputs after the
    first (the layer's input), where given."""
    inputs = node.input[1 : 1 + len(params)]
    pairs = zip(params, inputs, strict=False)
    return tuple((param, t, "transposed" if param in transposed else "") for param, t in pairs if t)


def node_id(node: NodeProto, fallback: str) -> str:
    """`/layer1/add_1/Add` -> `add_1`: the scope torch's exporter names a node by, its operator left out."""
    parts = [p for p in node.name.split("/") if p]
    return parts[-2] if len(parts) >= 2 else parts[0] if parts else fallback
