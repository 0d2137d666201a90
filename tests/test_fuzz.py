"""Whatever text a user gives, the loader returns a graph or raises CnnctlError: nothing else.

Random text, random YAML structures of layers and constructs, and random arguments for
every layer kind on random input shapes. Any other exception (or a hang) is a bug.
"""

from __future__ import annotations

import os

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cnnctl
from cnnctl import CnnctlError
from cnnctl.layers import KINDS
from cnnctl.limits import MAX_VALUES
from cnnctl.shapes import numel

FUZZ = settings(
    max_examples=int(os.environ.get("CNNCTL_FUZZ_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def load_or_refuse(text: str) -> None:
    try:
        graph = cnnctl.load_text(text, "fuzz.yaml")
    except CnnctlError as exc:
        assert exc.problems and all(p.message for p in exc.problems)
        # Every problem names the file and a line (but the last, when it says reading stopped).
        told = exc.problems[:-1] if "stopped after" in exc.problems[-1].message else exc.problems
        assert all(p.loc and p.loc.file == "fuzz.yaml" and p.loc.line >= 1 for p in told), exc.problems
        return
    assert graph.nodes
    for node in graph.nodes:
        assert all(d >= 1 for d in node.shape), node
        assert node.params >= 0 and node.mults >= 0 and node.flops >= 0, node
        assert numel(node.shape) <= MAX_VALUES and node.params <= MAX_VALUES, node  # bounded, as the input is


# -- building blocks of random networks ------------------------------------------------------
NUMBERS = st.one_of(
    st.integers(-3, 20),
    st.sampled_from([0, -1, 2**31 - 1, 2**31, 10**12, 10**40, 100_000]),
    st.integers(),
).map(str) | st.sampled_from(["--3", "+-3", "-+0", "++1", "+3", "- 3"])  # doubled signs crashed parse_int
FLOATS = st.sampled_from(["0", "0.5", "1", "-0.1", "1e309", "nan", "inf", "1e-400", ".", "0x10"])
SHAPES = st.one_of(
    st.tuples(st.integers(0, 300), st.integers(0, 300), st.integers(0, 64)).map(lambda t: "x".join(map(str, t))),
    st.tuples(NUMBERS, NUMBERS).map("x".join),
    st.sampled_from(["3x224x224", "28x28", "224x224x3", "abc", "", "1x1x1", "x", "2x2x2x2", "１x2x3"]),
)
WORDS = st.sampled_from(
    [*KINDS, "pol", "maxpool", "dense", "conv2d", "block", "repeat", "residual", "$n", "${n*2}", "${", "=", "x"]
    + ["upsample 100000", "fc 2147483647", "conv f=1 n=2147483647"]  # sizes that multiply past any bound
)
TAGS = ["!!python/object/apply:os.system ", "!!str ", "!conv ", "! ", "!!binary ", "!<tag:x> "]
KEYS = st.sampled_from(
    ["f", "s", "p", "n", "act", "bias", "groups", "dilation", "units", "rate", "op", "ceil", "global", "scale"]
    + ["slope", "size", "alpha", "beta", "k", "eps", "id", "from", "with", "kernel", "stride", "", "$x"]
)
VALUES = st.one_of(
    NUMBERS,
    FLOATS,
    SHAPES,
    st.sampled_from(["same", "valid", "relu", "rleu", "max", "avg", "true", "maybe", "a", "a,b", "input", "$n"]),
    st.sampled_from(["${n/3}", "${n*}", "${n // 0}", "${" + "-" * 500 + "1}", "${((((1))))}", "$"]),
)
ARG = st.one_of(st.tuples(KEYS, VALUES).map("=".join), VALUES, WORDS)
LAYER = st.tuples(WORDS, st.lists(ARG, max_size=5)).map(lambda t: " ".join([t[0], *t[1]]))


def composite(children):
    body = st.lists(children, min_size=0, max_size=3)
    return st.one_of(
        st.fixed_dictionaries({"repeat": st.one_of(st.integers(-2, 4), NUMBERS), "layers": body}),
        st.fixed_dictionaries({"residual": body}, optional={"shortcut": st.sampled_from(["projection", "x"])}),
        st.fixed_dictionaries({"concat": st.lists(body, max_size=3)}),
        st.fixed_dictionaries({"add": st.lists(body, max_size=3)}, optional={"act": st.just("relu")}),
        st.dictionaries(WORDS, st.one_of(VALUES, st.dictionaries(KEYS, VALUES, max_size=3)), max_size=2),
        body,
    )


ITEMS = st.recursive(LAYER, composite, max_leaves=12)

# Mostly well-formed networks, so that the builder's shape rules run, not only the parser's.
PLAUSIBLE_VALUES = st.one_of(
    st.integers(1, 5).map(str),
    st.sampled_from(["same", "valid", "true", "false", "0.5", "0.01", "1x3", "0", "2x1"]),
)


@st.composite
def plausible_layer(draw) -> str:
    kind = draw(st.sampled_from(sorted(KINDS)))
    words = [kind]
    for arg in KINDS[kind].args:
        if arg.required or draw(st.integers(0, 3)) == 3:
            fitting = st.sampled_from(arg.type.words) if arg.type.words else PLAUSIBLE_VALUES
            value = draw(fitting if draw(st.integers(0, 9)) < 9 else VALUES)  # mostly a value that fits
            words.append(f"{arg.name}={value}")
    if kind in ("add", "concat") or draw(st.integers(0, 19)) == 19:
        words.append(draw(st.sampled_from(["with=a", "from=a", "from=a,input", "with=input", "id=b"])))
    return " ".join(words)


def plausible_composite(children):
    body = st.lists(children, min_size=1, max_size=3)
    return st.one_of(
        st.tuples(st.integers(1, 3), body).map(lambda t: {"repeat": t[0], "layers": t[1]}),
        st.tuples(body, st.sampled_from(["identity", "projection"])).map(
            lambda t: {"residual": t[0], "shortcut": t[1]}  # the construct's key first
        ),
        st.fixed_dictionaries({"concat": st.lists(body, min_size=2, max_size=3)}),
        st.fixed_dictionaries({"add": st.lists(body, min_size=2, max_size=3)}),
    )


PLAUSIBLE_ITEMS = st.recursive(plausible_layer(), plausible_composite, max_leaves=10)


@st.composite
def plausible_networks(draw) -> str:
    h, w, c = draw(st.tuples(st.integers(1, 64), st.integers(1, 64), st.integers(1, 8)))
    layers = ["conv f=1 n=4 id=a", *draw(st.lists(PLAUSIBLE_ITEMS, min_size=1, max_size=6))]
    return yaml.safe_dump({"input": f"{h}x{w}x{c}", "layers": layers}, sort_keys=False)


@st.composite
def networks(draw) -> str:
    doc: dict = {}
    if draw(st.integers(0, 9)):  # mostly present; sometimes missing
        doc["input"] = draw(SHAPES)
    if draw(st.booleans()):
        doc["blocks"] = {
            draw(st.sampled_from(["b", "block", "stage"])): {
                "args": draw(st.sampled_from(["n", "n s=1", "", "x y"])),
                "layers": draw(st.lists(ITEMS, max_size=3)),
            }
        }
    doc["layers"] = draw(st.lists(ITEMS, max_size=6))
    if draw(st.integers(0, 9)) == 0:
        doc[draw(st.sampled_from(["version", "layer", "train", "inputs"]))] = draw(VALUES)
    return yaml.safe_dump(doc, sort_keys=False)


# -- the properties --------------------------------------------------------------------------
@FUZZ
@given(st.text(max_size=300))
def test_random_text(text):
    load_or_refuse(text)


@FUZZ
@given(
    st.lists(
        st.one_of(
            st.sampled_from(["input: ", "layers:", "\n", "  - ", "- ", ": ", "[", "]", "{", "}", "&a ", "*a", "\t"]),
            st.sampled_from(["blocks:", "repeat: ", "residual:", "concat:", "#", "'", '"', "\x00", "\ufeff"]),
            st.sampled_from(TAGS),
            WORDS,
            ARG,
        ),
        max_size=40,
    ).map("".join)
)
def test_random_yamlish_text(text):
    load_or_refuse(text)


@FUZZ
@given(networks())
def test_random_networks(text):
    load_or_refuse(text)


@FUZZ
@given(plausible_networks())
def test_plausible_networks(text):
    load_or_refuse(text)


@FUZZ
@given(
    kind=st.sampled_from(sorted(KINDS)),
    shape=st.tuples(st.integers(1, 64), st.integers(1, 64), st.integers(1, 16)),
    vector_first=st.booleans(),
    args=st.data(),
)
def test_random_arguments_per_kind(kind, shape, vector_first, args):
    """Every layer kind, each of its arguments given a random (often wrong) value."""
    written = []
    for arg in KINDS[kind].args:
        if args.draw(st.booleans(), label=f"give {arg.name}"):
            written.append(f"{arg.name}={args.draw(VALUES, label=arg.name)}")
    h, w, c = shape
    before = "  - fc 10\n" if vector_first else ""
    extra = "  - conv f=1 n=4 id=a\n" if kind in ("add", "concat") else ""
    with_ = " with=a" if extra else ""
    text = f"input: {h}x{w}x{c}\nlayers:\n{before}{extra}  - {kind} {' '.join(written)}{with_}\n"
    load_or_refuse(text)


VALID = (
    "input: 16x16x3\nlayers:\n  - conv f=3 n=4 act=relu\n  - repeat: 2\n    layers: [bn]\n  - fc 10\n"
    "train:\n  epochs: 2\n"
)
SLOTS = [i + 2 for i in range(len(VALID) - 1) if VALID[i : i + 2] in (": ", "- ")]


@FUZZ
@given(st.sampled_from(SLOTS), st.sampled_from(TAGS))
def test_a_tag_anywhere_is_refused_where_it_is(slot, tag):
    """A tag never passes silently (it used to on `input:`), and its message points at it."""
    text = VALID[:slot] + tag + VALID[slot:]
    try:
        cnnctl.load_text(text, "tagged.yaml")
    except CnnctlError as exc:
        line = text.count("\n", 0, slot) + 1
        assert any("YAML tag" in p.message and p.loc.line == line for p in exc.problems), exc
    else:
        raise AssertionError(f"accepted a tag: {text!r}")
