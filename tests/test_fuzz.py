"""Whatever text a user gives, the loader returns a graph or raises CnnctlError: nothing else.

Random text, random YAML structures of layers and constructs, and random arguments for
every layer kind on random input shapes. Any other exception (or a hang) is a bug.
"""

from __future__ import annotations

import os
import re

import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import cnnctl
from cnnctl import CnnctlError
from cnnctl.layers import KINDS
from cnnctl.limits import MAX_PROBLEMS, MAX_VALUES
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


@FUZZ
@given(
    block=st.fixed_dictionaries(
        {}, optional={"args": st.sampled_from(["n", "n s=1", "", "x y"]), "layers": st.lists(LAYER, max_size=2)}
    ),
    count=st.one_of(st.integers(0, 2), st.sampled_from(["$n", "x", "-1"])),
    first=st.dictionaries(KEYS, VALUES, max_size=2),
    use=st.sampled_from(["b", "b n=4", "b 4 s=2", "b zz=1", "conv f=1 n=4"]),
)
def test_random_blocks_repeated_with_first(block, count, first, use):
    """A repeat's `first:` over a block with `args:` and no `layers:` ended in KeyError, the
    fuzz trial's only crash; any block, count and `first:` gets a graph or located problems."""
    doc = {"input": "8x8x3", "blocks": {"b": block}, "layers": [{"repeat": count, "layers": [use], "first": first}]}
    load_or_refuse(yaml.safe_dump(doc, sort_keys=False))


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


# -- a list that never runs tells what it would tell running ---------------------------------
# Lines whose mistakes are all of the line itself (a value, a name, a reference, a count of
# inputs), none of shape: every layer here keeps an 8x8x4 input 8x8x4.
SHAPELESS = [
    *["conv f=1 n=4", "conv f=1 n=4 act=rleu", "conv f=abc n=4", "conv f=1 n=0", "conv f=1", "conv f=1 n=4 nn=3"],
    *["conv f=1 n=4 id=a", "conv f=1 n=4 id=b", "conv f=1 n=4 from=b", "conv f=1 n=4 from=a,b", "bn act=relu"],
    *["relu", "add with=a", "add with=nosuch", "add", "add act=rleu", "dropout 1.5", "convv f=1", "pool max f=1"],
    *["conv f=1 n=4 s=0 act=rleu zz=1", "conv f=1 n=4 from=input", "b", "b from=a,input", "b zz=1"],
    *["d n=4", "d n=0", "d n=abc", "d", "d 4 act=rleu", "d act=gelu"],
]
FIRSTS = st.sampled_from([{}, {"n": "4"}, {"zz": "1"}, {"act": "rleu"}, {"f": "0"}])


REFS = st.sampled_from([{}, {}, {"id": "a"}, {"id": "b"}, {"from": "b"}, {"from": "nosuch"}, {"from": "a,input"}])


def shapeless_composite(children):
    body = st.lists(children, min_size=1, max_size=3)
    return st.tuples(
        st.one_of(
            st.tuples(st.integers(0, 2), body, FIRSTS).map(
                lambda t: {"repeat": t[0], "layers": t[1], **({"first": t[2]} if t[2] else {})}
            ),
            body.map(lambda b: {"residual": b}),
            body.map(lambda b: {"gate": b}),
            st.lists(body, min_size=2, max_size=2).map(lambda b: {"add": b}),
        ),
        REFS,
    ).map(lambda t: {**t[0], **t[1]})  # the construct's key first


SHAPELESS_ITEMS = st.recursive(st.sampled_from(SHAPELESS), shapeless_composite, max_leaves=8)
BLOCK_B = {  # used or not, their mistakes are told: `b`'s whatever the use, `d`'s with some arguments
    "b": ["conv f=1 n=4", "bn act=rleu"],
    "d": {"args": "n act=relu", "layers": ["conv f=1 n=$n act=$act", "conv f=1 n=${n * 1} groups=${4 // n}"]},
}


USES = re.compile(r" used at lines? [\d, ]+(?: and [\d,]+ more)?\)$")  # a block's uses, in a message


def problems(doc: dict) -> list[tuple]:
    """Every problem of a network, as (line, column, message), without the block-use suffix
    (`used at line N`, or `lines N, M` where several uses meet it, names a use an unused block
    does not have). Not a network with more problems than are told: which are told first then
    depends on the order they are met."""
    try:
        cnnctl.load_text(yaml.safe_dump(doc, sort_keys=False), "net.yaml")
    except CnnctlError as exc:
        assume(len(exc.problems) < MAX_PROBLEMS)
        return sorted({(p.loc.line, p.loc.col, USES.sub(")", p.message)) for p in exc.problems})
    return []


@FUZZ
@given(body=st.lists(SHAPELESS_ITEMS, min_size=1, max_size=4), first=FIRSTS)
def test_a_repeat_that_never_runs_tells_what_two_passes_tell(body, first):
    """`repeat: 0` used to check nothing; its body is now checked as far as no input is
    needed, which for lines without shapes is everything a run would check."""
    repeat = {"repeat": 0, "layers": body, **({"first": first} if first else {})}
    doc = {"input": "8x8x4", "blocks": BLOCK_B, "layers": ["conv f=1 n=4 id=a", repeat]}
    never = problems(doc)
    repeat["repeat"] = 2
    assert never == problems(doc)


@FUZZ
@given(body=st.lists(SHAPELESS_ITEMS, min_size=1, max_size=4))
def test_a_block_nothing_uses_tells_what_a_use_tells(body):
    used = {"input": "8x8x4", "blocks": {"c": body, **BLOCK_B}, "layers": ["conv f=1 n=4", "c", "b"]}
    unused = {**used, "layers": ["conv f=1 n=4"]}
    assert problems(unused) == problems(used)
