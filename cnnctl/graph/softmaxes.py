"""A softmax applied twice on the way to a loss: `fc 10 act=softmax` then `softmax`.

Training hands a loss output's logits to cross-entropy, which applies log-softmax itself (the
output's own softmax is left to it: `Graph.softmax_left_to_loss`). A softmax above that, not
itself a loss output, makes the loss read probabilities as logits: they lie in [0, 1], so
every class's score is nearly the same and the gradients are flattened (it trains badly, or
not at all), though the shapes are right.
"""

from __future__ import annotations

from ..errors import Problem
from .nodes import Node

# Layers through which a softmax's probabilities reach the loss unchanged in kind: a value
# dropped or reshaped is still a probability (and a softmax of them is the double softmax).
PASSING = frozenset({"softmax", "dropout", "droppath", "flatten"})


def double_softmaxes(nodes: list[Node], loss_outputs: set[int]) -> list[Problem]:
    """A warning at each softmax that is not a loss output and whose output reaches one through
    layers that only pass it on (PASSING), each the only reader of the one before."""
    readers: dict[int, list[int]] = {}
    for node in nodes:
        for i in node.inputs:
            readers.setdefault(i, []).append(node.index)
    found = []
    for node in nodes:
        if node.index in loss_outputs or not node.applies_softmax:
            continue
        i = node.index
        while i not in loss_outputs and len(readers.get(i, ())) == 1 and nodes[readers[i][0]].kind in PASSING:
            i = readers[i][0]
        if i == node.index or i not in loss_outputs:
            continue
        what = "`act=softmax`" if node.kind != "softmax" else "this softmax"
        found.append(
            Problem(
                f"a softmax before the output `{nodes[i].path}`: training's loss applies (log-)softmax to the "
                "output itself, so it would read these probabilities as logits, and train badly",
                node.loc,
                node.path,
                f"drop {what}: the output's softmax is left to the loss, the only one training needs",
            )
        )
    return found
