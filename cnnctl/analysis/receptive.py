"""Receptive fields: which input pixels each layer's output positions see.

Per axis, a layer's field is described by three numbers (Araujo, Norris and Sim, "Computing
Receptive Fields of Convolutional Neural Networks", Distill 2019):

- ``size`` r: how many input pixels one output position sees;
- ``jump`` j: how far apart (in input pixels) neighbouring output positions' fields start,
  the product of the strides so far;
- ``start``: where the first output position's field starts (negative: in the padding).

Output position ``i`` sees input pixels ``start + i*j`` to ``start + i*j + r - 1``. Through a
layer whose windows are ``k`` wide, ``s`` apart, starting ``p`` before the input:

    r' = r + (k - 1)*j        j' = j*s        start' = start - p*j

That is exact where every window is ``s`` apart: the course's layers, and every bundled
network. Three layers place their windows unevenly: a transposed layer (deconv, upsample)
spreads each input position over ``k`` outputs ``s`` apart, so output ``o`` sees input
positions ``ceil((o + p - k + 1)/s)`` to ``floor((o + p)/s)`` (nearest upsampling by 2 gives
positions 2m and 2m+1 the same source m), and adaptive pooling whose output does not divide
its input starts window ``i`` at ``floor(i*H/out)``. No ``start + i*jump`` places those exactly;
cnnctl gives the smallest such field that contains every position's, and marks it `uneven`
(shown ``~``): for a transposed layer ``r' = r + (k - 1)*j/s``, ``j' = j/s``,
``start' = start + (p - k + 1)*j/s``; for such a pool, a window of ``H/out + 2 - 2/out`` at
``H/out`` apart, from ``(out - 1)/out`` before. A field made from an uneven one is uneven.

Where paths join (add, mul, concat), the field is the union of the inputs' fields: from the
earliest start to the latest end, the finest jump. A join with a 1x1xC input that scales
or shifts a whole map (a squeeze-and-excitation gate) lets every position see what that input
saw, the whole image: such a field, like any after `flatten` or `fc`, is the whole input. So
is the field of a map of one position whose field covers the image (a global pool, LeNet-5's
C5 conv to 1x1): its one value sees every input pixel, while ``size`` would count the padding
around the image too (627 for ResNet-18's global pool on a 224 image).

A field need not see every pixel between its ends: a 3x3 filter at dilation 2 sees 9 of the
25 pixels it spans, a window over positions whose fields are further apart than they are wide
(a stride-4 1x1 conv) sees pixels with gaps between them. So each field carries its `solid`
part, a rectangle of which it surely sees every pixel: the input pixel itself; through a
window whose taps are ``d`` positions apart (``d*j`` input pixels), the copies of the solid
part join into one, grown as the field grows, where they touch (``d*j <= `` its size),
otherwise one copy is all that is sure; at a join, the largest among the inputs with the
join's jump (the union of a 1x5 and a 5x1 field is a cross: only one of them is sure); of a
broadcast 1x1 input or an uneven field, nothing. A map of one position is `all` only where its
solid part covers the image: Inception-v3's crosses still are, their common part covering it.
"""

from __future__ import annotations

from ..graph import INPUT, Graph
from ..layers import KINDS
from ..layers.base import IDENTITY, Window
from ..records import record


@record
class Field:
    """The receptive field of a layer's output positions, as (height, width) pairs; `whole`:
    every output value sees the whole input (the other fields then say nothing)."""

    size: tuple[int | float, int | float]
    jump: tuple[int | float, int | float]
    start: tuple[int | float, int | float]
    whole: bool = False
    uneven: bool = False  # positions unevenly placed: the field contains each one's (see above)
    # the rectangle of which position 0 surely sees every pixel (it moves with `jump` as the
    # field does): all of it but where the field may have gaps (a dilated filter, see above)
    solid_start: tuple[int | float, int | float] = (0, 0)
    solid_size: tuple[int | float, int | float] = (0, 0)

    @property
    def gaps(self) -> bool:
        """Whether the field may miss pixels between its ends."""
        return self.solid_start != self.start or self.solid_size != self.size


PIXEL = Field((1, 1), (1, 1), (0, 0), solid_start=(0, 0), solid_size=(1, 1))
WHOLE = Field((0, 0), (0, 0), (0, 0), whole=True)


def receptive_fields(graph: Graph) -> tuple[Field, ...]:
    """The field of every node's output, in graph order."""
    fields: list[Field] = []
    # id(args) -> (kind, input shape, its windows): worked out once for a layer repeated with the
    # same arguments on the same input, and a plain (not transposed) pair as the six numbers the
    # step below needs. (The arguments live as long as the graph: their ids stay theirs.)
    windows: dict[int, tuple] = {}
    new = tuple.__new__  # a Field made without its Python-level constructor, once a layer
    nodes, input_shape = graph.nodes, graph.input_shape
    image = input_shape[:2]
    for n in nodes:
        if len(n.inputs) == 1:
            i = n.inputs[0]
            f = PIXEL if i == INPUT else fields[i]
            if f.whole:
                fields.append(WHOLE)
                continue
            shape_in = input_shape if i == INPUT else nodes[i].shape
            hit = windows.get(id(n.args))
            if hit is None or hit[0] != n.kind or hit[1] != shape_in:
                hit = windows[id(n.args)] = (
                    n.kind,
                    shape_in,
                    _prepared(KINDS[n.kind].window(n.args, graph.input_shapes(n), n.shape)),
                )
            w = hit[2]
            if w is None:
                fields.append(WHOLE)
            elif w is IDENTITY:
                fields.append(f)
            elif len(w) == 8:  # r' = r + (k - 1)*j, j' = j*s, start' = start - p*j, per axis
                (rh, rw), (jh, jw), (sh, sw), _, uneven, (ch, cw), (crh, crw) = f
                k1h, s_h, ph, dh, k1w, s_w, pw, dw = w
                size, jump, start = (rh + k1h * jh, rw + k1w * jw), (jh * s_h, jw * s_w), (sh - ph * jh, sw - pw * jw)
                # the taps' copies of the solid part, d*j apart, make one solid part where they touch
                solid = (crh + k1h * jh if dh * jh <= crh else crh, crw + k1w * jw if dw * jw <= crw else crw)
                fields.append(new(Field, (size, jump, start, False, uneven, (ch - ph * jh, cw - pw * jw), solid)))
            else:
                (rh, jh, sh), (rw, jw, sw) = _through(f, 0, w[0]), _through(f, 1, w[1])
                uneven = f.uneven or any(a.transposed and a.s != 1 or a.uneven for a in w)
                # an uneven field is never `all` (below): nothing is said to be solid
                solid = ((sh, sw), (0, 0)) if uneven else _solid(f, (rh, rw), (sh, sw), w)
                fields.append(new(Field, ((rh, rw), (jh, jw), (sh, sw), False, uneven, *solid)))
        else:
            ins = [PIXEL if i == INPUT else fields[i] for i in n.inputs]
            if any(f.whole for f in ins):
                fields.append(WHOLE)
            else:
                # a 1x1 input to a larger map is broadcast (a squeeze-and-excitation gate): every
                # position sees its field
                spread = n.shape[:2] != (1, 1)
                gate = [spread and len(s) == 3 and s[:2] == (1, 1) for s in graph.input_shapes(n)]
                if any(gate):
                    maps = [f for f, g in zip(ins, gate, strict=True) if not g]
                    ins = [_broadcast(f, maps, n.shape) if g else f for f, g in zip(ins, gate, strict=True)]
                fields.append(_union(ins))
        if n.shape[:2] == (1, 1) and len(n.shape) == 3 and _sees_all(fields[-1], image):
            fields[-1] = WHOLE
    return tuple(fields)


def _sees_all(f: Field, image: tuple[int, int]) -> bool:
    """Whether `f`, the field of a map of one position, covers every pixel of the image: its
    one value sees them all: its solid part does. (An uneven field only contains what each
    position sees.)"""
    if f.whole or f.uneven:
        return False
    return all(f.solid_start[a] <= 0 and f.solid_start[a] + f.solid_size[a] >= image[a] for a in (0, 1))


def _prepared(window: tuple[Window, Window] | None) -> tuple | None:
    if window is None or window == IDENTITY:
        return None if window is None else IDENTITY
    h, w = window
    if h.transposed or w.transposed or h.uneven or w.uneven:
        return window
    return h.k - 1, h.s, h.p, h.d, w.k - 1, w.s, w.p, w.d


def _through(f: Field, axis: int, w) -> tuple[int | float, int | float, int | float]:
    r, j, start = f.size[axis], f.jump[axis], f.start[axis]
    if w.transposed:
        return _exact(r + (w.k - 1) * j / w.s), _exact(j / w.s), _exact(start + (w.p - w.k + 1) * j / w.s)
    return _exact(r + (w.k - 1) * j), _exact(j * w.s), _exact(start - w.p * j)


def _solid(f: Field, size: tuple, start: tuple, window: tuple[Window, Window]) -> tuple[tuple, tuple]:
    """The solid part of the field `size` from `start` that `f` becomes through an even `window`:
    output position 0 sees input positions `d` apart (a transposed window of stride 1 too), so
    the copies of `f`'s solid part, d*j apart, join into one that grows as the field does where
    they touch (d*j at most its size); otherwise one copy is all that is sure."""
    solid_start, solid_size = [], []
    for a, w in enumerate(window):
        solid_start.append(f.solid_start[a] + start[a] - f.start[a])  # it moves as the field's start
        grown = w.d * f.jump[a] <= f.solid_size[a]
        solid_size.append(f.solid_size[a] + size[a] - f.size[a] if grown else f.solid_size[a])
    return tuple(solid_start), tuple(solid_size)


def _exact(value: float) -> int | float:
    """An integer where the value is one (jumps stay integers until a layer upsamples)."""
    return int(value) if float(value).is_integer() else value


def _union(fields: list[Field]) -> Field:
    """From the earliest start to the latest end, the finest jump. Solid: the largest solid part
    among the fields with that jump (sure at every position, as it moves with it); the union of
    a 1x5 and a 5x1 field is a cross, not 5x5, so no more than one is sure."""
    uneven = any(f.uneven for f in fields)
    size, jump, start = [], [], []
    for axis in (0, 1):
        first = min(f.start[axis] for f in fields)
        last = max(f.start[axis] + f.size[axis] - 1 for f in fields)
        size.append(last - first + 1)
        jump.append(min(f.jump[axis] for f in fields))
        start.append(first)
    jump = tuple(jump)
    solid, area = None, -1  # the largest of the solid parts that move with the union's jump
    for f in fields:
        if f.jump == jump and f.solid_size[0] * f.solid_size[1] > area:
            solid, area = f, f.solid_size[0] * f.solid_size[1]
    solid_start, solid_size = (solid.solid_start, solid.solid_size) if solid else (tuple(start), (0, 0))
    return tuple.__new__(Field, (tuple(size), jump, tuple(start), False, uneven, solid_start, solid_size))


def _broadcast(f: Field, maps: list[Field], shape: tuple[int, ...]) -> Field:
    """The field of a 1x1 input broadcast over a map of `shape`, as seen from each position: the
    same pixels wherever it is. A field ``start + i*j`` (`maps`' finest jump) that contains them
    at positions 0 to n - 1 starts (n - 1)*j earlier and is as much larger; uneven, with nothing
    said to be solid."""
    jump = tuple(min(m.jump[a] for m in maps) for a in (0, 1))
    widen = tuple((shape[a] - 1) * jump[a] for a in (0, 1))
    start = tuple(f.start[a] - widen[a] for a in (0, 1))
    size = tuple(f.size[a] + widen[a] for a in (0, 1))
    return Field(size, jump, start, uneven=True, solid_start=start)  # type: ignore[arg-type]
