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
network (not U-Net, an example). Some layers place their windows unevenly: a transposed layer (deconv,
upsample) spreads each input position over ``k`` outputs ``s`` apart, so output ``o`` sees input
positions ``ceil((o + p - k + 1)/s)`` to ``floor((o + p)/s)`` (nearest upsampling by 2 gives
positions 2m and 2m+1 the same source m; bilinear by 2 is the window of a deconv f=4 s=2 p=1),
adaptive pooling whose output does not divide its input pools window ``i`` from
``floor(i*H/out)`` to ``ceil((i+1)*H/out) - 1``, and bilinear upsampling with align_corners
reads ``floor(o*a/b)`` to ``ceil(o*a/b)`` (``a/b = (H - 1)/(out - 1)``). No
``start + i*jump`` places those fields, but they repeat: after ``s`` outputs of a transposed
layer the same pattern comes one input position later (after ``out/g`` windows, ``H/g``
positions later, ``g = gcd(H, out)``; after ``b/g`` outputs, ``a/g`` inputs,
``g = gcd(a, b)``). So such a field is kept exactly as its `Spans`, per
axis: for each output position of one period, the first and last input pixel it sees, and
how far the pattern moves a period. Through any layer, output ``o`` sees from the first pixel
of its first input position to the last of its last (the fields only move right as ``o``
grows); its period is the layer's, enough times over that the input's repeats too. The field
is then `uneven` (shown ``~``): `size` is the largest of the positions' fields (the transposed
layer's ``r + (ceil(k/s) - 1)*j``), `jump` the average ``j/s``, `start` position 0's. A layer
that evens the pattern out again (a stride-2 pool after an upsample by 2) gives an even field.
A period past `MAX_PERIOD` output positions (only absurd layers: `upsample 100000`) is not
followed: the field is then the smallest ``start + i*jump`` that contains every position's,
also marked uneven: for a transposed layer ``r' = r + (k - 1)*j/s``, ``j' = j/s``,
``start' = start + (p - k + 1)*j/s``; for such a pool, a window of ``H/out + 2 - 2/out`` at
``H/out`` apart, from ``(out - 1)/out`` before.

Where paths join (add, mul, concat), the field is the union of the inputs' fields: from the
earliest start to the latest end, the finest jump (an uneven input's: position by position,
over a period of them all; inputs of different jumps: the smallest field that contains them,
marked uneven). A join with a 1x1xC input that scales or shifts a whole map (a
squeeze-and-excitation gate) lets every position see what that input saw, usually the whole
image (then `all`); where that holds what every position of the map sees (a pool that misses
the rows a stride left out), exactly that, jump 0; otherwise the smallest field that contains
each position's, marked uneven. A field says why it is uneven (`because`: the kinds of the layers that made it so).

The formulas extend each map past its ends: a position of the padding around a map is placed
``start + i*jump`` like the others, and that is the convention for a layer's field (ResNet-18's
layer4 is 435 on a 224 image). But a value that reads a whole map, the one value of a map of
one position (a global pool, LeNet-5's C5 conv to 1x1), or any after `fc`, `flatten` or `grn`,
sees exactly what that map's positions see together (jump 0: the same pixels from every
value), and that is worked out exactly
(`_Reach`): back from the positions it reads, layer by layer, which input positions each
window reads (`_read`), those past a map's ends being padding that sees nothing: a map that
ends before the image does (a stride that drops the last rows) leaves those rows unseen, and
a global pool after an upsample sees the image, not the ``~3`` of positions past the map's
end. Such a field runs from the first row and column seen to the last, with gaps where a
pixel between is not seen (a 3x3 filter at dilation 2 sees 9 of the 25 pixels it spans);
it is `all` where every pixel of the image is seen. Along one path the pixels seen are a
set of rows by a set of columns; paths that read differently (a 1x3 and a 3x1 branch at
stride 3: an L) each give such a box, and the boxes' union is what is seen (past
`MAX_BOXES` of them, or `MAX_SCAN` positions read one by one, or `MAX_STEPS` layers followed,
only absurd networks, the field is the formulas', marked uneven: it contains what is seen). Most
layers read every position of their input: their whole map sees what the input's does,
so each node is worked out once, and only where a map of one position or `fc` asks.

What is reported: `size`, `jump` and `start` are the formulas' (the literature's) field, in a
map extended past its ends, its padding's positions numbered outside the image: exactly what a
position whose field lies inside the image sees, but at a map's edges they claim padding and
the rows a stride leaves out at its end (8x8, ``conv f=3 s=2`` then ``conv f=3 p=1``: field 7,
jump 2, start -2, the last position spanning rows 2 to 8 where it reads 2 to 6). What is read
of the image, never outside it, is `map_reaches` (summarize's `reach` column): the first and
last row and column that a node's whole map sees, by the exact walk above; a position's own is
`exact_span`: the formulas' span clipped to it (exactly for an even field without gaps).

Each field also carries its `solid` part, a rectangle of which it surely sees every pixel (in
the formulas' extended maps): the input pixel itself; through a window whose taps are ``d``
positions apart (``d*j`` input pixels), the copies of the solid part join into one, grown as
the field grows, where they touch (``d*j <= `` its size), otherwise one copy is all that is
sure; at a join, the largest among the inputs with the join's jump (the union of a 1x5 and a
5x1 field is a cross: only one of them is sure); of a broadcast 1x1 input or an uneven field,
nothing. Where it differs from the field, the field may have gaps (`Field.gaps`).
"""

from __future__ import annotations

from heapq import heappop, heappush
from math import gcd

from ..graph import INPUT, Graph, Node
from ..layers import KINDS
from ..layers.base import IDENTITY, Window
from ..records import record
from ..shapes import rows_read

MAX_PERIOD = 4096  # output positions of one period of an uneven field followed exactly (see above)
MAX_SCAN = 1 << 14  # positions read one by one to follow which input positions a map reads (see above)
MAX_BOXES = 16  # rectangles kept of what positions see along several paths (see above)
MAX_STEPS = 1_000_000  # layers visited to follow what maps read, for one network (see above)

Intervals = tuple[tuple[int, int], ...]  # sorted, disjoint, not touching: (first, last) each


@record
class Spans:
    """An uneven field along one axis: output position ``q + period*t`` (``q < period``) sees
    input pixels ``lo[q] + shift*t`` to ``hi[q] + shift*t`` (None: nothing, a deconv whose
    stride is larger than its filter leaves positions that only get the bias)."""

    period: int
    shift: int | float
    lo: tuple[int | float | None, ...]
    hi: tuple[int | float | None, ...]

    def at(self, i: int) -> tuple[int | float, int | float] | None:
        """The first and last pixel position `i` sees (any integer: padding positions too)."""
        t, q = divmod(i, self.period)
        lo = self.lo[q]
        return None if lo is None else (lo + self.shift * t, self.hi[q] + self.shift * t)


@record
class Field:
    """The receptive field of a layer's output positions, as (height, width) pairs; `whole`:
    every output value sees the whole input (the other fields then say nothing)."""

    size: tuple[int | float, int | float]
    jump: tuple[int | float, int | float]
    start: tuple[int | float, int | float]
    whole: bool = False
    # positions' fields differ other than by moving `jump` each (an upsample): `size` is the
    # largest, `spans` says each exactly (without them: `size` contains each one's, see above)
    uneven: bool = False
    # the rectangle of which position 0 surely sees every pixel (it moves with `jump` as the
    # field does): all of it but where the field may have gaps (a dilated filter, see above)
    solid_start: tuple[int | float, int | float] = (0, 0)
    solid_size: tuple[int | float, int | float] = (0, 0)
    spans: tuple[Spans, Spans] | None = None  # an uneven field exactly, per axis
    # the kinds of the layers that made it uneven (`upsample`, `deconv`, `pool`: adaptive), and
    # `gate` for a bound after a gate whose field misses pixels; sorted, () where even
    because: tuple[str, ...] = ()

    @property
    def sizes_differ(self) -> bool:
        """Whether the positions' fields differ in size, not only in where they are placed: an
        uneven field is either (a deconv f=2 s=2 gives every position the same size, two
        positions at each place; f=3 s=2 sizes that alternate). Told by `spans`, exactly (a
        position that sees nothing differs too); a bound, without them, is taken to differ."""
        if not self.uneven:
            return False
        if self.spans is None:
            return True
        return any(None in s.lo or len({hi - lo for lo, hi in zip(s.lo, s.hi, strict=True)}) > 1 for s in self.spans)

    @property
    def gaps(self) -> bool:
        """Whether the field may miss pixels between its ends."""
        return self.solid_start != self.start or self.solid_size != self.size

    def span(self, axis: int, i: int) -> tuple[int | float, int | float] | None:
        """The first and last input pixel output position `i` sees along `axis` (0: rows), the
        padding included; None: none (or the whole input: `whole`)."""
        if self.whole:
            return None
        if self.spans is not None:
            return self.spans[axis].at(i)
        lo = self.start[axis] + i * self.jump[axis]
        return lo, lo + self.size[axis] - 1


PIXEL = Field((1, 1), (1, 1), (0, 0), solid_start=(0, 0), solid_size=(1, 1))
WHOLE = Field((0, 0), (0, 0), (0, 0), whole=True)


def receptive_fields(graph: Graph) -> tuple[Field, ...]:
    """The field of every node's output, in graph order."""
    fields: list[Field] = []
    # id(args) -> (kind, input shape, its windows): worked out once for a layer repeated with the
    # same arguments on the same input, and an even pair as the eight numbers the step below
    # needs. (The arguments live as long as the graph: their ids stay theirs.)
    windows: dict[int, tuple] = {}
    new = tuple.__new__  # a Field made without its Python-level constructor, once a layer
    nodes, input_shape = graph.nodes, graph.input_shape
    reach = _Reach(graph)  # what whole maps see, worked out only where a map of one position asks
    for n in nodes:
        if len(n.inputs) == 1 or KINDS[n.kind].sized_by_last:  # a crop's second input gives a size alone
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
            if w is None:  # every value reads every position of the input: sees what they all see
                fields.append(reach.field(i, _all_positions(f, _plane(shape_in)), (0, 0)))
            elif w is IDENTITY:
                fields.append(f)
            elif len(w) == 8 and f.spans is None:  # r' = r + (k - 1)*j, j' = j*s, start' = start - p*j
                (rh, rw), (jh, jw), (sh, sw), _, uneven, (ch, cw), (crh, crw), _, because = f
                k1h, s_h, ph, dh, k1w, s_w, pw, dw = w
                size, jump, start = (rh + k1h * jh, rw + k1w * jw), (jh * s_h, jw * s_w), (sh - ph * jh, sw - pw * jw)
                # the taps' copies of the solid part, d*j apart, make one solid part where they touch
                solid = (crh + k1h * jh if dh * jh <= crh else crh, crw + k1w * jw if dw * jw <= crw else crw)
                solid_start = (ch - ph * jh, cw - pw * jw)
                fields.append(new(Field, (size, jump, start, False, uneven, solid_start, solid, None, because)))
            else:
                if len(w) == 8:  # an uneven field through an even window
                    w = (Window(w[0] + 1, w[1], w[2], d=w[3]), Window(w[4] + 1, w[5], w[6], d=w[7]))
                fields.append(_uneven_through(f, w, n.kind))
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
                    within = _gate_holding(ins, gate, maps, n.shape)
                    if within is not None:  # every position sees what the gate sees, nothing more
                        fields.append(within)
                        continue
                    ins = [_broadcast(f, maps, n.shape) if g else f for f, g in zip(ins, gate, strict=True)]
                fields.append(_union(ins))
        f = fields[-1]
        if n.shape[:2] == (1, 1) and len(n.shape) == 3 and not f.whole:  # its one position, exactly
            fields[-1] = reach.field(n.index, f, (0, 0))  # no neighbour a jump away: 0, as after fc
    return tuple(fields)


def _prepared(window: tuple[Window, Window] | None) -> tuple | None:
    """Even windows as the eight numbers the even step reads (a transposed window of stride 1
    is a plain one: output o sees inputs o + p - k + 1 to o + p, a conv padded ``k - 1 - p``);
    otherwise the windows themselves."""
    if window is None or window == IDENTITY:
        return None if window is None else IDENTITY
    h, w = (Window(a.k, 1, a.k - 1 - a.p, d=a.d) if a.transposed and a.s == 1 else a for a in window)
    if h.transposed or w.transposed or h.uneven or w.uneven:
        return window
    return h.k - 1, h.s, h.p, h.d, w.k - 1, w.s, w.p, w.d


def _uneven_through(f: Field, window: tuple[Window, Window], kind: str) -> Field:
    """`f` through the window of a layer of `kind`, transposed or adaptive, or an uneven `f`
    through any window: position by position over a period (see above)."""
    because = _why(f, (kind,) if any(a.transposed or a.uneven for a in window) else ())
    spans = [_step(_spans_of(f, a), window[a]) for a in (0, 1)]
    if None in spans:  # too long a period: the field that contains each position's
        (rh, jh, sh), (rw, jw, sw) = (_through(_bound(f), a, window[a]) for a in (0, 1))
        return Field((rh, rw), (jh, jw), (sh, sw), uneven=True, solid_start=(sh, sw), because=because)
    bound = f.uneven and f.spans is None  # a bound (after a gate) stays one
    return _from_spans(spans, because, bound)  # type: ignore[arg-type]


def _spans_of(f: Field, axis: int) -> Spans:
    if f.spans is not None:
        return f.spans[axis]
    return Spans(1, f.jump[axis], (f.start[axis],), (f.start[axis] + f.size[axis] - 1,))


def _sources(w: Window, o: int) -> range:
    """The input positions output position `o` reads through `w`, in order."""
    if w.adaptive:
        n, out = w.adaptive
        return range(o * n // out, -(-(o + 1) * n // out))
    if w.corners:  # bilinear with align_corners: the two positions either side of o*a/b
        a, b = w.corners
        return range(o * a // b, -(-o * a // b) + 1)
    if not w.transposed:
        first = o * w.s - w.p
        return range(first, first + w.k, w.d)
    # o + p - m*s is a tap, a multiple of d from 0 to k - 1: m from ceil((o + p - k + 1)/s) to
    # floor((o + p)/s), every d/gcd(d, s)-th of them from the first that lines up
    low, high = -(-(o + w.p - w.k + 1) // w.s), (o + w.p) // w.s
    step = w.d // gcd(w.d, w.s)
    first = next((m for m in range(low, low + step) if (o + w.p - m * w.s) % w.d == 0), high + 1)
    return range(first, high + 1, step)


def _step(f: Spans, w: Window) -> Spans | None:
    """The spans of `w`'s output: its window's pattern repeats every `period` outputs, `shift`
    inputs later (a transposed window: every s outputs, one input; adaptive: out/g windows,
    n/g inputs), so the output's repeats once that many periods move `f` a whole number of its
    own. Each output position sees from the first pixel of its first input position (that
    sees any) to the last of its last: fields only move right as positions do."""
    if w.adaptive:
        n, out = w.adaptive
        g = gcd(n, out)
        period, shift = out // g, n // g
    elif w.corners:  # o*a/b moves a/g inputs every b/g outputs
        a, b = w.corners
        g = gcd(a, b)
        period, shift = b // g, a // g
    elif w.transposed:
        period, shift = w.s, 1
    else:
        period, shift = 1, w.s
    times = f.period // gcd(f.period, shift)
    if period * times > MAX_PERIOD:
        return None
    lo, hi = [], []
    for o in range(period * times):
        sources = _sources(w, o)
        first = next((s for m in sources if (s := f.at(m)) is not None), None)
        last = next((s for m in reversed(sources) if (s := f.at(m)) is not None), None)
        lo.append(None if first is None else first[0])
        hi.append(None if last is None else last[1])
    return Spans(period * times, f.shift * (shift * times // f.period), tuple(lo), tuple(hi))


def _from_spans(spans: list[Spans], because: tuple[str, ...], bound: bool = False) -> Field:
    """The field of these spans: even where each position's is the last one's moved by the same
    jump, else `uneven` (`because` of those layers) with its largest size, its average jump and
    position 0's start. An uneven field's solid part is not followed: nothing is said to be sure."""
    size, jump, start, even = [], [], [], True
    for s in spans:
        j = _exact(s.shift / s.period)
        seen = [(q, lo, hi) for q, (lo, hi) in enumerate(zip(s.lo, s.hi, strict=True)) if lo is not None]
        q0, lo0, hi0 = seen[0]
        first = _exact(lo0 - q0 * j)
        size.append(max(hi - lo + 1 for _, lo, hi in seen))
        jump.append(j)
        start.append(first)
        same = all(lo == first + q * j and hi - lo == hi0 - lo0 for q, lo, hi in seen)
        even = even and same and len(seen) == s.period
    size, jump, start = tuple(size), tuple(jump), tuple(start)
    if even:
        return Field(size, jump, start, uneven=bound, solid_start=start, because=because if bound else ())  # type: ignore[arg-type]
    return Field(size, jump, start, uneven=True, solid_start=start, spans=tuple(spans), because=because)  # type: ignore[arg-type]


def _bound(f: Field) -> Field:
    """The smallest field ``start + i*jump`` (the average jump) that contains each of `f`'s."""
    if f.spans is None:
        return f
    size, start = [], []
    for a, s in enumerate(f.spans):
        j = f.jump[a]
        seen = [(q, lo, hi) for q, (lo, hi) in enumerate(zip(s.lo, s.hi, strict=True)) if lo is not None]
        first, last = min(lo - q * j for q, lo, _ in seen), max(hi - q * j for q, _, hi in seen)
        size.append(_exact(last - first + 1))
        start.append(_exact(first))
    return Field(tuple(size), f.jump, tuple(start), uneven=True, solid_start=tuple(start), because=f.because)  # type: ignore[arg-type]


def _through(f: Field, axis: int, w) -> tuple[int | float, int | float, int | float]:
    r, j, start = f.size[axis], f.jump[axis], f.start[axis]
    if w.transposed:
        return _exact(r + (w.k - 1) * j / w.s), _exact(j / w.s), _exact(start + (w.p - w.k + 1) * j / w.s)
    return _exact(r + (w.k - 1) * j), _exact(j * w.s), _exact(start - w.p * j)


def _exact(value: float) -> int | float:
    """An integer where the value is one (jumps stay integers until a layer upsamples)."""
    return int(value) if float(value).is_integer() else value


def _union(fields: list[Field]) -> Field:
    """From the earliest start to the latest end, the finest jump: position by position where
    an input is uneven (if their jumps agree; otherwise the smallest field that contains them).
    Solid: the largest solid part among the fields with that jump (sure at every position, as
    it moves with it); the union of a 1x5 and a 5x1 field is a cross, not 5x5, so no more than
    one is sure."""
    if any(f.spans is not None for f in fields):
        if len({f.jump for f in fields}) == 1:
            spans = [_joined([_spans_of(f, a) for f in fields]) for a in (0, 1)]
            if None not in spans:
                bound = any(f.uneven and f.spans is None for f in fields)
                return _from_spans(spans, _why(*fields), bound)  # type: ignore[arg-type]
        fields = [_bound(f) for f in fields]
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
    because = _why(*fields) if uneven else ()
    made = (tuple(size), jump, tuple(start), False, uneven, solid_start, solid_size, None, because)
    return tuple.__new__(Field, made)


def _joined(spans: list[Spans]) -> Spans | None:
    """Each position's union (None: a period past `MAX_PERIOD`); the spans' jumps agree."""
    period = 1
    for s in spans:
        period = period * s.period // gcd(period, s.period)
    if period > MAX_PERIOD:
        return None
    lo, hi = [], []
    for o in range(period):
        seen = [x for s in spans if (x := s.at(o)) is not None]
        lo.append(min(x[0] for x in seen) if seen else None)
        hi.append(max(x[1] for x in seen) if seen else None)
    return Spans(period, spans[0].shift * (period // spans[0].period), tuple(lo), tuple(hi))


def _gate_holding(ins: list[Field], gate: list[bool], maps: list[Field], shape: tuple[int, ...]) -> Field | None:
    """The field of a join of `maps` with broadcast 1x1 inputs (`gate`) where what the gates see
    (their union: each the same pixels wherever it is, jump 0) holds what every position of
    every map sees: then that is each position's field, exactly (the whole map's reach, as after
    fc); None otherwise."""
    gates = [f for f, g in zip(ins, gate, strict=True) if g]
    if any(f.uneven or f.spans is not None or f.jump != (0, 0) for f in gates):
        return None
    held = _union(gates)
    for m in map(_bound, maps):
        for a in (0, 1):
            first, last = m.start[a], m.start[a] + (shape[a] - 1) * m.jump[a] + m.size[a] - 1
            if first < held.start[a] or last > held.start[a] + held.size[a] - 1:
                return None
    return held


def _broadcast(f: Field, maps: list[Field], shape: tuple[int, ...]) -> Field:
    """The field of a 1x1 input broadcast over a map of `shape`, as seen from each position: the
    same pixels wherever it is. A field ``start + i*j`` (`maps`' finest jump) that contains them
    at positions 0 to n - 1 starts (n - 1)*j earlier and is as much larger; uneven, with nothing
    said to be solid."""
    f = _bound(f)
    jump = tuple(min(m.jump[a] for m in maps) for a in (0, 1))
    widen = tuple((shape[a] - 1) * jump[a] for a in (0, 1))
    start = tuple(f.start[a] - widen[a] for a in (0, 1))
    size = tuple(f.size[a] + widen[a] for a in (0, 1))
    return Field(size, jump, start, uneven=True, solid_start=start, because=_why(f, ("gate",)))  # type: ignore[arg-type]


def _why(*given: Field | tuple[str, ...]) -> tuple[str, ...]:
    """The reasons of fields for being uneven (and any more given), each once, sorted."""
    return tuple(sorted({r for g in given for r in (g.because if isinstance(g, Field) else g)}))


# What whole maps see, exactly (see above)


Reach = tuple[tuple[int, int], tuple[int, int]]  # (first row, last row), (first column, last column)


def map_reaches(graph: Graph) -> tuple[Reach | None, ...]:
    """What each node's whole map reads of the image, exactly: the first and last row and column
    that any of its positions sees, always inside the image (``0 <= first <= last < H``): the
    padding around each map sees nothing, and the rows a stride leaves out at a map's end are
    not read (8x8, ``conv f=3 s=2``: rows 0 to 6, row 7 in no window). None: only padding, or
    too many positions to follow (`MAX_SCAN`, `MAX_BOXES`, `MAX_STEPS`).

    With it, output position ``i``'s field along an axis is the formulas' span ``start + i*jump``
    to ``start + i*jump + size - 1`` clipped to the reach (`exact_span`), exactly where the field
    is even and has no gaps: each position reads a run of its input's positions, cut only at the
    map's ends, where the first and last of them see what the whole map sees at that end. An
    uneven field, or one with gaps (a dilated filter whose first tap lands in the padding, the
    next one row in), contains what the position sees.
    Worked out only where asked (summarize's `reach` column): every node once, a whole map that
    reads every position of its input (most layers) at the cost of a look-up."""
    reach = _Reach(graph)
    out: list[Reach | None] = []
    for n in graph.nodes:
        sight = reach.sight(n.index)
        if sight is None or not sight.rows or not sight.cols:
            out.append(None)
        else:
            out.append(((sight.rows[0][0], sight.rows[-1][1]), (sight.cols[0][0], sight.cols[-1][1])))
    return tuple(out)


def exact_span(f: Field, reach: Reach | None, axis: int, i: int) -> tuple[int | float, int | float] | None:
    """The first and last input pixel that output position `i` sees along `axis` (0: rows),
    inside the image: the formulas' span clipped to what the whole map reads (`map_reaches`);
    None where it sees only padding. A whole field: the reach itself."""
    if reach is None:
        return None
    first, last = reach[axis]
    span = f.span(axis, i)
    if f.whole or span is None:
        return (first, last) if f.whole else None
    lo, hi = max(span[0], first), min(span[1], last)
    return (lo, hi) if lo <= hi else None


Box = tuple[Intervals, Intervals]  # a set of rows by a set of columns


@record
class Sight:
    """The input pixels some positions of a map see: `boxes` (one per path that reads them
    differently, at most `MAX_BOXES`) whose union they are, and the rows and the columns."""

    rows: Intervals
    cols: Intervals
    boxes: tuple[Box, ...]


def _sight(boxes: list[Box] | tuple[Box, ...]) -> Sight | None:
    """The pixels of `boxes` (None: more than `MAX_BOXES` of them, too many to follow)."""
    kept = _fewest(boxes)
    if kept is None:
        return None
    rows = _merged(tuple(x for box in kept for x in box[0]))
    return Sight(rows, _merged(tuple(x for box in kept for x in box[1])), kept)


def _plane(shape: tuple[int, ...]) -> tuple[int, int]:
    """A map's positions per axis; a vector's values count as one position that sees them all."""
    return (shape[0], shape[1]) if len(shape) == 3 else (1, 1)


def _full(plane: tuple[int, int]) -> tuple[Intervals, Intervals]:
    return ((0, plane[0] - 1),), ((0, plane[1] - 1),)


class _Reach:
    """What every position of a map together sees, node by node, worked out on demand: a map
    of one position is what its one value sees; `fc`, `flatten` (and `grn`) see what all of
    their input's positions see. A window reads input positions `_read`; those outside the
    input are padding and see nothing, so a map that ends before the image does (a stride that
    drops the last rows) sees less than ``start + i*jump`` says of its last positions."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        image = _full(_plane(graph.input_shape))
        self.image = image
        self.memo: dict[int, Sight | None] = {INPUT: _sight([image])}  # what a node's whole map sees
        # id(args) -> (kind, input shape, its windows, whether they read every input position):
        # once for a layer repeated with the same arguments on the same input (as above)
        self.layers: dict[int, tuple] = {}
        self.steps = 0

    def field(self, index: int, f: Field, jump: tuple[int | float, int | float]) -> Field:
        """The field of a value that sees what node `index`'s whole map sees (`f`: that field
        by the formulas, kept where it cannot be worked out): from its first row and column to
        its last, `jump` apart; `all` where it sees every pixel of the image."""
        sight = self.sight(index)
        if sight is None or not sight.rows or not sight.cols:  # too large to follow, or only padding
            return f if sight is not None else _bound(f)._replace(uneven=True, solid_size=(0, 0))
        first, last = (sight.rows[0][0], sight.cols[0][0]), (sight.rows[-1][1], sight.cols[-1][1])
        box = (((first[0], last[0]),), ((first[1], last[1]),))
        solid = _covers(sight.boxes, box)
        if solid and box == self.image:
            return WHOLE
        size = (last[0] - first[0] + 1, last[1] - first[1] + 1)
        return Field(size, jump, first, solid_start=first, solid_size=size if solid else (0, 0))

    def sight(self, index: int) -> Sight | None:
        """What all of node `index`'s positions see (None: too large to follow). Every node it
        depends on is worked out first, in order, so that a node's own work stops where its
        reads cover a whole earlier map: each node is worked out once."""
        if index in self.memo:
            return self.memo[index]
        todo, stack = set(), [index]
        while stack:
            i = stack.pop()
            if i not in self.memo and i not in todo:
                todo.add(i)
                stack.extend(self.graph.nodes[i].inputs)
        for i in sorted(todo):
            self.memo[i] = self._whole(i)
        return self.memo[index]

    def _whole(self, i: int) -> Sight | None:
        """What all of node `i`'s positions see, its inputs' worked out: where it reads every
        position of each input (most layers), what they see; otherwise back from what it reads."""
        n, memo = self.graph.nodes[i], self.memo
        if len(n.inputs) > 1 and not KINDS[n.kind].sized_by_last:  # a join reads all of each input (1x1: broadcast)
            sights = [memo[j] for j in n.inputs]
            if any(x is None for x in sights):
                return None
            if all(x == sights[0] for x in sights):
                return sights[0]
            return _sight([box for x in sights for box in x.boxes])  # type: ignore[union-attr]
        if not self._layer(n)[1]:
            return self._seen(i, _full(_plane(n.shape)))
        return memo[n.inputs[0]]

    def _layer(self, n: Node) -> tuple[tuple[Window, Window] | None, bool]:
        """The windows of `n`, a layer of one input, and whether its whole map reads every
        position of that input."""
        j = n.inputs[0]
        shape_in = self.graph.input_shape if j == INPUT else self.graph.nodes[j].shape
        hit = self.layers.get(id(n.args))
        if hit is None or hit[0] != n.kind or hit[1] != shape_in:
            w = KINDS[n.kind].window(n.args, [shape_in], n.shape)
            whole = w is None or w is IDENTITY
            if not whole:
                size, (rows, cols) = _plane(shape_in), _full(_plane(n.shape))
                whole = (_read(w[0], rows, size[0]), _read(w[1], cols, size[1])) == _full(size)  # type: ignore[index]
            hit = self.layers[id(n.args)] = (n.kind, shape_in, w, whole)
        return hit[2], hit[3]

    def _seen(self, index: int, box: Box) -> Sight | None:
        """What positions `box` of node `index` see: back through the layers, the latest first,
        each node once with what all its readers read of it; a node read whole (earlier than
        `index`) gives its own worked-out `sight`."""
        nodes, shapes = self.graph.nodes, self.graph.input_shapes
        pending: dict[int, list[Box]] = {index: [box]}
        order = [-index]  # a heap: the latest node first
        seen: list[Box] = []  # what reaches the input

        def send(i: int, boxes: list[Box]) -> None:
            boxes = [b for b in boxes if b[0] and b[1]]  # a box of no rows or no columns sees nothing
            if not boxes:
                return
            if i == INPUT:
                seen.extend(boxes)
            elif i in pending:
                pending[i] += boxes
            else:
                pending[i] = boxes
                heappush(order, -i)

        while order:
            i = -heappop(order)
            boxes = _fewest(pending.pop(i))
            self.steps += 1
            if boxes is None or self.steps > MAX_STEPS:
                return None
            if i != index and _full(_plane(nodes[i].shape)) in boxes:  # a whole map: worked out
                sight = self.memo[i]
                if sight is None:
                    return None
                seen.extend(sight.boxes)
                continue
            n = nodes[i]
            if len(n.inputs) > 1 and not KINDS[n.kind].sized_by_last:  # a join reads each input's same positions
                spread = _plane(n.shape) != (1, 1)
                for j, shape in zip(n.inputs, shapes(n), strict=True):
                    send(j, [_full((1, 1))] if spread and _plane(shape) == (1, 1) else list(boxes))
                continue
            j, w = n.inputs[0], self._layer(n)[0]
            size = _plane(shapes(n)[0])
            if w is None:  # every input position
                send(j, [_full(size)])
            elif w is IDENTITY:
                send(j, list(boxes))
            else:
                read = [(_read(w[0], rows, size[0]), _read(w[1], cols, size[1])) for rows, cols in boxes]
                if any(None in pair for pair in read):
                    return None
                send(j, read)  # type: ignore[arg-type]
        return _sight(seen)


def _merged(spans: tuple[tuple[int, int], ...] | list[tuple[int, int]], size: int | None = None) -> Intervals:
    """`spans` as sorted disjoint intervals, those that touch joined; clipped to positions 0 to
    ``size - 1`` where given (the rest is padding)."""
    if len(spans) == 1:  # most windows: one interval
        ((a, b),) = spans
        if size is not None:
            a, b = max(a, 0), min(b, size - 1)
        return ((a, b),) if a <= b else ()
    if size is not None:
        spans = [(max(a, 0), min(b, size - 1)) for a, b in spans if b >= 0 and a < size]
    out: list[tuple[int, int]] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1] + 1:
            if b > out[-1][1]:
                out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return tuple(out)


def _read(w: Window, reads: Intervals, size: int) -> Intervals | None:
    """The positions of an input of `size` that output positions `reads` read through `w`
    (None: too many to follow, past `MAX_SCAN`). Contiguous outputs read contiguous inputs
    where no tap or window leaves a position out between them; otherwise each output's are
    listed (`_sources`)."""
    if w.k == 1 and w.s == 1 and not w.adaptive:  # each output reads one position (a 1x1 conv)
        move = w.p if w.transposed else -w.p
        return _merged(tuple((a + move, b + move) for a, b in reads), size)
    spans: list[tuple[int, int]] = []
    for a, b in reads:
        if w.adaptive:  # windows from floor(a*n/out) to ceil((b+1)*n/out) - 1, touching
            n, out = w.adaptive
            spans.append((a * n // out, -(-(b + 1) * n // out) - 1))
        elif w.transposed and w.d == 1 and w.k >= w.s:  # every output reads at least one
            spans.append((-(-(a + w.p - w.k + 1) // w.s), (b + w.p) // w.s))
        elif not w.transposed and w.d == 1 and w.s <= w.k:  # windows that touch: all between them
            reached = rows_read(size, w.k, w.s, w.p, a, b)
            if reached is not None:
                spans.append(reached)
        elif not w.transposed and w.s == 1 and b - a + 1 >= w.d:  # d outputs fill the taps' gaps
            spans.append((a - w.p, b - w.p + w.k - 1))
        elif b - a + 1 > MAX_SCAN - len(spans):
            return None
        elif not w.transposed and w.d == 1:  # windows apart: each its own
            spans += [x for o in range(a, b + 1) if (x := rows_read(size, w.k, w.s, w.p, o, o)) is not None]
        else:
            spans += [(m, m) for o in range(a, b + 1) for m in _sources(w, o)]
        if len(spans) > MAX_SCAN:
            return None
    return _merged(spans, size)


def _inside(a: Intervals, b: Intervals) -> bool:
    """Whether every position of `a` is one of `b`."""
    return _merged(a + b) == b


def _fewest(boxes: list[Box] | tuple[Box, ...]) -> tuple[Box, ...] | None:
    """`boxes` without repeats and without those inside another (None: more than `MAX_BOXES`)."""
    unique = list(dict.fromkeys(boxes))
    if len(unique) == 1:
        return tuple(unique)
    kept = [x for x in unique if not any(y != x and _inside(x[0], y[0]) and _inside(x[1], y[1]) for y in unique)]
    return tuple(kept) if len(kept) <= MAX_BOXES else None


def _covers(boxes: tuple[Box, ...], box: Box) -> bool:
    """Whether the union of `boxes` has every pixel of the rectangle `box` (one interval per
    axis): row by row, in the stretches of rows that the same boxes hold."""
    ((top, bottom),), target = box
    ends = {x for rows, _ in boxes for a, b in rows for x in (a, b + 1) if top < x <= bottom}
    cuts = sorted({top, bottom + 1} | ends)
    for row in cuts[:-1]:
        cols = _merged([c for rows, cols in boxes if any(a <= row <= b for a, b in rows) for c in cols])
        if not _inside(target, cols):
            return False
    return True


def _all_positions(f: Field, plane: tuple[int, int]) -> Field:
    """The smallest field ``start + i*jump`` that contains all of a map's positions' fields (as
    the formulas give them), as one field: a bound, where what they see cannot be worked out."""
    f = _bound(f)
    size = tuple(_exact(f.size[a] + (plane[a] - 1) * f.jump[a]) for a in (0, 1))
    return Field(size, (0, 0), f.start, uneven=True, solid_start=f.start, because=f.because)  # type: ignore[arg-type]
