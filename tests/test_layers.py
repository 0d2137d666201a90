"""Each layer kind's rules (cnnctl.layers.KINDS): shape, params, buffers, mults and FLOPs.

Expected numbers follow the conventions stated in cnnctl/layers/base.py and each kind's
docstring, worked by hand in the comments.
"""

import pytest

import cnnctl
from cnnctl.analysis.summary import COUNTED, NOT_COUNTED
from cnnctl.errors import ShapeError
from cnnctl.layers import KINDS, Args
from cnnctl.layers.args import ArgValueError
from cnnctl.layers.base import LayerKind

EXPECTED_KINDS = {
    "conv",
    "deconv",
    "pool",
    "fc",
    "flatten",
    "dropout",
    "bn",
    "lrn",
    "add",
    "concat",
    "upsample",
    "relu",
    "relu6",
    "leaky",
    "elu",
    "gelu",
    "silu",
    "sigmoid",
    "tanh",
    "hardswish",
    "hardsigmoid",
    "mish",
    "softmax",
    "mul",
    "layernorm",
    "groupnorm",
    "layerscale",
    "affine",
    "droppath",
    "chunk",
    "shuffle",
    "slice",
    "rsoftmax",
    "grn",
    "channelconv",
}
NON_ACTIVATIONS = {
    "conv", "deconv", "pool", "fc", "flatten", "dropout", "bn", "lrn", "add", "concat", "upsample", "mul",
    "layernorm", "groupnorm", "layerscale", "affine", "droppath", "chunk", "shuffle", "slice", "rsoftmax", "grn",
    "channelconv",
}  # fmt: skip
ACTIVATIONS = sorted(EXPECTED_KINDS - NON_ACTIVATIONS)


def make(name: str, **written) -> Args:
    """Typed arguments as the builder makes them: written text parsed by each Arg's type."""
    a = Args()
    for arg in KINDS[name].args:
        a[arg.name] = arg.type.parse(str(written.pop(arg.name))) if arg.name in written else arg.typed_default
    assert not written, f"unknown args {written}"
    return a


def run(name: str, ins, **written):
    """(shape, params, buffers, mults, flops) of one layer on input shapes `ins`."""
    kind = KINDS[name]
    a = make(name, **written)
    out = kind.shape(a, list(ins))
    return out, kind.params(a, ins, out), kind.buffers(a, ins, out), kind.mults(a, ins, out), kind.flops(a, ins, out)


# -- the registry and its documentation ----------------------------------------------------------
def test_registry_has_every_documented_kind():
    assert set(KINDS) >= EXPECTED_KINDS
    for name, kind in KINDS.items():
        assert kind.name == name


def test_every_module_that_registers_kinds_is_listed():
    """`cnnctl.layers` imports the modules it lists (`MODULES`, in listing order): a module of
    the package that registers kinds but is left out would register nothing."""
    import importlib
    import pkgutil

    import cnnctl.layers

    for module in pkgutil.iter_modules(cnnctl.layers.__path__):
        importlib.import_module(f"cnnctl.layers.{module.name}")
    registering = {type(kind).__module__.rsplit(".")[-1] for kind in KINDS.values()}
    assert {"conv", "activation"} <= registering
    left_out = registering - set(cnnctl.layers.MODULES)
    assert not left_out, f"modules of cnnctl/layers/ registering kinds, missing from MODULES: {sorted(left_out)}"


@pytest.mark.parametrize("name", sorted(EXPECTED_KINDS))
def test_every_kind_documents_its_rules(name):
    doc = (KINDS[name].__doc__ or "").strip()
    assert doc, f"{name} has no docstring"
    assert KINDS[name].summary  # first line
    low = doc.lower()
    assert "param" in low  # says what its parameters are (even "no params")
    assert "flop" in low or "free" in low  # says what it costs
    if name in ("conv", "deconv", "fc"):
        assert "Params:" in doc and "Multiplications:" in doc and "FLOPs:" in doc
    if name in ("conv", "pool", "deconv"):
        assert "Output" in doc  # the shape rule


def test_every_kind_with_elementwise_flops_says_them_in_the_counted_note():
    # A kind with FLOPs beyond its multiplications' (which the note's preamble covers: conv,
    # deconv, fc, channelconv) owns its words (`LayerKind.counted`), and the note says them.
    flops = " ".join(COUNTED)
    for name, kind in KINDS.items():
        if type(kind).flops is not LayerKind.flops and type(kind).mults is LayerKind.mults:
            assert kind.counted, f"{name} counts FLOPs but says nothing of them"
            assert kind.counted in flops
        elif type(kind).mults is not LayerKind.mults:
            assert name in COUNTED[0]  # "the multiply-accumulates of conv, deconv, fc and channelconv weights"


def test_counted_text_names_every_kind_with_elementwise_cost():
    counted = " ".join(COUNTED)
    for word in ("conv", "deconv", "fc", "bn", "softmax 3", "max pool", "avg pool", "lrn 2*size+3", "residual"):
        assert word in counted
    for word in ("layernorm and groupnorm 8", "layerscale 1", "affine 1", "mul", "adaptive"):
        assert word in counted
    free = " ".join(NOT_COUNTED)
    for word in ("dropout", "droppath", "flatten", "concat", "chunk", "slice", "shuffle", "upsample"):
        assert word in free


@pytest.mark.parametrize(
    ("name", "shape"),
    [
        ("dropout", (4, 4, 8)),
        ("flatten", (4, 4, 8)),
        ("concat", None),
        ("upsample", (4, 4, 8)),
        ("droppath", (4, 4, 8)),
        ("chunk", (4, 4, 8)),
        ("shuffle", (4, 4, 8)),
        ("slice", (4, 4, 8)),
    ],  # fmt: skip
)
def test_kinds_listed_as_not_counted_are_free(name, shape):
    ins = [(4, 4, 8), (4, 4, 2)] if shape is None else [shape]
    written = {"chunk": {"parts": "2"}, "slice": {"start": "3"}}.get(name, {})
    _, params, buffers, mults, flops = run(name, ins, **written)
    assert (params, buffers, mults, flops) == (0, 0, 0, 0)


# -- conv ------------------------------------------------------------------------------------------
def test_conv_course_example():
    # 6x6x1 * 3x3 -> 4x4x1; params 9 + 1 bias; mults (4*4*1)*(3*3*1) = 144
    # flops 2*144 + 16 bias adds = 304
    assert run("conv", [(6, 6, 1)], f=3, n=1) == ((4, 4, 1), 10, 0, 144, 304)


def test_conv_without_bias_and_with_activation():
    # no bias: params 9, flops 2*144 = 288; relu adds 1 per output value: 288 + 16 = 304
    assert run("conv", [(6, 6, 1)], f=3, n=1, bias="false") == ((4, 4, 1), 9, 0, 144, 288)
    assert run("conv", [(6, 6, 1)], f=3, n=1, bias="false", act="relu")[4] == 304
    # with bias and softmax: 288 + 16 + 3*16 = 352
    assert run("conv", [(6, 6, 1)], f=3, n=1, act="softmax")[4] == 352


def test_conv_over_volume_and_stride():
    # 6x6x3, 2 filters 3x3x3: 4x4x2; mults (4*4*2)*(3*3*3) = 864; params 2*27 + 2 = 56
    assert run("conv", [(6, 6, 3)], f=3, n=2)[:4] == ((4, 4, 2), 56, 0, 864)
    # 7x7x1, f=3 s=2: floor(4/2)+1 = 3 -> 3x3x1; mults 9*9 = 81
    assert run("conv", [(7, 7, 1)], f=3, s=2, n=1)[::3] == ((3, 3, 1), 81)


def test_conv_depthwise_groups():
    # 112x112x32, depthwise 3x3 p=1 (groups = channels = n): each filter sees 1 channel
    # params 3*3*1*32 = 288; mults (112*112*32)*(3*3*1) = 401,408*9 = 3,612,672
    out, params, _, mults, flops = run("conv", [(112, 112, 32)], f=3, p=1, n=32, groups=32, bias="false")
    assert out == (112, 112, 32)
    assert params == 288
    assert mults == 3_612_672
    assert flops == 7_225_344  # 2 * mults


def test_conv_grouped():
    # 8x8x8 -> n=4, groups=2: each filter sees 8/2 = 4 channels; params 1*1*4*4 + 4 = 20
    # mults (8*8*4)*(1*1*4) = 1024
    assert run("conv", [(8, 8, 8)], f=1, n=4, groups=2)[:4] == ((8, 8, 4), 20, 0, 1024)


def test_conv_non_square_filter():
    # Inception-v3 style 1x7 on 17x17x192, p=0x3 keeps 17x17:
    # H: 17 + 0 - 1 + 1 = 17; W: 17 + 6 - 7 + 1 = 17
    # params 1*7*192*160 = 215,040; mults (17*17*160)*(1*7*192) = 46,240*1,344 = 62,146,560
    out, params, _, mults, _ = run("conv", [(17, 17, 192)], f="1x7", p="0x3", n=160, bias="false")
    assert out == (17, 17, 160)
    assert params == 215_040
    assert mults == 62_146_560
    # without padding the width shrinks: 17 - 7 + 1 = 11
    assert run("conv", [(17, 17, 192)], f="1x7", n=160)[0] == (17, 11, 160)


def test_conv_dilation():
    # 7x7x1, f=3 d=2 spans 5: 7 - 5 + 1 = 3; taps are still 3x3: mults (3*3*1)*9 = 81, params 9 + 1
    assert run("conv", [(7, 7, 1)], f=3, n=1, dilation=2)[:4] == ((3, 3, 1), 10, 0, 81)
    # p=same with dilation keeps the size: 10x10
    assert run("conv", [(10, 10, 2)], f=3, n=4, dilation=2, p="same")[0] == (10, 10, 4)


def test_conv_same_padding_shape_and_note():
    # same: ceil(n/s): ceil(7/2) = 4; even split (1, 1): no note
    kind, a = KINDS["conv"], make("conv", f=3, s=2, p="same", n=8)
    assert kind.shape(a, [(7, 7, 3)]) == (4, 4, 8)
    assert kind.notes(a, [(7, 7, 3)], (4, 4, 8)) == []
    # 8x8, f=3 s=2: total (4-1)*2 + 3 - 8 = 1 -> 0 before, 1 after: a note says so
    notes = kind.notes(a, [(8, 8, 3)], (4, 4, 8))
    assert len(notes) == 1
    assert "0 top, 1 bottom" in notes[0] and "0 left, 1 right" in notes[0]


def test_conv_filter_larger_than_padded_input():
    with pytest.raises(ShapeError, match=r"5x5 is larger than its padded input 3x3"):
        run("conv", [(3, 3, 1)], f=5, n=1)
    # with p=1 it fits: 3 + 2 - 5 + 1 = 1
    assert run("conv", [(3, 3, 1)], f=5, p=1, n=1)[0] == (1, 1, 1)


def test_conv_groups_must_divide():
    with pytest.raises(ShapeError, match=r"groups=3 must divide both the input channels \(4\)"):
        run("conv", [(8, 8, 4)], f=1, n=6, groups=3)
    with pytest.raises(ShapeError, match=r"groups=2"):
        run("conv", [(8, 8, 4)], f=1, n=3, groups=2)  # n not divisible


def test_conv_needs_a_volume():
    with pytest.raises(ShapeError, match="volume"):
        run("conv", [(120,)], f=1, n=1)


# -- deconv ----------------------------------------------------------------------------------------
def test_deconv_doubles():
    # 8x8x32, f=2 s=2 n=16: (8-1)*2 + 2 = 16 -> 16x16x16
    # params 2*2*32*16 + 16 = 2,064; mults 8*8*32 * 2*2*16 = 2,048*64 = 131,072
    # flops 2*131,072 + 16*16*16 bias adds = 262,144 + 4,096 = 266,240
    assert run("deconv", [(8, 8, 32)], f=2, s=2, n=16) == ((16, 16, 16), 2064, 0, 131_072, 266_240)
    assert run("deconv", [(8, 8, 32)], f=2, s=2, n=16, bias="false")[1::3] == (2048, 262_144)


def test_deconv_padding_and_groups():
    # 4x4x4, f=3 s=2 p=1: 3*2 - 2 + 3 = 7
    assert run("deconv", [(4, 4, 4)], f=3, s=2, p=1, n=2)[0] == (7, 7, 2)
    # groups=2: params 3*3*(4/2)*2 + 2 = 38; mults 4*4*4 * 3*3*(2/2) = 576
    assert run("deconv", [(4, 4, 4)], f=3, s=2, p=1, n=2, groups=2)[1::2] == (38, 576)


def test_deconv_output_padding():
    # 4x4x4, f=3 s=2 p=1 op=1: 3*2 - 2 + 3 + 1 = 8, twice the input (PyTorch's output_padding)
    # params 3*3*4*2 + 2 = 74; mults as without it, 4*4*4 * 3*3*2 = 1,152 (each input value by the taps it
    # scatters to); flops 2*1,152 + 8*8*2 bias adds = 2,432
    assert run("deconv", [(4, 4, 4)], f=3, s=2, p=1, op=1, n=2) == ((8, 8, 2), 74, 0, 1152, 2432)
    assert run("deconv", [(4, 5, 4)], f=3, s=2, p=1, op="1x0", n=2)[0] == (8, 9, 2)  # per axis
    # less than the stride or the dilation: at stride 1, 1 with dilation 2: (4-1)*1 - 2*2 + 2*(3-1)+1 + 1 = 5
    assert run("deconv", [(4, 4, 4)], f=3, p=2, op=1, dilation=2, n=2)[0] == (5, 5, 2)


@pytest.mark.parametrize(("s", "op", "dilation"), [(2, 2, 1), (1, 1, 1), (2, 3, 3)])
def test_deconv_output_padding_of_the_stride_or_more_is_refused(s, op, dilation):
    with pytest.raises(ShapeError, match=f"output padding {op}x{op}: its height {op} is not less than the stride"):
        run("deconv", [(4, 4, 4)], f=3, s=s, p=1, op=op, dilation=dilation, n=2)


def test_deconv_padding_removing_everything():
    # 1x1, f=1 s=1 p=1: 0 - 2 + 1 = -1
    with pytest.raises(ShapeError, match="removes"):
        run("deconv", [(1, 1, 3)], f=1, p=1, n=2)


# -- pool ------------------------------------------------------------------------------------------
def test_pool_max_and_avg_flops():
    # 4x4x3, f=2 (s defaults to f): 2x2x3; max: f*f - 1 = 3 comparisons per output: 12*3 = 36
    assert run("pool", [(4, 4, 3)], op="max", f=2) == ((2, 2, 3), 0, 0, 0, 36)
    # avg: f*f = 4 per output: 12*4 = 48
    assert run("pool", [(4, 4, 3)], op="avg", f=2) == ((2, 2, 3), 0, 0, 0, 48)
    # avg f=3 s=1 p=1 keeps 5x5: 5*5*2 outputs * 9 = 450
    assert run("pool", [(5, 5, 2)], op="avg", f=3, s=1, p=1)[::4] == ((5, 5, 2), 450)


def test_pool_default_op_is_max_and_stride_defaults_to_f():
    # f=3, s=f=3 on 9x9: (9-3)/3 + 1 = 3; max: 9*2*(9-1) = 144
    assert run("pool", [(9, 9, 2)], f=3)[::4] == ((3, 3, 2), 144)


def test_pool_ceil_mode():
    # GoogLeNet: 112, f=3 s=2 ceil: ceil(109/2) + 1 = 56 (floor: 55)
    assert run("pool", [(112, 112, 64)], f=3, s=2, ceil="true")[0] == (56, 56, 64)
    assert run("pool", [(112, 112, 64)], f=3, s=2)[0] == (55, 55, 64)
    # the drop rule: 5, f=2 s=2 p=1: ceil(5/2)+1 = 4, but window 4 starts at 6 >= 5+1: dropped -> 3
    assert run("pool", [(5, 5, 1)], f=2, s=2, p=1, ceil="true")[0] == (3, 3, 1)


def test_ceil_pool_counts_only_what_a_window_hanging_over_the_end_covers():
    # 4x4, f=3 s=2 ceil: 2x2; windows per axis rows 0-2 (3) and 2-3 (2: it hangs over by one),
    # so the four windows are 3x3, 3x2, 2x3, 2x2 = 9 + 6 + 6 + 4 = 25 = (3 + 2)^2 values (not 4 * 9 = 36)
    assert run("pool", [(4, 4, 1)], op="avg", f=3, s=2, ceil="true") == ((2, 2, 1), 0, 0, 0, 25)
    assert run("pool", [(4, 4, 1)], op="max", f=3, s=2, ceil="true")[4] == 25 - 4  # one fewer per window
    # 6x6 p=1, f=3 s=2 ceil: ceil(5/2) + 1 = 4; windows from -1, 1, 3, 5 end at 2, 4, 6, 8, the last
    # cut at the padded input's end 7: 3 + 3 + 3 + 2 = 11 rows, 11 * 11 * 2 channels
    assert run("pool", [(6, 6, 2)], op="avg", f=3, s=2, p=1, ceil="true") == ((4, 4, 2), 0, 0, 0, 242)
    # GoogLeNet's 112 -> 56: windows start at 0, 2, ..., 110; the last ends at 113, one over: 55 * 3 + 2 rows
    assert run("pool", [(112, 112, 1)], op="avg", f=3, s=2, ceil="true")[4] == 167 * 167


def test_max_pool_compares_only_what_each_window_covers_of_the_input():
    # a max's padding is -inf, never compared: k - 1 per window, k the input values it covers.
    # 4x4x2, f=3 s=1 p=1: windows cover rows 2, 3, 3, 2 = 10 per axis, 10 * 10 values per channel
    # in 16 windows: 2 * (100 - 16) = 168 (over whole windows: 4*4*2 * 8 = 256)
    assert run("pool", [(4, 4, 2)], op="max", f=3, s=1, p=1) == ((4, 4, 2), 0, 0, 0, 168)
    # ResNet's stem: 112x112x64, f=3 s=2 p=1 -> 56x56; windows from -1, 1, ..., 109 cover 2, then
    # 3 each: 2 + 55 * 3 = 167 rows and columns, 64 * (167 * 167 - 56 * 56) = 1,584,192
    assert run("pool", [(112, 112, 64)], op="max", f=3, s=2, p=1)[4] == 1_584_192
    # without padding every window covers f*f: f*f - 1 each, as before
    assert run("pool", [(6, 6, 3)], op="max", f=2)[4] == 3 * 3 * 3 * 3


def test_avg_pool_without_the_padding_counts_what_each_window_covers():
    # 4x4x2, f=3 s=1 p=1 count_pad=false: windows from -1, 0, 1, 2 cover rows 2, 3, 3, 2 = 10 of the
    # input per axis, so 10 * 10 values added and divided per channel: 200 (with the padding: 4*4*2 * 9 = 288)
    assert run("pool", [(4, 4, 2)], op="avg", f=3, s=1, p=1, count_pad="false") == ((4, 4, 2), 0, 0, 0, 200)
    assert run("pool", [(4, 4, 2)], op="avg", f=3, s=1, p=1)[4] == 288
    # 5x6, f=3 s=2 p=1 ceil: 3 rows (ceil(4/2) + 1), windows from -1, 1, 3 cover 2, 3, 2 = 7; 4 columns
    # (ceil(5/2) + 1; the fourth starts at 5, inside), windows from -1, 1, 3, 5 cover 2, 3, 3, 1 = 9: 7 * 9
    assert run("pool", [(5, 6, 1)], op="avg", f=3, s=2, p=1, ceil="true", count_pad="false") == (
        (3, 4, 1), 0, 0, 0, 63
    )  # fmt: skip
    # without padding nothing is left out: as the default
    assert run("pool", [(6, 6, 3)], op="avg", f=2, count_pad="false") == run("pool", [(6, 6, 3)], op="avg", f=2)


@pytest.mark.parametrize(
    ("written", "said"),
    [
        ({"op": "max", "f": 3, "p": 1}, "a max never counts its padding"),
        ({"op": "avg", "global": "true"}, "this pool has no padding to leave out"),
        ({"op": "avg", "out": 2}, "this pool has no padding to leave out"),
        ({"op": "avg", "f": 3, "p": "same"}, "cnnctl pads `same` itself"),
    ],
)
def test_count_pad_false_is_refused_where_it_means_nothing(written, said):
    with pytest.raises(ShapeError, match=said):
        run("pool", [(8, 8, 1)], count_pad="false", **written)


def test_pool_same_padding():
    # ceil(7/2) = 4
    assert run("pool", [(7, 7, 3)], f=3, s=2, p="same")[0] == (4, 4, 3)


def test_pool_global():
    # 7x7x512 -> 1x1x512; avg: H*W = 49 per channel: 25,088; max: 48 per channel: 24,576
    assert run("pool", [(7, 7, 512)], op="avg", **{"global": "true"}) == ((1, 1, 512), 0, 0, 0, 25_088)
    assert run("pool", [(7, 7, 512)], op="max", **{"global": "true"})[4] == 24_576


def test_pool_errors():
    with pytest.raises(ShapeError, match="window size"):
        run("pool", [(4, 4, 1)])  # no f and not global
    with pytest.raises(ShapeError, match=r"window 3x3 is larger than its padded input 2x2"):
        run("pool", [(2, 2, 1)], f=3)
    with pytest.raises(ShapeError, match="half"):
        run("pool", [(8, 8, 1)], f=2, p=2)
    with pytest.raises(ShapeError, match="volume"):
        run("pool", [(10,)], f=2)


# -- fc, flatten, dropout --------------------------------------------------------------------------
def test_fc_flattens_a_volume():
    # LeNet-5: 5x5x16 = 400 inputs -> 120: params 400*120 + 120 = 48,120; mults 48,000
    # flops 2*48,000 + 120 = 96,120; tanh: + 120 = 96,240
    assert run("fc", [(5, 5, 16)], units=120) == ((120,), 48_120, 0, 48_000, 96_120)
    assert run("fc", [(5, 5, 16)], units=120, act="tanh")[4] == 96_240
    assert run("fc", [(5, 5, 16)], units=120, bias="false")[1::3] == (48_000, 96_000)


def test_fc_on_vector():
    # 84 -> 10 softmax: params 840 + 10; flops 2*840 + 10 + 3*10 = 1,720
    assert run("fc", [(84,)], units=10, act="softmax") == ((10,), 850, 0, 840, 1720)


def test_flatten_and_dropout():
    assert run("flatten", [(7, 7, 40)])[0] == (1960,)  # 7*7*40
    assert run("dropout", [(7, 7, 40)], rate=0.3)[0] == (7, 7, 40)


# -- normalisation ---------------------------------------------------------------------------------
def test_batch_norm():
    # 4x4x8: gamma, beta per channel: 2*8 = 16 params; running mean, var: 16 buffers
    # flops 2 per value: 2*128 = 256; relu + 128 = 384
    assert run("bn", [(4, 4, 8)]) == ((4, 4, 8), 16, 16, 0, 256)
    assert run("bn", [(4, 4, 8)], act="relu")[4] == 384
    assert run("bn", [(120,)])[1:3] == (240, 240)  # on a vector: 2*120 each


def test_lrn():
    # AlexNet: 55x55x96, size 5: (2*5 + 3) = 13 per value: 13 * 290,400 = 3,775,200
    assert run("lrn", [(55, 55, 96)], size=5) == ((55, 55, 96), 0, 0, 0, 3_775_200)
    assert run("lrn", [(2, 2, 4)], size=3)[4] == 9 * 16  # (2*3 + 3) * 16
    with pytest.raises(ShapeError, match="volume"):
        run("lrn", [(10,)])


# -- add, concat, upsample -------------------------------------------------------------------------
def test_add():
    # 2 inputs of 4x4x8: (2-1) * 128 = 128 adds; 3 inputs: 2 * 128 = 256
    assert run("add", [(4, 4, 8), (4, 4, 8)]) == ((4, 4, 8), 0, 0, 0, 128)
    assert run("add", [(4, 4, 8)] * 3)[4] == 256
    assert run("add", [(4, 4, 8), (4, 4, 8)], act="relu")[4] == 256  # 128 + 128


def test_add_mismatched_shapes():
    with pytest.raises(ShapeError, match=r"cannot add different shapes") as exc:
        run("add", [(4, 4, 8), (2, 2, 8)])
    assert "1x1 conv" in exc.value.hint
    with pytest.raises(ShapeError, match=r"cannot add 4x4x8 and 4x4x16: the channels differ \(8 and 16\)") as exc:
        run("add", [(4, 4, 8), (4, 4, 16)])
    assert "n=8" in exc.value.hint


def test_add_and_mul_broadcast_a_1x1xc_input_over_the_map():
    # 1x1x8 shifts (add) or scales (mul) each of the 8 channels of 4x4x8: output 4x4x8,
    # (2 - 1) * 4*4*8 = 128 FLOPs, no multiplications by weights.
    assert run("add", [(4, 4, 8), (1, 1, 8)]) == ((4, 4, 8), 0, 0, 0, 128)
    assert run("mul", [(1, 1, 8), (4, 4, 8)]) == ((4, 4, 8), 0, 0, 0, 128)
    assert run("mul", [(4, 4, 8)] * 3, act="sigmoid")[4] == 2 * 128 + 128
    assert run("mul", [(6,), (6,)]) == ((6,), 0, 0, 0, 6)
    with pytest.raises(ShapeError, match="cannot multiply 4x4x8 and 1x1x4: the channels differ"):
        run("mul", [(4, 4, 8), (1, 1, 4)])
    with pytest.raises(ShapeError, match="cannot multiply a vector and a volume"):
        run("mul", [(4, 4, 8), (8,)])
    with pytest.raises(ShapeError, match="cannot add vectors of different lengths"):
        run("add", [(8,), (4,)])


def test_layernorm_and_groupnorm():
    # 2C params, no buffers, 8 FLOPs per value: 4*4*8 = 128 values -> 1,024
    assert run("layernorm", [(4, 4, 8)]) == ((4, 4, 8), 16, 0, 0, 1024)
    assert run("layernorm", [(10,)], eps="1e-6") == ((10,), 20, 0, 0, 80)
    assert run("groupnorm", [(4, 4, 8)], g="4") == ((4, 4, 8), 16, 0, 0, 1024)
    assert run("groupnorm", [(4, 4, 8)], g="2", act="relu")[4] == 1024 + 128
    with pytest.raises(ShapeError, match="3 groups do not divide the 8 channels"):
        run("groupnorm", [(4, 4, 8)], g="3")


def test_layerscale():
    # C params; its multiplications scale values, not by weights in the course's sense: 0; 1 FLOP a value
    assert run("layerscale", [(4, 4, 8)]) == ((4, 4, 8), 8, 0, 0, 128)
    assert make("layerscale").init == 1e-6


def test_grn():
    # ConvNeXt V2's GRN: gamma and beta per channel, 2C params; no weight multiplications (it
    # scales by norms and learned factors, as layerscale); FLOPs 6 per value + 4 per channel:
    # on 4x4x8, 6*128 + 4*8 = 800
    assert run("grn", [(4, 4, 8)]) == ((4, 4, 8), 16, 0, 0, 800)
    assert make("grn").eps == 1e-6  # the paper's code
    assert KINDS["grn"].window(make("grn"), [(4, 4, 8)], (4, 4, 8)) is None  # every value reads the whole map
    with pytest.raises(ShapeError, match="needs a volume"):  # its norm is over H and W
        run("grn", [(10,)])


@pytest.mark.parametrize(
    ("channels", "kernel"),
    # ECA's rule, k = |log2(C)/2 + 1/2| made odd (the paper's code: t = int(|(log2 C + 1)/2|),
    # t + 1 where t is even), worked by hand: log2 = 6, 8, 9, 10, 11, 7.6 and 2
    [(64, 3), (256, 5), (512, 5), (1024, 5), (2048, 7), (200, 5), (4, 1)],
)  # fmt: skip
def test_channelconv_kernel_follows_ecas_rule(channels, kernel):
    out, params, _, mults, flops = run("channelconv", [(1, 1, channels)])
    assert (out, params, mults, flops) == ((1, 1, channels), kernel, channels * kernel, 2 * channels * kernel)


def test_channelconv_given_kernel_on_a_map():
    # f=3 on 4x4x8: each of the 128 outputs takes 3 taps, padding included: 384 mults, 3 params, no bias
    assert run("channelconv", [(4, 4, 8)], f="3") == ((4, 4, 8), 3, 0, 384, 768)
    with pytest.raises(ShapeError, match="a kernel of 4 across the channels"):  # (f-1)/2 each side: odd only
        run("channelconv", [(1, 1, 8)], f="4")


def test_channelconv_with_a_bias_counts_it_as_a_conv_does():
    # bias=true (a Conv1d with a bias): f + 1 params; the same 4*4*8*3 = 384 mults; FLOPs 2*384
    # plus one bias add per output value, 128; backward: 2 * 384 * 2 (input gradient) + 128 bias adds
    a = make("channelconv", f="3", bias="true")
    assert run("channelconv", [(4, 4, 8)], f="3", bias="true") == ((4, 4, 8), 3 + 1, 0, 384, 2 * 384 + 128)
    assert KINDS["channelconv"].backward_flops(a, [(4, 4, 8)], (4, 4, 8), True) == 2 * 2 * 384 + 128
    assert make("channelconv").bias is False  # every file written before keeps its count


def test_adaptive_pooling_follows_pytorchs_windows():
    # 13 into 6: windows floor(i*13/6)..ceil((i+1)*13/6) = 0-3, 2-5, 4-7, 6-9, 8-11, 10-13: six of 3.
    # avg: each output value adds its 3*3 window: 6*6*2 * 9 = 648; max compares: 6*6*2 * (9 - 1) = 576
    assert run("pool", [(13, 13, 2)], op="avg", out="6") == ((6, 6, 2), 0, 0, 0, 648)
    assert run("pool", [(13, 13, 2)], op="max", out="6")[4] == 576
    # 5 into 7 (larger than the input): windows of 1, 2, 2, 1, 2, 2, 1 rows -> sums 11 by 11 = 121 per channel
    assert run("pool", [(5, 5, 1)], op="avg", out="7") == ((7, 7, 1), 0, 0, 0, 121)
    assert run("pool", [(224, 112, 3)], op="avg", out="7x4")[0] == (7, 4, 3)
    with pytest.raises(ShapeError, match="`out` sets the output size itself: it takes no `f`"):
        run("pool", [(8, 8, 1)], out="2", f="2")


def pytorch_window_rows(n: int, out: int) -> int:
    """The rows of all `out` adaptive windows over `n`, one window at a time (PyTorch's
    start_index/end_index: floor(i*n/out) and ceil((i+1)*n/out))."""
    return sum(-(-(i + 1) * n // out) - (i * n // out) for i in range(out))


def test_adaptive_pooling_cost_for_any_output_size_at_once():
    # The FLOPs added up a window per output row: `out=2147483647x1` ran for minutes and ended
    # in MemoryError. Every window sum must still be PyTorch's, small sizes and large.
    for n, out in [(13, 6), (224, 7), (5, 7), (1, 7), (7, 7), (12, 8), (97, 1000), (1000, 97)]:
        assert run("pool", [(n, 1, 1)], op="avg", out=f"{out}x1")[4] == pytorch_window_rows(n, out), (n, out)
    # 8 rows into 2**31 - 1 (odd, so no window edge meets a row edge): every window has one row,
    # and those across one of the 7 inner row edges a second; the width 8 into 1 is one window of 8.
    out = 2**31 - 1
    rows = out + 7
    assert run("pool", [(8, 8, 3)], op="avg", out=f"{out}x1") == ((out, 1, 3), 0, 0, 0, 3 * rows * 8)
    assert run("pool", [(8, 8, 3)], op="max", out=f"{out}x1")[4] == 3 * (rows * 8 - out)


def test_chunk_and_shuffle():
    assert run("chunk", [(4, 4, 8)], parts="2", i="2") == ((4, 4, 4), 0, 0, 0, 0)
    assert run("chunk", [(12,)], parts="3")[0] == (4,)
    with pytest.raises(ShapeError, match="8 channels do not cut into 3 equal parts"):
        run("chunk", [(4, 4, 8)], parts="3")
    with pytest.raises(ShapeError, match="part 3 of 2"):
        run("chunk", [(4, 4, 8)], parts="2", i="3")
    assert run("shuffle", [(4, 4, 8)], g="4")[0] == (4, 4, 8)
    with pytest.raises(ShapeError, match="3 groups do not divide the 8 channels"):
        run("shuffle", [(4, 4, 8)], g="3")


def test_slice_at_any_bounds():
    # ReXNet's x[:, 0:27] of 38 channels, and x[:, 27:]: 27 and 38 - 27 = 11 channels
    assert run("slice", [(7, 7, 38)], start="0", end="27") == ((7, 7, 27), 0, 0, 0, 0)
    assert run("slice", [(7, 7, 38)], start="27")[0] == (7, 7, 11)
    assert run("slice", [(12,)], start="2", end="5")[0] == (3,)
    with pytest.raises(ShapeError, match="channels 30 to 40 of 38: past the last"):
        run("slice", [(7, 7, 38)], start="30", end="40")
    with pytest.raises(ShapeError, match="channels 38 to 38 of 38: none"):
        run("slice", [(7, 7, 38)], start="38")
    assert KINDS["slice"].is_view(make("slice", start="1"))  # keeps its whole input alive


def test_radix_softmax_costs_a_softmax_per_value():
    # 3 FLOPs (exp, add, divide) per value of 1x1x128, as softmax; no params, no multiplications
    assert run("rsoftmax", [(1, 1, 128)], radix="2") == ((1, 1, 128), 0, 0, 0, 3 * 128)
    assert run("rsoftmax", [(2, 2, 24)], radix="2", groups="3")[4] == 3 * 2 * 2 * 24
    with pytest.raises(ShapeError, match="24 channels do not cut into 5 group"):
        run("rsoftmax", [(1, 1, 24)], radix="2", groups="5")
    with pytest.raises(ArgValueError, match="at least 2"):
        make("rsoftmax", radix="1")


def test_swish_is_silu():
    assert make("conv", f="3", n="4", act="swish").act == "silu"


def test_concat():
    # Inception: 28x28 with 64 + 128 + 32 + 32 channels = 256
    assert run("concat", [(28, 28, 64), (28, 28, 128), (28, 28, 32), (28, 28, 32)])[0] == (28, 28, 256)
    assert run("concat", [(10,), (20,)])[0] == (30,)


def test_concat_mismatched_height_width():
    with pytest.raises(ShapeError, match=r"same height and width"):
        run("concat", [(28, 28, 64), (14, 14, 64)])
    with pytest.raises(ShapeError):
        run("concat", [(28, 28, 64), (10,)])


def test_upsample():
    # nearest 2: 8x8x3 -> 16x16x3; 3: 24x24x3
    assert run("upsample", [(8, 8, 3)]) == ((16, 16, 3), 0, 0, 0, 0)
    assert run("upsample", [(8, 8, 3)], scale=3)[0] == (24, 24, 3)


def test_bilinear_upsample_costs_four_multiply_adds_per_output_value():
    # bilinear 2: 8x8x3 -> 16x16x3 = 768 values, each the weighted sum of 4 inputs: 4 multiply-adds
    # (fvcore's aten::upsample_bilinear2d count), 2 FLOPs each: 8 * 768 = 6144; no weights: 0 mults
    assert run("upsample", [(8, 8, 3)], mode="bilinear") == ((16, 16, 3), 0, 0, 0, 6144)
    # 3, align_corners: 5x7x2 -> 15x21x2 = 630 values: 5040 FLOPs
    assert run("upsample", [(5, 7, 2)], scale=3, mode="bilinear", align_corners="true")[4] == 5040
    # its gradient spreads each output gradient over the same 4 inputs, as many again
    a, ins = make("upsample", mode="bilinear"), [(8, 8, 3)]
    assert KINDS["upsample"].backward_flops(a, ins, (16, 16, 3), input_grad=True) == 6144
    assert KINDS["upsample"].saved(a, ins, (16, 16, 3)) == ()  # sizes only: tests/test_training_memory.py


def test_align_corners_is_refused_with_nearest():
    with pytest.raises(ShapeError, match="`align_corners` is for bilinear upsampling") as caught:
        run("upsample", [(8, 8, 3)], align_corners="false")
    assert "mode=bilinear" in caught.value.hint


def test_input_counts():
    assert KINDS["add"].min_inputs == 2 and KINDS["add"].max_inputs is None
    assert KINDS["concat"].min_inputs == 2 and KINDS["concat"].max_inputs is None
    assert KINDS["conv"].max_inputs == 1


# -- activations -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_counts(name):
    # shape unchanged, no params or mults; 1 FLOP per value, softmax 3 (exp, sum, divide)
    per_value = 3 if name == "softmax" else 1
    assert run(name, [(4, 4, 8)]) == ((4, 4, 8), 0, 0, 0, 128 * per_value)
    assert run(name, [(10,)])[4] == 10 * per_value


def test_leaky_slope_is_positional_with_default():
    slope = next(a for a in KINDS["leaky"].args if a.name == "slope")
    assert slope.positional and slope.typed_default == 0.01


# -- through the builder: a ShapeError becomes a located CnnctlError ----------------------------------
def test_shape_error_is_reported_with_layer_and_line():
    text = "input: 3x3x1\nlayers:\n  - conv f=3 n=2\n  - conv f=3 n=2\n"
    with pytest.raises(cnnctl.CnnctlError) as exc:
        cnnctl.load_text(text, "net.yaml")
    (problem,) = exc.value.problems
    assert problem.layer == "conv2"
    assert problem.loc.line == 4
    assert "larger than its padded input" in problem.message


# -- the registry: a kind is one registration in its own module ------------------------------
def test_every_synonym_and_alias_names_a_kind_and_is_not_one():
    from cnnctl.layers import KIND_ALIASES, KIND_SYNONYMS

    assert KIND_ALIASES == {"swish": "silu"}
    assert KIND_SYNONYMS["maxpool2d"] == "pool max" and KIND_SYNONYMS["ln"] == "layernorm"
    for other, written in KIND_SYNONYMS.items():
        assert other not in KINDS and written.split()[0] in KINDS, other
    for alias, name in KIND_ALIASES.items():
        assert alias not in KINDS and name in KINDS


def test_a_name_another_kind_has_is_refused_at_registration():
    from cnnctl.layers.base import LayerKind, register

    class Conv2(LayerKind):
        name = "conv2"
        synonyms = {"conv2d": "conv2"}  # noqa: RUF012 - conv's already

    with pytest.raises(ValueError, match="conv2d"):
        register(Conv2())
    assert "conv2" not in KINDS


def test_a_registered_kind_is_read_bound_built_and_in_the_schema():
    """What adding a kind takes on the analysis side: its class, registered; the parser binds its
    words by its argument spec and the schema lists it, with nothing else to change."""
    from cnnctl.exchange.schema import notation_schema
    from cnnctl.layers.args import BOOL, Arg, Int
    from cnnctl.layers.base import LayerKind, register
    from cnnctl.train.settings import NAMES

    class Tile(LayerKind):
        """Each channel written `times` times: `tile 3`."""

        name = "tile"
        args = (Arg("times", Int(), 2, positional=True), Arg("last", BOOL, False, flag=True))

        def shape(self, a, ins):
            return (*ins[0][:-1], ins[0][-1] * a.times)

    register(Tile())
    try:
        graph = cnnctl.load_text("input: 4x4x2\nlayers:\n  - tile 3 last\n", "t.yaml")
        assert graph.output_shape == (4, 4, 2 * 3)
        assert (graph.nodes[0].args.times, graph.nodes[0].args.last) == (3, True)
        assert "kind_tile" in notation_schema(NAMES)["definitions"]
    finally:
        KINDS.pop("tile")
