"""Messages that say what is wrong rather than the nearest look-alike (issue 22): kinds the
notation does not have, a bare word a pool cannot place, and a block's `from=$src` with the
ids its use gives."""

import pytest

import cnnctl
from cnnctl.errors import CnnctlError
from tests.helpers import run_main


def problems_of(text: str) -> list:
    with pytest.raises(CnnctlError) as info:
        cnnctl.load_text(text, "net.yaml")
    return list(info.value.problems)


def _net(line: str) -> str:
    return f"input: 8x8x3\nlayers:\n  - conv f=1 n=4\n  - {line}\n"


ATTENTION = (
    "cnnctl describes convolutional networks and has no attention layers "
    "(a squeeze-and-excitation's channel gate is `gate:`; SKNet's and ResNeSt's split attention is "
    "`split:` with its `attention:` path)"
)
RESHAPE = "the notation's one reshape is `flatten`, a volume to a vector (`fc` flattens its input itself)"
MATMUL = "a learned matrix product is `fc N` on a vector, or a 1x1 convolution `conv f=1 n=N` at each position"


@pytest.mark.parametrize(
    ("line", "hint", "misleading"),
    [
        ("attention", ATTENTION, "`flatten`"),  # was: did you mean `flatten`?
        ("{attention: {heads: 8}}", ATTENTION, "`flatten`"),
        ("reshape", RESHAPE, "`repeat`"),  # was: did you mean `repeat`?
        ("Reshape 4x4", RESHAPE, "`repeat`"),
        ("matmul", MATMUL, "`mul`"),  # was: did you mean `mul`?
    ],
    ids=["attention", "attention-mapping", "reshape", "Reshape", "matmul"],
)
def test_a_kind_the_notation_lacks_is_said_plainly(line, hint, misleading):
    (problem,) = problems_of(_net(line))
    kind = line.strip("{").split()[0].rstrip(":")
    assert problem.message == f"`{kind}` is not part of cnnctl's notation"
    assert problem.hint == hint
    assert "did you mean" not in problem.hint and misleading not in problem.hint
    assert (problem.loc.line, problem.loc.col) == (4, 5 if line[0] != "{" else 6)


def test_a_block_named_like_a_missing_kind_is_the_block():
    text = "input: 8x8x3\nblocks:\n  attention: [conv f=1 n=2]\nlayers:\n  - attention\n"
    assert cnnctl.load_text(text).output_shape == (8, 8, 2)


def test_the_cli_says_it_in_one_message(tmp_path, monkeypatch, capsys):
    path = tmp_path / "net.yaml"
    path.write_text(_net("matmul"))
    code, out, err = run_main(monkeypatch, capsys, "validate", str(path))
    said = out + err
    assert code == 2 and "Traceback" not in said
    assert f"{path}:4:5: `matmul` is not part of cnnctl's notation" in said and MATMUL in said


def test_a_bare_word_after_the_pools_op_says_op_is_given_and_points_to_out():
    (problem,) = problems_of(_net("pool avg f=6 adaptive"))
    assert problem.message == (
        "unexpected `adaptive` in `pool`: `op`, its one argument without a name, is given already (`avg`); "
        "its flags: `ceil`, `global`, `channels`"
    )
    assert problem.hint == "did you mean `out=...`?"
    assert "takes `op` without a name" not in problem.message
    assert (problem.loc.line, problem.loc.col) == (4, len("  - pool avg f=6 ") + 1)


def test_a_spare_word_in_a_kind_without_positional_arguments():
    (problem,) = problems_of(_net("conv 3 64"))
    assert problem.message == "unexpected `3 64` in `conv`: it takes no argument without a name; its flags: `bias`"


BLOCK = """input: 8x8x3
blocks:
  two:
    args: src
    layers:
      - conv f=1 n=4 id=a
      - conv f=1 n=4 id=b
      - concat from=$src
layers:
  - conv f=1 n=4
  - two src={}
"""


def test_from_an_argument_names_the_ids_its_use_gives():
    (problem,) = problems_of(BLOCK.format("a,nothere"))
    assert problem.message == (
        "no layer with id `nothere` (written `$src`) before this one (in block `two` used at line 11)"
    )
    assert (problem.loc.line, problem.loc.col) == (8, len("      - concat from=") + 1)
    assert problem.layer == "two1.concat1"


def test_from_an_argument_takes_the_ids_its_use_gives():
    graph = cnnctl.load_text(BLOCK.format("a,input"))
    concat = graph.nodes[-1]
    assert [graph.nodes[i].path for i in concat.inputs] == ["two1.a", "conv1"]  # the block's input: conv1
    assert graph.output_shape == (8, 8, 8)


def test_from_an_argument_defined_later_names_it():
    text = BLOCK.replace("concat from=$src", "conv f=1 n=2 from=$src\n      - conv f=1 n=4 id=c").format("c")
    (problem,) = problems_of(text)
    assert problem.message.startswith("`c` (written `$src`) is defined later (line 9)")


def test_from_an_argument_in_a_block_no_use_builds_is_not_looked_up():
    text = BLOCK.replace("  - two src={}\n", "")
    assert len(cnnctl.load_text(text).nodes) == 1
    (problem,) = problems_of(text.replace("from=$src", "from=$srcc"))
    assert problem.message.startswith("block `two` has no argument `srcc`")


ROUNDING = "use ceil(...), floor(...), round(...) or divisible(..., 8)"


@pytest.mark.parametrize(
    ("line", "said"),
    [
        ("conv f=3 s=1.5 n=4", "`s` must be a whole number, got 1.5"),  # was: ...: use ceil(...), ...
        ("upsample 1.5", "`scale` must be a whole number, got 1.5"),
        ("conv f=${3 / 2} n=4", f"`f` must be a whole number, got 1.5: {ROUNDING}"),  # an expression: how to round
    ],
    ids=["stride-written", "upsample-written", "expression"],
)
def test_a_fraction_is_told_to_round_only_where_an_expression_computed_it(line, said):
    (problem,) = problems_of(_net(line))
    assert problem.message == said


def test_a_fraction_through_a_block_argument_is_rounded_in_an_expression():
    text = "input: 8x8x3\nblocks:\n  b:\n    args: expand\n    layers: [conv f=$expand n=2]\nlayers:\n  - b 2.5\n"
    (problem,) = problems_of(text)
    assert problem.message.startswith("`f` must be a whole number, got 2.5: round it in an expression, e.g. ")
    assert "`${round(expand)}` (or ceil" in problem.message


def test_a_fraction_written_as_a_repeat_count_is_not_told_about_expressions():
    (problem,) = problems_of("input: 8x8x3\nlayers:\n  - repeat: 1.5\n    layers: [relu]\n")
    assert problem.message == "`repeat` count must be a whole number, got 1.5"


# -- characters and habits from slides and other tools (a new user's trial) ------------------
@pytest.mark.parametrize(
    ("line", "hint"),
    [
        (
            "conv f=3×3 n=8",
            "write `f=3x3` in ASCII: `×` (U+00D7) is not `x` (a character from a slide or a word "
            "processor); or `f=3`: one number is a square",
        ),
        (
            "leaky −0.1",
            "write `slope=-0.1` in ASCII: `−` (U+2212) is not `-` (a character from a slide or a word processor)",
        ),
        ("fc ５", "write `units=5` in ASCII: `５` (U+FF15) is not `5` (a character from a slide or a word processor)"),
        (
            "conv f=3 n=8 p=“same”",
            "write `p=same` in ASCII: `“` `”` (U+201C, U+201D) are quotes: a value needs "
            "none (a character from a slide or a word processor)",
        ),
        ("conv(f=3, n=8)", "write `conv f=3 n=8`: the arguments follow the kind after spaces, not in `(...)`"),
        # an ASCII colon with no space after it: YAML reads one word, not the mapping form `conv: f=3`
        ("conv:f=3 n=8", "write `conv f=3 n=8`: the arguments follow the kind after spaces, not after `:`"),
        # a full-width colon from an input method: the mapping form's colon, which needs a space after it
        (
            "conv：f=3 n=8",
            "write `conv: f=3 n=8` in ASCII: `：` (U+FF1A) is not `:` (a character from a slide or a word processor)",
        ),
        (
            "ｆｃ 5",
            "write `fc 5` in ASCII: `ｆ` (U+FF46) is not `f`, `ｃ` (U+FF43) is not `c` (a character from a slide "
            "or a word processor)",
        ),
    ],
    ids=["times", "minus", "fullwidth", "quotes", "call", "colon", "fullwidth-colon", "fullwidth-kind"],
)
def test_a_slides_characters_are_named_with_the_ascii_to_write(line, hint):
    (problem,) = problems_of(_net(line))
    assert problem.hint == hint


def test_a_files_aliases_are_one_message_at_the_first_with_their_count():
    # 2 anchors and 3 aliases
    text = "input: 8x8x3\na: &a [relu]\nb: &b [*a, *a]\nlayers: *b\n"
    (problem,) = problems_of(text)
    assert (problem.loc.line, problem.loc.col) == (2, 4)
    assert problem.message.endswith("are not supported (this one and 4 more in the file)")


def test_a_block_argument_declared_twice_and_a_concat_of_one_branch_say_what_to_write():
    twice = "input: 8x8x3\nblocks:\n  b:\n    args: n n\n    layers: [conv f=1 n=$n]\nlayers: [b 4]\n"
    assert problems_of(twice)[0].hint == "declare each argument once (`args: n`); two arguments need two names"
    one = "input: 8x8x3\nlayers:\n  - concat: [conv f=1 n=3]\n"
    assert problems_of(one)[0].hint.startswith("list each branch under `concat:`")


def test_a_blocks_groups_meeting_other_numbers_at_each_use_are_one_message_with_the_groups_that_work():
    """groups=3 on 16, 32 and 8 channels: one mistake of the block's line, told once with the
    lines of its uses; the groups that divide 16 (and n=16) are listed for the first."""
    text = (
        "input: 32x32x16\nblocks:\n  blk:\n    args: n\n    layers: [conv f=3 p=same n=$n groups=3]\n"
        "layers:\n  - repeat: 2\n    layers: [blk 16]\n  - blk 32\n  - blk 8\n"
    )
    (problem,) = problems_of(text)
    assert problem.message == (
        "groups=3 must divide both the input channels and n (in block `blk` used at lines 8, 9, 10)"
    )
    assert problem.hint == (
        "at line 8: groups that divide 16: 1, 2, 4, 8, 16; depthwise convolution is groups = input channels = n"
    )
    alone = problems_of("input: 8x8x12\nlayers:\n  - conv f=1 n=18 groups=4\n")
    assert alone[0].hint.startswith("groups that divide both 12 and 18: 1, 2, 3, 6;")
