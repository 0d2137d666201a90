"""Why a join's inputs differ in height or width: a layer above one of them left out its last
rows (a stride that does not divide its input), which the other input still has.

A U-Net on 50x50 pools 50 -> 25 -> 12 and upsamples 12 -> 24, to be joined with 25: the
join is where the shapes meet, but the cause is the pool that dropped row 25, told as a
warning at that pool. The join's hint names it and what fixes it.
"""

from __future__ import annotations

from collections.abc import Collection
from fractions import Fraction

from ..layers import KINDS
from ..shapes import Shape
from .nodes import INPUT, UNKNOWN, Node

LEFT_OUT = "leaves out the last"  # the start of the note a windowed layer gives (layers/conv.py unread_note)


def dropped_hint(
    nodes: list[Node], inputs: list[int], shapes: list[Shape], input_shape: Shape, ids: Collection[str] = ()
) -> str | None:
    """A hint naming the layer that dropped rows or columns above only some of a join's
    `inputs` (of `shapes`, which differ in height or width), or None where none did; `ids`: the
    ids written in the file (a `crop` line refers to its inputs by them).

    Only fixes that make the join's sizes meet are offered: the input sizes nearest that the
    strides divide; rounding up at the layer (`ceil`, `p=same`) only where no path to the join
    upsamples (there a 25 rounded up to 13 comes back as 26, not 25); cutting the larger input
    down to the smaller's size (`crop`)."""
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
    fixes = []
    if jump > 1 and len(input_shape) == 3:
        fixes.append(f"make the input's height and width divisible by {jump} ({_nearest(input_shape, jump)})")
    if not any(_upsamples(nodes[i]) for i in every):
        fixes.append("use `pool ... ceil` (or `p=same`) there" if node.kind == "pool" else "pad it (`p=same`)")
    crop = crop_hint(nodes, inputs, shapes, ids)
    if crop:
        fixes.append(crop)
    if not fixes:
        return None
    return f"`{node.path}` {what}: " + ", or ".join(fixes)


def crop_hint(nodes: list[Node], inputs: list[int], shapes: list[Shape], ids: Collection[str] = ()) -> str | None:
    """How to cut the larger of a join's two inputs down to the smaller's height and width with
    a `crop` line above the join, or None where neither input is the smaller in both."""
    if len(inputs) != 2 or any(len(s) != 3 for s in shapes) or shapes[0][:2] == shapes[1][:2]:
        return None
    (a, b), (sa, sb) = inputs, shapes
    if sa[0] <= sb[0] and sa[1] <= sb[1]:
        small, big, size = a, b, sa
    elif sb[0] <= sa[0] and sb[1] <= sa[1]:
        small, big, size = b, a, sb
    else:
        return None
    name = {i: "input" if i == INPUT else nodes[i].path for i in (a, b)}
    ref = {i: name[i] if i == INPUT or name[i] in ids else "ID" for i in (a, b)}
    cut = f"{name[big]}_crop" if ref[big] != "ID" else "cut"
    joined = ",".join(cut if i == big else ref[i] for i in (a, b))
    need = [f"`id=ID` on `{name[i]}`'s line" for i in (a, b) if ref[i] == "ID"]
    return (
        f"cut `{name[big]}` to {size[0]}x{size[1]} about its centre: `- crop from={ref[big]},{ref[small]} id={cut}` "
        f"just above the join, which then takes `from={joined}`" + (f" ({', '.join(need)})" if need else "")
    )


def _nearest(shape: Shape, jump: int) -> str:
    """The input shapes nearest `shape` whose height and width `jump` divides, below and above."""
    h, w, c = shape
    below = (max(jump, h // jump * jump), max(jump, w // jump * jump))
    above = (-(-h // jump) * jump, -(-w // jump) * jump)
    sizes = dict.fromkeys(f"{y}x{x}x{c}" for y, x in (below, above) if (y, x) != (h, w))
    return " or ".join(sizes)


def _upsamples(node: Node) -> bool:
    """Whether `node` spreads its input out (deconv, upsample): a size rounded up above it grows twice."""
    kind = KINDS.get(node.kind)
    if kind is None or node.shape == UNKNOWN or not node.inputs:
        return False
    window = kind.window(node.args, [node.shape], node.shape)  # transposed or not: its arguments say
    return window is not None and window[0].transposed


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
