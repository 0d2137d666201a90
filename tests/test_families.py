"""Families: one file, its members chosen by name (issue 22, item 4).

Sources of the expected numbers: torchvision's documentation of each weight enum
(https://pytorch.org/vision/stable/models.html: `num_params` and `GFLOPS`, the latter
multiply-accumulates at the weights' crop size), and the layer tables of torchvision's
builders (efficientnet.py, regnet.py, mobilenetv3.py), counted here by the course's rule
with formulas written independently of the files. Only the analyzer runs: no torch.
"""

import json
import math
from fractions import Fraction
from pathlib import Path

import pytest
from helpers import make_divisible, run_main

import cnnctl
from cnnctl.catalog import bundled, families, resolve_member
from cnnctl.errors import CnnctlError
from cnnctl.notation.parse import parse_file_text
from cnnctl.notation.variants import COMMAND_LINE

# -- torchvision's published figures ----------------------------------------------------------
# member: (num_params, GFLOPS, the crop size GFLOPS is given at)
EFFICIENTNET = {
    "b0": (5_288_548, 0.39, 224),
    "b1": (7_794_184, 0.69, 240),
    "b2": (9_109_994, 1.09, 288),  # the member is the paper's 260x260; torchvision's weights crop 288
    "b3": (12_233_232, 1.83, 300),
    "b4": (19_341_616, 4.39, 380),
    "b5": (30_389_784, 10.27, 456),
    "b6": (43_040_704, 19.07, 528),
    "b7": (66_347_960, 37.75, 600),
}
REGNET = {
    "x_400mf": (5_495_976, 0.41),
    "x_800mf": (7_259_656, 0.80),
    "x_1_6gf": (9_190_136, 1.60),
    "x_3_2gf": (15_296_552, 3.18),
    "x_8gf": (39_572_648, 8.00),
    "x_16gf": (54_278_536, 15.94),
    "x_32gf": (107_811_560, 31.74),
    "y_400mf": (4_344_144, 0.40),
    "y_800mf": (6_432_512, 0.83),
    "y_1_6gf": (11_202_430, 1.61),
    "y_3_2gf": (19_436_338, 3.18),
    "y_8gf": (39_381_472, 8.47),
    "y_16gf": (83_590_140, 15.91),
    "y_32gf": (145_046_770, 32.28),
    "y_128gf": (644_812_894, None),  # its weights (SWAG) are measured at 384x384: no GFLOPS at 224 to check
}
MOBILENET_V3 = {"small": (2_542_856, 0.06), "large": (5_483_032, 0.22)}

# -- the layer tables, counted by the course's rule (mults: conv and fc) -----------------------------
# EfficientNet's Table 1: expansion t, kernel k, stride s, channels c, layers n; (width, depth, dropout, side).
EFFICIENTNET_STAGES = [(1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3), (6, 5, 1, 112, 3),
                       (6, 5, 2, 192, 4), (6, 3, 1, 320, 1)]  # fmt: skip
EFFICIENTNET_SCALING = {"b0": ("1.0", "1.0", "0.2", 224), "b1": ("1.0", "1.1", "0.2", 240),
                        "b2": ("1.1", "1.2", "0.3", 260), "b3": ("1.2", "1.4", "0.3", 300),
                        "b4": ("1.4", "1.8", "0.4", 380), "b5": ("1.6", "2.2", "0.4", 456),
                        "b6": ("1.8", "2.6", "0.5", 528), "b7": ("2.0", "3.1", "0.5", 600)}  # fmt: skip
# RegNet: torchvision's BlockParams.from_init_params results: stage widths, depths, group width, SE ratio.
REGNET_STAGES = {
    "x_400mf": ([32, 64, 160, 400], [1, 2, 7, 12], 16, 0),
    "x_800mf": ([64, 128, 288, 672], [1, 3, 7, 5], 16, 0),
    "x_1_6gf": ([72, 168, 408, 912], [2, 4, 10, 2], 24, 0),
    "x_3_2gf": ([96, 192, 432, 1008], [2, 6, 15, 2], 48, 0),
    "x_8gf": ([80, 240, 720, 1920], [2, 5, 15, 1], 120, 0),
    "x_16gf": ([256, 512, 896, 2048], [2, 6, 13, 1], 128, 0),
    "x_32gf": ([336, 672, 1344, 2520], [2, 7, 13, 1], 168, 0),
    "y_400mf": ([48, 104, 208, 440], [1, 3, 6, 6], 8, Fraction(1, 4)),
    "y_800mf": ([64, 144, 320, 784], [1, 3, 8, 2], 16, Fraction(1, 4)),
    "y_1_6gf": ([48, 120, 336, 888], [2, 6, 17, 2], 24, Fraction(1, 4)),
    "y_3_2gf": ([72, 216, 576, 1512], [2, 5, 13, 1], 24, Fraction(1, 4)),
    "y_8gf": ([224, 448, 896, 2016], [2, 4, 10, 1], 56, Fraction(1, 4)),
    "y_16gf": ([224, 448, 1232, 3024], [2, 4, 11, 1], 112, Fraction(1, 4)),
    "y_32gf": ([232, 696, 1392, 3712], [2, 5, 12, 1], 232, Fraction(1, 4)),
    "y_128gf": ([528, 1056, 2904, 7392], [2, 7, 17, 1], 264, Fraction(1, 4)),
}
# MobileNetV3's Tables 1 and 2 (torchvision's bneck_conf): kernel, expanded, out, SE, stride; the hidden fc.
MOBILENET_V3_ROWS = {
    "small": ([(3, 16, 16, True, 2), (3, 72, 24, False, 2), (3, 88, 24, False, 1), (5, 96, 40, True, 2),
               (5, 240, 40, True, 1), (5, 240, 40, True, 1), (5, 120, 48, True, 1), (5, 144, 48, True, 1),
               (5, 288, 96, True, 2), (5, 576, 96, True, 1), (5, 576, 96, True, 1)], 1024),
    "large": ([(3, 16, 16, False, 1), (3, 64, 24, False, 2), (3, 72, 24, False, 1), (5, 72, 40, True, 2),
               (5, 120, 40, True, 1), (5, 120, 40, True, 1), (3, 240, 80, False, 2), (3, 200, 80, False, 1),
               (3, 184, 80, False, 1), (3, 184, 80, False, 1), (3, 480, 112, True, 1), (3, 672, 112, True, 1),
               (5, 672, 160, True, 2), (5, 960, 160, True, 1), (5, 960, 160, True, 1)], 1280),
}  # fmt: skip


class Count:
    """Params and mults of convolutions (without bias, each followed by a bn: 2 params a channel,
    as torchvision's), 1x1 convs with bias (the gates'), fcs; the side of the volume so far."""

    def __init__(self, side: int):
        self.params = self.mults = 0
        self.side = side

    def conv(self, cin: int, cout: int, k: int = 1, stride: int = 1, groups: int = 1) -> None:
        self.side = (self.side - 1) // stride + 1  # p = (k - 1) // 2, k odd
        self.params += k * k * (cin // groups) * cout + 2 * cout
        self.mults += self.side**2 * cout * k * k * (cin // groups)

    def gate(self, channels: int, squeeze: int) -> None:  # pool, 1x1 conv (bias), act, 1x1 conv (bias)
        self.params += channels * squeeze + squeeze + squeeze * channels + channels
        self.mults += 2 * channels * squeeze

    def fc(self, cin: int, cout: int) -> None:
        self.params += cin * cout + cout
        self.mults += cin * cout


def efficientnet_count(width: str, depth: str, side: int) -> Count:
    width_, depth_ = Fraction(width), Fraction(depth)
    net = Count(side)
    cin = make_divisible(32 * width_)
    net.conv(3, cin, 3, 2)
    for t, k, s, c, n in EFFICIENTNET_STAGES:
        cout = make_divisible(c * width_)
        for i in range(math.ceil(n * depth_)):
            e = make_divisible(cin * t)
            if t != 1:
                net.conv(cin, e)
            net.conv(e, e, k, s if i == 0 else 1, groups=e)
            net.gate(e, max(1, cin // 4))
            net.conv(e, cout)
            cin = cout
    last = 4 * make_divisible(320 * width_)
    net.conv(cin, last)
    net.fc(last, 1000)
    return net


def regnet_count(member: str) -> Count:
    widths, depths, group_width, se = REGNET_STAGES[member]
    net = Count(224)
    net.conv(3, 32, 3, 2)
    cin = 32
    for w, d in zip(widths, depths, strict=True):
        for i in range(d):
            stride = 2 if i == 0 else 1
            if i == 0:  # the projection, on the block's input
                net.params += cin * w + 2 * w
                net.mults += ((net.side - 1) // 2 + 1) ** 2 * w * cin
            net.conv(cin, w)
            net.conv(w, w, 3, stride, groups=w // min(group_width, w))
            if se:
                net.gate(w, round(se * cin))
            net.conv(w, w)
            cin = w
    net.fc(cin, 1000)
    return net


def mobilenet_v3_count(member: str) -> Count:
    rows, hidden = MOBILENET_V3_ROWS[member]
    net = Count(224)
    net.conv(3, 16, 3, 2)
    cin = 16
    for k, e, n, se, s in rows:
        if e != cin:
            net.conv(cin, e)
        net.conv(e, e, k, s, groups=e)
        if se:
            net.gate(e, make_divisible(e // 4))
        net.conv(e, n)
        cin = n
    net.conv(cin, 6 * cin)
    net.fc(6 * cin, hidden)
    net.fc(hidden, 1000)
    return net


def test_the_counts_here_agree_with_torchvisions_published_parameters():
    # The formulas above are checked against the published figures before the files are against them.
    scaled = {m: efficientnet_count(width, depth, side) for m, (width, depth, _, side) in EFFICIENTNET_SCALING.items()}
    assert {m: count.params for m, count in scaled.items()} == {m: p for m, (p, _, _) in EFFICIENTNET.items()}
    assert {m: regnet_count(m).params for m in REGNET} == {m: p for m, (p, _) in REGNET.items()}
    assert {m: mobilenet_v3_count(m).params for m in MOBILENET_V3} == {m: p for m, (p, _) in MOBILENET_V3.items()}


@pytest.mark.parametrize("member", sorted(EFFICIENTNET))
def test_efficientnet_members(member):
    params, gflops, crop = EFFICIENTNET[member]
    width, depth, dropout, side = EFFICIENTNET_SCALING[member]
    g = cnnctl.load(f"efficientnet_{member}" if member != "b0" else "efficientnet.yaml:b0")
    assert (g.name, g.input_shape) == (f"efficientnet_{member}", (side, side, 3))
    assert (g.params, g.mults) == (params, efficientnet_count(width, depth, side).mults)
    assert g.output_shape == (1000,) and not g.warnings
    assert [n.args.rate for n in g.nodes if n.kind == "dropout"] == [float(dropout)]
    assert round(cnnctl.load(f"efficientnet.yaml:{member}", input=f"{crop}x{crop}x3").mults / 1e9, 2) == gflops


@pytest.mark.parametrize("member", sorted(REGNET))
def test_regnet_members(member):
    params, gflops = REGNET[member]
    g = cnnctl.load(f"regnet_{member}")
    assert (g.name, g.input_shape) == (f"regnet_{member}", (224, 224, 3))
    assert (g.params, g.mults) == (params, regnet_count(member).mults)
    assert gflops is None or round(g.mults / 1e9, 2) == gflops
    assert not g.warnings


@pytest.mark.parametrize("member", sorted(MOBILENET_V3))
def test_mobilenet_v3_members(member):
    params, gflops = MOBILENET_V3[member]
    g = cnnctl.load(f"mobilenet_v3.yaml:{member}")
    assert (g.params, g.mults) == (params, mobilenet_v3_count(member).mults)
    assert round(g.mults / 1e9, 2) == gflops and not g.warnings


def _layers(g):  # what each layer is and counts, without its path
    return [(n.kind, dict(n.args), n.shape, n.params, n.buffers, n.mults, n.flops) for n in g.nodes]


def test_the_members_that_are_bundled_files_too_are_the_same_networks():
    # efficientnet_b0 and mobilenet_v3_large stay files of their own (torchvision's layer names,
    # its weights): their family's member is the same network, layer for layer.
    assert _layers(cnnctl.load("efficientnet.yaml:b0")) == _layers(cnnctl.load("efficientnet_b0"))
    assert _layers(cnnctl.load("mobilenet_v3.yaml:large")) == _layers(cnnctl.load("mobilenet_v3_large"))
    assert cnnctl.load("efficientnet_b0").mults == efficientnet_count("1.0", "1.0", 224).mults
    assert cnnctl.load("mobilenet_v3_large").mults == mobilenet_v3_count("large").mults


# -- choosing a member ---------------------------------------------------------------------------------
def test_a_bundled_member_resolves_to_its_family_file():
    file, display, member = resolve_member("efficientnet_b3")
    assert (file, display, member) == (bundled()["efficientnet"], "bundled: efficientnet.yaml", "b3")
    assert resolve_member("regnet_y_8gf")[2] == "y_8gf"
    assert resolve_member("efficientnet_b0")[2] is None  # a file of its own wins
    assert resolve_member("efficientnet")[2] is None  # the family alone: the file's own arguments
    assert resolve_member("efficientnet_b3:dropout=0.1")[2] == "b3,dropout=0.1"


def test_the_family_alone_is_its_files_arguments_and_input():
    g = cnnctl.load("efficientnet")
    assert (g.name, g.input_shape, g.params) == ("efficientnet", (224, 224, 3), EFFICIENTNET["b0"][0])


def test_any_file_chooses_its_members_and_settings(tmp_path):
    net = tmp_path / "family.yaml"
    net.write_text(
        "input: 8x8x3\nargs: n=4 k=3\nvariants:\n  wide: n=16\n  big: n=8 input=16x16x3\n"
        "layers:\n  - conv f=$k p=same n=${n * 2}\n  - pool avg global\n"
    )
    assert cnnctl.load(net).output_shape == (1, 1, 8)
    assert cnnctl.load(f"{net}:wide").output_shape == (1, 1, 32)
    big = cnnctl.load(f"{net}:big")
    assert (big.name, big.input_shape, big.output_shape) == ("family_big", (16, 16, 3), (1, 1, 16))
    assert cnnctl.load(f"{net}:wide,n=5").output_shape == (1, 1, 10)  # a setting after the member's values
    assert cnnctl.load(f"{net}:k=5").params == 5 * 5 * 3 * 8 + 8


def test_members_are_chosen_in_every_command(monkeypatch, capsys):
    # Every command resolves ARCH through api.load (catalog.resolve_member): the analyses and the
    # draw; export, train, bench, weights load the same way (test_member_recorded_by_a_run).
    for args in (
        ["summarize", "mobilenet_v3_small", "-f", "json"],
        ["flops", "mobilenet_v3.yaml:small", "-f", "json"],
        ["memory", "mobilenet_v3_small", "-f", "json"],
        ["compare", "mobilenet_v3_small", "regnet_x_400mf", "-f", "json"],
    ):
        code, out, err = run_main(monkeypatch, capsys, *args)
        assert code == 0, err
        assert '"mobilenet_v3_small"' in out  # the member's name: only a chosen member has it
    code, out, _ = run_main(monkeypatch, capsys, "summarize", "regnet_y_32gf", "-f", "json")
    assert json.loads(out)["totals"]["params"] == REGNET["y_32gf"][0]
    code, out, err = run_main(monkeypatch, capsys, "draw", "regnet_y_400mf", "--format", "json")
    assert code == 0 and '"regnet_y_400mf"' in out, err
    code, out, err = run_main(monkeypatch, capsys, "validate", "efficientnet_b7")
    assert code == 0, err


def test_list_shows_the_families_with_their_members(monkeypatch, capsys):
    code, out, _ = run_main(monkeypatch, capsys, "list", "-f", "json")
    entries = {e["name"]: e for e in json.loads(out)["networks"]}
    assert entries["efficientnet"]["members"] == [f"b{i}" for i in range(8)]
    assert entries["regnet"]["members"] == list(REGNET)
    assert entries["mobilenet_v3"]["members"] == ["small", "large"]
    assert entries["efficientnet_b3"]["family"] == "efficientnet"
    assert entries["efficientnet_b3"]["input"] == "300x300x3"
    assert entries["regnet_y_32gf"]["params"] == REGNET["y_32gf"][0]
    assert "family" not in entries["efficientnet_b0"]  # the file of its own
    assert set(families()) == {"efficientnet", "regnet", "mobilenet_v3"}


# -- messages ------------------------------------------------------------------------------------
def _problems(source: str) -> list:
    with pytest.raises(CnnctlError) as info:
        cnnctl.load(source)
    return info.value.problems


def test_an_unknown_member_lists_the_known_ones_at_the_files_variants():
    (p,) = _problems("efficientnet_b9")
    assert p.message == "`efficientnet` has no member `b9`"
    assert (p.loc.file, p.loc.line) == ("bundled: efficientnet.yaml", _line("efficientnet", "variants:"))
    assert p.hint == "its members: b0, b1, b2, b3, b4, b5, b6, b7"
    (p,) = _problems("regnet.yaml:y_8GF")
    assert "did you mean `y_8gf`?" in p.hint


def _line(family: str, text: str) -> int:
    with open(bundled()[family]) as f:
        return next(i for i, line in enumerate(f, 1) if line.startswith(text))


def test_a_setting_of_no_argument_names_the_files_arguments(tmp_path):
    (p,) = _problems("efficientnet_b3:widht=2")
    assert p.message == "`efficientnet` has no argument `widht`"
    assert "did you mean `width`?" in p.hint and "`depth`" in p.hint
    net = tmp_path / "plain.yaml"
    net.write_text("input: 8x8x3\nlayers:\n  - conv f=3 n=4\n")
    (p,) = _problems(f"{net}:b3")
    assert p.message == "`plain` has no member `b3`" and p.hint == "it declares no members (`variants:`)"
    (p,) = _problems("lenet5:")
    assert p.message == "no member named after `:` (or between commas)"
    (p,) = _problems("efficientnet.yaml:input=300x300x3")
    assert p.hint == "the input size is an option: --input HxWxC"
    assert [p.message for p in _problems(f"{net}:b3,b4")] == [
        "`plain` has no member `b3`",
        "`plain` has no member `b4`",
    ]


def test_a_file_with_wrong_members_tells_every_problem_at_its_place(tmp_path):
    net = tmp_path / "bad.yaml"
    net.write_text(
        "input: 8x8x3\nargs: n k=3\nvariants:\n  a: n=4 widht=2\n  b: k=5\n  c d: n=1\nlayers:\n  - conv f=$k n=$n\n"
    )
    # a member's line is told where it is chosen (`b`'s only where `b` is); `variants:` itself, for any
    messages = [(p.message, p.loc.line, p.loc.col) for p in _problems(f"{net}:a")]
    assert messages == [
        ("member `a` sets `widht`, which is not an argument of the file", 4, 10),
        ("member name `c d` is not a plain name", 6, 3),
    ]
    messages = [(p.message, p.loc.line, p.loc.col) for p in _problems(f"{net}:b")]
    assert messages == [  # `b`'s line says what it lacks; not "the file needs `n`" besides: a member was chosen
        ("member `b` does not give `n`, which the file requires", 5, 3),
        ("member name `c d` is not a plain name", 6, 3),
    ]


def test_a_required_argument_without_a_member_is_one_message(tmp_path):
    net = tmp_path / "needs.yaml"
    net.write_text("input: 8x8x3\nargs: n\nvariants:\n  a: n=4\nlayers:\n  - conv f=3 n=$n\n")
    (p,) = _problems(str(net))
    assert p.message == "the file needs `n` (its `args:`)" and p.loc.line == 3
    assert "its members: a" in p.hint
    assert cnnctl.load(f"{net}:a").output_shape == (6, 6, 4)


def test_the_files_own_argument_misspelt_in_a_layer(tmp_path):
    net = tmp_path / "typo.yaml"
    net.write_text("input: 8x8x3\nargs: width=2\nlayers:\n  - conv f=3 n=${4 * widht}\n")
    (p,) = _problems(str(net))
    assert p.message == "the file has no argument `widht`" and (p.loc.line, p.loc.col) == (4, 16)
    assert p.hint == "did you mean `width`?"
    net.write_text("input: 8x8x3\nargs: width=2\nlayers:\n  - conv f=3 n=${in_c}\n")
    (p,) = _problems(str(net))
    assert p.message == "`$in_c` is a block's input size, but this layer is not in a block"


# -- the file's arguments take the type of their defaults -------------------------------------------
def test_a_wrong_setting_on_the_command_line_is_one_message(monkeypatch, capsys):
    # efficientnet.yaml uses `width` at 16 places: told once, where it was typed, and nothing built
    code, out, err = run_main(monkeypatch, capsys, "summarize", "efficientnet_b3:width=x")
    assert (code, out) == (2, "") and "Traceback" not in err
    assert [line for line in err.splitlines() if "error" in line] == [
        "error: the command line: `width=x`: `width` takes a number (its default: 1.0), not `x`"
    ]
    # every wrong setting of the command in one run, an unknown one with them
    problems = _problems("efficientnet_b3:width=x,widht=2,dropout=high")
    assert [(p.message, p.loc) for p in problems] == [
        ("`width=x`: `width` takes a number (its default: 1.0), not `x`", COMMAND_LINE),
        ("`efficientnet` has no argument `widht`", problems[1].loc),
        ("`dropout=high`: `dropout` takes a number (its default: 0.2), not `high`", COMMAND_LINE),
    ]


def test_a_number_argument_takes_any_number():
    # b3 (depth 1.4, 300x300) at width 1.1, counted by the formula; the dropout as given
    g = cnnctl.load("efficientnet_b3:width=1.1,dropout=0.3")
    expected = efficientnet_count("1.1", "1.4", 300)
    assert (g.params, g.mults) == (expected.params, expected.mults)
    assert [n.args.rate for n in g.nodes if n.kind == "dropout"] == [0.3]
    # a whole number, an exponent and an expression where the defaults are 1.0, 1.0 and 0.2
    g = cnnctl.load("efficientnet.yaml:depth=2,width=15e-1,dropout=${1/1000}")
    expected = efficientnet_count("1.5", "2", 224)
    assert (g.params, g.mults) == (expected.params, expected.mults)
    assert [n.args.rate for n in g.nodes if n.kind == "dropout"] == [0.001]
    (p,) = _problems("efficientnet_b3:depth=1.1.1")
    assert (p.message, p.loc) == ("`depth=1.1.1`: `depth` takes a number (its default: 1.0), not `1.1.1`", COMMAND_LINE)


def test_a_network_kept_as_its_own_file_takes_settings_as_its_familys_member():
    # efficientnet_b0 is a file of its own (torchvision's layer names) and efficientnet.yaml's b0:
    # settings after it set the family's arguments (once: "`efficientnet_b0` has no argument `width`")
    g = cnnctl.load("efficientnet_b0:width=1.1")
    expected = efficientnet_count("1.1", "1.0", 224)
    assert (g.params, g.mults) == (expected.params, expected.mults)
    assert cnnctl.load("efficientnet_b0").params == efficientnet_count("1.0", "1.0", 224).params  # the file, as given


def test_a_whole_number_argument_refuses_a_fraction(tmp_path):
    net = tmp_path / "fam.yaml"
    net.write_text(
        "input: 8x8x3\nargs: n=4 bias=false act=relu\nvariants:\n  wide: n=16\n"
        "layers:\n  - conv f=3 p=1 n=$n bias=$bias act=$act\n  - conv f=3 p=1 n=$n bias=$bias\n"
    )
    (p,) = _problems(f"{net}:n=2.5")  # one message, not one at each layer using `n`
    assert (p.message, p.loc) == ("`n=2.5`: `n` takes a whole number (its default: 4), not `2.5`", COMMAND_LINE)
    (p,) = _problems(f"{net}:wide,n=${{5/2}}")  # an expression: its value, once it has one
    assert (p.message, p.loc) == ("`n=${5/2}`: `n` takes a whole number (its default: 4), not `2.5`", COMMAND_LINE)
    (p,) = _problems(f"{net}:bias=2")
    assert p.message == "`bias=2`: `bias` takes true or false (its default: false), not `2`"
    g = cnnctl.load(f"{net}:wide,n=${{2 * 3}},bias=true,act=silu")  # a text default takes any text
    assert g.params == (3 * 3 * 3 * 6 + 6) + (3 * 3 * 6 * 6 + 6)
    assert [n.args.act for n in g.nodes if n.kind == "conv"] == ["silu", "none"]


def test_a_member_of_the_wrong_type_is_one_message_at_its_line(tmp_path):
    net = tmp_path / "fam.yaml"
    net.write_text(
        "input: 8x8x3\nargs: n=4 rate=0.5\nvariants:\n  ok: n=8\n  bad: n=8.0 rate=half\n"
        "layers:\n  - conv f=3 p=1 n=$n\n  - conv f=3 p=1 n=$n\n  - dropout $rate\n"
    )
    told = [
        ("member `bad`: `n` takes a whole number (its default: 4), not `8.0`", 5, 8),
        ("member `bad`: `rate` takes a number (its default: 0.5), not `half`", 5, 14),
    ]
    assert [(p.message, p.loc.line, p.loc.col) for p in _problems(f"{net}:bad")] == told
    assert cnnctl.load(f"{net}:ok").output_shape == (8, 8, 8)  # another member is built as ever
    as_written = cnnctl.load(net)  # the file's defaults: built, the member's problems its notes
    assert [(p.message, p.loc.line, p.loc.col) for p in as_written.warnings] == told


# -- the file's arguments have declared ranges -------------------------------------------------------
def test_a_setting_outside_its_range_is_one_message_at_the_command_line(monkeypatch, capsys):
    # width=-1 built a network of 8 channels everywhere (divisible clamps to 8): now one message, nothing built
    code, out, err = run_main(monkeypatch, capsys, "summarize", "efficientnet_b3:width=-1")
    assert (code, out) == (2, "") and "Traceback" not in err
    assert err.splitlines() == [
        "error: the command line: `width=-1`: `width` must be above 0 (its range: `(>0)`), not `-1`",
        "  hint: give `width` a number above 0, such as its default 1.0",
    ]
    problems = _problems("efficientnet_b3:depth=0,dropout=1")  # every one of the command
    assert [(p.message, p.loc) for p in problems] == [
        ("`depth=0`: `depth` must be above 0 (its range: `(>0)`), not `0`", COMMAND_LINE),
        ("`dropout=1`: `dropout` must be at least 0 and below 1 (its range: `(>=0 <1)`), not `1`", COMMAND_LINE),
    ]
    (p,) = _problems("efficientnet_b3:width=${1 - 1}")  # an expression: by its value
    assert (p.message, p.loc) == (
        "`width=${1 - 1}`: `width` must be above 0 (its range: `(>0)`), not `0`",
        COMMAND_LINE,
    )
    (p,) = _problems("regnet_x_8gf:d4=0")  # a stage of no blocks
    assert p.message == "`d4=0`: `d4` must be at least 1 (its range: `(>=1)`), not `0`"
    assert p.hint == "give `d4` a whole number at least 1, such as its default 12"
    (p,) = _problems("mobilenet_v3:large=2")  # builds both lists of blocks
    assert p.message == "`large=2`: `large` must be from 0 to 1 (its range: `(>=0 <=1)`), not `2`"
    # the ends: `>=` holds its bound, `<` does not, compared exactly
    g = cnnctl.load("efficientnet_b3:dropout=0")
    assert [n.args.rate for n in g.nodes if n.kind == "dropout"] == [0.0]
    assert cnnctl.load("efficientnet_b3:dropout=0.999").params == EFFICIENTNET["b3"][0]
    (p,) = _problems("efficientnet_b3:dropout=1.0")
    assert p.message.startswith("`dropout=1.0`: `dropout` must be at least 0 and below 1")


def test_a_members_value_outside_its_range_is_told_at_its_line(tmp_path):
    net = tmp_path / "fam.yaml"
    net.write_text(
        "input: 8x8x3\nargs: {n: 1 (>=1), w: 2.0 (>0)}\nvariants:\n  ok: n=3\n  bad: n=0 w=-1.5\n"
        "layers:\n  - conv f=3 p=1 n=${ceil(n * w)}\n"
    )
    assert [(p.message, p.loc.line, p.loc.col) for p in _problems(f"{net}:bad")] == [  # each once, at its value
        ("member `bad`: `n` must be at least 1 (its range: `(>=1)`), not `0`", 5, 8),
        ("member `bad`: `w` must be above 0 (its range: `(>0)`), not `-1.5`", 5, 12),
    ]
    assert cnnctl.load(f"{net}:ok").output_shape == (8, 8, 6)  # ceil(3 * 2.0) channels: `bad` stops only itself
    net.write_text(net.read_text().replace("n=0 w=-1.5", "n=2 w=0.5"))
    assert cnnctl.load(f"{net}:bad").output_shape == (8, 8, 1)  # ceil(2 * 0.5) channels
    net.write_text("input: 8x8x3\nargs: n (>=1)\nlayers:\n  - conv f=3 p=1 n=$n\n")  # a required one's, alone
    (p,) = _problems(f"{net}:n=0")
    assert (p.message, p.hint) == (
        "`n=0`: `n` must be at least 1 (its range: `(>=1)`), not `0`",
        "give `n` a number at least 1",
    )
    assert cnnctl.load(f"{net}:n=2").output_shape == (8, 8, 2)


def test_a_range_is_read_where_it_is_written_and_holds_its_default(tmp_path):
    net = tmp_path / "ranges.yaml"
    net.write_text(
        "input: 8x8x3\n"
        "args: (>0) n=0 (>=1) w=1.0 (0..1) d=1.0 (>0 >1) e=1.0 (>1 <1) act=relu (>0) r=0.5 (>= 0  < 1) (<4)\n"
        "blocks:\n  b:\n    args: m (>=1)\n    layers: [conv f=3 p=1 n=$m]\n"
        "layers:\n  - b m=4\n  - dropout $r\n"
    )
    assert [(p.message, p.loc.line, p.loc.col) for p in _problems(str(net))] == [
        ("the range `(>0)` follows no argument of the file", 2, 7),
        ("the default of `n`, 0, is outside its range `(>=1)`", 2, 16),
        ("the range of `w`: `(0..1)` is not a range", 2, 28),
        ("the range of `d`: `(>0 >1)` has two lower bounds", 2, 41),
        ("the range of `e`: `(>1 <1)` holds no number", 2, 55),
        ("`act=relu` is not a number, but has a range", 2, 72),
        ("`r` has a second range, `(<4)`", 2, 95),
        ("`m` of block `b` has a range, `(>=1)`: only the file's own `args:` take one", 5, 13),
    ]
    spec = parse_file_text(net.read_text(), "ranges.yaml")
    assert spec.ranges["r"].text == "(>= 0  < 1)" and spec.args["r"].text == "0.5"  # spaces inside: one range


def test_the_bundled_families_declare_ranges_their_members_keep():
    for family in ("efficientnet", "regnet", "mobilenet_v3"):
        text = Path(bundled()[family]).read_text()
        spec = parse_file_text(text, f"{family}.yaml")
        assert spec.problems == () and set(spec.ranges) == set(spec.args), family  # each argument bounded
    # a bundled file that breaks its own range is a file error: its default at the range, a member at its value
    text = Path(bundled()["efficientnet"]).read_text()
    line = _line("efficientnet", "args:")
    broken = text.replace("dropout=0.2 (>=0 <1)", "dropout=1.2 (>=0 <1)")
    with pytest.raises(CnnctlError) as info:
        cnnctl.load_text(broken, "efficientnet.yaml")
    p = info.value.problems[0]  # then the dropout layer's own, at its line: the file builds with its default
    column = text.splitlines()[line - 1].index("(>=0 <1)") + 1
    assert (p.message, p.loc.line, p.loc.col) == ("the default of `dropout`, 1.2, is outside its range `(>=0 <1)`",
                                                  line, column)  # fmt: skip
    broken = text.replace("b7: width=2.0", "b7: width=-2.0")
    with pytest.raises(CnnctlError) as info:
        cnnctl.load_text(broken, "efficientnet.yaml", member="b7")
    (p,) = info.value.problems
    assert p.message == "member `b7`: `width` must be above 0 (its range: `(>0)`), not `-2.0`"
    assert (p.loc.line, p.loc.col) == (_line("efficientnet", "  b7:"), len("  b7: ") + 1)  # at the setting


def test_a_negative_repeat_count_names_its_expression_and_value(tmp_path):
    # `repeat: 0` makes no layer (a stage of one block); below 0 is a mistake, not an empty stage
    net = tmp_path / "deep.yaml"
    net.write_text(
        "input: 8x8x3\nargs: depth=1.0\nblocks:\n  stage:\n    args: n depth\n    layers:\n"
        "      - conv f=3 p=1 n=4\n      - repeat: ${ceil(n * depth) - 1}\n        layers: [conv f=3 p=1 n=4]\n"
        "layers:\n  - stage n=3 depth=$depth\n"
    )
    assert cnnctl.load(f"{net}:depth=0.3").params == 3 * 3 * 3 * 4 + 4  # ceil(0.9) - 1 = 0 repeats
    (p,) = _problems(f"{net}:depth=-1")
    assert (
        p.message
        == "`repeat` count `${ceil(n * depth) - 1}` must be at least 0, got -4 (in block `stage` used at line 11)"
    )
    assert (p.loc.line, p.loc.col) == (8, 17) and p.layer == "stage1.repeat1"
    assert p.hint == "a count is 0 (`repeat: 0` makes no layer) or more; check the values it is computed from"


# -- a run records its member ------------------------------------------------------------------------
def test_member_recorded_by_a_run(tmp_path):
    # What train writes (saving.start_folder): network.yaml, the family file as written; config.json's
    # `member`. Every command reading the run (evaluate, predict, --resume: api.load) builds that member.
    run = tmp_path / "run"
    run.mkdir()
    (run / "network.yaml").write_text(Path(bundled()["regnet"]).read_text())
    (run / "config.json").write_text(json.dumps({"input": "64x64x3", "member": "y_400mf,se=0"}))
    g = cnnctl.load(run)
    assert g.name == "regnet_y_400mf" and g.input_shape == (64, 64, 3)
    expected = cnnctl.load("regnet_y_400mf:se=0", input="64x64x3")
    assert _layers(g) == _layers(expected) and g.params < REGNET["y_400mf"][0]  # no gates


def test_validate_checks_every_member_of_a_family(tmp_path, monkeypatch, capsys):
    net = tmp_path / "fam.yaml"
    net.write_text(
        "input: 32x32x3\nargs: n=4 f=3\nvariants:\n  ok: n=8\n  wide: n=abc\n  big: f=40\n  worse: n=abc f=40\n"
        "layers:\n  - conv f=$f n=$n\n  - pool avg global\n"
    )
    code, out, _ = run_main(monkeypatch, capsys, "validate", str(net), "-f", "json")
    assert code == 2
    told = [(d["message"], d["line"]) for d in json.loads(out)["files"][0]["details"]]
    assert told == [  # each problem once, member by member, with the first that has it; a wrong value at its line
        ("member `wide`: `n` takes a whole number (its default: 4), not `abc`", 5),
        ("member `big`: filter 40x40 is larger than its padded input 32x32 (input 32x32x3, p=0x0)", 9),
        ("member `worse`: `n` takes a whole number (its default: 4), not `abc`", 7),
    ]
    code, out, err = run_main(monkeypatch, capsys, "validate", "efficientnet", "regnet", "mobilenet_v3")
    assert code == 0 and "3 valid" in out, err


# -- a member with settings is named with them; a broken member stops only itself ---------------------
FAM = (  # a new user's family file (issue 29, task V)
    "name: fam\ninput: 32x32x3\nargs: width=1.0 depth=1\nvariants:\n  small: width=0.5 depth=1\n"
    "  big: width=2.0 depth=3 input=64x64x3\nlayers:\n  - conv f=3 p=same n=${divisible(16 * width, 8)} act=relu\n"
    "  - repeat: $depth\n    layers:\n      - conv f=3 p=same n=${divisible(32 * width, 8)} act=relu\n"
    "  - pool avg global\n  - fc 10\n"
)
# conv 3x3 of 3 -> 32 channels, then `depth` convs 3x3: 32 -> 64 and 64 -> 64, and fc 64 -> 10 (big, width 2)
BIG = (3 * 3 * 3 * 32 + 32) + (3 * 3 * 32 * 64 + 64) + 2 * (3 * 3 * 64 * 64 + 64) + (64 * 10 + 10)
BIG_DEPTH_2 = BIG - (3 * 3 * 64 * 64 + 64)
SMALL = (3 * 3 * 3 * 8 + 8) + (3 * 3 * 8 * 16 + 16) + (16 * 10 + 10)  # width 0.5: 8 and 16 channels, depth 1


def test_the_settings_given_on_top_of_a_member_are_in_its_name(tmp_path, monkeypatch, capsys):
    net = tmp_path / "fam.yaml"
    net.write_text(FAM)
    big, deeper = cnnctl.load(f"{net}:big"), cnnctl.load(f"{net}:big,depth=2")
    assert (big.params, deeper.params) == (BIG, BIG_DEPTH_2)  # two networks...
    assert (big.title, deeper.title) == ("fam_big", "fam_big:depth=2")  # ...told apart
    assert deeper.name == "fam_big"  # the member's: what finds published weights, names a class
    assert cnnctl.load(f"{net}:depth=2,width=0.5").title == "fam:depth=2,width=0.5"  # no member: the file's name
    # where the name is shown: summarize's header and JSON, draw (its picture's file too), memory, compare
    code, out, err = run_main(monkeypatch, capsys, "summarize", f"{net}:big,depth=2")
    assert code == 0 and out.splitlines()[0] == f"fam_big:depth=2  ({net})", err
    for args in (["summarize"], ["draw"], ["memory"], ["flops"]):
        code, out, err = run_main(monkeypatch, capsys, *args, f"{net}:big,depth=2", "-f", "json")
        assert code == 0 and json.loads(out)["name"] == "fam_big:depth=2", (args, err)
    code, out, err = run_main(monkeypatch, capsys, "compare", f"{net}:big", f"{net}:big,depth=2", "-f", "json")
    assert [n["name"] for n in json.loads(out)["networks"]] == ["fam_big", "fam_big:depth=2"], err
    monkeypatch.chdir(tmp_path)
    code, out, err = run_main(monkeypatch, capsys, "draw", f"{net}:big,depth=2")
    assert code == 0 and out.startswith("wrote fam_big_depth_2.svg: fam_big:depth=2,"), err
    # a bundled member's name with settings is an ARCH that builds it again
    for arch in ("efficientnet_b3:width=1.1", "efficientnet_b0:width=1.1"):
        g = cnnctl.load(arch)
        assert g.title == arch and cnnctl.load(g.title).params == g.params
    assert g.params == efficientnet_count("1.1", "1.0", 224).params


def test_one_broken_member_stops_only_itself(tmp_path, monkeypatch, capsys):
    net = tmp_path / "fam.yaml"
    net.write_text(FAM.replace("  big:", "  bad: widht=2\n  big:"))
    bad = ("member `bad` sets `widht`, which is not an argument of the file", 6, 8)
    assert (cnnctl.load(f"{net}:small").params, cnnctl.load(f"{net}:big").params) == (SMALL, BIG)
    assert [(p.message, p.loc.line, p.loc.col) for p in _problems(f"{net}:bad")] == [bad]  # chosen: its error
    as_written = cnnctl.load(net)  # the file's defaults: built, the broken member a note
    assert [(p.message, p.loc.line, p.loc.col) for p in as_written.warnings] == [bad]
    code, out, err = run_main(monkeypatch, capsys, "summarize", str(net))
    assert code == 0 and err.startswith(f"warning: {net}:6:8: member `bad` sets `widht`") and out, err
    code, out, err = run_main(monkeypatch, capsys, "summarize", f"{net}:small")
    assert (code, err) == (0, "")  # another member chosen: nothing of `bad`
    code, out, err = run_main(monkeypatch, capsys, "summarize", f"{net}:bad")
    assert code == 2 and out == "" and f"error: {net}:6:8: member `bad` sets `widht`" in err
    # validate checks the whole file, every member: strict, the problem told once, as it is
    code, out, _ = run_main(monkeypatch, capsys, "validate", str(net), "-f", "json")
    assert code == 2
    assert [(d["message"], d["line"], d["column"]) for d in json.loads(out)["files"][0]["details"]] == [bad]


def test_a_member_of_words_not_pairs_is_named_with_balanced_quotes(tmp_path):
    net = tmp_path / "fam.yaml"
    net.write_text(FAM.replace("  big:", "  bad: widht 2\n  big:"))
    messages = [p.message for p in _problems(f"{net}:bad")]
    assert "member `bad` takes `name=value` pairs, got `widht`" in messages, messages
    assert all(m.count("`") % 2 == 0 for m in messages), messages


def test_a_setting_whose_expression_holds_a_comma_is_one_setting():
    # `${max(0.1, 0.3)}`: the comma is max's, not a second choice's
    from cnnctl.notation.variants import choice_words
    from cnnctl.train.checkpoint import _settings_in

    assert choice_words("b3,dropout=${max(0.1, 0.3)},width=1.1") == ["b3", "dropout=${max(0.1, 0.3)}", "width=1.1"]
    computed, written = (
        cnnctl.load("efficientnet_b0:dropout=${max(0.1, 0.3)}"),
        cnnctl.load("efficientnet_b0:dropout=0.3"),
    )
    assert [n.text for n in computed.nodes if n.kind == "dropout"] == ["dropout 0.3"]
    assert [n.text for n in written.nodes if n.kind == "dropout"] == ["dropout 0.3"]
    assert _settings_in("efficientnet_b0:dropout=${max(0.1, 0.3)}") == "dropout=${max(0.1, 0.3)}"


def test_a_member_that_leaves_out_a_required_argument_is_told_once(tmp_path):
    net = tmp_path / "fam.yaml"
    net.write_text("name: fam\ninput: 8x8x1\nargs: n\nvariants:\n  a: n=2\n  b: depth=3\nlayers:\n  - conv f=3 n=$n\n")
    told = [(p.message, p.loc.line) for p in _problems(f"{net}:b")]
    assert told == [
        ("member `b` does not give `n`, which the file requires", 6),
        ("member `b` sets `depth`, which is not an argument of the file", 6),
    ]  # not also "the file needs `n`", with a hint to choose a member: one was chosen
    assert [p.message for p in _problems(str(net))][-1] == "the file needs `n` (its `args:`)"  # none chosen: so
    assert cnnctl.load(f"{net}:a").params == 3 * 3 * 1 * 2 + 2
