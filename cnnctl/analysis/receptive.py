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
image: such a field, like any after `flatten` or `fc`, is the whole input (otherwise the
smallest field that contains each position's, marked uneven). So
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

from math import gcd

from ..graph import INPUT, Graph
from ..layers import KINDS
from ..layers.base import IDENTITY, Window
from ..records import record

MAX_PERIOD = 4096  # output positions of one period of an uneven field followed exactly (see above)


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
            elif len(w) == 8 and f.spans is None:  # r' = r + (k - 1)*j, j' = j*s, start' = start - p*j
                (rh, rw), (jh, jw), (sh, sw), _, uneven, (ch, cw), (crh, crw), _ = f
                k1h, s_h, ph, dh, k1w, s_w, pw, dw = w
                size, jump, start = (rh + k1h * jh, rw + k1w * jw), (jh * s_h, jw * s_w), (sh - ph * jh, sw - pw * jw)
                # the taps' copies of the solid part, d*j apart, make one solid part where they touch
                solid = (crh + k1h * jh if dh * jh <= crh else crh, crw + k1w * jw if dw * jw <= crw else crw)
                fields.append(new(Field, (size, jump, start, False, uneven, (ch - ph * jh, cw - pw * jw), solid, None)))
            else:
                if len(w) == 8:  # an uneven field through an even window
                    w = (Window(w[0] + 1, w[1], w[2], d=w[3]), Window(w[4] + 1, w[5], w[6], d=w[7]))
                fields.append(_uneven_through(f, w))
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
    """Even windows as the eight numbers the even step reads (a transposed window of stride 1
    is a plain one: output o sees inputs o + p - k + 1 to o + p, a conv padded ``k - 1 - p``);
    otherwise the windows themselves."""
    if window is None or window == IDENTITY:
        return None if window is None else IDENTITY
    h, w = (Window(a.k, 1, a.k - 1 - a.p, d=a.d) if a.transposed and a.s == 1 else a for a in window)
    if h.transposed or w.transposed or h.uneven or w.uneven:
        return window
    return h.k - 1, h.s, h.p, h.d, w.k - 1, w.s, w.p, w.d


def _uneven_through(f: Field, window: tuple[Window, Window]) -> Field:
    """`f` through a transposed or adaptive window, or an uneven `f` through any window:
    position by position over a period (see above)."""
    spans = [_step(_spans_of(f, a), window[a]) for a in (0, 1)]
    if None in spans:  # too long a period: the field that contains each position's
        (rh, jh, sh), (rw, jw, sw) = (_through(_bound(f), a, window[a]) for a in (0, 1))
        return Field((rh, rw), (jh, jw), (sh, sw), uneven=True, solid_start=(sh, sw))
    bound = f.uneven and f.spans is None  # a bound (after a gate) stays one
    return _from_spans(spans, bound)  # type: ignore[arg-type]


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


def _from_spans(spans: list[Spans], bound: bool = False) -> Field:
    """The field of these spans: even where each position's is the last one's moved by the same
    jump, else `uneven` with its largest size, its average jump and position 0's start. An
    uneven field's solid part is not followed: nothing is said to be sure."""
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
    if even:
        return Field(tuple(size), tuple(jump), tuple(start), uneven=bound, solid_start=tuple(start))  # type: ignore[arg-type]
    return Field(tuple(size), tuple(jump), tuple(start), uneven=True, solid_start=tuple(start), spans=tuple(spans))  # type: ignore[arg-type]


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
    return Field(tuple(size), f.jump, tuple(start), uneven=True, solid_start=tuple(start))  # type: ignore[arg-type]


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
                return _from_spans(spans, any(f.uneven and f.spans is None for f in fields))  # type: ignore[arg-type]
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
    return tuple.__new__(Field, (tuple(size), jump, tuple(start), False, uneven, solid_start, solid_size, None))


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
    return Field(size, jump, start, uneven=True, solid_start=start)  # type: ignore[arg-type]
