"""One run reports every problem of a file, and warnings say what is odd but not wrong."""

import pytest

import cnnctl
from cnnctl import CnnctlError

SEVERAL = """\
input: 32x32x3
layers:
  - conv f=3 n=8 act=rleu
  - conv f=3 n=8 p=-1
  - pool max f=2
  - fc 10 with=nothere
"""


def test_every_independent_problem_is_reported_in_one_run():
    with pytest.raises(CnnctlError) as info:
        cnnctl.load_text(SEVERAL, "several.yaml")
    lines = sorted(p.loc.line for p in info.value.problems)
    # line 3: bad activation; line 4: negative padding; line 6: unknown reference.
    # Line 5 is fine; its shape is unknown after the failures and is not blamed.
    assert lines == [3, 4, 6]


def test_a_repeated_mistake_is_reported_once():
    text = "input: 8x8x3\nlayers:\n  - repeat: 50\n    layers: [conv f=3 p=same n=0]\n"
    with pytest.raises(CnnctlError) as info:
        cnnctl.load_text(text)
    assert len(info.value.problems) == 1
    assert "at least 1" in info.value.problems[0].message


def test_a_flood_of_problems_stops_at_a_limit():
    text = "input: 8x8x3\nlayers:\n" + "".join(f"  - conv f=3 n=8 act=bad{i}\n" for i in range(100))
    with pytest.raises(CnnctlError) as info:
        cnnctl.load_text(text)
    assert 20 <= len(info.value.problems) <= 40
    assert "stopped after" in info.value.problems[-1].message


def test_an_error_inside_a_block_names_where_the_block_is_used():
    text = (
        "input: 32x32x3\nblocks:\n  b:\n    args: n\n    layers: [conv f=3 p=1 n=$n, add with=input]\n"
        "layers:\n  - b 3\n  - b 8\n"
    )
    with pytest.raises(CnnctlError) as info:
        cnnctl.load_text(text, "net.yaml")
    (problem,) = info.value.problems
    assert problem.loc.line == 5  # where the add is written
    assert "(in block `b` used at line 8)" in problem.message  # and which use broke it
    assert "32x32x8" in problem.message and "32x32x3" in problem.message


def test_an_output_nobody_uses_is_a_warning():
    text = (
        "input: 32x32x3\nlayers:\n  - conv f=3 p=same n=8 id=skip\n  - conv f=3 p=same n=8\n  - conv f=3 p=same n=8\n"
    )
    graph = cnnctl.load_text(text)
    assert graph.warnings == ()  # a plain chain uses every output
    forgotten = text + "  - conv f=3 p=same n=8 from=skip\n"
    graph = cnnctl.load_text(forgotten)
    (warning,) = graph.warnings
    # `skip` (the id names it), conv1, conv2, then conv3 takes `skip`: conv2's output goes nowhere.
    assert warning.layer == "conv2" and "never used" in warning.message


def test_warnings_are_labelled_as_warnings():
    graph = cnnctl.load_text("input: 7x7x3\nlayers: [conv f=2 p=same n=4]\n")
    (warning,) = graph.warnings
    assert warning.format("warning").startswith("warning: ")
    assert "pads 0 top, 1 bottom" in warning.message


def test_control_characters_from_a_file_are_escaped_in_messages():
    with pytest.raises(CnnctlError) as info:
        cnnctl.load_text('input: 8x8x3\nlayers:\n  - "\\e[2Jconv f=3 n=8"\n')
    text = str(info.value)
    assert "\x1b" not in text and "\\x1b" in text
