"""Convolution and transposed convolution."""

from __future__ import annotations

import math

from ..errors import ShapeError
from ..shapes import (
    Shape,
    conv_mults,
    conv_output_size,
    conv_params,
    effective_filter,
    numel,
    rows_read,
    same_output_size,
    same_padding,
    transposed_conv_output_size,
)
from .activation import ACT
from .args import BOOL, PADDING, Arg, Int, OrAuto, Pair
from .base import (
    IDENTITY,
    INPUT0,
    OWN,
    Args,
    LayerKind,
    Saved,
    Window,
    activation_flops,
    activation_saved,
    registered,
    require_volume,
    weight_and_bias,
    weights_backward_flops,
)

FILTER_ARGS = (
    Arg("f", Pair(), doc="filter size, `3` or HxW such as `1x7`", show=True),
    Arg("s", Pair(), 1, "stride, `2` or HxW"),
    Arg("p", PADDING, "valid", "padding: valid (0), same, a number, or HxW"),
    Arg("n", Int(), doc="number of filters (output channels)", show=True),
    Arg("act", ACT, "none", "activation applied to the output"),
    Arg("bias", BOOL, True, "add a bias per filter", flag=True),
    Arg("groups", Int(), 1, "filter groups: each filter sees c_in/groups channels"),
    Arg("dilation", Pair(), 1, "spacing between filter taps"),
)


def resolve_padding(a: Args, h: int, w: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """Padding as ((top, bottom), (left, right)); `same` resolved for this input size."""
    if a.p == "same":
        return (
            same_padding(h, a.f[0], a.s[0], a.dilation[0]),
            same_padding(w, a.f[1], a.s[1], a.dilation[1]),
        )
    return (a.p[0], a.p[0]), (a.p[1], a.p[1])


def uneven_same_note(p: object, pads: tuple[tuple[int, int], tuple[int, int]]) -> list[str]:
    """`same` padding that cannot be split evenly: say where the extra row/column goes."""
    (t, b), (left, right) = pads
    if p != "same" or (t == b and left == right):
        return []
    return [
        f"`p=same` cannot pad evenly here: it pads {t} top, {b} bottom, {left} left, {right} right "
        "(the extra one after, as TensorFlow and PyTorch do)"
    ]


def growing_note(p: object, spans: tuple[int, int], s: tuple[int, int], ins: Shape, out: Shape) -> list[str]:
    """Padding wider than the window needs, at stride 1: the map grows, each step a ring of
    outputs that see more padding than image (`conv f=3 p=2`: 32 -> 34, the outer ring one
    image column and two of zeros). A ring of pure padding where ``p >= f``. Told, not refused:
    nothing forbids it, but no network here does it, and it is nearly always a slip for the
    padding that keeps the size, ``(f - 1)/2`` (`p=same` for an even `f`)."""
    if p == "same" or s != (1, 1) or not (out[0] > ins[0] or out[1] > ins[1]):
        return []
    keeps = {(f - 1) // 2 for f in spans if f % 2}
    keep = f"p={keeps.pop()} or p=same keeps it" if len(keeps) == 1 and len(spans) == 2 else "p=same keeps it"
    written = "x".join(map(str, p)) if isinstance(p, tuple) and p[0] != p[1] else str(p[0])  # type: ignore[index]
    return [f"p={written} grows {ins[0]}x{ins[1]} to {out[0]}x{out[1]}; {keep}"]


def unread_note(
    ins: Shape, f: tuple[int, int], s: tuple[int, int], pads: tuple[tuple[int, int], tuple[int, int]], out: Shape
) -> list[str]:
    """Input rows or columns at the end that no window reaches, because ``(n + 2p - f)/s`` is
    not whole and the output size is rounded down (8 with `f=3 s=2`: the last column is never
    read). Told only beyond the gap every stride wider than the window leaves between windows
    anyway (a 1x1 conv at stride 2 skips every other row by design, the last included), and
    never for padding alone (ResNet's `f=7 s=2 p=3` on 224 leaves out one row of padding).
    `f` is the window's span (a dilated filter's); `pads` ((top, bottom), (left, right))."""
    left_out, reasons = [], []
    for n, k, step, (before, after), o in zip(ins[:2], f, s, pads, out[:2], strict=True):
        reached = rows_read(n, k, step, before, 0, o - 1)
        unread = n if reached is None else n - 1 - reached[1]
        if unread <= max(0, step - k):
            left_out.append(0)
            continue
        left_out.append(unread)
        padding = f" + {before + after}" if before + after else ""
        reason = f"({n}{padding} - {k}) / {step}"
        if reason not in reasons:
            reasons.append(reason)
    if not any(left_out):
        return []
    rows, columns = left_out
    them = "it" if sorted(left_out) == [0, 1] else "them"
    if rows == columns:
        which = "the last row and column" if rows == 1 else f"the last {rows} rows and columns"
    else:
        counted = [noun if k == 1 else f"{k} {noun}s" for k, noun in zip(left_out, ("row", "column"), strict=True) if k]
        which = " and ".join(f"the last {words}" for words in counted)
    why = " and ".join(reasons) + (" is" if len(reasons) == 1 else " are")
    return [
        f"leaves out {which} of its {ins[0]}x{ins[1]} input: {why} not whole, so no window reaches {them} "
        f"(as in PyTorch; padding, or an input size that makes it whole, would use {them})"
    ]


def padded_input(pads: tuple[tuple[int, int], tuple[int, int]], shape: Shape) -> Saved:
    """The input a layer keeps for backward: itself, or a padded copy when the padding is
    uneven (PyTorch's layers pad evenly only; cnnctl's backend pads such inputs first)."""
    (t, b), (left, right) = pads
    if t == b and left == right:
        return Saved(INPUT0)
    h, w, c = shape
    return Saved(OWN, (h + t + b) * (w + left + right) * c)


def check_groups(a: Args, c_in: int | None = None) -> None:
    """`groups` must divide `n` and the input channels. Without the input (`check_args`, below a
    failed layer) only `n` is checked: the message is the same, less the channels' count."""
    if a.n % a.groups or (c_in is not None and c_in % a.groups):
        channels = "the input channels" if c_in is None else f"the input channels ({c_in})"
        both = a.n if c_in is None else math.gcd(a.n, c_in)  # a number of groups divides both where it divides this
        fits = [str(g) for g in range(1, both + 1) if both % g == 0]
        of = f"n ({a.n})" if c_in is None else f"both {c_in} and {a.n}" if c_in != a.n else f"{a.n}"
        listed = ", ".join(fits[:12]) + (", ..." if len(fits) > 12 else "")
        raise ShapeError(
            f"groups={a.groups} must divide both {channels} and n ({a.n})",
            hint=f"groups that divide {of}: {listed}; depthwise convolution is groups = input channels = n",
        )


@registered
class Conv(LayerKind):
    """Convolution: `conv f=3 s=1 p=same n=64 act=relu`.

    Output, per axis: ``floor((n + 2p - f_eff)/s) + 1`` with ``f_eff = d*(f-1) + 1``;
    with ``p=same``: ``ceil(n/s)`` (padding split evenly, the odd one after).
    Channels: ``n``.
    Params: ``f_h*f_w*(C_in/groups)*n`` weights + ``n`` biases (unless ``bias=false``).
    Multiplications: ``H'*W'*n * f_h*f_w*(C_in/groups)`` (output volume x filter volume).
    FLOPs: ``2*mults + H'*W'*n`` bias adds (with bias) + the activation's.
    Backward multiplications: ``mults`` for the weight gradient, ``mults`` more for the input
    gradient when the input needs one. Keeps for backward: its input (a padded copy when the
    padding is uneven) and what its activation keeps.
    Receptive field, per axis: a window of ``f_eff`` positions, ``s`` apart, from ``p_before``,
    its taps ``d`` apart.
    """

    name = "conv"
    autocast = "16"
    synonyms = {"conv2d": "conv", "convolution": "conv"}  # noqa: RUF012 - never mutated
    args = FILTER_ARGS

    def check_args(self, a: Args) -> None:
        check_groups(a)  # `n` alone; `shape` checks the input channels too

    def shape(self, a: Args, ins: list[Shape]) -> Shape:
        h, w, c = require_volume("conv", ins[0])
        check_groups(a, c)
        if a.p == "same":
            return same_output_size(h, a.s[0]), same_output_size(w, a.s[1]), a.n
        (pt, pb), (pl, pr) = resolve_padding(a, h, w)
        fh, fw = effective_filter(a.f[0], a.dilation[0]), effective_filter(a.f[1], a.dilation[1])
        if fh > h + pt + pb or fw > w + pl + pr:
            raise ShapeError(
                f"filter {fh}x{fw} is larger than its padded input {h + pt + pb}x{w + pl + pr} "
                f"(input {h}x{w}x{c}, p={pt}x{pl})",
                hint="use a smaller filter, more padding, or p=same",
            )
        return (
            conv_output_size(h, a.f[0], a.s[0], (pt, pb), a.dilation[0]),
            conv_output_size(w, a.f[1], a.s[1], (pl, pr), a.dilation[1]),
            a.n,
        )

    def params(self, a: Args, ins: list[Shape], out: Shape) -> int:
        return conv_params(a.f[0], a.f[1], ins[0][2], a.n, a.groups, a.bias)

    def param_shapes(self, a: Args, ins: list[Shape], out: Shape) -> tuple[tuple[str, Shape], ...]:
        return weight_and_bias((a.n, ins[0][2] // a.groups, *a.f), a.n if a.bias else None)  # nn.Conv2d's

    def notes(self, a: Args, ins: list[Shape], out: Shape) -> list[str]:
        pads = resolve_padding(a, ins[0][0], ins[0][1])
        spans = effective_filter(a.f[0], a.dilation[0]), effective_filter(a.f[1], a.dilation[1])
        return (
            uneven_same_note(a.p, pads)
            + growing_note(a.p, spans, a.s, ins[0], out)
            + unread_note(ins[0], spans, a.s, pads, out)
        )

    def mults(self, a: Args, ins: list[Shape], out: Shape) -> int:
        return conv_mults(out[0], out[1], a.n, a.f[0], a.f[1], ins[0][2], a.groups)

    def flops(self, a: Args, ins: list[Shape], out: Shape) -> int:
        bias_adds = out[0] * out[1] * out[2] if a.bias else 0
        return 2 * self.mults(a, ins, out) + bias_adds + activation_flops(a, out)

    def backward_mults(self, a: Args, ins: list[Shape], out: Shape, input_grad: bool) -> int:
        return self.mults(a, ins, out) * (2 if input_grad else 1)

    def backward_flops(self, a: Args, ins: list[Shape], out: Shape, input_grad: bool) -> int:
        return weights_backward_flops(self, a, ins, out, input_grad)

    def saved(self, a: Args, ins: list[Shape], out: Shape) -> tuple[Saved, ...]:
        return (padded_input(resolve_padding(a, ins[0][0], ins[0][1]), ins[0]), *activation_saved(a, out))

    def window(self, a: Args, ins: list[Shape], out: Shape) -> tuple[Window, Window]:
        (top, _), (left, _) = resolve_padding(a, ins[0][0], ins[0][1])
        return (
            Window(effective_filter(a.f[0], a.dilation[0]), a.s[0], top, d=a.dilation[0]),
            Window(effective_filter(a.f[1], a.dilation[1]), a.s[1], left, d=a.dilation[1]),
        )


@registered
class Deconv(LayerKind):
    """Transposed convolution ("up-convolution"): `deconv f=2 s=2 n=256`, `deconv f=3 s=2 p=1 op=1 n=64`.

    Output, per axis: ``(n - 1)*s - 2p + d*(f-1) + 1 + op``; channels ``n``. Padding is a number
    (``same`` and ``valid`` do not apply). ``op`` (0) is PyTorch's ``output_padding``: of the
    ``p`` rows and columns the padding takes off the bottom and right, ``op`` are kept, values
    the filters scatter there like any other (not zeros), so that ``f=3 s=2 p=1 op=1`` doubles
    the size exactly (``2n``); it must be less than the stride or the dilation, as PyTorch
    requires (more would be positions no input reaches).
    Params: ``f_h*f_w*(C_in/groups)*n`` weights + ``n`` biases.
    Multiplications: ``H*W*C_in * f_h*f_w*(n/groups)``: every input value is multiplied by
    each of the filter taps it is scattered to.
    FLOPs: ``2*mults + H'*W'*n`` bias adds (with bias) + the activation's.
    Backward multiplications and what it keeps: as conv's (its input, never padded).
    Receptive field: each input position is spread over ``f_eff`` outputs ``s`` apart, so an
    output position sees up to ``ceil(f_eff/s)`` input positions, unevenly placed for ``s > 1``
    (see `cnnctl.analysis.receptive`).
    """

    name = "deconv"
    autocast = "16"
    synonyms = {  # noqa: RUF012 - never mutated
        "convtranspose": "deconv",
        "conv_transpose": "deconv",
        "upconv": "deconv",
    }
    args = (
        *(Arg("p", Pair(0), 0, "padding removed from each side") if arg.name == "p" else arg for arg in FILTER_ARGS),
        Arg("op", Pair(0), 0, "output padding: of the rows and columns `p` removes at the bottom and right, kept"),
    )

    def check_args(self, a: Args) -> None:
        check_groups(a)  # `n` alone; `shape` checks the input channels too
        for axis, op, s, d in zip(("height", "width"), a.op, a.s, a.dilation, strict=True):
            if op >= max(s, d):
                raise ShapeError(
                    f"output padding {a.op[0]}x{a.op[1]}: its {axis} {op} is not less than the stride {s} or the "
                    f"dilation {d}",
                    hint="output padding keeps rows the filters reach: fewer than the stride (PyTorch's rule too)",
                )

    def shape(self, a: Args, ins: list[Shape]) -> Shape:
        h, w, c = require_volume("deconv", ins[0])
        self.check_args(a)
        check_groups(a, c)
        out = (
            transposed_conv_output_size(h, a.f[0], a.s[0], a.p[0], a.dilation[0]) + a.op[0],
            transposed_conv_output_size(w, a.f[1], a.s[1], a.p[1], a.dilation[1]) + a.op[1],
            a.n,
        )
        if out[0] < 1 or out[1] < 1:
            raise ShapeError(f"padding {a.p[0]}x{a.p[1]} removes the whole {h}x{w}x{c} output")
        return out

    def params(self, a: Args, ins: list[Shape], out: Shape) -> int:
        return conv_params(a.f[0], a.f[1], ins[0][2], a.n, a.groups, a.bias)

    def param_shapes(self, a: Args, ins: list[Shape], out: Shape) -> tuple[tuple[str, Shape], ...]:
        # nn.ConvTranspose2d's: the input channels first (each input value's filter of outputs)
        return weight_and_bias((ins[0][2], a.n // a.groups, *a.f), a.n if a.bias else None)

    def mults(self, a: Args, ins: list[Shape], out: Shape) -> int:
        h, w, c = ins[0]
        return h * w * c * a.f[0] * a.f[1] * (a.n // a.groups)

    def flops(self, a: Args, ins: list[Shape], out: Shape) -> int:
        bias_adds = out[0] * out[1] * out[2] if a.bias else 0
        return 2 * self.mults(a, ins, out) + bias_adds + activation_flops(a, out)

    backward_mults = Conv.backward_mults
    backward_flops = Conv.backward_flops

    def saved(self, a: Args, ins: list[Shape], out: Shape) -> tuple[Saved, ...]:
        return (Saved(INPUT0), *activation_saved(a, out))

    def window(self, a: Args, ins: list[Shape], out: Shape) -> tuple[Window, Window]:
        return (
            Window(effective_filter(a.f[0], a.dilation[0]), a.s[0], a.p[0], transposed=True, d=a.dilation[0]),
            Window(effective_filter(a.f[1], a.dilation[1]), a.s[1], a.p[1], transposed=True, d=a.dilation[1]),
        )


def eca_kernel(channels: int) -> int:
    """ECA's kernel size for `channels` (Wang et al. 2020, eq. 12 with gamma 2 and b 1, as their
    code computes it): ``t = floor((log2(C) + 1) / 2)``, then ``t`` where odd, else ``t + 1``.
    ``floor(log2(C)) + 1`` is C's bit length, so ``t`` is exact, without floating point.
    (timm also raises it to at least 3; the paper's networks have C >= 64, where it is.)"""
    t = channels.bit_length() // 2
    return t if t % 2 else t + 1


@registered
class ChannelConv(LayerKind):
    """A 1-D convolution across the channels at each position: `channelconv 5`, or
    `channelconv` (`f=auto`: ECA's kernel for C channels, `eca_kernel`). ECA-Net's channel
    attention (Wang et al. 2020) runs it on the pooled ``1x1xC`` vector inside a gate:
    `gate: [pool avg global, channelconv, sigmoid]`. One filter of ``f`` weights (and, with
    `bias=true`, one bias added to every output: a Conv1d with a bias) slides over the ``C``
    channels with ``(f-1)/2`` zeros at each end (``f`` odd), so ``C`` channels come out; every
    position (or a vector's values) is convolved on its own. Shape unchanged.
    Params: ``f`` (+ 1 with bias). Multiplications: ``H*W*C * f`` (output values x filter taps,
    the zero padding included, as conv's). FLOPs: ``2*mults`` + ``H*W*C`` bias adds (with bias).
    Backward multiplications: ``mults`` for the weight gradient, ``mults`` more for the input
    gradient when it needs one. Keeps for backward: its input. Receptive field: each position
    its own (no spatial window).
    """

    name = "channelconv"
    autocast = "16"
    synonyms = {"eca": "channelconv", "conv1d": "channelconv"}  # noqa: RUF012 - never mutated
    args = (
        Arg(
            "f",
            OrAuto(Int()),
            "auto",
            "kernel size across the channels, odd; auto: ECA's rule for C channels",
            positional=True,
            show=True,
        ),
        Arg("bias", BOOL, False, "add one learned bias to every output (a Conv1d with a bias)", flag=True),
    )

    @staticmethod
    def kernel(a: Args, channels: int) -> int:
        """The kernel size: `f`, or ECA's rule for `channels` where `f=auto`."""
        return eca_kernel(channels) if a.f == "auto" else a.f

    def check_args(self, a: Args) -> None:
        if a.f != "auto" and a.f % 2 == 0:  # ECA's rule gives an odd one
            raise ShapeError(
                f"a kernel of {a.f} across the channels cannot keep their count: it pads (f-1)/2 at each end",
                hint=f"use an odd kernel, {a.f - 1} or {a.f + 1}",
            )

    def shape(self, a: Args, ins: list[Shape]) -> Shape:
        self.check_args(a)
        return ins[0]

    def params(self, a: Args, ins: list[Shape], out: Shape) -> int:
        return self.kernel(a, ins[0][-1]) + (1 if a.bias else 0)

    def param_shapes(self, a: Args, ins: list[Shape], out: Shape) -> tuple[tuple[str, Shape], ...]:
        # the module's filter runs down the channels laid along the height (backend.functional.ChannelConv)
        return weight_and_bias((1, 1, self.kernel(a, ins[0][-1]), 1), 1 if a.bias else None)

    def mults(self, a: Args, ins: list[Shape], out: Shape) -> int:
        return numel(out) * self.kernel(a, ins[0][-1])

    def flops(self, a: Args, ins: list[Shape], out: Shape) -> int:
        return 2 * self.mults(a, ins, out) + (numel(out) if a.bias else 0)

    def backward_mults(self, a: Args, ins: list[Shape], out: Shape, input_grad: bool) -> int:
        return self.mults(a, ins, out) * (2 if input_grad else 1)

    def backward_flops(self, a: Args, ins: list[Shape], out: Shape, input_grad: bool) -> int:
        return weights_backward_flops(self, a, ins, out, input_grad)

    def saved(self, a: Args, ins: list[Shape], out: Shape) -> tuple[Saved, ...]:
        return (Saved(INPUT0),)

    def window(self, a: Args, ins: list[Shape], out: Shape) -> tuple[Window, Window]:
        return IDENTITY
