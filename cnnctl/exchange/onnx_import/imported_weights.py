"""The weights an ONNX file stores, under the names of cnnctl's module for the network read from
it (`read_weights`), decoded one tensor at a time.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from ...errors import CnnctlError, Loc, Problem, shown
from ...records import record
from ...shapes import Shape, format_shape
from .layer import READ_AS
from .network import built_imported, read_imported

if TYPE_CHECKING:
    import numpy as np


@record
class ImportedWeights:
    """A network read from ONNX and built, with the weights the file stores under the names
    cnnctl's compiled module gives its parameters and buffers (`layer1_0_conv1.weight`).

    `shapes` is enough to match them (exchange/weights.py's match_weights) without torch or
    reading a value; `array(name)` decodes one tensor, laid out as cnnctl's parameter is.
    """

    text: str  # the network file, as `cnnctl import` writes it
    graph: object  # the network built from it
    shapes: dict  # parameter name -> the shape of its values
    sources: dict  # parameter name -> (the ONNX tensor it comes from, how it is read: READ_AS)
    reader: object  # what decodes the values, from the file read
    notes: tuple = ()  # what the reading changed or left out that the user should know (Imported.notes)
    warnings: tuple = ()  # what of the file the network does not hold (Imported.warnings)

    def stored(self) -> list:
        """Each ONNX tensor the weights come from, once (one may feed several), with its values and
        bytes as the file declares them (exchange.weights.StoredTensor): what reading them costs,
        known before a value is read."""
        from ..weights import StoredTensor

        found = {}
        for read, _ in self.sources.values():
            tensor = self.reader.origin(read)  # a weight the graph lays out (stored_layouts) is its source's read
            if tensor not in found:
                proto = self.reader.constants[tensor]
                values = math.prod(int(d) for d in proto.dims)
                found[tensor] = StoredTensor(tensor, values, values * _itemsize(proto.data_type))
        return list(found.values())

    def array(self, name: str) -> np.ndarray:
        """The values of parameter `name`, a numpy array of shape `shapes[name]`."""
        tensor, how = self.sources[name]
        values = self.reader.weight(tensor)
        # its own writable copy, not a view of the file; a factor per channel stored as 1xCx1x1 or C
        # takes the layer's own shape (the same values in the same order)
        return READ_AS[how](values).reshape(self.shapes[name]).copy()


def _itemsize(data_type: int) -> int:
    """The bytes of one value of the ONNX data type (8, the widest number, for one onnx does not know)."""
    from onnx import helper

    try:
        return helper.tensor_dtype_to_np_dtype(data_type).itemsize
    except (KeyError, TypeError, ValueError):
        return 8


def read_weights(path: str, name: str | None = None, input: Shape | None = None) -> ImportedWeights:
    """The network of the ONNX file at `path` (`input`: the sizes it leaves unknown), built, and
    where its stored weights go in it."""
    imported, reader = read_imported(path, name, input)
    graph = built_imported(imported, path)
    problems = _declared_output(reader, graph)
    shapes, sources = {}, {}
    for node, layer in zip(graph.nodes, imported.layers, strict=True):  # one node per layer written
        if node.kind != layer.kind:  # the text's layers and the network's nodes out of step: a bug here
            raise CnnctlError.at(f"the weights of `{node.path}` could not be placed ({layer.kind} read)", Loc(path))
        for param, read, how in layer.stored:
            tensor = reader.real(read)  # torch's exporter stores equal weights once, read through an Identity
            if tensor not in reader.constants:  # computed by the graph, not stored: nothing to load (missing)
                continue
            dims = tuple(int(d) for d in reader.constants[tensor].dims)
            count = math.prod(dims)  # a factor per channel as 1xCx1x1 or C, a value as a scalar: the layer's shape
            if layer.kind == "affine" or (layer.kind == "layerscale" and count == node.shape[-1]):
                dims = (count, 1, 1) if len(node.shape) == 3 else (count,)
            elif layer.kind in ("grn", "groupnorm"):  # gamma and beta, stored 1xCx1x1, Cx1x1 or C: C values
                dims = (count,)
            elif layer.kind == "channelconv" and param == "weight":  # a Conv1d's 1 x 1 x f, as cnnctl's f x 1 filter
                dims = (1, 1, count, 1)
            if how == "transposed":  # Gemm's W^T, or a MatMul's C_in x C_out as a 1x1 conv's C_out x C_in x 1 x 1
                dims = dims[::-1] + ((1, 1) if layer.kind == "conv" else ())
            elif layer.kind == "conv" and len(dims) == 2:  # a Gemm's C_out x C_in, as a 1x1 conv's (excitation)
                dims = (*dims, 1, 1)
            shapes[f"{node.path}.{param}"] = dims
            sources[f"{node.path}.{param}"] = (tensor, how)
            problems.extend(_misfit(reader, layer, node, param, tensor, dims, graph, path))
    if problems:
        raise CnnctlError(problems)
    return ImportedWeights(imported.text, graph, shapes, sources, reader, imported.notes, imported.warnings)


def _declared_output(reader, graph) -> list[Problem]:
    """The network's output against the shape the file declares for its first output, where it
    declares every size: a mismatch (a weight whose dims say 1e9 outputs where the file says 10)
    is told at the output, both shapes named."""
    declared = reader.graph.output[0].type.tensor_type.shape.dim if reader.graph.output else []
    dims = [d.dim_value if d.HasField("dim_value") else 0 for d in declared]
    if len(dims) < 2 or min(dims) <= 0:
        return []
    per_image = tuple(dims[1:]) if len(dims) != 4 else (dims[2], dims[3], dims[1])  # N x C x H x W: HxWxC
    if per_image == tuple(graph.output_shape):
        return []
    maker = reader.maker.get(reader.graph.output[0].name)  # told at the node that makes it, where one does
    where = f"{reader.describe(maker)}, " if maker is not None else ""
    return [Problem(
        f"{where}the graph's output {shown(reader.graph.output[0].name)} is declared "
        f"{'x'.join(str(d) for d in dims)} ({format_shape(per_image)} per image), and the network read gives "
        f"{format_shape(graph.output_shape)}",
        Loc(reader.path), None,
        "a weight's dims and the declared shapes disagree: the file was changed after it was exported?",
    )]  # fmt: skip


def _misfit(reader, layer, node, param: str, tensor: str, dims: tuple, graph, path: str) -> list[Problem]:
    """Where the stored tensor `tensor`, read as `dims`, cannot be the parameter `param` of the
    layer built (a Conv's 4x5x3x3 weight on 3 channels), or holds no values at all: the problem,
    at the ONNX node(s) it came from, both shapes named."""
    from ...layers import KINDS

    where = reader.describe_all(layer.nodes)
    problems = []
    proto = reader.constants[tensor]
    if math.prod(dims) and not _holds_values(reader.constants[reader.origin(tensor)]):
        problems.append(Problem(
            f"{where}: the stored {shown(tensor)} of {' x '.join(f'{d:,}' for d in proto.dims)} values holds "
            "none (no data in the file, none stored outside it)",
            Loc(path), None, "re-export the model: its weights were removed from the file",
        ))  # fmt: skip
    expected = dict(KINDS[node.kind].param_shapes(node.args, graph.input_shapes(node), node.shape))
    if param in expected and tuple(expected[param]) != tuple(dims):
        problems.append(Problem(
            f"{where}: its {param} {shown(tensor)} is {'x'.join(str(d) for d in proto.dims)}, and the layer read, "
            f"`{node.text}` on {format_shape(graph.input_shapes(node)[0])}, needs "
            f"{'x'.join(str(d) for d in expected[param])}",
            Loc(path), None, "the file's weights do not fit its own graph: onnx.checker.check_model(model, "
            "full_check=True) says more",
        ))  # fmt: skip
    return problems


def _holds_values(proto) -> bool:
    """Whether an initializer holds its values somewhere: in the file (raw or typed), or outside it."""
    from onnx import TensorProto

    if proto.data_location == TensorProto.EXTERNAL or proto.raw_data:
        return True
    fields = ("float_data", "int32_data", "int64_data", "double_data", "uint64_data", "string_data")
    return any(len(getattr(proto, f)) for f in fields)
