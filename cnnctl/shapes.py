"""Pure shape arithmetic: integers in, integers out. No framework, no YAML.

These are the formulas of the course notes, one function each, so that every number
cnnctl prints can be checked by hand. Sizes are per spatial axis; the layer kinds apply
them to height and width separately (filters may be non-square, e.g. 1x7).
"""

from __future__ import annotations

import math

Shape = tuple[int, ...]
"""A volume ``(H, W, C)`` or, after flatten/fc, a vector ``(N,)``."""

DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "float64": 8, "int8": 1}
"""Bytes of a value of each element type."""
DTYPE_SHORT = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16", "fp64": "float64"}
"""The short names the options also take."""
TRAINING_DTYPES = ("float32", "float16", "bfloat16", "float64")
"""What a training step can hold its weights, gradients and activations in: autograd trains
floating-point tensors only (int8 is for quantised inference)."""


def format_shape(shape: Shape) -> str:
    """``(28, 28, 6)`` -> ``'28x28x6'``; a vector ``(4096,)`` -> ``'4096'``; the empty shape (a
    tensor's of one value) -> ``'a scalar'``, the one wording of it in every message and table."""
    return "x".join(map(str, shape)) or "a scalar"


def numel(shape: Shape) -> int:
    """Number of values in one example of this shape."""
    return math.prod(shape)


def effective_filter(f: int, dilation: int = 1) -> int:
    """Span of a dilated filter: ``d*(f-1) + 1`` (a 3-tap filter at dilation 2 spans 5)."""
    return dilation * (f - 1) + 1


def conv_output_size(n: int, f: int, s: int = 1, p: int | tuple[int, int] = 0, dilation: int = 1) -> int:
    """Output size of a convolution or floor-mode pooling along one axis.

    ``floor((n + p_before + p_after - f_eff) / s) + 1`` with ``f_eff = d*(f-1) + 1``; a single
    integer ``p`` pads both sides, the course's ``floor((n + 2p - f)/s) + 1``. May return 0 or
    less when the filter does not fit; callers turn that into an error.
    """
    before, after = (p, p) if isinstance(p, int) else p
    return (n + before + after - effective_filter(f, dilation)) // s + 1


def pool_output_size_ceil(n: int, f: int, s: int, p: int = 0) -> int:
    """Output size of ceil-mode pooling along one axis (Caffe, PyTorch ``ceil_mode=True``).

    ``ceil((n + 2p - f) / s) + 1``, minus one when the last window would start past the
    input and its left padding (``(out - 1)*s >= n + p``): that window would see only
    padding, and PyTorch and Caffe drop it.
    """
    out = -(-(n + 2 * p - f) // s) + 1
    if out > 0 and (out - 1) * s >= n + p:
        out -= 1
    return out


def tail_after_windows(n: int, f: int, s: int, pads: tuple[int, int], out: int) -> int:
    """How far the last of `out` windows of span `f`, `s` apart (the first from the top of
    the padding), ends before the end of the padded input ``n + p_before + p_after``.

    Positive: that many rows at the end are in no window, ``(n + 2p - f) mod s`` without
    ceil: the remainder when ``(n + 2p - f)/s`` is not whole (the last of them may be
    padding). Negative: how far a ceil-mode window hangs over the end; only the last can
    (the one before it ends inside, by the ceil rule), so the windows' real sizes add up to
    ``out*f + min(tail, 0)``.
    """
    return n + pads[0] + pads[1] - ((out - 1) * s + f)


def rows_read(n: int, f: int, s: int, before: int, first: int, last: int) -> tuple[int, int] | None:
    """The first and last input position (padding left out: 0 to ``n - 1``) that windows
    `first` to `last` of span `f`, `s` apart, the first from ``before`` ahead of the input,
    reach: window ``i`` spans ``i*s - before`` to ``i*s - before + f - 1``. None: only padding.
    Where windows touch (``s <= f``) they read every position between; wider apart, the gaps
    between them are not read either. The one rule of what a layer's windows reach: the rows a
    stride leaves out at the end (`cnnctl.layers.conv.unread_note`: ``n - 1 - last`` of them)
    and what whole maps see (`cnnctl.analysis.receptive`)."""
    lo, hi = max(first * s - before, 0), min(last * s - before + f - 1, n - 1)
    return (lo, hi) if lo <= hi else None


def covered_by_windows(n: int, f: int, s: int, pads: tuple[int, int], out: int) -> int:
    """The input positions (padding left out) that `out` windows of span `f`, `s` apart (the
    first from the top of the padding) cover, summed over the windows: window ``i`` covers
    ``min(i*s - p_before + f, n) - max(i*s - p_before, 0)`` of them (an average that leaves the
    padding out divides by that: PyTorch's ``count_include_pad=False``). Only the windows at the
    edges reach past the input (the first ``ceil(p_before/s)``, those from
    ``floor((n + p_before - f)/s) + 1``); every other covers ``f``: a few terms, whatever `out`."""
    first_right = max(0, (n + pads[0] - f) // s + 1)
    edges = set(range(min(-(-pads[0] // s), out))) | set(range(min(first_right, out), out))
    return (out - len(edges)) * f + sum(min(i * s - pads[0] + f, n) - max(i * s - pads[0], 0) for i in edges)


def same_output_size(n: int, s: int) -> int:
    """Output size with ``same`` padding: ``ceil(n / s)``, whatever the filter."""
    return -(-n // s)


def same_padding(n: int, f: int, s: int = 1, dilation: int = 1) -> tuple[int, int]:
    """Padding ``(before, after)`` that gives ``same`` output ``ceil(n/s)``.

    The total is ``max((ceil(n/s) - 1)*s + f_eff - n, 0)``. When it is odd (an even filter at
    stride 1, for instance) it cannot be split evenly: the extra row/column goes after
    (bottom/right), as TensorFlow and PyTorch's ``padding='same'`` do.
    """
    total = max((same_output_size(n, s) - 1) * s + effective_filter(f, dilation) - n, 0)
    return total // 2, total - total // 2


def transposed_conv_output_size(n: int, f: int, s: int = 1, p: int = 0, dilation: int = 1) -> int:
    """Output size of a transposed convolution: ``(n - 1)*s - 2p + d*(f-1) + 1``."""
    return (n - 1) * s - 2 * p + effective_filter(f, dilation)


def conv_params(f_h: int, f_w: int, c_in: int, n: int, groups: int = 1, bias: bool = True) -> int:
    """Weights ``f_h*f_w*(c_in/groups)*n`` plus ``n`` biases."""
    return f_h * f_w * (c_in // groups) * n + (n if bias else 0)


def conv_mults(h_out: int, w_out: int, n: int, f_h: int, f_w: int, c_in: int, groups: int = 1) -> int:
    """Multiplications of a convolution: (output volume) x (filter volume).

    ``H'*W'*n * f_h*f_w*(c_in/groups)``: every output value is one dot product of the
    filter with the input patch. The course's 6x6 input, 3x3 filter: ``(4*4*1)*(3*3*1) = 144``.
    """
    return h_out * w_out * n * f_h * f_w * (c_in // groups)


def fc_params(n_in: int, n_out: int, bias: bool = True) -> int:
    """Weights ``n_in*n_out`` plus ``n_out`` biases."""
    return n_in * n_out + (n_out if bias else 0)


def fc_mults(n_in: int, n_out: int) -> int:
    """Multiplications of a fully connected layer: ``n_in*n_out``."""
    return n_in * n_out


def adaptive_span(n: int, out: int) -> int:
    """The sizes of the `out` windows of adaptive pooling along an axis of `n` values, added up.

    PyTorch's rule: window ``i`` spans ``floor(i*n/out)`` to ``ceil((i+1)*n/out)``, so
    windows overlap when `out` does not divide `n`: 13 into 6 gives six windows of 3
    (0-3, 2-5, 4-7, 6-9, 8-11, 10-13), 18 in all; 224 into 7, seven of 32. The floors
    telescope to ``n``, and each ceiling adds one where ``(i+1)*n/out`` is not whole, which
    is all but ``gcd(n, out)`` of the windows: ``n + out - gcd(n, out)``, at once for any
    `out` (adding up a window per output row took minutes and all memory for a billion).
    """
    return n + out - math.gcd(n, out)
