"""Activations: each joins the layer before as `act=` where nothing else reads it, else is a
layer of its own; LeakyRelu, PyTorch's HardSigmoid, Clip as relu6, and GELU written out.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from .attributes import attr_float, attr_text, one_number
from .layer import Layer, node_id
from .operators import ACTIVATIONS, FUSES
from .patterns import Pattern
from .told import Unread

if TYPE_CHECKING:
    from onnx import NodeProto


class Activations:
    """The readers of activations, and a written-out GELU's pattern."""

    def activate(self, node: NodeProto, a: dict, ins: list) -> Layer | None:
        if node.op_type == "Gelu" and attr_text(a, "approximate", "none") != "none":
            raise Unread("GELU's tanh approximation", "cnnctl's gelu is the exact one (erf)")
        return self.activation(node, ACTIVATIONS[node.op_type])

    def activation(
        self, node: NodeProto, act: str, reads: int = 1, nodes: list | None = None, given: str | None = None
    ) -> Layer | None:
        """`act` joins the layer before as `act=` where nothing else reads that layer (SiLU's
        x * sigmoid(x) reads it twice); else it is a layer of its own. `nodes`: others it
        comes from besides the one read (SiLU's sigmoid); `given`: what it reads, where not the
        node's first input (a written-out GELU's x)."""
        given = given or node.input[0]
        x = self.real(given)
        prev = self.made.get(x)
        plain = " " not in act  # an inline act has no arguments (leaky's slope)
        alone = self.readers.get(given, 0) == reads
        if plain and prev is not None and prev.kind in FUSES and alone and not any("act=" in w for w in prev.words):
            prev.words.append(f"act={act}")
            prev.nodes.extend([*(nodes or []), self.index])
            self.alias[node.output[0]] = x
            return None
        kind, *words = act.split()
        return self.layer(kind, words, [x], node_id(node, kind), nodes)

    def leaky(self, node: NodeProto, a: dict, ins: list) -> Layer | None:
        return self.activation(node, f"leaky slope={attr_float(a, 'alpha', 0.01):g}")

    def hardsigmoid(self, node: NodeProto, a: dict, ins: list) -> Layer | None:
        alpha, beta = attr_float(a, "alpha", 0.2), attr_float(a, "beta", 0.5)
        if not (math.isclose(alpha, 1 / 6, rel_tol=1e-4) and math.isclose(beta, 0.5)):
            raise Unread(
                "alpha and beta are not PyTorch's 1/6 and 1/2",
                "cnnctl's hardsigmoid is PyTorch's nn.Hardsigmoid (ONNX's default alpha 0.2 is Keras's): "
                "export the network with nn.Hardsigmoid, or write it in the notation",
            )
        return self.activation(node, "hardsigmoid")

    def clip(self, node: NodeProto, a: dict, ins: list) -> Layer | None:
        low = a["min"] if "min" in a else self.const(node, 1)
        high = a["max"] if "max" in a else self.const(node, 2)
        if low is None or high is None or one_number(low, "min") != 0.0 or one_number(high, "max") != 6.0:
            raise Unread(
                "a clip other than [0, 6] (relu6)",
                "cnnctl reads a Clip to [0, 6] as relu6 and has no layer for another range (nn.Hardtanh(-2, 2)): "
                "export the network with nn.ReLU6 or another activation cnnctl has in its place",
            )
        return self.activation(node, "relu6")

    def gelu_at(self, e: int) -> Pattern | None:
        """GELU as opsets below 20 write it, x * 0.5 * (1 + erf(x / sqrt(2))), around Erf node `e`:
        a Div by sqrt(2) (or Mul by 1/sqrt(2)), Erf, Add of 1 and two Muls, by x and by 0.5, in
        either order."""
        found = self.gelu_nodes(e)
        return Pattern("gelu", found[0], found[1], found[2]) if found is not None else None

    def gelu_nodes(self, e: int) -> tuple[str, list[int], int] | None:
        """(x, the pattern's nodes but its last, its last) for the written-out GELU around Erf node `e`."""
        scaled = self.maker.get(self.nodes[e].input[0])
        if scaled is None:
            return None
        x = self.operand(scaled, "Div", math.sqrt(2)) or self.operand(scaled, "Mul", 1 / math.sqrt(2))
        plus = self.only_reader(self.nodes[e].output[0])
        if x is None or x in self.constants or plus is None or self.operand(plus, "Add", 1.0) is None:
            return None
        m1 = self.only_reader(self.nodes[plus].output[0])
        if m1 is None or self.nodes[m1].op_type != "Mul":
            return None
        other = next((t for t in self.nodes[m1].input if t != self.nodes[plus].output[0]), None)
        product = self.nodes[m1].output[0]
        m2 = self.only_reader(product)
        if other == x:  # (1 + erf) * x, then * 0.5
            ends = m2 is not None and self.operand(m2, "Mul", 0.5) == product
            return (x, [scaled, e, plus, m1], m2) if ends else None
        if self.is_value(other, 0.5):  # (1 + erf) * 0.5, then * x
            ends = m2 is not None and self.nodes[m2].op_type == "Mul" and {*self.nodes[m2].input} == {product, x}
            return (x, [scaled, e, plus, m1], m2) if ends else None
        half = self.maker.get(other)  # x * 0.5 first, then times (1 + erf)
        if half is None or self.only_reader(other) != m1 or self.operand(half, "Mul", 0.5) != x:
            return None
        return x, [scaled, e, plus, half], m1

    def mish_at(self, s: int) -> Pattern | None:
        """Mish as exporters without a Mish operator write it, x * tanh(softplus(x)), from Softplus
        node `s`: its output read only by a Tanh, that read only by a Mul with x (in either order)."""
        x = self.nodes[s].input[0]
        tanh = self.only_reader(self.nodes[s].output[0])
        if x in self.constants or tanh is None or self.nodes[tanh].op_type != "Tanh":
            return None
        mul = self.after(tanh, "Mul", x)
        return Pattern("mish", x, [s, tanh], mul[0]) if mul is not None else None

    def mish(self, node: NodeProto, a: dict, ins: list) -> Layer | None:
        """The last node of a written-out Mish (mish_at): its x, read by two of the pattern's nodes."""
        found = self.patterns[self.index]
        return self.activation(node, "mish", reads=2, nodes=found.nodes, given=found.x)

    def gelu(self, node: NodeProto, a: dict, ins: list) -> Layer | None:
        """The last node of a written-out GELU (gelu_at): its x, read by two of the pattern's nodes."""
        found = self.patterns[self.index]
        return self.activation(node, "gelu", reads=2, nodes=found.nodes, given=found.x)
