"""`${...}` arithmetic with fractions: decimals, exact `/`, ceil, floor, round and divisible
(width and depth multipliers), each against its definition; what a whole-number argument
says when it gets a fraction; hostile expressions, each one bounded message."""

import math
import textwrap
import time
from fractions import Fraction

import pytest
from helpers import make_divisible
from hypothesis import given, settings
from hypothesis import strategies as st
from test_notation import readme_snippet

import cnnctl
from cnnctl.notation.expr import ExprError, evaluate, format_number, read_number

ROUNDING_HINT = "use ceil(...), floor(...), round(...) or divisible(..., 8)"


def value(text: str, **names):
    """`text` evaluated with `names` as its arguments (given as numbers)."""
    return evaluate(text, lambda n: names[n])


def load(text: str):
    return cnnctl.load_text(textwrap.dedent(text), "net.yaml")


def one_problem(text: str):
    with pytest.raises(cnnctl.CnnctlError) as info:
        load(text)
    (problem,) = info.value.problems
    return problem


def torchvision_make_divisible(v: Fraction, d: int) -> int:
    """torchvision's `_make_divisible` as its source defines it (min_value = divisor), in exact
    arithmetic: `int()` truncates toward zero, 0.9 is 9/10."""
    new_v = max(d, int(v + Fraction(d, 2)) // d * d)
    if new_v < Fraction(9, 10) * v:
        new_v += d
    return new_v


# -- exact decimals -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "written"),
    [
        ("32 * 1.1", "35.2"),  # a float gives 35.2000000000000028...
        ("0.1 + 0.2", "0.3"),  # a float gives 0.30000000000000004
        ("1.1 * 1.1", "1.21"),
        ("-1 / 8", "-0.125"),
        ("64 / 3", "64/3"),  # no decimal ends: a fraction
        ("2.5 * 2", "5"),  # a fraction that comes out whole is a whole number
        ("10 % 3.5", "3"),  # 10 - 2 * 3.5
        ("7 // 2.5", "2"),
        ("1.5 - 1.5", "0"),
    ],
)
def test_decimals_are_exact(text, written):
    assert format_number(value(text)) == written


def test_fraction_values_are_fractions_and_whole_ones_ints():
    assert value("32 * 1.1") == Fraction(176, 5)
    assert value("1 / 3 + 1 / 6") == Fraction(1, 2)
    assert type(value("2.5 * 2")) is int and type(value("6 / 3")) is int


def test_a_value_reads_as_a_number_argument_is_written():
    # A family's `width=1e-1` or `dropout=.5` (a number argument, cnnctl.notation.variants) is read
    # where an expression uses it, exactly: 10^-1 is 1/10, not the float 0.1000000000000000055...
    assert [read_number(t) for t in ("1e-1", "15E-1", ".5", "2.", "-2.5e+1", "1e17")] == [
        Fraction(1, 10), Fraction(3, 2), Fraction(1, 2), 2, -25, 10**17
    ]  # fmt: skip
    assert [read_number(t) for t in ("e5", ".", "-", "1e", "1.2.3", "nan", "inf", "1_0")] == [None] * 8
    for text, message in (("1e18", "far too large"), ("1e-19", "too many decimals"), ("1e" + "9" * 5000, "large")):
        with pytest.raises(ExprError, match=message):  # at most 18 digits either side of the point, as written
            read_number(text)


@settings(max_examples=200, deadline=None)
@given(st.integers(-(10**12), 10**12), st.integers(1, 10**6))
def test_a_written_number_reads_back_as_itself(numerator, denominator):
    exact = Fraction(numerator, denominator)
    assert read_number(format_number(value("a / b", a=numerator, b=denominator))) == exact


# -- the functions, each against its definition ---------------------------------------------------
@settings(max_examples=300, deadline=None)
@given(st.integers(-(10**9), 10**9), st.integers(1, 1000))
def test_ceil_floor_round_are_their_definitions(numerator, denominator):
    v = Fraction(numerator, denominator)
    # floor: the largest whole number <= v; ceil: the smallest >= v
    f, c = value("floor(v)", v=v), value("ceil(v)", v=v)
    assert f <= v < f + 1 and c - 1 < v <= c
    # round: the nearest whole number, a half to the even one (Python's round)
    r = value("round(v)", v=v)
    assert abs(v - r) <= Fraction(1, 2)
    if abs(v - r) == Fraction(1, 2):
        assert r % 2 == 0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ceil(3 * 1.4)", 5),  # 4.2
        ("ceil(2 * 1.1)", 3),  # 2.2
        ("ceil(4 * 1.0)", 4),  # exactly 4: no float error to push it to 5
        ("floor(-2.5)", -3),
        ("round(2.5)", 2),
        ("round(3.5)", 4),
        ("round(-2.5)", -2),
        ("round(2.6)", 3),
    ],
)
def test_ceil_floor_round(text, expected):
    assert value(text) == expected


@settings(max_examples=500, deadline=None)
@given(st.integers(1, 10**7), st.integers(1, 1000), st.sampled_from([1, 3, 8, 16, 32]))
def test_divisible_is_torchvisions_make_divisible_on_fractions(numerator, denominator, d):
    v = Fraction(numerator, denominator)
    assert value("divisible(v, d)", v=v, d=d) == torchvision_make_divisible(v, d)


# EfficientNet's width multipliers (B0-B7) on its channel counts: torchvision computes
# `_make_divisible(c * w, 8)` in floats; none of these lands on a rounding edge.
WIDTHS = ("1.0", "1.1", "1.2", "1.4", "1.6", "1.8", "2.0")
CHANNELS = (16, 24, 32, 40, 80, 112, 192, 320)


@pytest.mark.parametrize("w", WIDTHS)
def test_divisible_of_a_width_multiplier_is_torchvisions(w):
    got = [value(f"divisible({c} * {w}, 8)") for c in CHANNELS]
    assert got == [make_divisible(c * float(w), 8) for c in CHANNELS]


def test_divisible_needs_a_whole_divisor():
    with pytest.raises(ExprError, match=r"needs a whole d >= 1, got 2\.5"):
        value("divisible(32, 2.5)")
    with pytest.raises(ExprError, match="`ceil` takes 1 argument, got 2"):
        value("ceil(1, 2)")


# -- in a network ---------------------------------------------------------------------------------
def test_multipliers_reach_layers_through_blocks():
    g = load("""
        input: 8x8x3
        blocks:
          inner:
            args: v
            layers:
              - repeat: ${ceil(3 * v)}
                layers:
                  - conv f=1 n=${divisible(40 * v, 8)}
          outer:
            args: w d=${w * 2}
            layers: [inner v=$d]
        layers:
          - outer w=1.1
    """)
    # d = 2.2: ceil(6.6) = 7 convs of divisible(88, 8) = 88 channels
    assert [n.shape for n in g.nodes] == [(8, 8, 88)] * 7


def test_a_fraction_for_a_whole_number_is_one_located_message():
    problem = one_problem("""
        input: 8x8x3
        blocks:
          b:
            args: w
            layers:
              - conv f=1 n=${32 * w}
        layers:
          - b w=1.2
    """)
    assert problem.message.startswith(f"`n` must be a whole number, got 38.4: {ROUNDING_HINT}")
    assert (problem.loc.line, problem.loc.col) == (7, 20)  # the `$` of `${32 * w}`


def test_a_fraction_for_a_repeat_count_says_how_to_round():
    problem = one_problem("""
        input: 8x8x3
        blocks:
          b:
            args: d
            layers:
              - repeat: ${2 * d}
                layers: [relu]
        layers:
          - b d=1.1
    """)
    assert problem.message.startswith(f"`repeat` count must be a whole number, got 2.2: {ROUNDING_HINT}")


def test_a_fraction_without_a_decimal_is_written_as_one():
    problem = one_problem("input: 8x8x3\nblocks:\n  b: ['conv f=1 n=${64 / 3}']\nlayers: [b]\n")
    assert problem.message.startswith(f"`n` must be a whole number, got 64/3: {ROUNDING_HINT}")


# -- hostile expressions: bounded, one message ----------------------------------------------------
HOSTILE = [
    ("1e999999", "unexpected `e999999`"),  # no exponents: a name right after a number
    ("9" * 5000, "far too large"),
    ("1." + "0" * 5000 + "1", "too many decimals (at most 18)"),
    ("*".join(["99.5"] * 200), "far too large"),
    ("*".join(["0.5"] * 200), "too fine a fraction"),
    ("/".join(["1"] + ["3"] * 200), "too fine a fraction"),
    ("(" * 5000 + "1" + ")" * 5000, "nested too deep"),
    ("ceil(" * 5000 + "1.5" + ")" * 5000, "nested too deep"),
    ("round(" * 20 + "0.5" + ")" * 20 + "+" * 100_000, "ends too early"),
]


@pytest.mark.parametrize(("text", "message"), HOSTILE, ids=[m for _, m in HOSTILE])
def test_hostile_expressions_are_one_bounded_message(text, message):
    start = time.perf_counter()
    problem = one_problem(f"input: 8x8x3\nblocks:\n  b: ['conv f=1 n=${{{text}}}']\nlayers: [b]\n")
    assert time.perf_counter() - start < 2
    assert message in problem.message
    assert len(problem.message) < 300  # the expression is not repeated in full


def test_a_hostile_argument_value_is_one_message():
    blocks = "input: 8x8x3\nblocks:\n  b:\n    args: w\n    layers:\n      - conv f=1 n=${w}\n"
    problem = one_problem(blocks + f"layers:\n  - b w={'9' * 500}.5\n")
    assert "far too large" in problem.message


def test_the_exact_value_is_what_a_float_would_miss():
    # 100 * 1.1 is 110.00000000000001 in floats: a float's ceil is 111, the exact one 110.
    assert math.ceil(100 * 1.1) == 111
    assert value("ceil(100 * 1.1)") == 110


def test_the_readmes_multiplied_stage():
    snippet = readme_snippet("round as the network's authors did")
    g = cnnctl.load_text("input: 8x8x3\n" + snippet, "readme.yaml")
    # ceil(2 * 1.2) = ceil(2.4) = 3 convs; divisible(40 * 1.1 = 44, 8): (44 + 4) // 8 * 8 = 48, not below 39.6
    assert [n.shape for n in g.nodes] == [(8, 8, 48)] * 3
