"""Whatever text a user gives, the loader returns a graph or raises CnnctlError: nothing else.

Random text, random YAML structures of layers and constructs, and random arguments for
every layer kind on random input shapes. Any other exception (or a hang) is a bug.
"""

from __future__ import annotations

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cnnctl
from cnnctl import CnnctlError
from cnnctl.layers import KINDS

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def load_or_refuse(text: str) -> None:
    try:
        graph = cnnctl.load_text(text, "fuzz.yaml")
    except CnnctlError as exc:
        assert exc.problems and all(p.message for p in exc.problems)
        return
    assert graph.nodes
    for node in graph.nodes:
        assert all(d >= 1 for d in node.shape), node
        assert node.params >= 0 and node.mults >= 0 and node.flops >= 0, node


# -- building blocks of random networks ------------------------------------------------------
NUMBERS = st.one_of(
    st.integers(-3, 20),
    st.sampled_from([0, -1, 2**31 - 1, 2**31, 10**12, 10**40]),
    st.integers(),
).map(str)
FLOATS = st.sampled_from(["0", "0.5", "1", "-0.1", "1e309", "nan", "inf", "1e-400", ".", "0x10"])
SHAPES = st.one_of(
    st.tuples(st.integers(0, 300), st.integers(0, 300), st.integers(0, 64)).map(lambda t: "x".join(map(str, t))),
    st.tuples(NUMBERS, NUMBERS).map("x".join),
    st.sampled_from(["3x224x224", "28x28", "224x224x3", "abc", "", "1x1x1", "x", "2x2x2x2", "１x2x3"]),
)
WORDS = st.sampled_from(
    [*KINDS, "pol", "maxpool", "dense", "conv2d", "block", "repeat", "residual", "$n", "${n*2}", "${", "=", "x"]
)
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
