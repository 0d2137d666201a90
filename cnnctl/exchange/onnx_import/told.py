"""How what cnnctl cannot read is told: the Unread a reader raises (a message and a hint), text
from the file made safe to show, and the problems of a file, at their ONNX node, all in one run.
"""

from __future__ import annotations

from ...errors import CnnctlError, Loc, Problem, shown, too_many
from ...files import Unread  # noqa: F401 (what a reader raises: a node cnnctl cannot express, a file it will not open)
from ...limits import MAX_PROBLEMS


def comment_text(text: str, limit: int = 80) -> str:
    """Text from the file made safe for a YAML comment: no line breaks (YAML counts U+2028 as one)."""
    return "".join(c if c.isprintable() else "?" for c in text[:limit])


# The hint of a refusal that has none of its own: what cnnctl imports, and what to do
READS_ITS_LAYERS = (
    "cnnctl imports what its layer kinds express (the notation's layers): export this part as one of them, "
    "or write the network in the notation"
)


class Told:
    """Each problem at the ONNX node it is found at: told once per operator and message."""

    def describe(self, i: int) -> str:
        """`ONNX node `conv1` (Conv, node 3 of 40)`: how a message names node `i`."""
        node = self.nodes[i]
        where = f"{comment_text(node.op_type, 40) or '?'}, node {i + 1:,} of {len(self.nodes):,}"
        return f"ONNX node {shown(node.name)} ({where})" if node.name else f"ONNX node ({where})"

    def describe_all(self, nodes: list[int]) -> str:
        """The ONNX nodes a layer comes from, as `describe` names one."""
        named = [self.describe(i).removeprefix("ONNX node ") for i in sorted(nodes)]
        if len(named) == 1:
            return f"ONNX node {named[0]}"
        shown = named if len(named) <= 3 else [*named[:2], f"{len(named) - 2} more"]
        return f"ONNX nodes {', '.join(shown[:-1])} and {shown[-1]}"

    def tell(self, i: int, message: str, hint: str | None = None) -> None:
        """A problem at node `i`: told once per operator and message, with the first node and how many more."""
        op = self.nodes[i].op_type
        seen = self.found.setdefault((op, message), [i, 0, hint])
        seen[1] += 1

    def raise_problems(self) -> None:
        problems, hinted = [], set()
        for (op, message), (first, count, hint) in self.found.items():
            shown_op = comment_text(op, 40)
            more = f" (and {count - 1:,} more {shown_op} node{'s' if count > 2 else ''})" if count > 1 else ""
            hint = hint or READS_ITS_LAYERS  # every refusal says what to do
            problems.append(Problem(f"{self.describe(first)}{more}: {message}", Loc(self.path), None, None))
            if hint not in hinted:
                problems[-1] = problems[-1]._replace(hint=hint)
                hinted.add(hint)
        if len(problems) > MAX_PROBLEMS:
            raise too_many(problems, Loc(self.path))
        if problems:
            raise CnnctlError(problems)
