"""Squeeze-and-excitation written with fully connected layers (Hu et al., the SENet paper's form and
most hand-written modules): a global pool, its N x C x 1 x 1 viewed as N x C, Gemm or MatMul by
stored weights (nn.Linear, with or without a bias) and activations, viewed back as N x C x 1 x 1
and multiplied in. cnnctl's gate holds the same values as a 1x1xC volume: the views are nothing,
and each fc a 1x1 conv of the same weights (out x in read as out x in x 1 x 1), so the network
read is the one of 1x1 convs (`pool avg global`, `conv f=1 ... act=relu`, `conv f=1 ...
act=sigmoid`, `mul`), as cnnctl's own `gate:` and torchvision's SqueezeExcitation are written.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .operators import OPERATORS
from .told import Unread

if TYPE_CHECKING:
    from onnx import NodeProto

POOLS = ("GlobalAveragePool", "GlobalMaxPool", "ReduceMean", "ReduceMax")  # where a squeeze starts
VIEWS = ("Flatten", "Reshape", "Squeeze", "Unsqueeze")  # between N x C x 1 x 1 and N x C: nothing
MAX_EXCITATION_STEPS = 16  # the most nodes walked from a pool (SENet's: 2 views, 2 fcs, 2 activations)


class Excitation:
    """Finding squeeze-and-excitation by fully connected layers, before the pass."""

    def find_excitations(self) -> None:
        """Each squeeze-and-excitation by fcs (excitation_at): its views read as nothing
        (`relaid`), its Gemms and MatMuls as 1x1 convs (`excited`), a mean without keepdims as
        the pool alone (`unflattened`)."""
        for i, node in enumerate(self.nodes):
            if node.op_type not in POOLS or not node.output or i in self.inside:
                continue
            try:
                found = self.excitation_at(i)
            except (Unread, IndexError, KeyError, ValueError, TypeError, OverflowError):  # malformed: node by node
                found = None
            if found is None:
                continue
            views, fcs = found
            self.relaid.update(views)
            self.excited.update(fcs)
            if len(self.shape(node.output[0])) == 2:  # x.mean((2, 3)): N x C, cnnctl's 1x1xC as it is
                self.unflattened.add(node.output[0])

    def excitation_at(self, p: int) -> tuple[list[int], list[int]] | None:
        """(the views, the fcs) of squeeze-and-excitation from pool node `p`: from its pooled N x C
        (x 1 x 1), each node the only reader of the one before, views between N x C and
        N x C x 1 x 1, Gemms and MatMuls by stored weights (with the Add of a MatMul's bias),
        activations (x * sigmoid(x) too), ending at the first view back to N x C' x 1 x 1 after an
        fc. None where the walk meets anything else, or ends without an fc."""
        pool = self.nodes[p]
        if pool.op_type.startswith("Reduce") and self.axes(pool) != [2, 3]:
            return None
        t = pool.output[0]
        if not _pooled(self.shape(t)):
            return None
        views, fcs, last = [], [], None
        for _ in range(MAX_EXCITATION_STEPS):
            j = self.only_reader(t) if self.readers.get(t) == 1 else self.silu_after(t)
            if j is None:
                return None
            node = self.nodes[j]
            operator = OPERATORS.get(node.op_type)
            if node.op_type in VIEWS and _pooled(self.shape(node.output[0])):
                views.append(j)
            elif node.op_type in ("Gemm", "MatMul") and self.stored_matrix(node):
                fcs.append(j)
            elif node.op_type == "Add" and last in fcs and self.nodes[last].op_type == "MatMul":
                pass  # its bias, as `matmul` reads it
            elif node.op_type == "Mul" and self.readers.get(t) != 1:
                pass  # x * sigmoid(x): SiLU, as `mul` reads it
            elif operator is None or not operator.activation or node.op_type == "Softmax":
                return None
            last, t = j, node.output[0]
            if fcs and views and views[-1] == j and len(self.shape(t)) == 4:
                return views, fcs
        return None

    def silu_after(self, t: str) -> int | None:
        """Where `t` is read by a Sigmoid (or HardSigmoid) and a Mul of `t` and its output alone
        (x * sigmoid(x), SiLU as the exporters write it): the Mul, after that gate."""
        readers = self.consumers.get(t, [])
        gates = [j for j in readers if self.nodes[j].op_type in ("Sigmoid", "HardSigmoid")]
        if len(readers) != 2 or len(gates) != 1:
            return None
        gate = self.nodes[gates[0]].output[0]
        mul = self.only_reader(gate)
        if mul is None or mul not in readers or sorted(self.nodes[mul].input) != sorted([t, gate]):
            return None
        return mul

    def stored_matrix(self, node: NodeProto) -> bool:
        """Whether Gemm or MatMul `node` multiplies by a stored matrix (its reader checks the rest)."""
        weight = self.inits.get(node.input[1]) if len(node.input) > 1 else None
        return weight is not None and len(weight.dims) == 2


def _pooled(dims: tuple | None) -> bool:
    """Whether `dims` are a pooled N x C or N x C x 1 x 1 (or N x C x 1, half viewed), C known."""
    return dims is not None and 2 <= len(dims) <= 4 and dims[1] is not None and all(d == 1 for d in dims[2:])
