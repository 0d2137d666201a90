"""The graph's wiring: checked before anything is read (each input made before it is read, each
output made once), and asked while reading (the one reader of a tensor, what follows a node,
the stored weight behind Identities).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...errors import shown
from .attributes import attributes_of
from .told import Unread
from .values import FOLDED

if TYPE_CHECKING:
    from onnx import NodeProto

# Operators whose output is worked out from their input's sizes alone, not from its values.
SIZES = frozenset({"Shape", "Size"})


class Wiring:
    """Who makes and who reads each tensor."""

    def from_the_input(self) -> set[str]:
        """The tensors computed from the values of the graph's input (data, what layers make),
        as against constants and values worked out from sizes alone (a Shape, and what is
        computed from it: a reshape's target)."""
        data = {self.source}
        for node in self.nodes:
            if node.op_type not in SIZES and any(t in data for t in node.input):
                data.update(t for t in node.output if t)
        return data

    def check_wiring(self) -> None:
        """Each node reads what the graph's input, an initializer or an earlier node makes, and
        makes an output no one else makes: ONNX's own rules, which the reader relies on (a node
        reading a later one's output is how a cycle shows)."""
        hint = "ONNX lists each node after those it reads (onnx.checker.check_model says what else is wrong)"
        first_made = self.maker
        for i, node in enumerate(self.nodes):
            for t in node.output:
                if t:
                    first_made.setdefault(t, i)
        known = set(self.inits) | {i.name for i in self.graph.input}
        for i, node in enumerate(self.nodes):
            for t in node.input:
                if not t or t in known:
                    continue
                j = first_made.get(t)
                if j is None:
                    self.tell(i, f"reads {shown(t)}, which nothing in the graph makes", hint)
                elif j == i:
                    self.tell(i, f"reads {shown(t)}, its own output (a cycle)", hint)
                else:
                    self.tell(i, f"reads {shown(t)}, which only a later node makes: {self.describe(j)}", hint)
            if not node.output or not node.output[0]:
                self.tell(i, "has no output", hint)
            for t in node.output:
                if t in known:
                    self.tell(i, f"makes {shown(t)}, which the graph's input, an initializer or a node made before")
                elif t:
                    known.add(t)
        self.raise_problems()

    def only_reader(self, t: str) -> int | None:
        """The one node that reads `t`, where one does and `t` is not an output of the graph."""
        readers = self.consumers.get(t, [])
        outputs = {o.name for o in self.graph.output}
        return readers[0] if len(readers) == 1 and t not in outputs else None

    def after(self, i: int, op: str, operand: str | None = None) -> tuple[int, str] | None:
        """(the node, its other input) where the only reader of node `i`'s output is `op` of it
        and another tensor (`operand`, where given), in either order."""
        out = self.nodes[i].output[0]
        j = self.only_reader(out)
        if j is None or self.nodes[j].op_type != op or len(self.nodes[j].input) != 2 or out not in self.nodes[j].input:
            return None
        ins = list(self.nodes[j].input)
        other = ins[1] if ins[0] == out else ins[0]
        return (j, other) if operand is None or other == operand else None

    def operand(self, i: int, op: str, value: float) -> str | None:
        """Where node `i` is `op` of a tensor and the constant `value` (second for a Div): that tensor."""
        node = self.nodes[i]
        if node.op_type != op or len(node.input) != 2:
            return None
        a, b = node.input
        if self.is_value(b, value):
            return a
        return b if op != "Div" and self.is_value(a, value) else None

    def other(self, i: int, op: str, t: str) -> str | None:
        """Where node `i` is `op` of `t` and a constant of one value, in either order: that constant."""
        node = self.nodes[i]
        if node.op_type != op or len(node.input) != 2 or t not in node.input:
            return None
        other = node.input[1] if node.input[0] == t else node.input[0]
        if other not in self.constants or self.constants[other] is FOLDED:
            return None
        try:
            self.decoded.setdefault(other, self.values(self.constants[other], other))
        except Unread:
            return None
        return other if self.decoded[other].size == 1 else None

    def stored(self, t: str) -> str | None:
        """The stored weight `t` is, through the Identities torch's exporter reads equal weights by."""
        seen = 0
        while t not in self.inits and seen < len(self.nodes):
            maker = self.maker.get(t)
            if maker is None or self.nodes[maker].op_type != "Identity":
                return None
            t, seen = self.nodes[maker].input[0], seen + 1
        return t

    def axes(self, node: NodeProto) -> list[int] | None:
        """The axes a Reduce node reduces over (an input from opset 18, an attribute before), of 4."""
        axes = self.axes_written(node)
        return None if axes is None else sorted(int(v) % 4 for v in axes)

    def axes_written(self, node: NodeProto) -> list[int] | None:
        """The axes of a Reduce node as the file gives them (-1 for the last, whatever the rank)."""
        axes = self.const(node, 1) if len(node.input) > 1 and node.input[1] else attributes_of(node).get("axes")
        return None if axes is None else [int(v) for v in list(axes)]
