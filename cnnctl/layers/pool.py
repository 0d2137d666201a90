"""Pooling: max and average, windowed, global, or across the channels."""

from __future__ import annotations

from ..errors import ShapeError
from ..shapes import (
    Shape,
    adaptive_span,
    conv_output_size,
    covered_by_windows,
    numel,
    pool_output_size_ceil,
    same_output_size,
    same_padding,
    tail_after_windows,
)
from .args import BOOL, PADDING, Arg, Choice, Pair
from .base import IDENTITY, INPUT0, OWN, Args, LayerKind, Saved, Window, registered, require_volume
from .conv import padded_input, uneven_same_note, unread_note


@registered
class Pool(LayerKind):
    """Pooling: `pool max f=2 s=2`, `pool avg f=3 s=1 p=1`, `pool avg f=3 s=1 p=1 count_pad=false`,
    `pool avg global`, `pool avg out=7`, `pool max channels`.

    Output, per axis: ``floor((n + 2p - f)/s) + 1`` (the course's rule, Keras, PyTorch);
    with ``ceil``: ``ceil((n + 2p - f)/s) + 1``, minus one if that last window would start
    past the input and its left padding (Caffe, PyTorch ``ceil_mode``, GoogLeNet);
    with ``p=same``: ``ceil(n/s)``. ``s`` defaults to ``f``. Channels are unchanged.
    ``global``: one value per channel, output ``1x1xC``. ``out=7`` (or ``6x6``): adaptive
    pooling to that size, each output value over its window ``floor(i*H/out)`` to
    ``ceil((i+1)*H/out)`` (PyTorch's rule; windows overlap where `out` does not divide H).
    ``channels``: across the ``C`` channels at each position instead, output ``HxWx1`` (the
    channel mean and max of CBAM's spatial gate).
    No parameters, no multiplications.
    FLOPs per output value: max ``k - 1`` comparisons, ``k`` the input values its window
    covers, the padding left out (PyTorch pads a max with -inf, which needs no comparison): per
    axis ``min(i*s - p + f, n) - max(i*s - p, 0)`` for window ``i``
    (`cnnctl.shapes.covered_by_windows`), so a max pool's FLOPs are ``C * ((sum over rows) *
    (sum over columns) - H'*W')``: ResNet's stem, ``f=3 s=2 p=1`` on 112x112x64, rows 2, 3, ...,
    3 = 167, ``64 * (167*167 - 56*56) = 1,584,192``, not ``64 * 56*56 * 8 = 1,605,632``. Avg
    ``k`` (adds and one divide), ``k`` the values of its own window: ``f_h*f_w``, padding
    included, except where a ``ceil`` window hangs over the end of the padded input: it counts
    only what it covers, per axis ``f + min(0, n + p_before + p_after - ((out - 1)*s + f))``
    for the last window (`cnnctl.shapes.tail_after_windows`; 4x4, ``f=3 s=2 ceil``: 9 + 6 + 6 +
    4 = 25, not 36).
    That is PyTorch's divisor: cnnctl's average counts the padding's zeros in it, as PyTorch's
    default ``count_include_pad=True`` (and its ``same`` padding, added by cnnctl, too: ``pool avg
    f=3 s=1 p=same`` gives a corner of ones 4/9, where TensorFlow's and Keras' SAME divide by the
    values inside the input only and give 1). With
    ``count_pad=false`` (PyTorch's ``count_include_pad=False``, Inception's 3x3 average at stride 1)
    an average leaves the padding out: each window adds and divides by the input values it
    covers, per axis ``min(i*s - p + f, n) - max(i*s - p, 0)`` for window ``i``
    (`cnnctl.shapes.covered_by_windows`), so its FLOPs are their sum over the output,
    ``C * (sum over rows) * (sum over columns)``: 4x4 with ``f=3 s=1 p=1``, rows 2, 3, 3, 2 = 10,
    ``C * 10 * 10``, not ``C * 16 * 9``. It takes a number for ``p`` (cnnctl pads ``same``
    itself, with zeros the pool would count).
    Global: ``H*W - 1`` (max) or ``H*W`` (avg) per channel. Adaptive: over each output's
    window. Channels: ``C - 1`` (max) or ``C`` (avg) per position.
    Keeps for backward: its input (a padded copy when the padding is uneven; nothing for an
    average to 1x1 or across the channels, a mean), and for max pooling the index of each
    maximum (int64; across the channels only that).
    Receptive field, per axis: a window of ``f``, ``s`` apart; global: the whole map;
    channels: each position its own (as a 1x1 conv);
    adaptive: ``H/out`` wide and apart where `out` divides ``H``, ``s + 1`` wide and ``s``
    apart where ``H = s*out + 1`` (13 -> 6: windows of 3 from 0, 2, ..., 10), else each window
    exactly, not all the same distance apart (`uneven`, see `cnnctl.analysis.receptive`).
    """

    name = "pool"
    counted = (
        "max pool k-1 per output value, k the input values its window covers (its -inf padding needs no "
        "comparison); avg pool f*f (padding included; a ceil window hanging over the input's end: over what it "
        "covers; count_pad=false: over the input values it covers); adaptive: over each output's own window; "
        "across the channels: C-1 and C"
    )
    synonyms = {  # noqa: RUF012 - never mutated
        "maxpool": "pool max",
        "max_pool": "pool max",
        "maxpool2d": "pool max",
        "avgpool": "pool avg",
        "avg_pool": "pool avg",
        "avgpool2d": "pool avg",
        "gap": "pool avg global",
    }
    args = (
        Arg("op", Choice("max", "avg"), "max", "max or avg", positional=True, show=True),
        Arg("f", Pair(), None, "window size", show=True),
        Arg("s", Pair(), None, "stride (default: f)"),
        Arg("p", PADDING, "valid", "padding: valid (0), same, a number, or HxW"),
        Arg("ceil", BOOL, False, "round the output size up (Caffe/GoogLeNet)", flag=True),
        Arg("global", BOOL, False, "pool each channel's whole map to 1x1", flag=True),
        Arg("out", Pair(), None, "adaptive: the output size, `7` or HxW"),
        Arg("channels", BOOL, False, "pool the C values at each position to one: HxWx1 (CBAM)", flag=True),
        Arg("count_pad", BOOL, True, "avg: count the padding's zeros in each window's divisor (PyTorch's default)"),
    )

    def window_size(self, a: Args, ins: list[Shape]) -> tuple[int, int]:
        return (ins[0][0], ins[0][1]) if a["global"] else a.f

    def check_args(self, a: Args) -> None:
        if not a.count_pad and (a.op != "avg" or a["global"] or a.out is not None or a.channels):
            raise ShapeError(
                "`count_pad=false` is a windowed average's: "
                + ("a max never counts its padding" if a.op == "max" else "this pool has no padding to leave out"),
                hint="`pool avg f=3 s=1 p=1 count_pad=false` divides each window by the input values it covers",
            )
        if not a.count_pad and a.p == "same":
            raise ShapeError(
                "`count_pad=false` with `p=same`: cnnctl pads `same` itself, with zeros the pool would count",
                hint="give the padding as a number (`p=1` for f=3 at stride 1)",
            )
        if a.channels:
            given = [f"`{k}`" for k in ("f", "s", "ceil", "global", "out") if a[k] not in (None, False)]
            if given or a.p != (0, 0):
                raise ShapeError(
                    f"`channels` pools the values at each position: it takes no {', '.join(given) or '`p`'}",
                    hint="`pool avg channels` gives HxWx1; a window or `global` pools within each channel instead",
                )
        elif a.out is not None:
            given = [f"`{k}`" for k in ("f", "s", "ceil", "global") if a[k] not in (None, False)]
            if given or a.p != (0, 0):
                raise ShapeError(
                    f"`out` sets the output size itself: it takes no {', '.join(given) or '`p`'}",
                    hint="adaptive pooling chooses its windows from the input and `out`",
                )
        elif a["global"]:
            if a.f is not None or a.s is not None:
                raise ShapeError("`global` pools each whole map: it takes no `f` or `s`", hint="drop `f`/`s`")
        elif a.f is None:
            raise ShapeError("pool needs a window size `f` (or `global`)", hint="e.g. `pool max f=2 s=2`")
        elif a.p != "same" and (a.p[0] > a.f[0] // 2 or a.p[1] > a.f[1] // 2):
            raise ShapeError(
                f"padding {a.p[0]}x{a.p[1]} is more than half the {a.f[0]}x{a.f[1]} window",
                hint="windows that see only padding have no value; PyTorch refuses them too",
            )

    def shape(self, a: Args, ins: list[Shape]) -> Shape:
        h, w, c = require_volume("pool", ins[0])
        self.check_args(a)
        if a.channels:
            return h, w, 1
        if a.out is not None:
            return a.out[0], a.out[1], c
        if a["global"]:
            return 1, 1, c
        fh, fw = a.f
        sh, sw = a.s or a.f
        if a.p == "same":
            return same_output_size(h, sh), same_output_size(w, sw), c
        ph, pw = a.p
        # In ceil mode a window may hang over the input's end, as long as it starts inside it:
        # PyTorch gives a 3x3 map one value for `f=4 s=2` (its ceil_mode rule, below).
        if not a.ceil and (fh > h + 2 * ph or fw > w + 2 * pw):
            raise ShapeError(
                f"window {fh}x{fw} is larger than its padded input {h + 2 * ph}x{w + 2 * pw} (input {h}x{w}x{c})",
                hint="use a smaller window, or `pool global`",
            )
        if a.ceil:
            return pool_output_size_ceil(h, fh, sh, ph), pool_output_size_ceil(w, fw, sw, pw), c
        return conv_output_size(h, fh, sh, ph), conv_output_size(w, fw, sw, pw), c

    def padding(self, a: Args, ins: list[Shape]) -> tuple[tuple[int, int], tuple[int, int]]:
        """((top, bottom), (left, right)) actually applied; `same` resolved."""
        if a["global"] or a.out is not None or a.channels:
            return (0, 0), (0, 0)
        sh, sw = a.s or a.f
        if a.p == "same":
            return same_padding(ins[0][0], a.f[0], sh), same_padding(ins[0][1], a.f[1], sw)
        return (a.p[0], a.p[0]), (a.p[1], a.p[1])

    def notes(self, a: Args, ins: list[Shape], out: Shape) -> list[str]:
        if a["global"] or a.out is not None or a.channels:  # no window that could stop short
            return []
        pads = self.padding(a, ins)
        return uneven_same_note(a.p, pads) + unread_note(ins[0], a.f, a.s or a.f, pads, out)

    def flops(self, a: Args, ins: list[Shape], out: Shape) -> int:
        if a.channels:  # one value per position from its C
            return out[0] * out[1] * (ins[0][2] - (1 if a.op == "max" else 0))
        if a.out is not None:  # each window its own size: the sum of their areas, per channel
            area = adaptive_span(ins[0][0], out[0]) * adaptive_span(ins[0][1], out[1])
            return out[2] * (area - (out[0] * out[1] if a.op == "max" else 0))
        if a["global"]:
            fh, fw = self.window_size(a, ins)
            return out[2] * (fh * fw - (1 if a.op == "max" else 0))
        # each window its real size: a ceil-mode window that hangs over the end counts only
        # what it covers of the (padded) input, as PyTorch's divisor does
        sh, sw = a.s or a.f
        (top, bottom), (left, right) = self.padding(a, ins)
        if a.op == "max" or not a.count_pad:
            # each window over the input values it covers, the padding left out: an average that
            # divides by them; a max, whose -inf padding needs no comparison, one fewer a window
            rows = covered_by_windows(ins[0][0], a.f[0], sh, (top, bottom), out[0])
            columns = covered_by_windows(ins[0][1], a.f[1], sw, (left, right), out[1])
            return out[2] * (rows * columns - (out[0] * out[1] if a.op == "max" else 0))
        rows = out[0] * a.f[0] + min(tail_after_windows(ins[0][0], a.f[0], sh, (top, bottom), out[0]), 0)
        columns = out[1] * a.f[1] + min(tail_after_windows(ins[0][1], a.f[1], sw, (left, right), out[1]), 0)
        return out[2] * rows * columns

    def saved(self, a: Args, ins: list[Shape], out: Shape) -> tuple[Saved, ...]:
        indices = (Saved(OWN, numel(out), itemsize=8),) if a.op == "max" else ()
        if a.channels:  # a mean keeps nothing; a max over one axis only its indices (torch.max's)
            return indices
        if a["global"] or a.out is not None:
            return () if a.op == "avg" and out[:2] == (1, 1) else (Saved(INPUT0), *indices)
        return padded_input(self.padding(a, ins), ins[0]), *indices

    def window(self, a: Args, ins: list[Shape], out: Shape) -> tuple[Window, Window]:
        h, w = ins[0][0], ins[0][1]
        if a.channels:
            return IDENTITY
        if a["global"]:
            return Window(h, 1, 0), Window(w, 1, 0)
        if a.out is not None:
            return adaptive_window(h, out[0]), adaptive_window(w, out[1])
        (top, _), (left, _) = self.padding(a, ins)
        sh, sw = a.s or a.f
        return Window(a.f[0], sh, top), Window(a.f[1], sw, left)


def adaptive_window(n: int, out: int) -> Window:
    """Adaptive pooling of `n` positions to `out` along one axis: window ``i`` from
    ``floor(i*n/out)`` to ``ceil((i+1)*n/out) - 1`` (PyTorch's rule). With ``n = s*out + r``,
    window ``i`` starts at ``i*s + floor(i*r/out)``: ``i*s`` for every ``i < out`` only where
    ``r`` is 0 (windows of ``s``) or 1 (``(i+1)*r/out`` at most 1: every window ends at
    ``(i+1)*s``, ``s + 1`` wide); then it is a plain window. Otherwise the windows are placed
    unevenly, followed one by one (`cnnctl.analysis.receptive`); `k`, `s` and `p` bound them."""
    s, r = divmod(n, out)
    if r == 0 or (r == 1 and s > 0):
        return Window(s + r, s, 0)
    return Window(n / out + 2 - 2 / out, n / out, (out - 1) / out, adaptive=(n, out))
