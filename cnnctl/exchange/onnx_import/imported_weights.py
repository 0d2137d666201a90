"""The weights an ONNX file stores, under the names of cnnctl's module for the network read from
it (`read_weights`), decoded one tensor at a time.
"""

from __future__ import annotations

import math

from ...errors import CnnctlError, Loc
from ...records import record
from ...shapes import Shape
from .layer import READ_AS
from .network import _built, _read


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

    def stored(self) -> list:
        """Each ONNX tensor the weights come from, once (one may feed several), with its values and
        bytes as the file declares them (exchange.weights.StoredTensor): what reading them costs,
        known before a value is read."""
        from ..weights import StoredTensor

        found = {}
        for tensor, _ in self.sources.values():
            if tensor not in found:
                proto = self.reader.constants[tensor]
                values = math.prod(int(d) for d in proto.dims)
                found[tensor] = StoredTensor(tensor, values, values * _itemsize(proto.data_type))
        return list(found.values())

    def array(self, name: str):
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
    imported, reader = _read(path, name, input)
    graph = _built(imported, path)
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
            elif layer.kind == "grn":  # gamma and beta, stored 1xCx1x1 or C: C values, as timm's
                dims = (count,)
            elif layer.kind == "channelconv" and param == "weight":  # a Conv1d's 1 x 1 x f, as cnnctl's f x 1 filter
                dims = (1, 1, count, 1)
            if how == "transposed":  # Gemm's W^T, or a MatMul's C_in x C_out as a 1x1 conv's C_out x C_in x 1 x 1
                dims = dims[::-1] + ((1, 1) if layer.kind == "conv" else ())
            shapes[f"{node.path}.{param}"] = dims
            sources[f"{node.path}.{param}"] = (tensor, how)
    return ImportedWeights(imported.text, graph, shapes, sources, reader, imported.notes)
