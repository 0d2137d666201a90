"""Why a join's inputs differ in height or width: a layer above one of them left out its last
rows (a stride that does not divide its input), which the other input still has.

A U-Net on 50x50 pools 50 -> 25 -> 12 and upsamples 12 -> 24, to be joined with 25: the
join is where the shapes meet, but the cause is the pool that dropped row 25, told as a
warning at that pool. The join's hint names it and what fixes it.
"""

from __future__ import annotations

from fractions import Fraction

from ..layers import KINDS
from ..shapes import Shape
from .nodes import INPUT, Node

LEFT_OUT = "leaves out the last"  # the start of the note a windowed layer gives (layers/conv.py unread_note)


def dropped_hint(nodes: list[Node], inputs: list[int], shapes: list[Shape], input_shape: Shape) -> str | None:
    """A hint naming the layer that dropped rows or columns above only some of a join's
    `inputs` (of `shapes`, which differ in height or width), or None where none did."""
    if any(len(s) != 3 for s in shapes) or len({s[:2] for s in shapes}) < 2:
        return None
    above = [_ancestors(nodes, i) for i in inputs]
    every = set().union(*above)
    shared = set.intersection(*above)
    culprits = sorted(i for i in every - shared if any(n.startswith(LEFT_OUT) for n in nodes[i].notes))
    if not culprits:
        return None
    node = nodes[culprits[0]]
    what = next(n for n in node.notes if n.startswith(LEFT_OUT)).partition(":")[0]  # `leaves out ... input`
    jump = _jump(nodes, node.index, input_shape)
    fix = f"make the input's height and width divisible by {jump}" if jump > 1 else "pad its input"
    fix += ", or use `pool ... ceil` (or `p=same`) there" if node.kind == "pool" else ", or pad it (`p=same`)"
    return f"`{node.path}` {what}: {fix}"


def _ancestors(nodes: list[Node], index: int) -> set[int]:
    """`index` and every layer it reads, directly or not (the network's input left out)."""
    seen: set[int] = set()
    todo = [index]
    while todo:
        i = todo.pop()
        if i == INPUT or i in seen:
            continue
        seen.add(i)
        todo.extend(nodes[i].inputs)
    return seen


def _shape(nodes: list[Node], index: int, input_shape: Shape) -> Shape:
    return input_shape if index == INPUT else nodes[index].shape


def _jump(nodes: list[Node], index: int, input_shape: Shape) -> int:
    """The product of the strides from the network's input to `index`'s output, along each
    layer's first input (height only): the input's height must divide by it for no row to be
    left out on the way. 1 where that is not a whole number (an upsample on the way)."""
    jump = Fraction(1)
    i = index
    while i != INPUT:
        node = nodes[i]
        kind = KINDS.get(node.kind)
        if kind is None or not node.inputs:  # a stand-in for a failed item
            return 1
        ins = [_shape(nodes, j, input_shape) for j in node.inputs]
        window = kind.window(node.args, ins, node.shape)
        if window is not None:  # None: an fc, flatten (no joins of maps after those)
            height = window[0]
            jump = jump / Fraction(height.s) if height.transposed else jump * Fraction(height.s)
        i = node.inputs[0]
    return int(jump) if jump.denominator == 1 else 1
