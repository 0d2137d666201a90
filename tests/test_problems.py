"""One run reports every problem of a file, and warnings say what is odd but not wrong."""

import json
from pathlib import Path

import pytest
from helpers import EXAMPLES, run_main

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


def test_the_same_line_written_again_is_located_at_each_place(monkeypatch):
    """A line met again is not read again (its first reading is moved to the new place):
    each copy's mistake must still point at its own line and column."""
    text = 'input: 8x8x3\nlayers:\n  - conv f=3 n=0\n  - conv f=3 n=0\n  -   conv f=3 n=0\n  - "conv f=3 n=0"\n'
    lines = text.splitlines()
    expected = [(i + 1, lines[i].index("n=0") + 3) for i in range(2, 6)]  # the value after `n=`
    for _ in range(2):  # and again in a second file: lines read before are kept across files
        with pytest.raises(CnnctlError) as info:
            cnnctl.load_text(text)
        assert [(p.loc.line, p.loc.col) for p in info.value.problems] == expected
        assert [p.layer for p in info.value.problems] == ["conv1", "conv2", "conv3", "conv4"]


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


def rows_no_window_reads(n: int, span: int, s: int, before: int, out: int) -> int:
    """The input rows after the last one any of `out` windows reads, window by window."""
    read = {row for i in range(out) for row in range(i * s - before, i * s - before + span) if 0 <= row < n}
    return n - 1 - max(read)


def test_a_stride_that_leaves_the_last_rows_out_is_a_warning_at_its_line(monkeypatch, capsys, tmp_path):
    text = "input: 8x8x1\nlayers:\n  - conv f=3 s=2 n=4\n  - pool max f=2 s=2\n  - fc 10\n"
    graph = cnnctl.load_text(text, "b02.yaml")
    conv, pool = graph.warnings  # (8 - 3)/2 = 2.5: 3x3, row 7 unread; (3 - 2)/2 = 0.5: 1x1, row 2 unread
    assert (conv.layer, str(conv.loc)) == ("conv1", "b02.yaml:3:5")
    assert conv.message.startswith("leaves out the last row and column of its 8x8 input: (8 - 3) / 2 is not whole")
    assert (pool.layer, pool.loc.line) == ("pool1", 4)
    assert pool.message.startswith("leaves out the last row and column of its 3x3 input: (3 - 2) / 2 is not whole")
    # a warning, not an error: summarize exits 0 and JSON lists it with its place
    path = tmp_path / "b02.yaml"
    path.write_text(text)
    code, out, _ = run_main(monkeypatch, capsys, "summarize", str(path), "--format", "json")
    assert code == 0
    places = [(w["file"], w["line"], w["column"], w["layer"]) for w in json.loads(out)["warnings"]]
    assert places == [(str(path), 3, 5, "conv1"), (str(path), 4, 5, "pool1")]


@pytest.mark.parametrize(
    "command",
    [["summarize"], ["flops"], ["memory"], ["draw", "-o", "n.dot"], ["compare", "lenet5"], ["export", "-o", "n.py"]],
)
def test_every_analysis_commands_json_gives_the_warnings_as_validate_gives_a_problem(
    command, tmp_path, monkeypatch, capsys
):
    # summarize gave them as pre-formatted strings; flops, memory, compare and draw not at all
    monkeypatch.chdir(tmp_path)
    (tmp_path / "w.yaml").write_text("input: 8x8x1\nlayers:\n  - conv f=3 s=2 n=4\n  - fc 3\n")  # (8 - 3) / 2
    name, *rest = command
    code, out, _ = run_main(monkeypatch, capsys, name, "w.yaml", *rest, "--format", "json")
    assert code == 0
    code, checked, _ = run_main(monkeypatch, capsys, "validate", "w.yaml", "--format", "json")
    (details,) = [f["details"] for f in json.loads(checked)["files"]]
    assert json.loads(out)["warnings"] == details  # one structure: file, line, column, layer, message, hint
    assert [(w["file"], w["line"], w["column"], w["layer"]) for w in details] == [("w.yaml", 3, 5, "conv1")]


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("input: 9x8x1\nlayers: [conv f=3 s=2 n=1]", "the last column of its 9x8 input: (8 - 3) / 2 is not whole"),
        ("input: 14x14x1\nlayers: [conv f=4 s=4 n=1]", "the last 2 rows and columns of its 14x14 input"),
        (
            "input: 10x11x1\nlayers: [pool avg f=3]",
            "the last row and the last 2 columns of its 10x11 input: (10 - 3) / 3 and (11 - 3) / 3 are not whole",
        ),  # fmt: skip
    ],
)
def test_the_rows_left_out_are_named_per_axis(text, said):
    (warning,) = cnnctl.load_text(text).warnings
    assert said in warning.message


@pytest.mark.parametrize(
    "text",
    [
        "input: 224x224x3\nlayers: [conv f=7 s=2 p=3 n=64, pool max f=3 s=2 p=1]",  # ResNet: only padding left out
        "input: 56x56x64\nlayers: [conv f=1 s=2 n=128]",  # a stride wider than the window skips rows anyway
        "input: 227x227x3\nlayers: [conv f=11 s=4 n=96, pool max f=3 s=2]",  # AlexNet: (227 - 11) / 4 = 54
        "input: 112x112x64\nlayers: [pool max f=3 s=2 ceil]",  # GoogLeNet: ceil reads them all
        "input: 10x10x3\nlayers: [conv f=3 s=3 p=same n=4, pool max f=3 p=same]",  # `same` pads to reach them
    ],
)
def test_no_warning_where_every_input_row_is_read(text):
    assert cnnctl.load_text(text).warnings == ()


def test_the_rows_left_out_are_those_no_window_reads():
    # every small case, checked window by window: a warning exactly where the unread rows are
    # more than the gap a stride wider than the window leaves between windows anyway
    windows = [(f, s, p) for f in (1, 2, 3, 4) for s in (1, 2, 3) for p in range(f // 2 + 1)]
    cases = [(f"conv f={f} s={s} p={p} n=1 dilation={d}", d * (f - 1) + 1, s, p) for f, s, p in windows for d in (1, 2)]
    cases += [(f"pool max f={f} s={s} p={p}{ceil}", f, s, p) for f, s, p in windows for ceil in ("", " ceil")]
    for n in range(1, 13):
        for written, span, s, p in cases:
            if span > n + 2 * p:
                continue
            graph = cnnctl.load_text(f"input: {n}x{n}x1\nlayers: [{written}]")
            unread = rows_no_window_reads(n, span, s, p, graph.nodes[0].shape[0])
            expected = unread > max(0, s - span)
            told = [w for w in graph.warnings if " grows " not in w.message]  # padding that grows the map: its own
            assert bool(told) == expected, (n, written, unread)
            if expected:
                words = "row and column" if unread == 1 else f"{unread} rows and columns"
                assert f"the last {words} of its {n}x{n} input" in told[0].message


def test_control_characters_from_a_file_are_escaped_in_messages():
    with pytest.raises(CnnctlError) as info:
        cnnctl.load_text('input: 8x8x3\nlayers:\n  - "\\e[2Jconv f=3 n=8"\n')
    text = str(info.value)
    assert "\x1b" not in text and "\\x1b" in text


# Invisible characters by Unicode's categories: format (Cf), line and paragraph separators (Zl, Zp)
INVISIBLE = {"\u200b": "\\u200b", "\u202e": "\\u202e", "\ufeff": "\\ufeff", "\u00ad": "\\u00ad",
             "\u2028": "\\u2028", "\u2029": "\\u2029", "\U000e0041": "\\U000e0041"}  # fmt: skip


def test_invisible_characters_are_escaped_and_letters_of_any_script_are_not():
    from cnnctl.errors import printable

    for char, written in INVISIBLE.items():
        assert printable(f"a{char}b") == f"a{written}b"
    for text in ("résumé", "日本語", "Ελληνικά", "עברית", "العربية", "हिन्दी", "a b"):
        assert printable(text) == text


def test_a_zero_width_space_in_a_name_does_not_reach_the_terminal(tmp_path, monkeypatch, capsys):
    # U+202E and U+0085 were escaped, U+200B between them went to the terminal as it was
    name = 'name: "abc\\u202edcba\\u200b\\u0085next"\n'  # in YAML's escapes, as the trial's file wrote them
    (tmp_path / "bidi.yaml").write_text(name + "input: 28x28x1\nlayers:\n  - fc 10\n")
    code, out, err = run_main(monkeypatch, capsys, "summarize", str(tmp_path / "bidi.yaml"))
    assert code == 0, err
    assert "abc\\u202edcba\\u200b\\x85next" in out
    assert not any(c in out for c in "\u202e\u200b\x85")


def test_a_network_too_large_is_refused_before_any_layer_is_built(monkeypatch):
    # 100 uses of a block of `repeat: 3000`: 300,000 layers. Counted first, none built.
    from cnnctl.graph.build import Builder

    built = []
    monkeypatch.setattr(Builder, "add_node", lambda self, *a, **k: built.append(a) or 0)
    text = "input: 8x8x3\nblocks:\n  b:\n    args: n\n    layers:\n      - repeat: $n\n        layers: [bn]\n"
    text += "layers:\n" + "  - b 3000\n" * 100
    with pytest.raises(CnnctlError) as info:
        cnnctl.load_text(text)
    assert built == []
    (problem,) = info.value.problems
    assert "at least 300,000 layers" in problem.message and problem.loc.line == 9


@pytest.mark.parametrize(
    "name", ["resnet18", "resnet152", "googlenet", "vgg16", "resnest50d", "skresnet18", "rexnet_100"]
)
def test_the_count_before_building_is_exact_for_real_networks(name):
    from cnnctl.catalog import bundled
    from cnnctl.graph.build import Builder
    from cnnctl.notation.parse import parse_file_text

    path = Path(bundled()[name])
    spec = parse_file_text(path.read_text(), str(path))
    builder = Builder(spec, (224, 224, 3))
    assert builder.least_layers(spec.layers, None) == len(cnnctl.load(name).nodes)


def test_a_list_longer_than_the_layer_limit_is_refused_before_parsing(monkeypatch):
    # 700,000 lines of `- bn` took 14 s to parse before the layer limit refused them.
    from cnnctl.notation import parse

    monkeypatch.setattr(parse._Parser, "item", lambda *a: pytest.fail("an item was parsed"))
    text = "input: 8x8x3\nlayers:\n" + "  - bn\n" * 250_001
    with pytest.raises(CnnctlError) as info:
        cnnctl.load_text(text, "long.yaml")
    (problem,) = info.value.problems
    assert "a list of more than 250,000 items" in problem.message and problem.loc.line == 3


def test_a_flood_of_misspelt_kinds_stops_at_the_limit_while_parsing():
    # 200,000 lines of `- convv f=3` printed 400,000 lines (18 MB) before the parser stopped.
    text = "input: 8x8x3\nlayers:\n" + "  - convv f=3\n" * 1000
    with pytest.raises(CnnctlError) as info:
        cnnctl.load_text(text, "flood.yaml")
    problems = info.value.problems
    assert len(problems) == 31 and "stopped after 30 problems" in problems[-1].message
    assert [p.loc.line for p in problems[:-1]] == list(range(3, 33))  # the first 30, in order


def test_a_flood_of_unknown_training_settings_stops_at_the_limit():
    from cnnctl.train.config import resolve_config

    text = "input: 8x8x3\nlayers: [fc 2]\ntrain:\n" + "".join(f"  k{i}: 1\n" for i in range(1000))
    graph = cnnctl.load_text(text, "train.yaml")
    with pytest.raises(CnnctlError) as info:
        resolve_config(graph.train, {})
    problems = info.value.problems
    assert len(problems) == 31 and "stopped after 30 problems" in problems[-1].message
    assert problems[0].message == "unknown training setting `k0`" and problems[0].loc.line == 4


def test_anchors_and_tags_are_all_reported_in_one_run():
    text = "input: !!str 8x8x3\nlayers:\n  - &a conv f=3 n=4\n  - *a\n  - !relu relu\n"
    with pytest.raises(CnnctlError) as info:
        cnnctl.load_text(text, "yaml.yaml")
    found = [(p.loc.line, p.message.split(" ")[1]) for p in info.value.problems]
    # each tag where it is; the anchors and aliases once, at the first, counted (a bomb has dozens)
    assert found == [(1, "tag"), (3, "anchors"), (5, "tag")]
    assert info.value.problems[1].message.endswith("(this one and 1 more in the file)")


def test_a_hint_is_found_among_many_names_and_long_words_get_none():
    from cnnctl.errors import did_you_mean

    # 100,000 names of other lengths are not compared; the one of a similar length is found.
    assert did_you_mean("rleu", ["x" * 30] * 100_000 + ["relu"]) == "did you mean `relu`?"
    assert did_you_mean("b" * 1000, ["b" * 999 + "c"]) is None  # not compared: too long to be a typo


def test_reading_a_file_leaves_the_garbage_collector_as_it_was():
    import gc

    assert gc.isenabled()
    with pytest.raises(CnnctlError):
        cnnctl.load_text("input: 8x8x3\nlayers: [convv]\n")
    assert gc.isenabled()
    cnnctl.load("lenet5")
    assert gc.isenabled()


def test_a_file_name_with_a_newline_stays_on_the_messages_line():
    from cnnctl.errors import Loc, Problem

    text = Problem("bad", Loc("a\nb.yaml", 3, 1)).format()
    assert text == "error: a\\nb.yaml:3:1: bad"


def test_a_mistake_the_parser_finds_does_not_hide_the_others():
    # An unknown argument name (line 4) and an unknown kind (line 5) used to stop the run before
    # the value errors of lines 3 and 6 were looked for; the README promises every problem.
    text = (
        "input: 8x8x3\nlayers:\n  - conv f=3 n=8 act=rleu\n  - conv f=3 n=8 stride=2\n"
        "  - convv f=3 id=c\n  - conv f=3 n=0\n  - add with=c\n"
    )
    with pytest.raises(CnnctlError) as info:
        cnnctl.load_text(text, "net.yaml")
    found = [(p.loc.line, p.message) for p in info.value.problems]
    assert [line for line, _ in found] == [3, 4, 5, 6]  # in the file's order, and `with=c` finds its layer
    assert "`rleu`" in found[0][1] and "`stride`" in found[1][1] and "`convv`" in found[2][1]
    assert "at least 1, got 0" in found[3][1]


def problems_of(text: str, file: str = "net.yaml") -> list:
    with pytest.raises(CnnctlError) as info:
        cnnctl.load_text(text, file)
    return list(info.value.problems)


def column(line: str, word: str) -> int:
    """The 1-based column where `word` starts on `line`, as an editor shows it."""
    return line.index(word) + 1


@pytest.mark.parametrize(
    "line",
    [
        "  - conv f=3 nn=8 act=rleu s=0",
        "  - {conv: {f: 3, nn: 8, act: rleu, s: 0}}",
    ],
)
def test_every_problem_of_one_layer_line_is_told_at_its_own_column(line):
    # One unknown argument used to hide the bad activation and the zero stride beside it.
    found = problems_of(f"input: 8x8x3\nlayers:\n{line}\n")
    assert [(p.loc.line, p.loc.col) for p in found] == [
        (3, column(line, "nn")),
        (3, column(line, "rleu")),
        (3, line.rindex("0") + 1),  # the value of `s`
    ]
    assert "has no argument `nn`" in found[0].message and found[0].hint == "did you mean `n`?"
    assert "`act`" in found[1].message and found[1].hint == "did you mean `relu`?"
    assert "`s` must be at least 1, got 0" in found[2].message
    assert not any("needs `n`" in p.message for p in found)  # `nn` was surely meant as `n`: not told twice


def test_a_line_with_a_bad_reference_still_has_its_values_and_required_arguments_checked():
    line = "  - conv f=abc act=rleu from=nosuch"
    found = problems_of(f"input: 8x8x3\nlayers:\n  - conv f=1 n=3\n{line}\n")
    # A reference to nothing used to stop there: the line's three other mistakes went untold.
    assert [(p.loc.line, p.loc.col) for p in found] == [
        (4, column(line, "conv")),  # a missing argument has no place of its own: the layer's
        (4, column(line, "abc")),
        (4, column(line, "rleu")),
        (4, column(line, "nosuch")),
    ]
    assert found[0].message.startswith("`conv` needs `n`")
    assert found[1].message == "`f` expected a whole number, got `abc`"
    assert found[2].message.startswith("`act` expected one of") and found[2].hint == "did you mean `relu`?"
    assert found[3].message == "no layer with id `nosuch` before this one"


NEVER_BUILT = """\
input: 8x8x3
blocks:
  loop:
    - conv f=1 n=3
    - loop
  spiral:
    - conv f=1 n=3 act=rleu
    - spiral
layers:
  - conv f=1 n=3 id=stem
  - repeat: 0
    first: zz=1
    layers:
      - loop
      - conv f=abc n=3
      - conv f=1 n=3 from=nosuch
      - conv f=1 n=3 from=stem
      - conv f=99 n=3
"""


def test_a_body_that_never_runs_is_checked_all_the_same():
    # A `repeat: 0` body and a block no layer uses were not looked at: exit 0 for all of this.
    lines = NEVER_BUILT.splitlines()
    found = [(p.loc.line, p.loc.col, p.message) for p in problems_of(NEVER_BUILT)]
    expected = [
        (5, 7, "block `loop` uses itself (loop -> loop)"),  # used only where it never runs
        (7, column(lines[6], "rleu"), "`act` expected one of"),  # in a block nothing uses
        (8, 7, "block `spiral` uses itself (spiral -> spiral)"),  # the README forbids it, used or not
        (12, column(lines[11], "1"), "`first:` sets `zz`, but `loop` has no such argument"),  # as under repeat: 1
        (15, column(lines[14], "abc"), "`f` expected a whole number, got `abc`"),
        (16, column(lines[15], "nosuch"), "no layer with id `nosuch` before this one"),
    ]
    assert [(line, col) for line, col, _ in found] == [(line, col) for line, col, _ in expected]
    assert all(want in message for (_, _, message), (_, _, want) in zip(found, expected, strict=True))
    # `from=stem` sees the id outside the repeat, as a pass would; `f=99` does not fit an 8x8
    # input, but nothing ever reaches this body: its shapes are not checked (line 18).


def test_the_same_body_reports_the_same_whether_it_runs_once_or_never():
    never = NEVER_BUILT.replace("    first: zz=1\n", "")  # a wrong `first:` would stop the pass too
    once = never.replace("repeat: 0", "repeat: 1").replace("conv f=99", "conv f=1")  # and a shape that fits
    found = problems_of(never)
    assert len(found) == 5
    assert [(p.loc, p.message) for p in found] == [(p.loc, p.message) for p in problems_of(once)]


BLOCK_B = (
    "input: 8x8x3\nblocks:\n  b:\n    args: n\n    layers:\n"
    "      - conv f=1 n=$n act=rleu\n      - conv f=1 n=$m\n      - conv f=1 n=${in_c * 2} s=${n - 4}\n"
    "layers:\n  - conv f=1 n=3\n"
)


def test_a_block_used_only_where_it_never_runs_is_checked_with_that_uses_arguments():
    found = problems_of(BLOCK_B + "  - repeat: 0\n    layers: [b 4]\n")
    # `act=rleu` is wrong whatever `n` is, `$m` is no argument of `b`, and with n=4 the stride
    # `${n - 4}` is 0; `in_c` has no value where no input comes: `n=${in_c * 2}` is not typed.
    lines = BLOCK_B.splitlines()
    assert [(p.loc.line, p.loc.col) for p in found] == [
        (6, column(lines[5], "rleu")),
        (7, column(lines[6], "$m")),
        (8, column(lines[7], "${n - 4}")),
    ]
    assert "`act` expected one of" in found[0].message
    assert found[1].message.startswith("block `b` has no argument `m`")
    assert found[2].message.startswith("`s` must be at least 1, got 0")
    assert all(p.message.endswith("(in block `b` used at line 12)") for p in found)


def test_a_block_nothing_uses_is_checked_without_arguments():
    found = problems_of(BLOCK_B)
    # No use gives `n`: `n=$n` and `s=${n - 4}` have no value and are not typed.
    lines = BLOCK_B.splitlines()
    assert [(p.loc.line, p.loc.col) for p in found] == [(6, column(lines[5], "rleu")), (7, column(lines[6], "$m"))]
    assert all(p.message.endswith("(in block `b`)") for p in found)


def test_ids_inside_a_body_that_never_runs_follow_the_rules_of_one_that_runs():
    text = (
        "input: 8x8x3\nlayers:\n  - conv f=1 n=3\n  - repeat: 0\n    layers:\n"
        "      - conv f=1 n=3 id=a\n      - add with=a\n      - conv f=1 n=3 id=a\n  - add from=a,input\n"
    )
    found = [(p.loc.line, p.message) for p in problems_of(text)]
    assert [line for line, _ in found] == [8, 9]
    assert found[0][1].startswith("duplicate id `a`")
    assert "no layer with id `a` before this one" in found[1][1]  # not visible outside its list, as when built


def test_a_repeat_0_body_is_checked_once_per_arguments_not_once_per_use(monkeypatch):
    from cnnctl.graph import blocks, unbuilt

    monkeypatch.setattr(blocks, "REPLAY", False)  # every use expanded, as with different inputs
    calls = []
    real = unbuilt.check
    monkeypatch.setattr(unbuilt, "check", lambda *a, **k: calls.append(a[1]) or real(*a, **k))
    uses = "".join("  - stage n=1\n" for _ in range(40))
    text = (
        "input: 8x8x3\nblocks:\n  stage:\n    args: n\n    layers:\n      - conv f=1 n=3\n"
        f"      - repeat: ${{n - 1}}\n        layers: [conv f=1 n=3]\nlayers:\n{uses}"
    )
    graph = cnnctl.load_text(text)
    assert len(graph.nodes) == 40
    assert len(calls) == 1  # the repeat's body, for the first use; the 39 others have the same `n`


def blocks_doubling(levels: int) -> str:
    """Block `b1` uses `b2` twice with new arguments, and so on: 2**levels uses of the last."""
    text = "input: 8x8x3\nblocks:\n"
    for k in range(1, levels):
        text += f"  b{k}:\n    args: n\n    layers:\n      - conv f=1 n=3\n"
        text += f"      - b{k + 1} n=${{n*2}}\n      - b{k + 1} n=${{n*2+1}}\n"
    text += f"  b{levels}:\n    args: n\n    layers: [conv f=1 n=$n]\n"
    return text + "layers:\n  - conv f=1 n=3\n  - repeat: 0\n    layers: [b1 n=1]\n"


def test_checking_what_never_runs_is_bounded_like_building(monkeypatch):
    # Checked with each use's arguments, a body that never runs could hold 2**30 uses: it used
    # to be skipped, and checking it must not hang instead. (The bound is lowered to be quick.)
    from cnnctl.graph import unbuilt

    monkeypatch.setattr(unbuilt, "MAX_LAYERS", 1000)
    graph = cnnctl.load_text(blocks_doubling(8))  # 2**8 - 1 uses, 3 items each: within the bound
    assert len(graph.nodes) == 1
    text = blocks_doubling(20)
    (problem,) = problems_of(text)
    assert "the body of this `repeat`, which makes no pass, would go past 1,000 layers" in problem.message
    assert problem.loc.line == text.splitlines().index("  - repeat: 0") + 1


# -- split attention: what a split needs, told at the split ------------------------------------
SPLIT = "input: 8x8x4\nlayers:\n  - split:\n{paths}{rest}"
TWO_PATHS = "      - [conv f=3 p=1 n=4]\n      - [conv f=3 p=2 dilation=2 n=4]\n"


@pytest.mark.parametrize(
    ("paths", "rest", "said"),
    [
        (TWO_PATHS, "", "`split` needs an `attention:` path"),
        ("      - [conv f=3 p=1 n=4]\n", "    attention: [conv f=1 n=8]\n", "`split` needs at least two paths, got 1"),
        (  # a stride on one path only: 8x8x4 and 4x4x4 cannot be weighed against each other
            "      - [conv f=3 p=1 n=4]\n      - [conv f=3 s=2 p=1 n=4]\n",
            "    attention: [pool avg global, conv f=1 n=8]\n",
            "the paths end in 8x8x4, 4x4x4",
        ),
        (  # 2 paths of 4 channels need 8 values a position: one per path and channel
            TWO_PATHS,
            "    attention: [pool avg global, conv f=1 n=4]\n",
            "the attention ends in 1x1x4, but 2 paths of 8x8x4 need 1x1x8",
        ),
        (TWO_PATHS, "    attention: [pool avg global, conv f=1 n=8]\n    groups: 3\n", "do not cut into 3 group"),
        (TWO_PATHS, "    attention: [conv f=1 n=8]\n    groups: many\n", "`groups` expected a whole number"),
    ],
)
def test_a_split_that_does_not_fit_is_one_message_at_it(paths, rest, said):
    (problem,) = problems_of(SPLIT.format(paths=paths, rest=rest))
    assert said in problem.message, problem.message
    assert problem.loc.line >= 3 and problem.hint


def test_the_count_before_building_is_exact_for_a_split():
    from cnnctl.graph.build import Builder
    from cnnctl.notation.parse import parse_file_text

    text = SPLIT.format(paths=TWO_PATHS, rest="    attention: [pool avg global, conv f=1 n=8]\n")
    spec = parse_file_text(text, "net.yaml")
    # 2 convs, sum, pool and conv, softmax, 2 x (weight, mul), add: 11 layers
    assert Builder(spec, (8, 8, 4)).least_layers(spec.layers, None) == len(cnnctl.load_text(text).nodes) == 11


def test_a_splits_groups_and_its_attention_are_checked_in_the_same_run():
    text = SPLIT.format(paths=TWO_PATHS, rest="    attention: [pool avg global, conv f=1 n=x]\n    groups: many\n")
    found = sorted((p.loc.line, p.message.split(",")[0]) for p in problems_of(text))
    assert found == [(6, "`n` expected a whole number"), (7, "`groups` expected a whole number")]


HALVING_BELOW_A_MISTAKE = """\
input: 8x8x16
blocks:
  halve:
    layers:
      - conv f=1 n=${in_c // 2}
      - conv f=1 n=${in_c // 2}
      - pool max f=${min(in_h, 2)}
layers:
  - conv f=9 n=8
  - repeat: 4
    layers: [halve]
  - fc 10
"""


def test_layers_below_a_failure_are_not_blamed_for_the_sizes_it_made_unknown():
    """Below the failed conv (a 9x9 filter on 8x8) every `in_c // 2` is unknown, not 1 // 2 = 0:
    the only message is the real mistake, not `n must be at least 1, got 0` for each halving."""
    with pytest.raises(CnnctlError) as info:
        cnnctl.load_text(HALVING_BELOW_A_MISTAKE, "halving.yaml")
    assert [(p.loc.line, p.layer) for p in info.value.problems] == [(9, "conv1")]
    assert "larger than its padded input" in info.value.problems[0].message


def test_a_line_below_a_failure_still_has_its_other_values_checked():
    text = HALVING_BELOW_A_MISTAKE.replace(
        "      - conv f=1 n=${in_c // 2}\n      - pool", "      - conv f=1 n=${in_c // 2} act=rleu\n      - pool"
    )
    with pytest.raises(CnnctlError) as info:
        cnnctl.load_text(text, "halving.yaml")
    lines = {p.loc.line: p.message for p in info.value.problems}
    assert sorted(lines) == [6, 9]
    assert "rleu" in lines[6]


def test_a_block_whose_default_reads_an_unknown_size_still_has_its_body_checked():
    # below the failed conv, `n=${in_c * 2}` and `repeat: ${in_c // 32}` have no value: neither
    # is blamed (not `n` 2, nor `repeat: 0`), and the body's own mistakes (lines 6 and 9) are told
    text = """\
input: 8x8x16
blocks:
  wide:
    args: n=${in_c * 2}
    layers:
      - conv f=1 n=$n act=rleu
      - repeat: ${in_c // 32}
        layers: [conv f=1 n=4]
      - conv f=1 n=4 from=nothere
layers:
  - conv f=9 n=8
  - wide
  - fc 10
"""
    with pytest.raises(CnnctlError) as info:
        cnnctl.load_text(text, "wide.yaml")
    assert sorted(p.loc.line for p in info.value.problems) == [6, 9, 11]


# -- a new user's files (task 27H) -----------------------------------------------------------
def test_a_pools_own_arguments_are_checked_below_a_failure():
    """`p=5` with `f=2` is wrong whatever the input: told below the failed conv as it is alone.
    The window, which needs the input's size, is not (nothing below a failure is blamed)."""
    text = "input: 32x32x3\nlayers:\n  - conv f=3 n=-1\n  - pool max f=2 s=2 p=5\n  - pool max f=64\n  - fc 10\n"
    found = problems_of(text, "pad2.yaml")
    assert [(p.loc.line, p.layer) for p in found] == [(3, "conv1"), (4, "pool1")]
    assert "padding 5x5 is more than half the 2x2 window" in found[1].message
    alone = problems_of("input: 32x32x3\nlayers:\n  - pool max f=2 s=2 p=5\n")
    assert [p.message for p in alone] == [f"{found[1].message} (input 32x32x3)"]  # its input known here


def test_a_convs_groups_are_checked_against_n_below_a_failure():
    """4 groups cannot divide 6 filters whatever the input: told below the failed conv (without
    the channels' count, unknown there); with the input known, the channels are named too. A
    deconv's too. 8 divided by 4 is fine below a failure (only the input could be wrong)."""
    text = "input: 32x32x3\nlayers:\n  - conv f=3 n=-1\n  - conv f=3 n=6 groups=4\n  - deconv f=2 n=6 groups=4\n"
    found = problems_of(text + "  - conv f=1 n=8 groups=4\n", "groups.yaml")
    assert [(p.loc.line, p.layer) for p in found] == [(3, "conv1"), (4, "conv2"), (5, "deconv1")]
    assert found[1].message == found[2].message == "groups=4 must divide both the input channels and n (6)"
    alone = problems_of("input: 32x32x8\nlayers:\n  - conv f=3 n=6 groups=4\n")
    assert [p.message for p in alone] == ["groups=4 must divide both the input channels (8) and n (6)"]


def test_the_input_is_checked_when_the_layers_cannot_be_read():
    found = problems_of("input: 32\nlayers: conv f=3 n=8\n", "types.yaml")
    assert [(p.loc.line, p.loc.col) for p in found] == [(1, 8), (2, 9)]
    assert "input `32` is not a volume" in found[0].message and "must be a list" in found[1].message


@pytest.mark.parametrize(
    ("text", "place", "said"),
    [
        ("input: 32x32x1\nlayers: [conv f=5 n=6, fc 10\n", (2, 9), "the `[` opened here is not closed"),
        ("input: 32x32x1\nlayers:\n  - conv: {f: 5, n: 6, act: relu\n  - fc 10\n", (3, 11), "the `{` opened here"),
        ('input: "32x32x1\nlayers: [fc 10]\n', (1, 8), 'the quote `"` opened here is not closed'),
        # closed too late: where the parser stopped, and where the bracket was opened
        ("input: 32x32x1\nlayers: [conv f=3 n=4, fc 2}\n", (2, 28), "(in the `[` opened at 2:9)"),
    ],
    ids=["list", "mapping", "quote", "wrong-closing"],
)
def test_an_unclosed_bracket_or_quote_is_told_where_it_opens(text, place, said):
    (problem,) = problems_of(text)
    assert (problem.loc.line, problem.loc.col) == place
    assert said in problem.message and problem.hint and "close it with" in problem.hint


def test_a_file_that_is_not_utf8_is_told_at_its_first_bad_byte(tmp_path):
    path = tmp_path / "bin.yaml"
    path.write_bytes(b"input: 32x32x1\nlayers:\n  - conv f=5 n=6\n  - fc 10 \xc3\xa9 \xff\xfe\n")
    with pytest.raises(CnnctlError) as info:
        cnnctl.load(path)
    (problem,) = info.value.problems
    assert (problem.loc.line, problem.loc.col) == (4, 13)  # `é` (two bytes) is one column
    assert "not UTF-8 text: byte 0xff" in problem.message and "UTF-8" in problem.hint


def test_a_size_with_a_missing_half_is_quoted_whole():
    (problem,) = problems_of("input: 32x32x3\nlayers:\n  - conv f=3x n=8\n")
    assert "got `3x`" in problem.message and "``" not in problem.message


def test_an_argument_given_twice_has_a_hint_naming_both():
    (problem,) = problems_of("input: 32x32x3\nlayers:\n  - conv f=3 n=8 f=5\n")
    assert problem.message == "argument `f` is given twice" and problem.layer == "conv1"
    assert problem.hint == "keep one of them: `f=3` (at 3:12) or `f=5`"


def test_a_name_that_yaml_reads_as_a_list_has_a_hint():
    (problem,) = problems_of("name: [a]\ninput: 32x32x3\nlayers: [fc 10]\n")
    assert "`name` must be a single value, not a list" in problem.message
    assert "quote" in problem.hint


def test_a_layer_the_parser_refuses_is_named_by_its_path():
    found = problems_of("input: 32x32x3\nlayers:\n  - conv f=3 n=8\n  - conv f=3 n=8 foo=2\n  - fc 10\n")
    assert [(p.message, p.layer) for p in found] == [("`conv` has no argument `foo`", "conv2")]


def test_an_unknown_training_setting_is_told_at_its_name(tmp_path, monkeypatch, capsys):
    from helpers import run_main

    file = tmp_path / "tr.yaml"
    file.write_text("input: 32x32x3\ntrain:\n  epochs: 3\n  lrr: 0.1\nlayers: [fc 10]\n")
    code, _, err = run_main(monkeypatch, capsys, "validate", str(file))
    assert code == 2
    assert f"{file}:4:3: unknown training setting `lrr`" in err, err  # `lrr`, not its value at 4:8


def test_the_hint_for_a_join_with_one_input_does_not_say_added():
    (problem,) = problems_of("input: 8x8x3\nlayers:\n  - conv f=1 n=4\n  - concat\n")
    assert "concat" in problem.message and "added" not in problem.hint


def test_a_blocks_mistake_met_at_two_uses_is_told_once_with_both():
    text = (
        "input: 32x32x1\nblocks:\n  cb:\n    args: n\n    layers:\n      - conv f=3 p=same n=$m\n"
        "      - bn act=relu\nlayers:\n  - cb: {n: 8}\n  - cb 16\n  - fc 10\n"
    )
    (problem,) = problems_of(text, "block.yaml")
    assert problem.message == "block `cb` has no argument `m` (in block `cb` used at lines 9, 10)"
    assert (problem.loc.line, problem.layer) == (6, "cb1.conv1")


# -- a new user's files (task 29R) -----------------------------------------------------------
FOUR_MISTAKES = """\
input: {input}
layers:
  - conv f=3 n=8 id=a
  - conv f=3 n=8 id=a
  - concat with=nowhere
  - repeat: two
    layers: [conv f=1 n=4]
  - fc 10 act=rleu
"""


@pytest.mark.parametrize("written", ["1x28x28", "28x28"])
def test_a_wrong_input_does_not_hide_the_files_other_mistakes(written):
    """The input's mistake, then every check that needs no shape: as below a failed layer."""
    found = problems_of(FOUR_MISTAKES.format(input=written), "hides.yaml")
    assert [p.loc.line for p in found] == [1, 4, 5, 6, 8]
    assert f"input `{written}`" in found[0].message
    said = " ".join(p.message for p in found[1:])
    assert all(word in said for word in ("duplicate id `a`", "`nowhere`", "got `two`", "got `rleu`"))


def test_a_wrong_input_override_is_told_first_with_the_files_mistakes(monkeypatch, capsys):
    from helpers import run_main

    text = FOUR_MISTAKES.format(input="28x28x1")
    with pytest.raises(CnnctlError) as info:
        cnnctl.load_text(text, "hides.yaml", input="1x28x28")
    found = info.value.problems
    assert found[0].loc is None and found[0].message == "input `1x28x28` looks channels-first"
    assert [p.loc.line for p in found[1:]] == [4, 5, 6, 8]
    code, _, err = run_main(monkeypatch, capsys, "summarize", "lenet5", "--input", "28x28")
    assert code == 2 and err.startswith("error: --input `28x28` is not a volume HxWxC"), err


def test_a_file_without_input_still_has_its_layers_checked():
    found = problems_of("layers:\n  - conv f=3 n=8 act=rleu\n", "noinput.yaml")
    assert [(p.loc.line, p.message[:18]) for p in found] == [(1, "no `input:` size"), (2, "`act` expected one")]


def test_a_failure_an_input_override_makes_says_so(monkeypatch, capsys):
    """LeNet-5 at 12x12: conv1 (f=5) gives 8x8, the pool 4x4, too small for conv2's 5x5 filter;
    its own 32x32 builds. A mistake the file's input meets too (`rleu`) is not blamed on it."""
    from helpers import run_main

    code, _, err = run_main(monkeypatch, capsys, "summarize", "lenet5", "--input", "12x12x1")
    assert code == 2
    assert "filter 5x5 is larger than its padded input 4x4" in err
    assert "with --input 12x12x1 (the file's input is 32x32x1)" in err, err
    text = "input: 32x32x3\nlayers:\n  - conv f=9 n=4\n  - fc 10 act=rleu\n"
    too_small, act = problems_of_input(text, "8x8x3")
    assert too_small.message.endswith("(input 8x8x3, p=0x0), with input 8x8x3 (the file's input is 32x32x3)")
    assert "with input" not in act.message and "rleu" in act.message


def problems_of_input(text: str, given: str) -> list:
    with pytest.raises(CnnctlError) as info:
        cnnctl.load_text(text, "net.yaml", input=given)
    return list(info.value.problems)


SHORTCUT_ARGUMENT = """\
input: 32x32x3
blocks:
  basic:
    args: n s=1 shortcut=identity
    layers:
      - residual:
          - conv f=3 s=$s p=1 n=$n
          - bn act=relu
        shortcut: $shortcut
layers:
  - conv f=3 p=same n=16
  - repeat: 2
    layers: [{use}]
{first}  - fc 10
"""


@pytest.mark.parametrize(
    ("use", "first", "fix"),
    [
        ("basic 32", "    first: s=2\n", "in `first:`, at line 14"),
        ("basic 32 s=2", "", "where `basic` is used, at line 13"),
    ],
    ids=["first", "use"],
)
def test_an_identity_shortcut_from_a_block_argument_is_fixed_where_the_block_is_used(use, first, fix):
    """`shortcut: $shortcut` in the block: the block is right, its use must ask for a projection
    (the README's `first: s=2 shortcut=projection`), not the block add `shortcut: projection`."""
    (problem,) = problems_of(SHORTCUT_ARGUMENT.format(use=use, first=first), "stage.yaml")
    assert "the identity shortcut carries the input 32x32x16" in problem.message  # 3x3 s=2 p=1: 32 -> 16
    assert problem.hint.startswith(
        f"the shortcut is block `basic`'s argument `shortcut`: set `shortcut=projection` {fix}"
    )
    (written,) = problems_of(SHORTCUT_ARGUMENT.replace("$shortcut", "identity").format(use=use, first=first))
    assert written.hint.startswith("add `shortcut: projection`")  # written in the block: fixed there


def test_an_argument_written_with_a_colon_is_told_as_yaml_read_it():
    """`act: relu` makes the line a mapping whose key is `conv f=3 n=8 act`: told at `act`, and
    the line read as meant, so the layers below get their shapes (conv 3x3: 32 -> 30, too
    small for a 64x64 window) and a misspelt value on the line is told too."""
    text = "input: 32x32x3\nlayers:\n  - conv f=3 n=8 act: relu\n  - fc 10\n"
    (problem,) = problems_of(text, "colon.yaml")
    assert (problem.loc.line, problem.loc.col) == (3, column("  - conv f=3 n=8 act: relu", "act"))
    assert problem.message == "YAML read `act: relu` as a mapping; write `act=relu`"
    below = problems_of(text.replace("fc 10", "pool max f=64"))
    assert [p.loc.line for p in below] == [3, 4] and "padded input 30x30" in below[1].message
    wrong = problems_of(text.replace("act: relu", "act: rleu"))
    assert [p.loc.col for p in wrong] == [18, 23] and "got `rleu`" in wrong[1].message


MISDECLARED = """\
input: 28x28x1
blocks:
  basic:
    {args}
    layers:
      - conv f=3 s=$s p=1 n=$n act=rleu
layers:
  - basic 16 s=2
  - basic n=16 stride=2
  - fc 10
"""


def test_a_misspelt_args_key_is_told_once_and_read_as_meant():
    """`arg: n s=1` is told (did you mean `args`), then read as `args`: the body's `$s`, `$n` and
    the uses' `n`, `s` are not blamed again; the real mistakes (`rleu`, `stride`) still are."""
    found = problems_of(MISDECLARED.format(args="arg: n s=1"), "arg.yaml")
    assert [(p.loc.line, p.message.split(" (in block")[0]) for p in found] == [
        (4, "unknown key `arg` in block `basic`"),
        (6, "`act` expected one of relu, relu6, leaky, elu, gelu, silu, sigmoid, tanh, hardswish, hardsigmoid, "
         "mish, softmax, none; got `rleu`"),
        (9, "`basic` has no argument `stride`"),
    ]  # fmt: skip
    assert found[0].hint == "did you mean `args`?" and found[2].hint == "did you mean `s`?"


def test_a_block_whose_args_cannot_be_read_has_no_undeclared_arguments():
    """`args: [[n], s]` is refused: what `basic` takes is unknown, so neither `$s`/`$n` in its
    body nor its uses' words are told as undeclared; the rest of its lines still are checked."""
    found = problems_of(MISDECLARED.format(args="args: [[n], s]"), "refused.yaml")
    assert [p.loc.line for p in found] == [4, 6]
    assert "`args` of block `basic` must be" in found[0].message and "rleu" in found[1].message


def test_a_construct_key_written_as_a_layer_has_balanced_quotes():
    """`- layers: [...]` under a `repeat:` with no `layers:`: both messages quote whole names
    (an even number of backticks), and say where the key belongs."""
    text = "input: 32x32x3\nlayers:\n  - repeat: 2\n  - layers: [conv f=3 p=1 n=8]\n  - args: n\n"
    found = problems_of(text, "keys.yaml")
    assert [p.loc.line for p in found] == [3, 4, 5]
    assert found[1].message == "`layers` is not a layer: it is a key of `repeat` or a block"
    assert found[1].hint.startswith("indent `layers:` under `repeat:` or a block's name")
    assert found[2].message == "`args` is not a layer: it is a key of a block"
    assert all(said.count("`") % 2 == 0 for p in found for said in (p.message, p.hint))
    assert "\n" not in found[0].hint  # one line, in the column the others' hints are


def test_first_setting_an_argument_the_block_lacks_says_what_it_takes():
    text = (
        "input: 32x32x3\nblocks:\n  inc:\n    args: a b\n    layers: [conv f=1 n=$a, conv f=1 n=$b]\n"
        "layers:\n  - repeat: 2\n    layers: [inc 8 16]\n    first: c=3\n  - repeat: 2\n"
        "    layers: [conv f=3 p=1 n=4]\n    first: stride=2\n"
    )
    unknown, synonym = problems_of(text, "first.yaml")
    assert unknown.message == "`first:` sets `c`, but `inc` has no such argument"
    assert unknown.hint == "block `inc` takes: `a`, `b`"
    assert synonym.hint == "did you mean `s`?"  # `stride`: PyTorch's name for it


UNET_50 = """\
input: 50x50x1
layers:
  - conv f=3 p=same n=16 id=enc1
  - pool max f=2
  - conv f=3 p=same n=32 id=enc2
  - pool max f=2
  - conv f=3 p=same n=64
  - deconv f=2 s=2 n=32
  - concat with=enc2
"""


def test_a_files_warnings_are_told_with_its_errors(tmp_path, monkeypatch, capsys):
    """50 -> 25 -> 12 (pool2 leaves out row 25) -> 24, joined with 25: the warning at pool2
    explains the error at the concat, so both are told, the text and every JSON alike."""
    with pytest.raises(CnnctlError) as info:
        cnnctl.load_text(UNET_50, "unet.yaml")
    (error,) = info.value.problems
    (warning,) = info.value.warnings
    assert (error.layer, warning.layer, warning.loc.line) == ("concat1", "pool2", 6)
    assert warning.message.startswith("leaves out the last row and column of its 25x25 input")
    path = tmp_path / "unet.yaml"
    path.write_text(UNET_50)
    code, out, err = run_main(monkeypatch, capsys, "summarize", str(path))
    assert code == 2 and not out
    assert err.startswith("error: ") and f"warning: {path}:6:5: layer `pool2`: leaves out" in err
    code, out, err = run_main(monkeypatch, capsys, "validate", str(path), "--format", "json")
    assert code == 2
    details = json.loads(out)["files"][0]["details"]
    assert [(d["severity"], d["layer"]) for d in details] == [("error", "concat1"), ("warning", "pool2")]
    code, out, err = run_main(monkeypatch, capsys, "summarize", str(path), "--format", "json")
    document = json.loads(out)
    assert [w["layer"] for w in document["warnings"]] == ["pool2"] and len(document["errors"]) == 1


def test_a_join_of_maps_one_row_apart_names_the_layer_that_dropped_it():
    """Two pools of stride 2 before the drop: the input must divide by 2 * 2 = 4 for none. Only
    fixes that work are offered: a `ceil` or `same` there rounds 25 up to 13, which the deconv
    doubles to 26, still not 25, so it is left out where a path to the join upsamples."""
    with pytest.raises(CnnctlError) as info:
        cnnctl.load_text(UNET_50, "unet.yaml")
    hint = info.value.problems[0].hint
    assert hint == (
        "`pool2` leaves out the last row and column of its 25x25 input: make the input's height and width "
        "divisible by 4 (48x48x1 or 52x52x1), or cut `enc2` to 24x24 about its centre: "
        "`- crop from=enc2,ID id=enc2_crop` just above the join, which then takes `from=ID,enc2_crop` "
        "(`id=ID` on `deconv1`'s line)"
    )
    # a conv: 9 -> 5 (p=1) -> 2 (f=2 s=2 leaves out row 5) -> 8, added to 9: strides 2 * 2 again
    conv = "input: 9x9x4\nlayers:\n  - conv f=1 n=4 id=a\n  - conv f=3 s=2 p=1 n=4\n  - conv f=2 s=2 n=4\n"
    with pytest.raises(CnnctlError) as info:
        cnnctl.load_text(conv + "  - deconv f=4 s=4 n=4\n  - add with=a\n", "c.yaml")
    assert info.value.problems[0].hint.startswith(
        "`conv2` leaves out the last row and column of its 5x5 input: make the input's height and width "
        "divisible by 4 (8x8x4 or 12x12x4), or cut `a` to 8x8"
    )
    # joined where both inputs come after the drop: it explains nothing, the join's own hint stays
    with pytest.raises(CnnctlError) as info:
        cnnctl.load_text(conv + "  - conv f=1 n=4 id=b\n  - pool max f=2\n  - concat with=b\n", "c.yaml")
    assert info.value.problems[0].hint.startswith("cut `b` to 1x1 about its centre")


def test_every_fix_a_dropped_row_hint_offers_makes_the_file_valid():
    """The trial's U-Net on 50x50: each fix the hint names, applied, validates."""
    with pytest.raises(CnnctlError):
        cnnctl.load_text(UNET_50, "unet.yaml")
    for size in ("48x48x1", "52x52x1"):
        cnnctl.load_text(UNET_50.replace("50x50x1", size), "unet.yaml")
    cropped = UNET_50.replace("deconv f=2 s=2 n=32", "deconv f=2 s=2 n=32 id=ID").replace(
        "  - concat with=enc2\n", "  - crop from=enc2,ID id=enc2_crop\n  - concat from=ID,enc2_crop\n"
    )
    assert cnnctl.load_text(cropped, "unet.yaml").output_shape == (24, 24, 64)
    # the trial's `ceil` at pool2 gives 26 against 25: not offered (above), and indeed refused
    with pytest.raises(CnnctlError, match="26x26x32"):
        cnnctl.load_text(
            UNET_50.replace(
                "  - pool max f=2\n  - conv f=3 p=same n=64", "  - pool max f=2 ceil\n  - conv f=3 p=same n=64"
            ),
            "unet.yaml",
        )
    # without an upsample on the way, rounding up at the pool does fix it, and is offered: 9 -> 4 (pool)
    # against 9 -> 5 (a stride 2 conv padded)
    text = "input: 9x9x4\nlayers:\n  - conv f=1 n=4 id=a\n  - conv f=3 s=2 p=1 n=4 id=b\n  - pool max f=2 from=a\n"
    with pytest.raises(CnnctlError) as info:
        cnnctl.load_text(text + "  - add with=b\n", "s.yaml")
    hint = info.value.problems[0].hint
    assert "divisible by 2 (8x8x4 or 10x10x4)" in hint and "`pool ... ceil`" in hint and "crop from=b,a" not in hint
    fixes = {"8x8x4": (4, 4, 4), "10x10x4": (5, 5, 4), "ceil": (5, 5, 4)}  # 8/2, 10/2, ceil((9 - 2)/2) + 1
    for fix, shape in fixes.items():
        fixed = text.replace("f=2 from", "f=2 ceil from") if fix == "ceil" else text.replace("9x9x4", fix)
        assert cnnctl.load_text(fixed + "  - add with=b\n", "s.yaml").output_shape == shape


@pytest.mark.parametrize(
    ("layers", "warned"),
    [
        (["fc 10 act=softmax", "softmax"], "fc1"),  # the trial's: softmax twice, the loss a third time
        (["fc 10", "softmax", "dropout 0.5"], "softmax1"),  # the loss reads the dropout's probabilities
        (["fc 10 act=softmax", "flatten", "softmax"], "fc1"),
    ],
)
def test_a_softmax_before_the_outputs_is_warned_at(layers, warned):
    graph = cnnctl.load_text("input: 8x8x1\nlayers:\n" + "".join(f"  - {line}\n" for line in layers))
    (warning,) = [w for w in graph.warnings if "softmax before the output" in w.message]
    assert warning.layer == warned
    assert warning.loc.line == 3 + [line.split()[0] for line in layers].index(warned.rstrip("0123456789"))


def test_a_softmax_before_the_output_is_warned_at_with_the_files_errors(tmp_path, monkeypatch, capsys):
    # The warning was computed only for a file that built: one with a mistake elsewhere (a conv
    # whose 9x9 filter does not fit 8x8) had its error told and the double softmax not.
    text = "input: 8x8x1\nlayers:\n  - conv f=9 n=2\n  - fc 10 act=softmax\n  - softmax\n"
    with pytest.raises(CnnctlError) as info:
        cnnctl.load_text(text, "net.yaml")
    assert [p.layer for p in info.value.problems] == ["conv1"]
    (warning,) = info.value.warnings
    assert (warning.layer, warning.loc.line) == ("fc1", 4) and "softmax before the output" in warning.message
    path = tmp_path / "net.yaml"
    path.write_text(text)
    code, out, err = run_main(monkeypatch, capsys, "validate", str(path), "--format", "json")
    assert code == 2
    details = json.loads(out)["files"][0]["details"]
    assert [(d["severity"], d["layer"]) for d in details] == [("error", "conv1"), ("warning", "fc1")]
    # a softmax whose way to the output passes a layer that failed reaches no known output: no warning
    failed_between = "input: 8x8x1\nlayers:\n  - fc 10 act=softmax\n  - dropout 0.5\n  - conv f=3 n=2\n  - fc 5\n"
    with pytest.raises(CnnctlError) as info:
        cnnctl.load_text(failed_between, "net.yaml")
    assert [p.layer for p in info.value.problems] == ["conv1"] and not info.value.warnings


def test_a_softmax_that_is_the_output_or_weighs_a_branch_is_not_warned_at():
    lenet = cnnctl.load("lenet5")  # fc3 act=softmax: the output's, left to the loss
    attention = cnnctl.load_text(
        "input: 8x8x4\nlayers:\n  - conv f=1 n=4 id=x\n  - softmax\n  - mul with=x\n  - pool avg global\n  - fc 10\n"
    )
    for graph in (lenet, attention):
        assert not [w for w in graph.warnings if "softmax" in w.message]


RECOVERED = """\
input: 32x32x32
layers:
  - conv f=3 p=1 n=32 id=a
  - residual:
      - conv f=3 p=1 n=16
      - bn
  - conv f=3 s=2 p=1 n=16
  - add with=a
  - conv f=3 p=1 n=8
  - concat with=a
  - fc 10
"""


def test_after_a_join_fails_the_layers_below_go_on_from_its_main_path():
    """The residual gives 16 channels on 32 (line 4): the layers below are built from its main
    path's 32x32x16, so the add of 16x16 to 32x32 (line 8) is told too, marked as perhaps
    following from it; the concat of 16x16 with 32x32 after (line 10) is not: one follow-on a guess."""
    found = problems_of(RECOVERED)
    assert [(p.loc.line, p.layer) for p in found] == [(4, "residual1"), (8, "add1")]
    assert found[1].message == (
        "cannot add different shapes (inputs: `conv1` 16x16x16, `a` 32x32x32) (after the error at line 4, "
        "`residual1` is taken as 32x32x16: this may follow from it)"
    )
    # a mistake that does not come from the guess is told as it is, whatever its place
    independent = RECOVERED.replace("concat with=a", "pool max f=64 from=a")
    found = problems_of(independent)
    assert [p.loc.line for p in found] == [4, 8, 10] and "this may follow" not in found[2].message


def test_a_repeated_mistake_after_a_guess_is_not_told_again():
    """A concat of 16x16 with 32x32 in a repeated block: each pass meets it, once told."""
    text = (
        "input: 32x32x8\nblocks:\n  b:\n    layers:\n      - conv f=3 s=2 p=1 n=8\n      - concat from=input,conv1\n"
        "layers:\n  - repeat: 3\n    layers: [b]\n  - add with=nothere\n"
    )
    found = problems_of(text)
    assert [p.loc.line for p in found] == [6, 10]


def test_a_layer_built_from_a_guess_gives_no_warning():
    """conv f=3 s=2 on 32 leaves out a row: but its 32x32 is the failed residual's guess."""
    text = "input: 32x32x32\nlayers:\n  - residual:\n      - conv f=3 p=1 n=16\n  - conv f=3 s=2 n=8\n"
    with pytest.raises(CnnctlError) as info:
        cnnctl.load_text(text)
    assert len(info.value.problems) == 1 and not info.value.warnings
    alone = cnnctl.load_text("input: 32x32x16\nlayers:\n  - conv f=3 s=2 n=8\n")
    assert [w.layer for w in alone.warnings] == ["conv1"]  # the same layer on a real 32x32 is warned at


# -- a refused line's volume guessed, so that the mistakes after it are told in the same run -----------------
def test_a_mistake_after_a_layer_with_an_empty_argument_is_told_too():
    # `n=` stopped the shapes: `pool f=99` below it, wrong whatever the conv's n, was never told
    text = "input: 32x32x3\nlayers:\n  - conv f=3 s=1 p=0 n=\n  - conv f=3 n=8\n  - pool f=99\n  - fc 10\n"
    first, second = problems_of(text, "two.yaml")
    assert (first.loc.line, first.layer, first.message) == (3, "conv1", "`n=` has no value")
    # conv1 makes (32 - 3) / 1 + 1 = 30 rows and columns, conv2 then 30 - 3 + 1 = 28, whatever n is
    assert (second.loc.line, second.layer) == (5, "pool1")
    assert second.message.startswith("window 99x99 is larger than its padded input 28x28 (input 28x28x8)")
    assert second.message.endswith("(after the error at line 3, `conv1` is taken as 30x30x3: this may follow from it)")


def test_three_independent_mistakes_of_a_file_are_told_in_one_run():
    text = (
        "input: 32x32x3\nlayers:\n"
        "  - conv f=5 p=0 n=8 bogus=1\n"  # an argument conv has not: the others are read, 28x28x8
        "  - pool f=2 s=2 p=5\n"  # its own arguments are wrong whatever its input: told as alone
        "  - conv f=3 n=16 s=0\n"  # a value out of range: guessed with s=1
        "  - conv f=15 n=4\n"  # 15 > 14: the only mistake that may follow from a guess, told with it
        "  - fc 10 act=relux\n"
    )
    found = problems_of(text, "three.yaml")
    assert [(p.loc.line, p.layer) for p in found] == [(3, "conv1"), (4, "pool1"), (5, "conv2"), (7, "fc1")]
    assert "no argument `bogus`" in found[0].message
    alone = problems_of("input: 28x28x8\nlayers:\n  - pool f=2 s=2 p=5\n")
    assert found[1].message + " (input 28x28x8)" == alone[0].message  # no note: it follows from no guess
    assert "`s` must be at least 1, got 0" in found[2].message
    assert "`relux`" in found[3].message
    # pool1 failed, so conv2's input is unknown and conv3 (f=15) is not blamed; nor is it below two refused
    # lines (one guess at a time); below conv2's alone it is
    found = problems_of(text.replace("pool f=2 s=2 p=5", "pool f=2 s=2"), "three.yaml")
    assert [(p.loc.line, p.layer) for p in found] == [(3, "conv1"), (5, "conv2"), (7, "fc1")]
    text = text.replace("pool f=2 s=2 p=5", "pool f=2 s=2").replace(" bogus=1", "")
    found = problems_of(text, "three.yaml")
    assert [(p.loc.line, p.layer) for p in found] == [(5, "conv2"), (6, "conv3"), (7, "fc1")]
    # conv1 28x28x8, pool 14x14x8, conv2 guessed with s=1: 14 - 3 + 1 = 12, where a 15x15 filter does not fit
    assert "15x15" in found[1].message and "12x12" in found[1].message
    assert found[1].message.endswith(
        "(after the error at line 5, `conv2` is taken as 12x12x16: this may follow from it)"
    )


def test_after_a_guess_one_mistake_is_told_not_a_cascade():
    # conv1's n meant 64 and is taken as the input's 3 channels: groups=64 on 3 is told once, with the note;
    # the layers after that mistake, which may all follow from it, are not blamed
    text = (
        "input: 32x32x3\nlayers:\n  - conv f=3 p=1 n=\n"
        "  - conv f=3 p=1 n=64 groups=64\n  - conv f=3 p=1 n=64 groups=64\n  - pool f=99\n"
    )
    first, second = problems_of(text, "cascade.yaml")
    assert (first.loc.line, second.loc.line) == (3, 4)
    assert "`conv1` is taken as 32x32x3: this may follow from it" in second.message


def test_an_unknown_kind_still_leaves_the_shapes_after_it_unknown():
    # nothing says what `convv` makes: nothing after it is blamed for a shape
    found = problems_of("input: 32x32x3\nlayers:\n  - convv f=3 n=8\n  - pool f=99\n  - fc 10\n", "five.yaml")
    assert [(p.loc.line, p.message) for p in found] == [(3, "unknown layer kind `convv`")]


def test_validate_tells_both_mistakes_with_exit_2(tmp_path, monkeypatch, capsys):
    net = tmp_path / "two.yaml"
    net.write_text("input: 32x32x3\nlayers:\n  - conv f=3 s=1 p=0 n=\n  - conv f=3 n=8\n  - pool f=99\n  - fc 10\n")
    code, out, err = run_main(monkeypatch, capsys, "validate", str(net), "--format", "json")
    assert code == 2 and "Traceback" not in err
    (checked,) = json.loads(out)["files"]
    assert [(d["line"], d["layer"]) for d in checked["details"]] == [(3, "conv1"), (5, "pool1")], out


@pytest.mark.parametrize("construct", ["repeat", "residual", "gate", "split"])
def test_a_construct_written_without_its_list_says_how_it_is_written(construct):
    """`- repeat` alone is no typo of `repeat`: the hint says the construct's form (once it
    said `did you mean `repeat`?`), and each construct of the parser has one."""
    from cnnctl.notation.parse import CONSTRUCT_FORMS, CONSTRUCTS

    assert set(CONSTRUCT_FORMS) == set(CONSTRUCTS)
    (found,) = problems_of(f"input: 8x8x3\nlayers:\n  - {construct}\n", "bare.yaml")
    assert (found.loc.line, found.loc.col) == (3, 5)
    assert found.message == f"`{construct}` is a construct, not a layer kind"
    assert found.hint.startswith(f"write `- {construct}:") and "did you mean" not in found.hint


def test_padding_that_grows_the_map_is_warned_at_its_line_with_the_padding_that_keeps_it():
    """`conv f=3 p=2` at stride 1: (32 + 2*2 - 3)/1 + 1 = 34, a ring of outputs that see mostly
    zeros; the size is kept by p = (f - 1)/2 (f=1: 0). A warning, not an error; no bundled
    network or example does it."""
    from cnnctl.catalog import bundled

    text = "input: 32x32x3\nlayers:\n  - conv f=3 p=2 n=8\n  - conv f=1 p=1 n=8\n  - conv f=3 p=3 n=8\n  - fc 10\n"
    graph = cnnctl.load_text(text, "pad.yaml")
    said = [(w.layer, w.loc.line, w.message) for w in graph.warnings]
    assert said == [
        ("conv1", 3, "p=2 grows 32x32 to 34x34; p=1 or p=same keeps it"),
        ("conv2", 4, "p=1 grows 34x34 to 36x36; p=0 or p=same keeps it"),
        ("conv3", 5, "p=3 grows 36x36 to 40x40; p=1 or p=same keeps it"),  # 36 + 6 - 3 + 1
    ]
    kept = "input: 32x32x3\nlayers:\n  - conv f=3 p=1 n=8\n  - conv f=1 n=8\n  - conv f=3 p=same n=8\n  - fc 10\n"
    assert not cnnctl.load_text(kept, "pad.yaml").warnings
    for path in [*bundled().values(), *EXAMPLES.glob("*.yaml")]:
        try:
            graph = cnnctl.load(str(path))
        except CnnctlError:  # an example of a mistake
            continue
        assert not [w for w in graph.warnings if " grows " in w.message], path


def test_a_residual_whose_main_path_changes_the_size_names_the_layer_that_changed_it():
    """The trial's: a 3x3 conv without padding makes 32 -> 30 (32 + 0 - 3 + 1), the second keeps
    30: the sum is told at the residual, and where the size first changed with its line and column."""
    text = (
        "input: 32x32x16\nlayers:\n  - residual:\n      - conv f=3 p=0 n=16 act=relu\n"
        "      - conv f=3 p=1 n=16\n    act: relu\n"
    )
    with pytest.raises(CnnctlError) as info:
        cnnctl.load_text(text, "respad.yaml")
    (problem,) = info.value.problems
    assert (problem.layer, problem.loc.line) == ("residual1", 3)
    assert problem.message.endswith(
        "; the size first changes at `residual1.conv1` (respad.yaml:4:9: `conv f=3 n=16 act=relu`, p=0, 32x32 -> 30x30)"
    )
    assert problem.hint == "no stride gives that size: pad `residual1.conv1` (`p=same`) to keep 32x32"
    # the second conv changing it instead: that one is named
    with pytest.raises(CnnctlError) as info:
        cnnctl.load_text(text.replace("p=0", "p=1").replace("p=1 n=16\n    act", "p=0 n=16\n    act"), "r.yaml")
    assert "first changes at `residual1.conv2` (r.yaml:5:9" in info.value.problems[0].message


NIN_END = "input: 8x8x3\nlayers:\n  - conv f=3 p=1 n=10\n  - pool avg global\n  - softmax\n"


def test_a_classifier_ending_in_a_1x1_volume_is_warned_by_validate_at_its_last_layer():
    """NiN's end (`pool avg global`, `softmax`) leaves the 10 scores in 1x1x10: the shapes are
    right, but train refuses it; validate says so at the last layer, as train does."""
    (warning,) = cnnctl.load_text(NIN_END, "nin.yaml").warnings
    assert (warning.layer, warning.loc.line) == ("softmax1", 5)
    assert warning.message.startswith("the network ends in the volume 1x1x10, not a vector of 10 class scores")
    assert warning.hint.startswith("add `flatten` before this softmax")
    fixed = NIN_END.replace("  - softmax\n", "  - flatten\n  - softmax\n")
    assert not cnnctl.load_text(fixed, "nin.yaml").warnings
    # a 1x1 volume not a classifier by its kind: told only where the file trains it
    plain = NIN_END.replace("  - softmax\n", "")
    assert not cnnctl.load_text(plain, "n.yaml").warnings
    assert cnnctl.load_text(plain + "train:\n  epochs: 1\n", "n.yaml").warnings[0].layer == "pool1"


def test_trains_refusals_of_a_network_for_its_classes_are_told_at_the_last_layer():
    pytest.importorskip("torch")
    from cnnctl.train.data_checks import check_classes

    classes = [str(i) for i in range(10)]
    with pytest.raises(CnnctlError) as info:
        check_classes(cnnctl.load_text(NIN_END, "nin.yaml"), classes)
    (problem,) = info.value.problems
    assert (problem.layer, problem.loc.line, problem.loc.file) == ("softmax1", 5, "nin.yaml")
    with pytest.raises(CnnctlError) as info:
        check_classes(cnnctl.load_text(NIN_END.replace("  - softmax", "  - flatten\n  - fc 5"), "nin.yaml"), classes)
    (problem,) = info.value.problems
    assert problem.message.startswith("the network has 5 outputs, but the data has 10 classes")
    assert (problem.layer, problem.loc.line) == ("fc1", 6)


def test_an_input_written_as_a_vector_a_list_or_too_large_is_told_once_with_what_to_write():
    (vector,) = problems_of("input: 3072\nlayers:\n  - fc 10\n", "vec.yaml")
    # 3,072 = 32*32*3: a vector's own shape is 1x1x3072; an image's cannot be told from the count alone
    assert vector.hint == (
        "a vector of 3,072 values is `1x1x3072`; an image is HxWxC with H*W*C = 3,072 (e.g. `32x32x3`)"
    )
    assert "(e.g." not in problems_of("input: 10\nlayers:\n  - fc 10\n")[0].hint  # 10: no square image
    (listed,) = problems_of("input: [32, 32, 3]\nlayers:\n  - fc 10\n", "list.yaml")
    assert (listed.message, listed.hint, listed.loc.line) == (
        "`input` must be a single value, not a list",
        "write `input: 32x32x3`",
        1,
    )
    # the layers below are checked against what was meant: 32*32*3 = 3,072 inputs to the fc
    found = problems_of("input: [32, 32, 3]\nlayers:\n  - fc 10\n  - conv f=3 n=8\n", "list.yaml")
    assert len(found) == 2 and "needs a volume" in found[1].message
    (huge,) = problems_of("input: 1000000x1000000x3\nlayers:\n  - fc 10\n", "huge.yaml")
    # isqrt(2**40 // 3) = 605,395: the largest square image of 3 channels within the limit
    assert huge.hint == (
        "the limit is 1,099,511,627,776 values per example (H*W*C): with 3 channels, up to 605395x605395x3"
    )
    assert 605395**2 * 3 <= 2**40 < 605396**2 * 3


def test_a_positional_word_written_with_a_name_is_placed_in_the_hint():
    # `type=max`: pool's `op` is written without a name, first (`pool max f=2 s=2`)
    (problem,) = problems_of("input: 8x8x3\nlayers:\n  - pool f=2 s=2 type=max\n")
    assert problem.message == "`pool` has no argument `type`"
    assert problem.hint == "write `pool max f=2 s=2`: `max` is `op`, written without a name"
    assert cnnctl.load_text("input: 8x8x3\nlayers:\n  - pool max f=2 s=2\n").output_shape == (4, 4, 3)


@pytest.mark.parametrize(
    ("written", "meant"),
    [("\u0663", "3"), ("\u0969", "3"), ("\uff13", "3"), ("1\u0661", "11")],  # Arabic-Indic, Devanagari, full-width
)
def test_every_scripts_digits_are_told_as_not_ascii_alike(written, meant):
    (problem,) = problems_of(f"input: 32x32x3\nlayers:\n  - conv f={written} n=8\n")
    assert problem.hint.startswith(f"write `f={meant}` in ASCII: `")


def test_an_expression_too_large_is_hinted_with_the_limit_not_the_syntax():
    (problem,) = problems_of("input: 8x8x3\nlayers:\n  - conv f=3 n=${9999999999*9999999999*99999999}\n")
    assert problem.message.endswith("is far too large")
    assert "4,611,686,018,427,387,904 (2^62)" in problem.hint and "parentheses" not in problem.hint
    assert 2**62 == 4_611_686_018_427_387_904
