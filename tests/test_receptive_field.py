"""Receptive fields (cnnctl.analysis.receptive) against published figures, hand derivations and
the gradient of the compiled network.

Empirical check: a network made linear and positive (every weight 1/fan_in, biases 0, no
activations or normalisations, average pooling for max pooling) has a gradient that is
non-zero exactly where an output value depends on the input. The rows and columns where the
input gradient of one output position is non-zero must span the field cnnctl gives that
position: ``start + i*jump`` to ``start + i*jump + size - 1``, clipped to the image; after an
upsample, a deconv or an adaptive pool that does not divide its input (an `uneven` field),
they must lie inside it.
"""

import math
import warnings

import pytest
from helpers import EXAMPLES

import cnnctl
from cnnctl.analysis.receptive import receptive_fields

warnings.filterwarnings("ignore", message="Failed to initialize NumPy")


def fields_by_path(graph):
    return {n.path: f for n, f in zip(graph.nodes, receptive_fields(graph), strict=True)}


def field_of(text, path=None):
    graph = cnnctl.load_text(text)
    fields = receptive_fields(graph)
    return fields[-1] if path is None else fields_by_path(graph)[path]


# Published and hand-derived figures


def test_vgg16_conv5_3_and_pool5_as_published():
    """Araujo, Norris and Sim, "Computing Receptive Fields of Convolutional Neural Networks"
    (Distill, 2019), table: VGG-16 conv5_3 196, pool5 212.

    Hand check: 13 3x3 convs add 2*jump each, 4 pools (2x2, s=2) add 1*jump: stage1 2*(2*1),
    pool 1; stage2 2*(2*2), pool 2; stage3 3*(2*4), pool 4; stage4 3*(2*8), pool 8; stage5
    3*(2*16): 1 + 4+1 + 8+2 + 24+4 + 48+8 + 96 = 196; pool5: + 16 = 212, jump 32. Every conv
    pads 1 at its jump: start = -(2*1 + 2*2 + 3*4 + 3*8 + 3*16) = -90.
    """
    fields = fields_by_path(cnnctl.load("vgg16"))
    conv5_3, pool5 = fields["stage5.conv.3"], fields["stage5.pool"]
    assert (conv5_3.size, conv5_3.jump, conv5_3.start) == ((196, 196), (16, 16), (-90, -90))
    assert (pool5.size, pool5.jump, pool5.start) == ((212, 212), (32, 32), (-90, -90))
    assert not conv5_3.whole and not pool5.whole
    assert fields["fc1"].whole


def resnet18_layer4_field() -> int:
    """ResNet-18's last map by hand, r' = r + (k-1)*j, j' = j*s: conv1 7x7 s2 (r 7, j 2), the
    max pool 3x3 s2 (+2*2, j 4), then per stage four 3x3 convs (the first of stages 2-4 at
    stride 2; a projection's 1x1 widens nothing): +2*j each, j doubling after each first."""
    r, j = 7, 2
    r, j = r + 2 * j, j * 2
    for stage in range(4):
        for conv in range(4):
            r += 2 * j
            if stage and not conv:
                j *= 2
    return r


def test_a_global_pool_sees_the_whole_image():
    """Its one value sees every pixel its input map sees: the whole 224 image, not 627 (the
    union of layer4's fields, padding included); fc after it too."""
    fields = fields_by_path(cnnctl.load("resnet18"))
    assert resnet18_layer4_field() == 435
    assert fields["layer4.2.add"].size == (435, 435) and not fields["layer4.2.add"].whole
    assert fields["avgpool"].whole and fields["fc"].whole


def test_a_map_of_one_position_that_misses_pixels_keeps_its_field():
    """A 2x2 stride-2 conv on 9 rows reads rows 0-7 only: the global pool's one value sees 8
    rows from row 0, not the whole image; with 8 rows it sees them all."""
    f = field_of("input: 9x9x1\nlayers: [conv f=2 s=2 n=1, pool avg global]")
    assert (f.size, f.start, f.whole) == ((8, 8), (0, 0), False)
    assert field_of("input: 8x8x1\nlayers: [conv f=2 s=2 n=1, pool avg global]").whole


def test_alexnet_conv5_and_pool5_by_hand():
    """AlexNet (the bundled one-tower version, 227x227x3), r' = r + (k-1)*j, j' = j*s:

    conv1 11x11 s4: r 11, j 4;  pool1 3x3 s2: 11 + 2*4 = 19, j 8;  conv2 5x5: 19 + 4*8 = 51;
    pool2 3x3 s2: 51 + 2*8 = 67, j 16;  conv3, conv4, conv5 3x3: 67 + 3*(2*16) = 163;
    pool5 (`pool3`) 3x3 s2: 163 + 2*16 = 195, j 32.
    Padding: conv2 pads 2 at jump 8, conv3-5 pad 1 at jump 16: start = -(16 + 3*16) = -64.
    """
    fields = fields_by_path(cnnctl.load("alexnet"))
    assert (fields["conv5"].size, fields["conv5"].jump, fields["conv5"].start) == ((163, 163), (16, 16), (-64, -64))
    assert (fields["pool3"].size, fields["pool3"].jump, fields["pool3"].start) == ((195, 195), (32, 32), (-64, -64))


def test_two_3x3_convs_see_5():
    # 1 + 2 + 2 = 5, stride 1 throughout; valid padding: the first position starts at 0
    f = field_of("input: 9x9x1\nlayers: [conv f=3 n=1, conv f=3 n=1]")
    assert (f.size, f.jump, f.start, f.whole) == ((5, 5), (1, 1), (0, 0), False)
    # p=same pads 1 before each: -1 - 1 = -2
    f = field_of("input: 9x9x1\nlayers: [conv f=3 p=same n=1, conv f=3 p=same n=1]")
    assert (f.size, f.start) == ((5, 5), (-2, -2))


def test_a_stride_2_conv_doubles_what_the_next_one_adds():
    # 3, then 3 + (3 - 1)*2 = 7; jump 1*2 = 2
    f = field_of("input: 11x11x1\nlayers: [conv f=3 s=2 n=1, conv f=3 n=1]")
    assert (f.size, f.jump, f.start) == ((7, 7), (2, 2), (0, 0))


def test_dilation_2_spreads_a_3x3_filter_over_5():
    # taps at 0, 2, 4: an effective filter of 2*(3 - 1) + 1 = 5
    f = field_of("input: 9x9x1\nlayers: [conv f=3 dilation=2 n=1]")
    assert (f.size, f.jump) == ((5, 5), (1, 1))
    f = field_of("input: 9x9x1\nlayers: [conv f=3 dilation=2x1 n=1]")
    assert f.size == (5, 3)


def test_an_add_sees_the_union_of_its_paths():
    # a 3x3 path (rows -1..1) and the identity (row 0): the union is -1..1
    f = field_of("input: 8x8x2\nlayers:\n  - add:\n      branch1: [conv f=3 p=same n=2]\n      branch2: []")
    assert (f.size, f.jump, f.start) == ((3, 3), (1, 1), (-1, -1))
    # per axis: 1x5 (rows 0..0, cols -2..2) and 5x1 (rows -2..2, cols 0..0): 5 by 5
    f = field_of(
        "input: 8x8x2\nlayers:\n  - add:\n      branch1: [conv f=1x5 p=0x2 n=2]\n      branch2: [conv f=5x1 p=2x0 n=2]"
    )
    assert (f.size, f.start) == ((5, 5), (-2, -2))


def test_a_squeeze_excitation_gate_sees_the_whole_image():
    # the 1x1xC scale is the mean of every position: every output value depends on all pixels
    text = "input: 8x8x2\nlayers:\n  - conv f=3 p=same n=2\n  - gate: [pool avg global, conv f=1 n=2 act=sigmoid]"
    graph = cnnctl.load_text(text)
    fields = receptive_fields(graph)
    assert not fields[0].whole
    assert fields[-1].whole
    assert graph.nodes[-1].kind == "mul"


def pixels_seen(text):
    """How many input pixels the last layer's output position (0, 0) depends on: the gradient's
    non-zero pixels (independent of cnnctl's fields), and that layer's field."""
    graph = cnnctl.load_text(text)
    k = len(graph.nodes) - 1
    masks = {}
    footprints(graph, {k: [(0, 0)]}, masks)
    return int(masks[k, (0, 0)].sum()), receptive_fields(graph)[k]


def test_a_dilated_filter_over_the_whole_image_is_not_all():
    """A 3x3 filter at dilation 2 on 5x5 spans it (taps at 0, 2, 4: 2*(3 - 1) + 1 = 5) but its
    one value sees 3*3 = 9 of the 25 pixels: its field is 5, not `all`."""
    seen, f = pixels_seen("input: 5x5x1\nlayers: [conv f=3 dilation=2 n=1]")
    assert seen == 9
    assert not f.whole
    assert (f.size, f.start, f.gaps) == ((5, 5), (0, 0), True)


def test_a_global_pool_of_a_strided_1x1_conv_is_not_all():
    """conv f=1 s=4 on 5x5 keeps rows and columns 0 and 4: a 2x2 map, one pixel each (field 1,
    jump 4). Pooled, its value sees those 2*2 = 4 pixels, spread over 0..4: a field of 5 with
    gaps, not `all`; jump 0, as after fc (a map of one position has no neighbour to be apart from)."""
    seen, f = pixels_seen("input: 5x5x1\nlayers: [conv f=1 s=4 n=1, pool max global]")
    assert seen == 4
    assert not f.whole
    assert (f.size, f.jump, f.gaps) == ((5, 5), (0, 0), True)


def test_a_join_of_a_row_and_a_column_is_not_all():
    """A 3x1 and a 1x3 filter at stride 3 on 3x3 each give one value, seeing column 0 and row 0.
    Their sum spans 3x3 but sees 3 + 3 - 1 = 5 pixels (an L, not a square): not `all`."""
    text = "input: 3x3x1\nlayers:\n  - add:\n      a: [conv f=3x1 s=3 n=1]\n      b: [conv f=1x3 s=3 n=1]\n"
    seen, f = pixels_seen(text)
    assert seen == 5
    assert not f.whole
    assert (f.size, f.gaps) == ((3, 3), True)


def test_a_gate_that_misses_pixels_does_not_make_the_map_see_all():
    """The gate pools a stride-4 1x1 conv of a 9x9 input: 9 pixels (rows and columns 0, 4, 8).
    Gated position (1, 1) sees its own pixel and those 9: 10, not the whole 81."""
    text = "input: 9x9x2\nlayers:\n  - gate: [conv f=1 s=4 n=2, pool max global, conv f=1 n=2 act=sigmoid]\n"
    graph = cnnctl.load_text(text)
    masks = {}
    k = len(graph.nodes) - 1
    seen = footprints(graph, {k: [(1, 1), (4, 4)]}, masks)
    assert int(masks[k, (1, 1)].sum()) == 10 and int(masks[k, (4, 4)].sum()) == 9
    f = receptive_fields(graph)[k]
    # every position's own pixel lies within rows and columns 0-8, which the gate sees: each
    # position's field runs from 0 to 8 exactly (jump 0), with gaps, not `all`
    assert not f.whole and f.gaps and (f.size, f.jump, f.start) == ((9, 9), (0, 0), (0, 0))
    for position in ((1, 1), (4, 4)):
        assert seen[k, position] == expected_span(f, position, (9, 9))


def test_a_gate_whose_pool_misses_rows_sees_what_the_pool_sees():
    """A stride-2 3x3 conv of a 10x10 image leaves out row and column 9: the gate's global pool
    sees rows and columns 0-8, and so does every position of the gated map (its own 3x3 field
    lies within them): a field of 9 from 0, jump 0, as the gradient says at every position (not
    the formulas' bound, 15 from -6). With a 9x9 image nothing is left out: `all`. The 1x1 maps
    of the gate get jump 0 too, as fc after them does."""
    text = "input: {0}x{0}x4\nlayers:\n  - conv f=3 s=2 n=8\n  - gate: [pool avg global, conv f=1 n=8 act=sigmoid]\n"
    graph = cnnctl.load_text(text.format(10))
    fields = receptive_fields(graph)
    k = len(graph.nodes) - 1
    f = fields[k]
    assert (f.size, f.jump, f.start, f.whole, f.uneven, f.gaps) == ((9, 9), (0, 0), (0, 0), False, False, False)
    assert all(fields[n.index].jump == (0, 0) for n in graph.nodes if n.shape[:2] == (1, 1))
    h, w = graph.nodes[k].shape[:2]
    seen = footprints(graph, {k: [(i, j) for i in range(h) for j in range(w)]})
    for (_, position), span in seen.items():
        assert span == ((0, 8), (0, 8)) == expected_span(f, position, (10, 10)), position
    assert receptive_fields(cnnctl.load_text(text.format(9)))[-1].whole


def test_gapless_networks_keep_all():
    """ResNet-18's layer4 (435, by hand above) has no gaps, so its global pool is still `all`;
    Inception-v3's 1x3 and 3x1 branches make crosses, but their common 1055-wide part, 32 apart
    over 8 positions, covers the 299 image: its global pool is `all` too."""
    fields = fields_by_path(cnnctl.load("resnet18"))
    layer4 = fields["layer4.2.add"]
    assert layer4.size == (resnet18_layer4_field(),) * 2 and not layer4.gaps
    assert fields["avgpool"].whole
    fields = fields_by_path(cnnctl.load("inception_v3"))
    assert fields["inception_e1.branch3x3.split3x31.concat"].gaps  # a cross
    assert fields["pool3"].whole


def test_upsampling_halves_the_jump_and_keeps_each_copy_exact():
    # conv 3x3 s2 p1: size 3, jump 2, start -1. Nearest upsample 2: positions 2m and 2m+1 both
    # see conv position m, rows 2m-1 .. 2m+1: every position sees 3 rows (not the 4 of a field
    # start + o*1 that contains both), the pattern repeating every 2 positions, 2 rows later
    f = field_of("input: 8x8x1\nlayers: [conv f=3 s=2 p=1 n=1, upsample 2]")
    assert (f.size, f.jump, f.start, f.uneven) == ((3, 3), (1, 1), (-1, -1), True)
    assert [f.span(0, o) for o in range(4)] == [(-1, 1), (-1, 1), (1, 3), (1, 3)]
    assert not field_of("input: 8x8x1\nlayers: [conv f=3 s=2 p=1 n=1]").uneven


def test_a_transposed_layer_s_field_by_hand():
    """After conv f=3 p=1 (rows o-1..o+1), a transposed layer's output o sees input positions m
    from ceil((o + p - f + 1)/s) to floor((o + p)/s), each 3 rows, 1 apart: the field is
    3 + (that count - 1)*1, at most 3 + (ceil(f/s) - 1)."""
    conv = "input: 16x16x16\nlayers:\n  - conv f=3 p=1 n=8\n  - "
    # f=2 s=2: one m each (o//2): 3, the nu3 user's rf_deconv.yaml (it said ~3.5)
    f = field_of(conv + "deconv f=2 s=2 n=8")
    assert (f.size, f.jump, f.start, f.uneven) == ((3, 3), (0.5, 0.5), (-1, -1), True)
    assert [f.span(1, o) for o in range(4)] == [(-1, 1), (-1, 1), (0, 2), (0, 2)]
    # rf_up.yaml: nearest upsample 2 is the same pattern (it said ~3.5), uneven for its own reason
    assert f.because == ("deconv",)
    assert field_of(conv + "upsample 2") == f._replace(because=("upsample",))
    # f=4 s=2 p=1 (rf_deconv4.yaml, said ~4.5): o=0 sees m -1..0, o=1 sees 0..1: 3 + 1 = 4
    f = field_of(conv + "deconv f=4 s=2 p=1 n=8")
    assert (f.size, f.start) == ((4, 4), (-2, -2))
    assert [f.span(0, o) for o in range(4)] == [(-2, 1), (-1, 2), (-1, 2), (0, 3)]
    # f=3 s=2: even outputs see 2 positions (4 rows: o=0 sees m -1..0), odd ones 1 (3 rows)
    f = field_of(conv + "deconv f=3 s=2 n=8")
    assert f.size == (4, 4) and [f.span(0, o) for o in range(3)] == [(-2, 1), (-1, 1), (-1, 2)]


def test_bilinear_upsampling_by_hand():
    # conv 3x3 p=1: size 3, jump 1, start -1. Bilinear by 2 (align_corners false): output o reads
    # x = (o + 0.5)/2 - 0.5 = o/2 - 0.25: o = 2m reads m - 1 and m, o = 2m + 1 reads m and m + 1
    # (PyTorch's upsample_bilinear2d), a deconv f=4 s=2 p=1's window: each sees two conv
    # positions, 3 + 1 = 4 pixels; o = 0 from conv position -1 (padding: the edge value, clamped)
    conv = "input: 8x8x1\nlayers: [conv f=3 p=1 n=8, "
    f = field_of(conv + "upsample 2 mode=bilinear]")
    assert f.uneven and f.size == (4, 4) and f.jump == (0.5, 0.5)
    assert [f.span(0, o) for o in range(4)] == [(-2, 1), (-1, 2), (-1, 2), (0, 3)]
    assert f.because == ("upsample",)
    assert f == field_of(conv + "deconv f=4 s=2 p=1 n=8]")._replace(because=("upsample",))
    # by 3: x = (o + 0.5)/3 - 0.5; o = 3m reads m - 1, m; 3m + 1 reads m alone (x = m: t = 0);
    # 3m + 2 reads m, m + 1
    f = field_of(conv + "upsample 3 mode=bilinear]")
    assert [f.span(0, o) for o in range(3, 6)] == [(-1, 2), (0, 2), (0, 3)]
    # align_corners, 8 -> 16: x = o*7/15; o = 1: 0.47 reads 0, 1; o = 15: x = 7 reads 7 alone
    f = field_of(conv + "upsample 2 mode=bilinear align_corners=true]")
    assert f.span(0, 0) == (-1, 1) and f.span(0, 1) == (-1, 2) and f.span(0, 15) == (6, 8)


def test_a_layer_that_evens_the_pattern_out_gives_an_even_field():
    """The nu3 user's check.yaml: conv f=3 dilation=2 p=2 (5 rows from -2), deconv f=2 s=2 (o
    sees that conv's o//2), a 3x3 stride-2 max pool (o sees deconv 2o..2o+2: conv o..o+1, 6
    rows from o-2: even again), then a 1x7 conv: 6 rows by 6 + 6 = 12 columns (it said
    ~6.5x12.5)."""
    text = (
        "input: 16x16x16\nlayers:\n  - conv f=3 p=2 dilation=2 groups=4 n=32\n  - deconv f=2 s=2 n=8\n"
        "  - pool max f=3 s=2 ceil\n  - conv f=1x7 p=0x3 n=4\n"
    )
    f = field_of(text)
    assert (f.size, f.jump, f.start, f.uneven) == ((6, 12), (1, 1), (-2, -5), False)


def test_a_deconv_with_a_stride_past_its_filter_leaves_positions_unseen():
    # deconv f=1 s=2: even outputs copy input o/2, odd ones get only the bias
    f = field_of("input: 4x4x1\nlayers: [deconv f=1 s=2 n=1]")
    assert (f.size, f.jump, f.uneven) == ((1, 1), (0.5, 0.5), True)
    assert [f.span(0, o) for o in range(4)] == [(0, 0), None, (1, 1), None]


def test_an_absurd_upsample_gets_a_bound_not_a_hang():
    # a period of 100,000 positions is not followed: the field start + o*jump that contains all
    f = field_of("input: 1x2x1\nlayers: [deconv f=100000x1 s=100000x1 n=1]")
    assert f.uneven and f.spans is None
    assert (f.size[0], f.jump[0]) == (pytest.approx(2 - 1 / 100000), pytest.approx(1 / 100000))


# Empirical: the gradient of the network made linear and positive


class _Reached(Exception):
    """Raised by the hook on the last node wanted: the rest of the network need not run."""


def linear_positive(module):
    """`module` in float64 on the CPU, linear and positive: weights 1/fan_in, biases 0, no
    activation; a max pool becomes an average pool of the same geometry (a max routes the
    gradient to one input only, the field is a property of the geometry); norms, dropout and
    activations become the identity. Returns the module to run in its place."""
    import torch
    from torch import nn

    from cnnctl.backend import functional as fn

    module.to_empty(device="cpu").double()
    with torch.no_grad():
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            module.weight.fill_(1.0 / module.weight[0].numel())
            if module.bias is not None:
                module.bias.zero_()
        elif isinstance(module, fn.LayerScale):
            module.weight.fill_(1.0)
    if isinstance(module, nn.MaxPool2d):
        avg = fn.AvgPool2d(module.kernel_size, module.stride, module.padding, ceil_mode=module.ceil_mode)
        avg.setup("none", module.pad, 0.0)  # the max pool pads with -inf; 0 for the average
        return avg
    if isinstance(module, nn.AdaptiveMaxPool2d):
        return nn.AdaptiveAvgPool2d(module.output_size)
    identity = (
        nn.BatchNorm1d,
        nn.BatchNorm2d,
        nn.LayerNorm,
        nn.GroupNorm,
        nn.LocalResponseNorm,
        nn.Dropout,
        fn.DropPath,
        fn.Activation,
    )
    if isinstance(module, identity):
        return nn.Identity()
    if hasattr(module, "act_fn"):
        module.act_fn = None
    return module


def footprints(graph, wanted, masks=None):
    """For each node index -> [positions] in `wanted`: {(index, (i, j)): ((top, bottom),
    (left, right)) or None (nothing)}, the rows and columns of the input whose gradient is non-zero for the sum
    over channels of that node's output at (i, j) (position None: of its whole output, a vector
    too). `masks`, a dict, gets those pixels for the same keys (H x W, true where non-zero)."""
    torch = pytest.importorskip("torch")  # only the empirical tests need it
    from cnnctl.backend import to_torch

    with torch.device("meta"):  # materialised layer by layer, only up to the last node wanted
        model = to_torch(graph, logits=True)
    last = max(wanted)
    outputs = {}
    for index, (module, inputs) in enumerate(model.steps[: last + 1]):
        module = linear_positive(module)
        model.steps[index] = (module, inputs)
        if index in wanted:

            def hook(mod, args, out, index=index):
                outputs[index] = out
                if index == last:
                    raise _Reached

            module.register_forward_hook(hook)
    model.eval()
    x = torch.ones(1, *(graph.input_shape[2], *graph.input_shape[:2]), dtype=torch.float64, requires_grad=True)
    with pytest.raises(_Reached):
        model(x)
    seen = {}
    for index, positions in wanted.items():
        for position in positions:
            value = outputs[index][0] if position is None else outputs[index][0, :, position[0], position[1]]
            (grad,) = torch.autograd.grad(value.sum(), x, retain_graph=True)
            nonzero = grad[0].ne(0).any(0)  # H x W
            if masks is not None:
                masks[index, position] = nonzero
            if not nonzero.any():  # only padding (a deconv's gaps)
                seen[index, position] = None
                continue
            rows = torch.nonzero(nonzero.any(1)).flatten()
            cols = torch.nonzero(nonzero.any(0)).flatten()
            seen[index, position] = ((int(rows.min()), int(rows.max())), (int(cols.min()), int(cols.max())))
    return seen


def expected_span(field, position, image):
    """The rows and columns cnnctl says output `position` sees, clipped to the image."""
    if field.whole:
        return tuple((0, image[axis] - 1) for axis in (0, 1))
    spans = [field.span(axis, position[axis]) for axis in (0, 1)]
    return tuple((max(lo, 0), min(hi, image[axis] - 1)) for axis, (lo, hi) in enumerate(spans))


def solid_span(field, position, image):
    """The rows and columns of which cnnctl says output `position` sees every pixel, clipped."""
    if field.whole:
        return expected_span(field, position, image)
    spans = []
    for axis in (0, 1):
        lo = field.solid_start[axis] + position[axis] * field.jump[axis]
        spans.append((max(lo, 0), min(lo + field.solid_size[axis] - 1, image[axis] - 1)))
    return tuple(spans)


def sees_all_of(mask, span):
    (top, bottom), (left, right) = span
    return top > bottom or left > right or bool(mask[top : bottom + 1, left : right + 1].all())


def inside(span, expected):
    """Whether the rows and columns seen lie within cnnctl's field, rounded outward."""
    pairs = zip(span, expected, strict=True)
    return all(math.floor(lo) <= top and bottom <= math.ceil(hi) for (top, bottom), (lo, hi) in pairs)


def central(shape):
    return ((shape[0] - 1) // 2, (shape[1] - 1) // 2)


def chosen_nodes(graph, fields):
    """The nodes to check: the last volume whose field is not whole, the middle volume, and the
    deepest volume whose central position's field lies inside the image (not clipped)."""
    volumes = [n for n in graph.nodes if len(n.shape) == 3]
    chosen = {volumes[len(volumes) // 2].index}
    partial = [n for n in volumes if not fields[n.index].whole]
    if partial:
        chosen.add(partial[-1].index)
    image = graph.input_shape[:2]
    for n in reversed(partial):
        f, c = fields[n.index], central(n.shape)
        lo = [f.start[a] + c[a] * f.jump[a] for a in (0, 1)]
        if all(lo[a] > 0 and lo[a] + f.size[a] - 1 < image[a] - 1 for a in (0, 1)):
            chosen.add(n.index)
            break
    return sorted(chosen)


EMPIRICAL = [
    ("lenet5", None),
    ("alexnet", None),  # 227: every valid stride consumes the whole image
    ("vgg16", None),  # 224: the adaptive pool to 7x7 is the identity
    ("resnet18", "320x320x3"),
    ("googlenet", "320x320x3"),
    ("inception_v3", "331x331x3"),  # 331 (as 299): no valid stride-2 layer drops a last row
    ("densenet121", None),
    ("shufflenet_v2_x1_0", "320x320x3"),
    ("mobilenet_v2", "320x320x3"),
    ("efficientnet_b0", "320x320x3"),  # its squeeze-excitation gates make fields whole
    ("convnext_tiny", None),
    ("unet_small.yaml", None),
    ("residual_small.yaml", None),
]


@pytest.mark.parametrize(("name", "size"), EMPIRICAL, ids=[name for name, _ in EMPIRICAL])
def test_field_is_where_the_gradient_reaches(name, size):
    graph = cnnctl.load(EXAMPLES / name if name.endswith(".yaml") else name, input=size)
    fields = receptive_fields(graph)
    nodes = chosen_nodes(graph, fields)
    masks = {}
    seen = footprints(graph, {k: [central(graph.nodes[k].shape)] for k in nodes}, masks)
    image = graph.input_shape[:2]
    wrong = []
    for (k, position), span in seen.items():
        if not sees_all_of(masks[k, position], solid_span(fields[k], position, image)):
            wrong.append(f"{graph.nodes[k].path} at {position}: misses pixels of its solid part {fields[k]}")
        expected = expected_span(fields[k], position, image)
        if fields[k].uneven and fields[k].spans is None and inside(span, expected):
            continue  # a bound (after a gate that misses pixels): it contains each position's
        if span != expected:
            wrong.append(
                f"{graph.nodes[k].path} at {position}: the gradient reaches rows {span[0]} cols {span[1]}; "
                f"cnnctl's field {fields[k]} says rows {expected[0]} cols {expected[1]}"
            )
    assert not wrong, f"{name} ({'x'.join(map(str, graph.input_shape))}):\n" + "\n".join(wrong)
    if name == "efficientnet_b0":  # the gates are checked, not only fields that stop before them
        assert any(fields[k].whole for k in nodes)


def test_every_position_of_small_networks():
    """Every output position, not only the central one, of networks without upsampling."""
    texts = [
        "input: 9x11x1\nlayers: [conv f=3 s=2 n=2, conv f=3 p=same n=2]",
        "input: 12x12x1\nlayers: [conv f=3 p=same n=2, pool max f=3 s=2 p=1 ceil, conv f=2 s=2 dilation=2 n=1]",
        "input: 8x8x2\nlayers:\n  - add:\n      branch1: [conv f=1x5 p=0x2 n=2]\n      branch2: [conv f=5x1 p=2x0 n=2]",
        "input: 10x10x1\nlayers: [conv f=3 s=2 p=same n=2, conv f=3 s=2 p=same n=2]",  # uneven same padding
    ]
    for text in texts:
        graph = cnnctl.load_text(text)
        fields = receptive_fields(graph)
        k = len(graph.nodes) - 1
        h, w = graph.nodes[k].shape[:2]
        seen = footprints(graph, {k: [(i, j) for i in range(h) for j in range(w)]})
        for (_, position), span in seen.items():
            assert span == expected_span(fields[k], position, graph.input_shape[:2]), (text, position)


def test_upsampled_positions_see_what_their_source_position_sees():
    """After a stride-2 conv and a nearest upsample 2, output positions 2m and 2m+1 are copies
    of conv position m: both see input rows 2m..2m+1, as cnnctl says (no field start + o*jump
    does: it put position 1 at rows 1..2)."""
    text = "input: 8x8x1\nlayers: [conv f=2 s=2 n=1, upsample 2]"
    graph = cnnctl.load_text(text)
    seen = footprints(graph, {1: [(0, 0), (1, 1), (2, 2), (3, 3)]})
    # the gradient, independently of cnnctl: position p sees rows 2*(p//2) .. 2*(p//2) + 1
    for p in range(4):
        assert seen[1, (p, p)] == ((2 * (p // 2), 2 * (p // 2) + 1),) * 2
    field = receptive_fields(graph)[-1]
    assert field.uneven and field.size == (2, 2)
    for p in range(4):
        assert seen[1, (p, p)] == expected_span(field, (p, p), (8, 8))


def test_an_adaptive_pool_position_sees_its_window_exactly():
    """Adaptive pooling 10 -> 7 (windows floor(i*10/7) .. ceil((i+1)*10/7) - 1, PyTorch's rule)
    after a 2x2 stride-2 conv: position 2 pools conv positions 2..4, input rows 4..9 (a field
    start + i*jump, with a jump of 10/7 conv positions, put it from row 5.71)."""
    text = "input: 20x20x1\nlayers: [conv f=2 s=2 n=1, pool avg out=7]"
    graph = cnnctl.load_text(text)
    seen = footprints(graph, {1: [(p, p) for p in range(7)]})
    assert seen[1, (2, 2)] == ((4, 9), (4, 9))  # the gradient, independently of cnnctl
    field = receptive_fields(graph)[-1]
    assert field.uneven and field.size == (6, 6)  # windows of 2 or 3 conv positions: 4 or 6 rows
    for p in range(7):
        assert seen[1, (p, p)] == expected_span(field, (p, p), (20, 20)), p


UPSAMPLING = [
    "input: 8x8x1\nlayers: [conv f=3 p=1 n=2, deconv f=2 s=2 n=2]",
    "input: 8x8x1\nlayers: [conv f=3 p=1 n=2, upsample 2, conv f=3 p=1 n=1]",
    "input: 8x8x1\nlayers: [conv f=3 p=1 n=2, deconv f=4 s=2 p=1 n=2, conv f=3 n=1]",
    "input: 7x7x1\nlayers: [conv f=3 s=2 p=1 n=2, deconv f=3 s=2 n=2, upsample 3]",
    "input: 8x8x1\nlayers: [deconv f=3 s=2 dilation=2 n=2, conv f=2 s=3 n=1]",
    "input: 6x6x1\nlayers: [conv f=3 p=2 dilation=2 n=2, deconv f=2x3 s=2x3 n=2, pool max f=3 s=2 ceil,"
    " conv f=1x3 p=0x1 n=1]",
    "input: 8x8x2\nlayers:\n  - upsample 2\n  - add:\n      a: [deconv f=3 s=1 p=1 n=2]\n"
    "      b: [pool avg f=2 s=2, upsample 2]",
    "input: 12x12x1\nlayers: [conv f=2 s=2 n=2, pool avg out=5, upsample 2]",
    "input: 6x6x1\nlayers: [conv f=3 p=1 n=2, upsample 2 mode=bilinear, conv f=3 p=1 n=1]",
    "input: 6x6x1\nlayers: [conv f=2 s=2 n=2, upsample 3 mode=bilinear]",
    "input: 4x4x1\nlayers: [upsample 4 mode=bilinear, pool max f=3 s=2]",
    "input: 6x5x1\nlayers: [conv f=3 p=1 n=2, upsample 2 mode=bilinear align_corners=true]",
    "input: 7x7x1\nlayers: [conv f=3 s=2 n=2, upsample 3 mode=bilinear align_corners=true, conv f=3 p=1 n=1]",
    "input: 8x8x2\nlayers:\n  - add:\n      a: [conv f=3 p=1 n=2]\n"
    "      b: [pool avg f=2 s=2, upsample 2 mode=bilinear]",
]


@pytest.mark.parametrize("text", UPSAMPLING)
def test_every_position_after_an_upsample_is_exact(text):
    """Every output row and column of small networks with deconvs, upsamples and adaptive
    pools (along the diagonal: the axes' fields are independent): the rows and columns the
    gradient reaches are exactly the position's field."""
    graph = cnnctl.load_text(text)
    field = receptive_fields(graph)[-1]
    k = len(graph.nodes) - 1
    h, w = graph.nodes[k].shape[:2]
    seen = footprints(graph, {k: [(min(i, h - 1), min(i, w - 1)) for i in range(max(h, w))]})
    wrong = [
        f"{position}: the gradient reaches {span}, cnnctl says {expected_span(field, position, graph.input_shape[:2])}"
        for (_, position), span in seen.items()
        if span != expected_span(field, position, graph.input_shape[:2])
    ]
    assert not wrong, "\n".join(wrong[:10])


# What a value that reads a whole map sees (a map of one position, fc): exactly, by the gradient


def whole_output_seen(text):
    """The input pixels the last layer's whole output depends on (the gradient's non-zero ones,
    independent of cnnctl), the rows and columns they span, and cnnctl's field of that layer."""
    graph = cnnctl.load_text(text)
    k = len(graph.nodes) - 1
    masks = {}
    seen = footprints(graph, {k: [None]}, masks)
    return masks[k, None], seen[k, None], receptive_fields(graph)[k]


def assert_field_is_what_is_seen(mask, span, f, text=""):
    """`all` exactly where the gradient reaches every pixel; otherwise the field runs from the
    first row and column reached to the last, with gaps exactly where a pixel between is not."""
    if bool(mask.all()):
        assert f.whole, text
        return
    (top, bottom), (left, right) = span
    assert not f.whole and not f.uneven, (text, f)
    assert (f.start, f.size) == ((top, left), (bottom - top + 1, right - left + 1)), (text, f, span)
    assert f.gaps == (not bool(mask[top : bottom + 1, left : right + 1].all())), (text, f)


def test_a_global_pool_after_an_upsample_sees_what_its_input_saw():
    """nu5's rf4, rf2, rf1: a 2x2 image upsampled (by 2; by 3; by 3 then pooled adaptively to 4)
    and pooled globally: the one value sees the 4 pixels, `all` (it said ~3, wider than the
    image, counting positions past the map's end). ex05: 9x9, a 3x3 stride-2 pool (rows 0..8), a
    ceil-mode one to 2x2, an upsample 3, an adaptive pool 6 -> 4: all too. A 2x2 stride-2 conv on
    5x5 reads rows 0..3 only: upsampled and pooled, 4 from row 0, not uneven."""
    for text in [
        "input: 2x2x1\nlayers: [upsample 2, pool avg global]",
        "input: 2x2x1\nlayers: [upsample 3, pool avg global]",
        "input: 2x2x1\nlayers: [upsample 3, pool avg out=4, pool avg global]",
        "input: 9x9x1\nlayers: [pool max f=3 s=2, pool avg f=3 s=2 ceil, conv f=1 n=2, upsample 3, pool avg out=4,"
        " pool avg global]",
    ]:
        mask, span, f = whole_output_seen(text)
        assert bool(mask.all()), text  # the gradient reaches every pixel
        assert f.whole, (text, f)
    mask, span, f = whole_output_seen("input: 5x5x1\nlayers: [conv f=2 s=2 n=1, upsample 2, pool avg global]")
    assert span == ((0, 3), (0, 3)) and int(mask.sum()) == 16
    assert (f.size, f.start, f.whole, f.uneven, f.gaps) == ((4, 4), (0, 0), False, False, False)


def test_all_only_where_every_pixel_is_read():
    """nu5's rf8: a 4x4 stride-4 conv on 14 has 3 positions, rows 0..11; a padded 3x3 conv and a
    global pool read no more (the padding past the map's end is no pixel): 12 from 0, 12*12
    pixels by the gradient (it said all). ex12: the same patchify, a residual 7x7 depthwise
    conv, a global pool and fc: 12. rf10: a 3x3 stride-2 conv on 8 reads 0..6 (3 positions, 2
    apart), a 2x2 pool of that map positions 0..1: rows 0..4; fc sees those 5 (it said all)."""
    mask, span, f = whole_output_seen("input: 14x14x1\nlayers: [conv f=4 s=4 n=1, conv f=3 p=1 n=1, pool avg global]")
    assert int(mask.sum()) == 12 * 12 and span == ((0, 11), (0, 11))
    assert (f.size, f.start, f.whole) == ((12, 12), (0, 0), False)
    text = (
        "input: 14x14x3\nlayers:\n  - conv f=4 s=4 n=4\n  - residual: [conv f=7 p=3 groups=4 n=4, conv f=1 n=4]\n"
        "  - pool avg global\n  - fc 3\n"
    )
    mask, span, f = whole_output_seen(text)
    assert span == ((0, 11), (0, 11))
    assert (f.size, f.start, f.jump, f.whole) == ((12, 12), (0, 0), (0, 0), False)  # jump 0: every value the same
    mask, span, f = whole_output_seen("input: 8x8x1\nlayers: [conv f=3 s=2 n=1, pool max f=2 s=2, fc 2]")
    assert span == ((0, 4), (0, 4)) and int(mask.sum()) == 25
    assert (f.size, f.start, f.whole) == ((5, 5), (0, 0), False)


def test_evenly_placed_adaptive_windows_give_an_even_field():
    """13 -> 6 (nu5's adapt13): PyTorch's windows floor(13i/6) .. ceil(13(i+1)/6) - 1 are 0..2,
    2..4, ..., 10..12: 3 wide, 2 apart, an even field (it said ~3, jump 13/6). Every position
    against the gradient; 10 -> 7 stays uneven (above)."""
    assert [(i * 13 // 6, -(-(i + 1) * 13 // 6) - 1) for i in range(6)] == [(2 * i, 2 * i + 2) for i in range(6)]
    text = "input: 13x13x1\nlayers: [pool avg out=6]"
    f = field_of(text)
    assert (f.size, f.jump, f.start, f.uneven) == ((3, 3), (2, 2), (0, 0), False)
    seen = footprints(cnnctl.load_text(text), {0: [(i, i) for i in range(6)]})
    for i in range(6):
        assert seen[0, (i, i)] == expected_span(f, (i, i), (13, 13)) == ((2 * i, 2 * i + 2),) * 2


def random_network(rng):
    """A small chain of convs (strides that drop the last rows, dilations, padding), pools
    (ceil mode), upsamples, deconvs, adaptive pools and two paths added (rows and columns at a
    stride: crosses), ended by a global pool or fc."""
    layers = []
    for _ in range(rng.randint(1, 3)):
        kind = rng.choice(["conv", "conv", "pool", "upsample", "adaptive", "deconv", "join"])
        if kind == "join":  # paths of the same stride, `same` padding: the same shape
            s = rng.randint(1, 3)
            a, b = (f"conv f={rng.randint(1, 3)}x{rng.randint(1, 3)} s={s} p=same n=1" for _ in "ab")
            layers.append(f"{{add: {{a: [{a}], b: [{b}]}}}}")
        elif kind == "conv":
            f, d = rng.randint(1, 4), rng.choice([1, 2])
            layers.append(f"conv f={f} s={rng.randint(1, 4)} p={rng.randint(0, f // 2)} dilation={d} n=1")
        elif kind == "pool":
            f = rng.randint(2, 3)
            ceil = " ceil" if rng.random() < 0.3 else ""
            layers.append(f"pool avg f={f} s={rng.randint(1, 3)} p={rng.randint(0, f // 2)}{ceil}")
        elif kind == "upsample":
            layers.append(f"upsample {rng.choice([2, 3])}")
        elif kind == "adaptive":
            layers.append(f"pool avg out={rng.randint(1, 7)}")
        else:
            layers.append(f"deconv f={rng.randint(1, 4)} s={rng.randint(1, 3)} n=1")
    layers.append(rng.choice(["pool avg global", "fc 2"]))
    return f"input: {rng.randint(3, 13)}x{rng.randint(3, 13)}x1\nlayers: [{', '.join(layers)}]"


def test_what_a_whole_map_sees_against_the_gradient_fuzzed():
    """Random small chains ended by a global pool or fc: the last layer's field is `all` exactly
    where the gradient of its whole output reaches every pixel, otherwise exactly the span of
    what it reaches, with gaps exactly where it misses a pixel in between."""
    import random

    from cnnctl.errors import CnnctlError

    rng = random.Random(31)
    checked = 0
    while checked < 60:
        text = random_network(rng)
        try:
            graph = cnnctl.load_text(text)
        except CnnctlError:
            continue  # a layer that does not fit its input
        k = len(graph.nodes) - 1
        masks = {}
        seen = footprints(graph, {k: [None]}, masks)
        if seen[k, None] is None:
            continue  # sees only padding
        assert_field_is_what_is_seen(masks[k, None], seen[k, None], receptive_fields(graph)[k], text)
        checked += 1


# What is read of the image: the reach, and each position's field clipped to it


def test_a_stride_that_leaves_out_the_last_row_is_not_read_by_the_last_positions():
    """8x8, conv f=3 s=2: 3 positions, windows from rows 0, 2, 4, row 7 in none (8 - 3 is odd).
    A conv f=3 p=1 after it: by the formulas field 3 + 2*2 = 7, jump 2, start 0 - 1*2 = -2, so
    position 2 spans rows 2 to 8; it reads positions 1 and 2 of the 3x3 map (3 is padding), rows
    2 to 4 and 4 to 6: 2 to 6. The whole map reads rows 0 to 6, and each position's field is the
    formulas' span clipped to that: 0-4, 0-6, 2-6."""
    from cnnctl.analysis.receptive import exact_span, map_reaches

    graph = cnnctl.load_text("input: 8x8x1\nlayers: [conv f=3 s=2 n=1, conv f=3 p=1 n=1, conv f=3 p=1 n=1]")
    fields, reaches = receptive_fields(graph), map_reaches(graph)
    second = fields[1]
    assert (second.size, second.jump, second.start) == ((7, 7), (2, 2), (-2, -2))
    assert second.span(0, 2) == (2, 8)  # the formulas' span: rows past the image
    assert reaches == (((0, 6), (0, 6)),) * 3
    assert [exact_span(second, reaches[1], 0, i) for i in range(3)] == [(0, 4), (0, 6), (2, 6)]
    # a third: field 11 on an 8-row image, of which every position reads rows 0 to 6
    assert fields[2].size == (11, 11)
    assert [exact_span(fields[2], reaches[2], 0, i) for i in range(3)] == [(0, 6)] * 3


REACHED = [
    "input: 8x8x1\nlayers: [conv f=3 s=2 n=1, conv f=3 p=1 n=1, conv f=3 p=1 n=1]",
    "input: 11x9x1\nlayers: [conv f=3 s=2 p=1 n=2, pool max f=3 s=2 p=1, conv f=2 s=2 n=1]",  # a stem: padding, drops
    "input: 13x12x1\nlayers: [conv f=3 dilation=2 p=2 n=2, conv f=3 s=3 n=1, pool avg f=2 s=1 p=1]",
    "input: 10x10x1\nlayers: [conv f=5 s=3 n=2, conv f=3 p=1 n=1, pool max f=2 s=2 ceil]",  # 10 - 5 = 5: drops 2
    "input: 12x7x1\nlayers: [conv f=3 s=2 p=same n=2, conv f=1 s=2 n=1, conv f=3 p=1 n=1]",  # 1x1 at stride 2
    "input: 9x9x1\nlayers: [conv f=3 s=2 dilation=2 n=1, conv f=2 p=1 n=1]",  # taps 2 apart, landing on padding
]


@pytest.mark.parametrize("text", REACHED)
def test_every_position_reads_its_field_clipped_to_the_reach(text):
    """Against the gradient (weights 1/fan_in, no activation, a max pool as an average of the same
    windows): for every output position of every layer, the rows and columns whose input gradient
    is non-zero span exactly the formulas' field clipped to the reach where the field has no gaps
    (within it where it may: taps that skip rows), and together they span the reach exactly.
    Nothing reported lies outside the image."""
    from cnnctl.analysis.receptive import exact_span, map_reaches

    graph = cnnctl.load_text(text)
    fields, reaches = receptive_fields(graph), map_reaches(graph)
    image = graph.input_shape[:2]
    wanted = {n.index: [(i, j) for i in range(n.shape[0]) for j in range(n.shape[1])] for n in graph.nodes}
    seen = footprints(graph, wanted)
    for n in graph.nodes:
        f, reach = fields[n.index], reaches[n.index]
        inside_image = reach is not None and all(0 <= a <= b < image[axis] for axis, (a, b) in enumerate(reach))
        assert inside_image, (n.path, reach)
        union = [[math.inf, -math.inf], [math.inf, -math.inf]]
        for position in wanted[n.index]:
            span = seen[n.index, position]
            exact = tuple(exact_span(f, reach, axis, position[axis]) for axis in (0, 1))
            if span is None:  # only padding
                assert None in exact or f.gaps, (text, n.path, position, exact)
                continue
            for axis in (0, 1):
                union[axis] = [min(union[axis][0], span[axis][0]), max(union[axis][1], span[axis][1])]
            if f.gaps:
                assert inside(span, exact), (text, n.path, position, span, exact)
            else:
                assert span == exact, (text, n.path, position, span, exact)
        assert tuple(map(tuple, union)) == reach, (text, n.path, union, reach)


def test_summarize_shows_the_reach():
    # the column and the JSON key, from the same map_reaches
    from cnnctl.analysis import summarize
    from cnnctl.render.views.summary import summary_json, summary_table

    graph = cnnctl.load_text("input: 8x10x1\nlayers: [conv f=3 s=2 n=1, conv f=3 p=1 n=1]")
    s = summarize(graph, shapes=True)
    rows = summary_json(s, ("layer", "field", "reach"))["layers"]
    # rows: (8 - 3)/2 leaves row 7 out, 0-6; columns: (10 - 3)/2, column 9 out, 0-8
    assert [r["field_reach"] for r in rows] == [[[0, 6], [0, 8]]] * 2
    table = summary_table(s, ("layer", "reach"))
    assert [row[1] for row in table.rows] == ["0-6x0-8", "0-6x0-8"]


def test_each_position_within_its_field_clipped_to_the_reach_fuzzed():
    """Random small chains (upsamples, deconvs, adaptive pools and joins too), their last map,
    every position: the gradient reaches exactly the field clipped to the reach where the field
    is even and has no gaps, and never outside it."""
    import random

    from cnnctl.analysis.receptive import exact_span, map_reaches
    from cnnctl.errors import CnnctlError

    rng = random.Random(5)
    checked = 0
    while checked < 12:
        text = random_network(rng).replace(", pool avg global]", "]").replace(", fc 2]", "]")
        try:
            graph = cnnctl.load_text(text)
        except CnnctlError:
            continue  # a layer that does not fit its input
        k = len(graph.nodes) - 1
        if len(graph.nodes[k].shape) != 3:
            continue
        f, reach = receptive_fields(graph)[k], map_reaches(graph)[k]
        h, w = graph.nodes[k].shape[:2]
        seen = footprints(graph, {k: [(i, j) for i in range(h) for j in range(w)]})
        for (_, position), span in seen.items():
            if span is None:  # only padding (a deconv's gaps)
                continue
            exact = tuple(exact_span(f, reach, axis, position[axis]) for axis in (0, 1))
            assert None not in exact and inside(span, exact), (text, position, span, exact, f)
            if not f.gaps and not f.uneven:
                assert span == exact, (text, position, span, exact, f)
        checked += 1


@pytest.mark.parametrize(
    ("text", "differ"),
    [
        # a U-Net's up path: deconv f=2 s=2, every position's field one size, two positions at each place
        ("input: 16x16x1\nlayers: [conv f=3 p=1 n=2, pool max f=2, conv f=3 p=1 n=2, deconv f=2 s=2 n=1]", False),
        (
            "input: 16x16x1\nlayers:\n  - conv f=3 p=1 n=2 id=e\n  - pool max f=2\n  - conv f=3 p=1 n=2\n"
            "  - deconv f=2 s=2 n=2\n  - concat with=e",
            False,
        ),  # fmt: skip
        ("input: 16x16x1\nlayers: [conv f=3 p=1 n=2, upsample 2]", False),
        # f=3 s=2: positions see 2 and 1 input positions in turn, 4 and 3 pixels
        ("input: 16x16x1\nlayers: [conv f=3 p=1 n=2, deconv f=3 s=2 p=1 n=1]", True),
        (
            "input: 16x16x1\nlayers:\n  - conv f=3 p=1 n=2 id=e\n  - pool max f=2\n  - conv f=3 p=1 n=2\n"
            "  - deconv f=2 s=2 n=2\n  - concat with=e\n  - conv f=3 p=1 n=1",
            False,
        ),  # fmt: skip
        ("input: 16x16x1\nlayers: [conv f=3 p=1 n=2, deconv f=3 s=2 p=1 n=2, conv f=3 p=1 n=1]", True),
    ],
)
def test_sizes_differ_only_where_the_positions_fields_do(text, differ):
    """summarize's `~` (`sizes_differ`) against the gradient: the rows each output position's
    value reaches (positions whose field lies inside the image, at least two periods of them)
    are all one size exactly where the analysis says so, and the largest is the field's size."""
    graph = cnnctl.load_text(text)
    field = receptive_fields(graph)[-1]
    k = len(graph.nodes) - 1
    height = graph.input_shape[0]
    inner = [i for i in range(graph.nodes[k].shape[0]) if field.span(0, i)[0] >= 0 and field.span(0, i)[1] < height]
    assert len(inner) >= 4
    seen = footprints(graph, {k: [(i, i) for i in inner]})
    sizes = {bottom - top + 1 for (rows, _) in seen.values() for top, bottom in [rows]}
    assert field.uneven and field.sizes_differ is differ and (len(sizes) > 1) is differ, sizes
    assert max(sizes) == field.size[0]
