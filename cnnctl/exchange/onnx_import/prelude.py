"""The prelude cnnctl's export --with-preprocessing writes before a network (uint8 NHWC pixels to
normalised NCHW floats): found and read as the network's input and its mean and std.
"""

from __future__ import annotations

from ...errors import CnnctlError, Loc, shown
from ...limits import MAX_CHANNEL_VALUES
from .attributes import attr_int, attr_ints, attributes_of
from .told import Unread


class Prelude:
    """The uint8 input's prelude, read before the pass."""

    def read_prelude(self) -> None:
        """Where the graph's input is uint8: the prelude cnnctl's export --with-preprocessing
        writes (exchange.export.WithPreprocessing) over its NHWC pixels, a Transpose to NCHW and a
        Cast to float (in either order), a Div by 255, a Sub of the mean and a Div by the std, each
        stored one per channel. The network is read after it: its input the normalised tensor, of
        the pixels' size and channels, the prelude's nodes read with it; its mean and std are
        kept as `prelude` (what the network file records). Any other uint8 input is one message at
        the node reading it."""
        from onnx import TensorProto

        given = next(i for i in self.graph.input if i.name == self.source)
        readers = self.consumers.get(given.name)
        if given.type.tensor_type.elem_type != TensorProto.UINT8 or not readers:
            return
        first = self.only_reader(given.name)
        try:
            found = self.prelude_nodes(first) if first is not None else None
        except (Unread, IndexError, KeyError, ValueError, TypeError, OverflowError):  # malformed: not it
            found = None
        if found is None:
            where = self.describe(readers[0])
            raise CnnctlError.at(
                f"{where}: the input {shown(given.name)} is uint8 pixels, and what reads them is not the prelude "
                "cnnctl's export --with-preprocessing writes (Transpose to NCHW, Cast to float, Div by 255, Sub of "
                "the mean and Div by the std per channel)",
                Loc(self.path),
                hint="export the network without --with-preprocessing: it then takes the normalised float input",
            )
        nodes, normalised, mean, std = found
        h, w, c = (d.dim_value for d in given.type.tensor_type.shape.dim[1:])  # the pixels: N x H x W x C
        if len(mean) != c or len(std) != c:
            raise CnnctlError.at(
                f"{self.describe(nodes[-2])}: the prelude's mean and std hold {len(mean)} and {len(std)} values for "
                f"an input of {c} channels",
                Loc(self.path),
            )
        self.input_shape, self.source = (h, w, c), normalised
        self.inside.update(nodes)
        self.prelude = mean, std

    def prelude_nodes(self, first: int) -> tuple[list[int], str, tuple, tuple] | None:
        """(its nodes, the tensor it makes, the mean, the std) of the prelude from node `first`."""
        import numpy as np

        ops = [self.nodes[first].op_type]
        nodes = [first]
        while len(nodes) < 5:
            j = self.only_reader(self.nodes[nodes[-1]].output[0])
            if j is None:
                return None
            nodes.append(j)
            ops.append(self.nodes[j].op_type)
        if sorted(ops[:2]) != ["Cast", "Transpose"] or ops[2:] != ["Div", "Sub", "Div"]:
            return None
        transpose, cast = (self.nodes[nodes[ops.index(op)]] for op in ("Transpose", "Cast"))
        if (
            attr_ints(attributes_of(transpose), "perm", None) != [0, 3, 1, 2]
            or attr_int(attributes_of(cast), "to", None) != 1
        ):  # FLOAT
            return None
        scaled, centred, divided = (self.nodes[i] for i in nodes[2:])
        if self.operand(nodes[2], "Div", 255.0) != self.nodes[nodes[1]].output[0]:
            return None
        if list(centred.input[:1]) != [scaled.output[0]] or list(divided.input[:1]) != [centred.output[0]]:
            return None
        factors = []
        for node in (centred, divided):
            tensor = self.inits.get(node.input[1]) if len(node.input) == 2 else None
            if tensor is None:
                return None
            values = self.values(tensor, node.input[1], cap=MAX_CHANNEL_VALUES, role="normalisation")
            dims, count = [int(d) for d in tensor.dims], int(values.size)
            if dims not in ([count], [1, count, 1, 1], [count, 1, 1]) or not np.isfinite(values).all():
                return None
            factors.append(tuple(float(str(np.float32(v))) for v in values.reshape(-1)))  # as written, not widened
        if min(factors[1], default=0.0) <= 0:
            return None
        return nodes, divided.output[0], factors[0], factors[1]
