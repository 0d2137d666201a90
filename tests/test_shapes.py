"""The pure arithmetic of cnnctl.shapes, checked against the course's formulas worked by hand."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cnnctl.shapes import (
    conv_mults,
    conv_output_size,
    conv_params,
    effective_filter,
    fc_mults,
    fc_params,
    format_shape,
    numel,
    pool_output_size_ceil,
    rows_read,
    same_output_size,
    same_padding,
    transposed_conv_output_size,
)


# -- conv_output_size: floor((n + 2p - f)/s) + 1 -------------------------------------------------
@pytest.mark.parametrize(
    ("n", "f", "s", "p", "expected"),
    [
        (6, 3, 1, 0, 4),  # (6 - 3)/1 + 1 = 4: the course's 6x6 * 3x3 -> 4x4
        (7, 3, 2, 0, 3),  # floor((7 - 3)/2) + 1 = 2 + 1 = 3
        (6, 3, 2, 0, 2),  # floor((6 - 3)/2) + 1 = floor(1.5) + 1 = 2
        (39, 3, 1, 0, 37),  # (39 - 3)/1 + 1 = 37
        (37, 5, 2, 0, 17),  # (37 - 5)/2 + 1 = 16 + 1 = 17
        (17, 5, 2, 0, 7),  # (17 - 5)/2 + 1 = 6 + 1 = 7
        (6, 3, 1, 1, 6),  # (6 + 2 - 3)/1 + 1 = 6: padding 1 keeps a 3x3 conv's size
        (224, 7, 2, 3, 112),  # floor((224 + 6 - 7)/2) + 1 = floor(111.5) + 1 = 112 (ResNet stem)
        (227, 11, 4, 0, 55),  # (227 - 11)/4 + 1 = 54 + 1 = 55 (AlexNet conv1)
        (32, 5, 1, 0, 28),  # LeNet-5 conv1: 32 - 5 + 1 = 28
        (3, 3, 1, 0, 1),  # the filter exactly covers the input: one output
    ],
)
def test_conv_output_size_course_formula(n, f, s, p, expected):
    assert conv_output_size(n, f, s, p) == expected


def test_conv_output_size_uneven_padding_pair():
    # p=(0, 1): n + 0 + 1 - f + 1 = 4 + 1 - 2 + 1 = 4
    assert conv_output_size(4, 2, 1, (0, 1)) == 4
    # p=(2, 3), s=2, f=7, n=224: floor((224 + 5 - 7)/2) + 1 = 111 + 1 = 112
    assert conv_output_size(224, 7, 2, (2, 3)) == 112


def test_conv_output_size_filter_too_large_is_not_positive():
    # (2 - 5)/1 + 1 = -2: callers turn this into an error
    assert conv_output_size(2, 5) < 1


def test_effective_filter_and_dilated_output():
    assert effective_filter(3, 1) == 3
    assert effective_filter(3, 2) == 5  # 2*(3-1) + 1
    assert effective_filter(3, 4) == 9  # 4*2 + 1
    # 7x7 input, 3-tap filter at dilation 2 spans 5: 7 - 5 + 1 = 3
    assert conv_output_size(7, 3, 1, 0, dilation=2) == 3
    # DeepLab-like: 65, f=3, d=2, p=2: 65 + 4 - 5 + 1 = 65 (size kept)
    assert conv_output_size(65, 3, 1, 2, dilation=2) == 65


# -- same padding ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("n", "s", "expected"), [(7, 2, 4), (224, 2, 112), (5, 1, 5), (6, 3, 2), (1, 2, 1)])
def test_same_output_size_is_ceil_n_over_s(n, s, expected):
    # ceil(7/2)=4, ceil(224/2)=112, ceil(5/1)=5, ceil(6/3)=2, ceil(1/2)=1
    assert same_output_size(n, s) == expected


@pytest.mark.parametrize(
    ("n", "f", "s", "d", "expected"),
    [
        (6, 3, 1, 1, (1, 1)),  # total (6-1)*1 + 3 - 6 = 2, split 1/1
        (6, 2, 1, 1, (0, 1)),  # total 5 + 2 - 6 = 1: odd, the extra one after
        (7, 3, 2, 1, (1, 1)),  # out 4; total 3*2 + 3 - 7 = 2
        (8, 3, 2, 1, (0, 1)),  # out 4; total 3*2 + 3 - 8 = 1
        (224, 7, 2, 1, (2, 3)),  # out 112; total 111*2 + 7 - 224 = 5 -> 2 before, 3 after
        (5, 1, 2, 1, (0, 0)),  # out 3; total 2*2 + 1 - 5 = 0
        (4, 1, 3, 1, (0, 0)),  # out 2; total 3 + 1 - 4 = 0
        (10, 3, 1, 2, (2, 2)),  # f_eff 5; total 9 + 5 - 10 = 4
        (28, 5, 1, 1, (2, 2)),  # the Inception 5x5 same: total 27 + 5 - 28 = 4
    ],
)
def test_same_padding(n, f, s, d, expected):
    assert same_padding(n, f, s, d) == expected


@given(
    n=st.integers(1, 600),
    f=st.integers(1, 13),
    s=st.integers(1, 6),
    d=st.integers(1, 3),
)
def test_same_padding_gives_ceil_n_over_s(n, f, s, d):
    pads = same_padding(n, f, s, d)
    assert pads[0] <= pads[1] <= pads[0] + 1  # split evenly, the odd one after
    assert conv_output_size(n, f, s, pads, d) == math.ceil(n / s)


# -- ceil-mode pooling ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("n", "f", "s", "p", "expected"),
    [
        (112, 3, 2, 0, 56),  # ceil((112 - 3)/2) + 1 = ceil(54.5) + 1 = 56 (floor mode: 55); GoogLeNet
        (56, 3, 2, 0, 28),  # ceil(53/2) + 1 = 27 + 1 = 28
        (14, 3, 2, 0, 7),  # ceil(11/2) + 1 = 6 + 1 = 7
        (5, 2, 2, 0, 3),  # ceil(3/2) + 1 = 3; last window starts at 4 < 5: kept
        (4, 2, 2, 0, 2),  # ceil(2/2) + 1 = 2: exact fit, same as floor
        (6, 3, 2, 1, 4),  # ceil((6 + 2 - 3)/2) + 1 = 4; last start (4-1)*2 = 6 < 6 + 1: kept
        # the drop rule fires: ceil((5 + 2 - 2)/2) + 1 = ceil(2.5) + 1 = 4, but (4 - 1)*2 = 6 >= 5 + 1,
        # the 4th window would start in the right padding: PyTorch drops it -> 3
        (5, 2, 2, 1, 3),
        (3, 2, 2, 1, 2),  # ceil((3+2-2)/2)+1 = 3; (3-1)*2 = 4 >= 3+1 -> dropped -> 2
    ],
)
def test_pool_output_size_ceil(n, f, s, p, expected):
    assert pool_output_size_ceil(n, f, s, p) == expected


def _windows_ceil(n: int, f: int, s: int, p: int) -> int:
    """Count ceil-mode windows by sliding them: add windows until the padded input is covered,
    never keeping one that starts in the right padding (PyTorch's ceil_mode rule)."""
    count, k = 0, 0
    while True:
        start = k * s  # in padded coordinates; the real input is [p, p + n)
        if start >= n + p:
            return count
        count += 1
        if start + f >= n + 2 * p:
            return count
        k += 1


@given(n=st.integers(1, 300), f=st.integers(1, 9), s=st.integers(1, 5), data=st.data())
def test_pool_ceil_matches_sliding_windows(n, f, s, data):
    p = data.draw(st.integers(0, f // 2))
    if f > n + 2 * p:
        return
    got = pool_output_size_ceil(n, f, s, p)
    assert got == _windows_ceil(n, f, s, p)
    floor = conv_output_size(n, f, s, p)
    assert floor <= got <= floor + 1


# -- transposed convolution -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("n", "f", "s", "p", "d", "expected"),
    [
        (8, 2, 2, 0, 1, 16),  # (8-1)*2 - 0 + 2 = 16: the U-Net up-convolution doubles
        (28, 2, 2, 0, 1, 56),  # 27*2 + 2 = 56
        (4, 3, 2, 1, 1, 7),  # 3*2 - 2 + 3 = 7
        (5, 4, 2, 1, 1, 10),  # 4*2 - 2 + 4 = 10 (DCGAN: f=4 s=2 p=1 doubles)
        (3, 3, 1, 0, 2, 7),  # 2*1 + 2*(3-1) + 1 = 2 + 5 = 7
        (1, 1, 1, 0, 1, 1),  # 0 + 1 = 1
    ],
)
def test_transposed_conv_output_size(n, f, s, p, d, expected):
    assert transposed_conv_output_size(n, f, s, p, d) == expected


@given(n=st.integers(1, 200), f=st.integers(1, 7), s=st.integers(1, 4))
def test_transposed_conv_inverts_conv_size(n, f, s):
    # a conv maps m = (n-1)*s + f back to n when (m - f) is divisible by s
    m = transposed_conv_output_size(n, f, s)
    assert conv_output_size(m, f, s) == n


# -- counts ---------------------------------------------------------------------------------------
def test_conv_params():
    assert conv_params(3, 3, 3, 10) == 280  # 3*3*3*10 + 10
    assert conv_params(5, 5, 10, 20) == 5020  # 5*5*10*20 + 20
    assert conv_params(5, 5, 20, 40) == 20040  # 5*5*20*40 + 40
    assert conv_params(3, 3, 3, 10, bias=False) == 270  # 3*3*3*10
    assert conv_params(5, 5, 1, 6) == 156  # LeNet-5 C1: 5*5*1*6 + 6
    assert conv_params(3, 3, 32, 32, groups=32) == 320  # depthwise: 3*3*1*32 + 32
    assert conv_params(3, 3, 64, 128, groups=4) == 18560  # 3*3*16*128 + 128 = 18432 + 128
    assert conv_params(1, 7, 64, 64, bias=False) == 28672  # 1*7*64*64 = 448*64


def test_conv_mults():
    assert conv_mults(4, 4, 1, 3, 3, 1) == 144  # (4*4*1) x (3*3*1)
    assert conv_mults(2, 2, 1, 3, 3, 1) == 36  # (2*2*1) x (3*3*1)
    assert conv_mults(4, 4, 1, 3, 3, 3) == 432  # (4*4*1) x (3*3*3)
    assert conv_mults(4, 4, 2, 3, 3, 3) == 864  # (4*4*2) x (3*3*3)
    assert conv_mults(28, 28, 32, 5, 5, 192) == 120_422_400  # 25,088 x 4,800
    assert conv_mults(28, 28, 16, 1, 1, 192) == 2_408_448  # 12,544 x 192
    # depthwise 3x3 on 112x112x32: (112*112*32) x (3*3*1) = 401,408 x 9 = 3,612,672
    assert conv_mults(112, 112, 32, 3, 3, 32, groups=32) == 3_612_672
    # non-square 1x7 filter: (17*17*192) x (1*7*160) = 55,488 x 1,120 = 62,146,560
    assert conv_mults(17, 17, 192, 1, 7, 160) == 62_146_560


def test_fc_params_and_mults():
    assert fc_params(400, 120) == 48_120  # 400*120 + 120
    assert fc_params(1960, 1) == 1961  # 1960 + 1
    assert fc_params(400, 120, bias=False) == 48_000
    assert fc_params(4096, 1000) == 4_097_000  # 4096*1000 + 1000
    assert fc_mults(400, 120) == 48_000
    assert fc_mults(84, 10) == 840


def test_format_shape_and_numel():
    assert format_shape((28, 28, 6)) == "28x28x6"
    assert format_shape((4096,)) == "4096"
    assert format_shape(()) == "a scalar"  # a tensor of one value: one wording everywhere, never ""
    assert numel((28, 28, 6)) == 4704  # 28*28*6
    assert numel((7, 7, 40)) == 1960
    assert numel((10,)) == 10


def test_a_scalar_is_worded_alike_in_the_placement_table_and_the_weights_messages():
    # The placement table said "scalar", the weights' messages "a scalar": one wording now.
    from cnnctl.errors import CnnctlError
    from cnnctl.exchange.weights import Placed, Placement, by_structure
    from cnnctl.render.views.weights import placement_rows

    rows = placement_rows(Placement(placed=(Placed("bn.scale", "s", (), left_out=()),), by_name=False))
    assert rows == [["bn.scale", "(made anew; s of a scalar left out)", "a scalar"]]
    said = "it takes `fc.weight` of 3x4, and the source's tensor 1 in order is `w` of a scalar"
    with pytest.raises(CnnctlError, match=said):
        by_structure({"w": ()}, {"fc.weight": (3, 4)}, "w.pt")


def test_rows_read_by_windows():
    # 8, f=3 s=2: windows 0-2, 2-4, 4-6; row 7 in none
    assert rows_read(8, 3, 2, 0, 0, 2) == (0, 6)
    # ResNet's stem pool, 112, f=3 s=2 p=1, 56 windows: from -1 (padding) to 109..111
    assert rows_read(112, 3, 2, 1, 0, 55) == (0, 111)
    # one window, cut by the padding on both sides: 3 rows, f=5 from -1
    assert rows_read(3, 5, 1, 1, 0, 0) == (0, 2)
    # a window that is all padding: 1x1 from -1
    assert rows_read(4, 1, 1, 1, 0, 0) is None
